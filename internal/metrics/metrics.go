// Package metrics is Parley's metrics registry, built on the Prometheus
// client library: the Go runtime and process collectors, counters and
// gauges read from the packages' own atomic counts at scrape time, and the
// latency and size histograms the operations dashboard graphs. It serves
// the Prometheus text format at GET /metrics.
package metrics

import (
	"io"
	"net/http"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
)

// Registry holds a node's metrics.
type Registry struct {
	reg *prometheus.Registry
}

// NewRegistry returns a registry with the Go runtime and process
// collectors registered.
func NewRegistry() *Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Registry{reg: reg}
}

// ServeHTTP serves the metrics in the format the scraper asks for.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{}).ServeHTTP(w, req)
}

// WriteText writes every metric in the Prometheus text format.
func (r *Registry) WriteText(w io.Writer) error {
	families, err := r.reg.Gather()
	if err != nil {
		return err
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			return err
		}
	}
	return nil
}

// Register adds collectors; it panics on a name registered twice, a
// programming error.
func (r *Registry) Register(cs ...prometheus.Collector) { r.reg.MustRegister(cs...) }

// BuildInfo registers parley_build_info, always 1, whose labels say which
// build is running.
func (r *Registry) BuildInfo(version, revision string) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "parley_build_info",
		Help:        "The running build: always 1, its version, VCS revision and Go version in labels.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": runtime.Version()},
	})
	g.Set(1)
	r.reg.MustRegister(g)
}

// GaugeFunc registers a gauge read from fn at scrape time.
func (r *Registry) GaugeFunc(name, help string, fn func() float64) {
	r.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, fn))
}

// CounterFunc registers a counter read from fn at scrape time, for
// packages that keep their own atomic counts.
func (r *Registry) CounterFunc(name, help string, fn func() uint64) {
	r.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(fn()) }))
}

// CounterVec registers a labelled counter family.
func (r *Registry) CounterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	r.reg.MustRegister(c)
	return c
}

// Histogram registers a histogram with the given bucket upper bounds.
func (r *Registry) Histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	r.reg.MustRegister(h)
	return h
}

// HistogramVec registers a labelled histogram family.
func (r *Registry) HistogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	r.reg.MustRegister(h)
	return h
}

// LatencyBuckets are the bounds of every latency histogram, in seconds:
// 250 µs to about 8 s, doubling, so a p99 of a few milliseconds and an
// outage's multi-second waits both land in a bucket of their own.
var LatencyBuckets = prometheus.ExponentialBuckets(0.00025, 2, 16)

// SizeBuckets are the bounds of count histograms (group commit sizes,
// fan-out): 1 to 4096, doubling.
var SizeBuckets = prometheus.ExponentialBuckets(1, 2, 13)

// VecFunc is a labelled family whose values are read at scrape time.
type vecFunc struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
	fn   func(emit func(v float64, values ...string))
}

func (v *vecFunc) Describe(ch chan<- *prometheus.Desc) { ch <- v.desc }

func (v *vecFunc) Collect(ch chan<- prometheus.Metric) {
	v.fn(func(val float64, values ...string) {
		ch <- prometheus.MustNewConstMetric(v.desc, v.typ, val, values...)
	})
}

// CounterVecFunc registers a labelled counter family whose values are read
// at scrape time: fn calls emit once per series, with the label values in
// declaration order. It is for packages that keep their own counts per
// label (a push dispatcher's per-channel statistics).
func (r *Registry) CounterVecFunc(name, help string, labels []string, fn func(emit func(v uint64, values ...string))) {
	r.reg.MustRegister(&vecFunc{
		desc: prometheus.NewDesc(name, help, labels, nil),
		typ:  prometheus.CounterValue,
		fn: func(emit func(float64, ...string)) {
			fn(func(v uint64, values ...string) { emit(float64(v), values...) })
		},
	})
}

// GaugeVecFunc registers a labelled gauge family read at scrape time, like
// CounterVecFunc.
func (r *Registry) GaugeVecFunc(name, help string, labels []string, fn func(emit func(v float64, values ...string))) {
	r.reg.MustRegister(&vecFunc{desc: prometheus.NewDesc(name, help, labels, nil), typ: prometheus.GaugeValue, fn: fn})
}
