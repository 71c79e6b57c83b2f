package benchcompare

import (
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/loadgen"
)

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		want       time.Duration
		err        bool
	}{
		{"OK", "1234 (node) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 7 0 100 0 0", 3250 * time.Millisecond, false},
		{"SpacesInName", "99 (a b) c) R 1 2 3 4 5 6 7 8 9 10 12 3 0", 150 * time.Millisecond, false},
		{"Short", "1 (x) S 1 2 3", 0, true},
		{"NoName", "garbage", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStat(tc.line)
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("parseStat = %v, %v; want %v (error %v)", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestCPUTimeSelf(t *testing.T) {
	if _, err := cpuTime(0); err != nil {
		t.Fatal(err)
	}
}

// TestRowsAndRatios checks the medians and the ratio on a made-up report.
func TestRowsAndRatios(t *testing.T) {
	m := func(server string, rate float64, msgs float64, cpu time.Duration) Measurement {
		return Measurement{Server: server, Rate: rate, Window: time.Second, ServerCPU: cpu,
			Result: loadgen.Result{DeliveryRate: msgs, Delivered: int64(msgs), AckLatency: loadgen.Latency{P99: msgs / 1000}}}
	}
	rep := &Report{Rates: []float64{0}, Measurements: []Measurement{
		m(Parley, 0, 1000, 100*time.Millisecond), m(Relay, 0, 4000, 200*time.Millisecond),
		m(Parley, 0, 3000, 300*time.Millisecond), m(Relay, 0, 2000, 100*time.Millisecond),
		m(Parley, 0, 2000, 200*time.Millisecond), m(Relay, 0, 3000, 150*time.Millisecond),
	}}
	rows := rep.Rows()
	if len(rows) != 2 || rows[0].Server != Parley || rows[1].Server != Relay {
		t.Fatalf("rows = %+v", rows)
	}
	if rows[0].MsgsPerSec != 2000 || rows[0].MinMsgsPerSec != 1000 || rows[0].MaxMsgsPerSec != 3000 || !rows[0].Durable {
		t.Errorf("parley row = %+v", rows[0])
	}
	if rows[1].ServerCores != 0.15 || rows[1].ServerMicrosPerMsg != 50 {
		t.Errorf("relay row = %+v", rows[1])
	}
	q := rep.Ratios()
	if len(q) != 1 || q[0].MsgsPerSec != 2000.0/3000 || q[0].CPUPerMsg != 2 {
		t.Errorf("ratios = %+v", q)
	}
}

// TestRowsAndRatiosWithPostgres checks that Parley on PostgreSQL gets its
// own row, durable, and its own ratio against the relay.
func TestRowsAndRatiosWithPostgres(t *testing.T) {
	m := func(server string, msgs float64) Measurement {
		return Measurement{Server: server, Window: time.Second, ServerCPU: time.Duration(msgs) * time.Microsecond * 50,
			Result: loadgen.Result{DeliveryRate: msgs, Delivered: int64(msgs)}}
	}
	rep := &Report{Rates: []float64{0}, Servers: []string{Parley, ParleyPG, Relay}, Measurements: []Measurement{
		m(Relay, 4000), m(ParleyPG, 1000), m(Parley, 2000),
	}}
	rows := rep.Rows()
	if len(rows) != 3 || rows[0].Server != Parley || rows[1].Server != ParleyPG || rows[2].Server != Relay {
		t.Fatalf("rows = %+v", rows)
	}
	if !rows[1].Durable || rows[2].Durable {
		t.Errorf("durable: %v %v", rows[1].Durable, rows[2].Durable)
	}
	q := rep.Ratios()
	if len(q) != 2 || q[0].Server != Parley || q[0].MsgsPerSec != 0.5 || q[1].Server != ParleyPG || q[1].MsgsPerSec != 0.25 {
		t.Errorf("ratios = %+v", q)
	}
	var out strings.Builder
	if err := rep.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "parley-pg/relay at closed loop: msgs/s 0.25×") {
		t.Errorf("table lacks the PostgreSQL ratio:\n%s", out.String())
	}
}
