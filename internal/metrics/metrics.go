// Package metrics keeps Parley's counters and gauges and writes them in the
// Prometheus text exposition format (version 0.0.4) for GET /metrics. It is
// deliberately small: counters and gauges, with or without labels, and
// gauges read from a function at scrape time.
package metrics

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Registry holds metrics in registration order.
type Registry struct {
	mu      sync.Mutex
	metrics []metric
}

type metric interface {
	write(w io.Writer)
}

// NewRegistry returns a registry with the Go runtime gauges registered.
func NewRegistry() *Registry {
	r := &Registry{}
	r.GaugeFunc("go_goroutines", "Goroutines that currently exist.", func() float64 { return float64(runtime.NumGoroutine()) })
	r.GaugeFunc("go_memstats_heap_alloc_bytes", "Bytes of allocated heap objects.", func() float64 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return float64(ms.HeapAlloc)
	})
	return r
}

func (r *Registry) add(m metric) {
	r.mu.Lock()
	r.metrics = append(r.metrics, m)
	r.mu.Unlock()
}

// WriteText writes every metric.
func (r *Registry) WriteText(w io.Writer) {
	r.mu.Lock()
	ms := append([]metric(nil), r.metrics...)
	r.mu.Unlock()
	for _, m := range ms {
		m.write(w)
	}
}

// ServeHTTP serves the metrics.
func (r *Registry) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	r.WriteText(w)
}

// Counter is a monotonically increasing value.
type Counter struct {
	name, help string
	v          atomic.Uint64
}

// Counter registers a counter.
func (r *Registry) Counter(name, help string) *Counter {
	c := &Counter{name: name, help: help}
	r.add(c)
	return c
}

// Inc adds one.
func (c *Counter) Inc() { c.v.Add(1) }

// Add adds n.
func (c *Counter) Add(n uint64) { c.v.Add(n) }

// Value returns the count.
func (c *Counter) Value() uint64 { return c.v.Load() }

func (c *Counter) write(w io.Writer) {
	header(w, c.name, c.help, "counter")
	fmt.Fprintf(w, "%s %d\n", c.name, c.v.Load())
}

// Gauge is a value that goes up and down.
type Gauge struct {
	name, help string
	v          atomic.Int64
}

// Gauge registers a gauge.
func (r *Registry) Gauge(name, help string) *Gauge {
	g := &Gauge{name: name, help: help}
	r.add(g)
	return g
}

// Add adds n (which may be negative).
func (g *Gauge) Add(n int64) { g.v.Add(n) }

// Value returns the current value.
func (g *Gauge) Value() int64 { return g.v.Load() }

func (g *Gauge) write(w io.Writer) {
	header(w, g.name, g.help, "gauge")
	fmt.Fprintf(w, "%s %d\n", g.name, g.v.Load())
}

type funcMetric struct {
	name, help, typ string
	fn              func() float64
}

// GaugeFunc registers a gauge read from fn at scrape time.
func (r *Registry) GaugeFunc(name, help string, fn func() float64) {
	r.add(&funcMetric{name, help, "gauge", fn})
}

// CounterFunc registers a counter read from fn at scrape time, for
// packages that keep their own atomic counts.
func (r *Registry) CounterFunc(name, help string, fn func() uint64) {
	r.add(&funcMetric{name, help, "counter", func() float64 { return float64(fn()) }})
}

func (g *funcMetric) write(w io.Writer) {
	header(w, g.name, g.help, g.typ)
	fmt.Fprintf(w, "%s %s\n", g.name, formatFloat(g.fn()))
}

// CounterVec is a family of counters told apart by label values.
type CounterVec struct {
	name, help string
	labels     []string
	mu         sync.Mutex
	m          map[string]*atomic.Uint64
}

// CounterVec registers a labelled counter family.
func (r *Registry) CounterVec(name, help string, labels ...string) *CounterVec {
	c := &CounterVec{name: name, help: help, labels: labels, m: make(map[string]*atomic.Uint64)}
	r.add(c)
	return c
}

// Add adds n to the counter with the label values (in declaration order).
func (c *CounterVec) Add(n uint64, values ...string) {
	key := labelString(c.labels, values)
	c.mu.Lock()
	v := c.m[key]
	if v == nil {
		v = new(atomic.Uint64)
		c.m[key] = v
	}
	c.mu.Unlock()
	v.Add(n)
}

// Value returns the count for the label values.
func (c *CounterVec) Value(values ...string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v := c.m[labelString(c.labels, values)]; v != nil {
		return v.Load()
	}
	return 0
}

func (c *CounterVec) write(w io.Writer) {
	header(w, c.name, c.help, "counter")
	c.mu.Lock()
	keys := make([]string, 0, len(c.m))
	for k := range c.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "%s{%s} %d\n", c.name, k, c.m[k].Load())
	}
	c.mu.Unlock()
}

func labelString(names, values []string) string {
	var b strings.Builder
	for i, n := range names {
		v := ""
		if i < len(values) {
			v = values[i]
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n)
		b.WriteString(`="`)
		b.WriteString(escape(v))
		b.WriteByte('"')
	}
	return b.String()
}

var escaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)

func escape(s string) string { return escaper.Replace(s) }

func header(w io.Writer, name, help, typ string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, strings.ReplaceAll(help, "\n", " "), name, typ)
}

func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return fmt.Sprintf("%g", f)
}

// counterVecFunc is a labelled counter family read at scrape time.
type counterVecFunc struct {
	name, help string
	labels     []string
	fn         func(emit func(v uint64, values ...string))
}

// CounterVecFunc registers a labelled counter family whose values are read
// at scrape time: fn calls emit once per series, with the label values in
// declaration order. It is for packages that keep their own counts per
// label (a push dispatcher's per-channel statistics).
func (r *Registry) CounterVecFunc(name, help string, labels []string, fn func(emit func(v uint64, values ...string))) {
	r.add(&counterVecFunc{name: name, help: help, labels: labels, fn: fn})
}

func (c *counterVecFunc) write(w io.Writer) {
	header(w, c.name, c.help, "counter")
	var lines []string
	c.fn(func(v uint64, values ...string) {
		lines = append(lines, fmt.Sprintf("%s{%s} %d\n", c.name, labelString(c.labels, values), v))
	})
	sort.Strings(lines)
	for _, l := range lines {
		io.WriteString(w, l)
	}
}
