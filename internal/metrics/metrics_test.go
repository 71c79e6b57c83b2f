package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestText(t *testing.T) {
	r := NewRegistry()
	c := r.Counter("parley_things_total", "Things.")
	c.Add(3)
	g := r.Gauge("parley_open", "Open things.")
	g.Add(5)
	g.Add(-2)
	v := r.CounterVec("parley_requests_total", "Requests.", "route", "code")
	v.Add(1, "/v1/me", "200")
	v.Add(2, "/v1/me", "200")
	v.Add(1, `we"ird`, "500")
	r.CounterVecFunc("parley_sent_total", "Sent.", []string{"channel"}, func(emit func(uint64, ...string)) {
		emit(7, "webpush")
		emit(2, "apns")
	})
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	out := w.Body.String()
	for _, want := range []string{
		"# TYPE parley_sent_total counter\nparley_sent_total{channel=\"apns\"} 2\nparley_sent_total{channel=\"webpush\"} 7\n",
		"# TYPE parley_things_total counter\nparley_things_total 3\n",
		"# TYPE parley_open gauge\nparley_open 3\n",
		`parley_requests_total{route="/v1/me",code="200"} 3`,
		`parley_requests_total{route="we\"ird",code="500"} 1`,
		"# TYPE go_goroutines gauge\ngo_goroutines ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("content type %q", ct)
	}
	if v.Value("/v1/me", "200") != 3 || c.Value() != 3 || g.Value() != 3 {
		t.Error("values")
	}
}
