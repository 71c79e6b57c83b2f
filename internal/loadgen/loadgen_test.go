package loadgen_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/client/clienttest"
	"github.com/parleyhq/parley/internal/loadgen"
)

// parleyBin is the parley command built once for the test binary.
var parleyBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "parley-loadgen-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if parleyBin, err = clienttest.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// mustNode starts a node without the per-connection event limit, which a
// load generator exceeds by design.
func mustNode(tb testing.TB) *clienttest.Node {
	tb.Helper()
	return clienttest.Start(tb, parleyBin, "--event-rate", "0", "--user-event-rate", "0")
}

func TestRun(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		cfg  loadgen.Config
	}{
		{"AsFastAsPossible", loadgen.Config{Pairs: 4, Duration: 2 * time.Second, WarmUp: 200 * time.Millisecond}},
		{"Rate", loadgen.Config{Pairs: 4, Duration: time.Second, Rate: 400, OneWay: true, BodySize: 1000}},
		{"MaxMessages", loadgen.Config{Pairs: 2, Duration: time.Minute, MaxMessages: 300, InFlight: 32}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := mustNode(t)
			cfg := tc.cfg
			cfg.URL = n.URL
			res, err := loadgen.Run(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			var table bytes.Buffer
			if err := res.WriteTable(&table); err != nil {
				t.Fatal(err)
			}
			t.Logf("\n%s", table.String())
			if err := res.Check(); err != nil {
				t.Fatal(err)
			}
			if len(res.Errors) > 0 {
				t.Errorf("errors %v", res.Errors)
			}
			if res.Sent == 0 || res.Acked == 0 || res.Delivered == 0 || res.AckLatency.Count == 0 || res.DeliveryLatency.Count == 0 {
				t.Fatalf("nothing measured: %+v", res)
			}
			if res.Foreign != 0 || res.DeliveredUnacked != 0 || res.Lost != 0 {
				t.Errorf("foreign %d, delivered unacked %d", res.Foreign, res.DeliveredUnacked)
			}
			wantSenders := 2 * cfg.Pairs
			if cfg.OneWay {
				wantSenders = cfg.Pairs
			}
			if res.Senders != wantSenders || res.Connections != 2*cfg.Pairs {
				t.Errorf("senders %d, connections %d", res.Senders, res.Connections)
			}
			if cfg.MaxMessages > 0 && res.Sent != cfg.MaxMessages {
				t.Errorf("sent %d, want the cap %d", res.Sent, cfg.MaxMessages)
			}
			if !strings.Contains(table.String(), "check") {
				t.Error("table without the check line")
			}
			b, err := res.JSON()
			if err != nil {
				t.Fatal(err)
			}
			var back loadgen.Result
			if err := json.Unmarshal(b, &back); err != nil || back.Sent != res.Sent || back.AckLatency != res.AckLatency {
				t.Fatalf("JSON round trip: %v\n%s", err, b)
			}
		})
	}
}

// TestRunReuse runs twice against one node: the second run logs the same
// users in again and reuses their conversations, whose history it must
// neither replay nor count.
func TestRunReuse(t *testing.T) {
	n := mustNode(t)
	cfg := loadgen.Config{URL: n.URL, Pairs: 2, Duration: 500 * time.Millisecond, HandlePrefix: "again"}
	for i := range 2 {
		res, err := loadgen.Run(context.Background(), cfg)
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if err := res.Check(); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if res.Foreign != 0 || res.Acked == 0 {
			t.Fatalf("run %d: foreign %d, acked %d", i, res.Foreign, res.Acked)
		}
	}
}

func TestRunErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		cfg  loadgen.Config
	}{
		{"NoURL", loadgen.Config{}},
		{"TooManyPairs", loadgen.Config{URL: "http://127.0.0.1:1", Pairs: loadgen.MaxPairs + 1}},
		{"TooLong", loadgen.Config{URL: "http://127.0.0.1:1", Duration: loadgen.MaxDuration + time.Second}},
		{"BadPrefix", loadgen.Config{URL: "http://127.0.0.1:1", HandlePrefix: "-x"}},
		{"NoServer", loadgen.Config{URL: "http://127.0.0.1:1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := loadgen.Run(ctx, tc.cfg); err == nil {
				t.Fatal("no error")
			}
		})
	}
}
