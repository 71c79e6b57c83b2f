package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/parleyhq/parley"
)

// scrape reads a node's /metrics at url.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// histogramCount is the number of observations of a histogram family's
// series whose labels include want (name=value pairs).
func histogramCount(fams map[string]*dto.MetricFamily, name string, want ...string) uint64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	var n uint64
series:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if labels[want[i]] != want[i+1] {
				continue series
			}
		}
		n += m.GetHistogram().GetSampleCount()
	}
	return n
}

// TestMetrics runs realtime traffic through a node with an admin address
// and checks that its scrape there has the latency histograms filled,
// that pprof is served there, and that the public port serves neither.
func TestMetrics(t *testing.T) {
	cfg := testConfig(t)
	cfg.Ops.AdminAddr = "127.0.0.1:0"
	// A push channel, so its metrics are there for the dashboard check.
	cfg.PushWebhookURL = "http://127.0.0.1:9/push"
	cfg.PushWebhookSecretFile = filepath.Join(t.TempDir(), "webhook-secret")
	if err := os.WriteFile(cfg.PushWebhookSecretFile, []byte(strings.Repeat("s", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	m := MustRunMain(t, cfg)
	url := "http://" + m.Addr()
	alice, bob := newDevice(t, url, "alice"), newDevice(t, url, "bob")
	alice.connect(url)
	bob.connect(url)
	ctx := context.Background()
	conv, _, err := alice.http.CreateConversation(ctx, parley.CreateConversationRequest{MemberIDs: []parley.ID{bob.user}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		alice.send(conv.ID, fmt.Sprint("m", i))
	}
	waitFor(t, "bob's messages", func() bool {
		bob.mu.Lock()
		defer bob.mu.Unlock()
		return len(bob.views[conv.ID]) == 5
	})
	if _, err := bob.http.History(ctx, conv.ID, parley.HistoryQuery{}); err != nil {
		t.Fatal(err)
	}

	fams := scrape(t, "http://"+m.AdminAddr()+"/metrics")
	for _, h := range []struct {
		name   string
		labels []string
	}{
		{"parley_realtime_ack_seconds", []string{"event", "send"}},
		{"parley_delivery_seconds", nil},
		{"parley_store_commit_seconds", nil},
		{"parley_store_commit_requests", nil},
		{"parley_fanout_recipients", nil},
		{"parley_history_read_seconds", nil},
		{"parley_http_request_duration_seconds", []string{"route", "GET /v1/conversation/{id}/details"}},
	} {
		if n := histogramCount(fams, h.name, h.labels...); n == 0 {
			t.Errorf("%s%v has no observations", h.name, h.labels)
		}
	}
	if n := histogramCount(fams, "parley_realtime_ack_seconds", "event", "send"); n < 5 {
		t.Errorf("send latency: %d observations, want at least 5", n)
	}
	for _, name := range []string{"parley_build_info", "process_cpu_seconds_total", "go_goroutines", "parley_realtime_sessions", "parley_realtime_queued_bytes", "parley_http_requests_total"} {
		if fams[name] == nil {
			t.Errorf("no %s", name)
		}
	}
	var ws float64
	for _, s := range fams["parley_realtime_sessions"].GetMetric() {
		for _, l := range s.GetLabel() {
			if l.GetName() == "transport" && l.GetValue() == "websocket" {
				ws = s.GetGauge().GetValue()
			}
		}
	}
	if ws != 2 {
		t.Errorf("websocket sessions = %v, want 2", ws)
	}

	t.Run("Dashboard", func(t *testing.T) { checkDashboard(t, fams, "../../deploy/grafana-dashboard.json") })

	resp, err := http.Get("http://" + m.AdminAddr() + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "goroutine") {
		t.Errorf("admin /debug/pprof/: %s", resp.Status)
	}
	for _, path := range []string{"/metrics", "/debug/pprof/"} {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Errorf("public %s answers 200 with an admin address set", path)
		}
	}
}

// TestMetricsPublicWithoutAdmin: without an admin address /metrics stays
// on the public port.
func TestMetricsPublicWithoutAdmin(t *testing.T) {
	m := MustRunMain(t, testConfig(t))
	if fams := scrape(t, "http://"+m.Addr()+"/metrics"); fams["parley_build_info"] == nil {
		t.Error("no parley_build_info on the public /metrics")
	}
}

// TestReadyzDuringShutdown checks that /readyz answers 503 as soon as a
// graceful shutdown starts, while the node's sockets are still open.
func TestReadyzDuringShutdown(t *testing.T) {
	m := MustRunMain(t, testConfig(t))
	url := "http://" + m.Addr()
	d := newDevice(t, url, "carol")
	d.connect(url)
	status := func() int {
		resp, err := http.Get(url + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := status(); s != 200 {
		t.Fatalf("/readyz before shutdown: %d", s)
	}
	checked := false
	m.afterDrain = func() {
		checked = true
		if s := status(); s != 503 {
			t.Errorf("/readyz during shutdown: %d, want 503", s)
		}
		if n := m.gateway.Stats().Connections.Load(); n != 1 {
			t.Errorf("sockets open while draining: %d, want 1", n)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if !checked {
		t.Fatal("Close did not drain")
	}
}
