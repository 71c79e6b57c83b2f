package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestText(t *testing.T) {
	r := NewRegistry()
	r.BuildInfo("1.2.3", "abc")
	n := uint64(3)
	r.CounterFunc("parley_things_total", "Things.", func() uint64 { return n })
	r.GaugeFunc("parley_open", "Open things.", func() float64 { return 3 })
	v := r.CounterVec("parley_requests_total", "Requests.", "route", "code")
	v.WithLabelValues("/v1/me", "200").Add(3)
	v.WithLabelValues(`we"ird`, "500").Inc()
	r.CounterVecFunc("parley_sent_total", "Sent.", []string{"channel"}, func(emit func(uint64, ...string)) {
		emit(7, "webpush")
		emit(2, "apns")
	})
	r.GaugeVecFunc("parley_conns", "Connections.", []string{"transport"}, func(emit func(float64, ...string)) {
		emit(4, "websocket")
	})
	h := r.Histogram("parley_wait_seconds", "Waits.", LatencyBuckets)
	h.Observe(0.002)
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	out := w.Body.String()
	for _, want := range []string{
		"# TYPE parley_sent_total counter\nparley_sent_total{channel=\"apns\"} 2\nparley_sent_total{channel=\"webpush\"} 7\n",
		"# TYPE parley_things_total counter\nparley_things_total 3\n",
		"# TYPE parley_open gauge\nparley_open 3\n",
		`parley_requests_total{code="200",route="/v1/me"} 3`,
		`parley_requests_total{code="500",route="we\"ird"} 1`,
		`parley_conns{transport="websocket"} 4`,
		`parley_build_info{goversion="go`,
		`parley_wait_seconds_bucket{le="0.002"} 1`,
		"parley_wait_seconds_count 1",
		"# TYPE go_goroutines gauge\ngo_goroutines ",
		"go_memstats_heap_alloc_bytes ",
		"process_cpu_seconds_total ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("content type %q", ct)
	}
	var b strings.Builder
	if err := r.WriteText(&b); err != nil || !strings.Contains(b.String(), "parley_things_total 3") {
		t.Errorf("WriteText: %v\n%s", err, b.String())
	}
}
