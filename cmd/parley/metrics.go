package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/engineio"
	"github.com/parleyhq/parley/internal/metrics"
)

// nodeMetrics are the histograms a node feeds through the hooks of its
// packages; the counters and gauges are read from their statistics at
// scrape time (see registerStats).
type nodeMetrics struct {
	ack       *prometheus.HistogramVec
	delivery  prometheus.Histogram
	commit    prometheus.Histogram
	groupSize prometheus.Histogram
	fanOut    prometheus.Histogram
	history   prometheus.Histogram
	http      *prometheus.HistogramVec
	requests  *prometheus.CounterVec
	push      *prometheus.HistogramVec
}

func newNodeMetrics(reg *metrics.Registry) *nodeMetrics {
	reg.BuildInfo(version, vcsRevision())
	lat := metrics.LatencyBuckets
	return &nodeMetrics{
		ack: reg.HistogramVec("parley_realtime_ack_seconds",
			"Time from a realtime client event's arrival to its ack, by event; event=\"send\" is send latency (received → stored → acked).", lat, "event"),
		delivery: reg.Histogram("parley_delivery_seconds",
			"Time from a message's created_at (stamped by the node that stored it, just before its commit) to its hand-off to each recipient socket on this node.", lat),
		commit: reg.Histogram("parley_store_commit_seconds",
			"Duration of one group-commit transaction of the store, committed or not.", lat),
		groupSize: reg.Histogram("parley_store_commit_requests",
			"Write requests (sends, receipts, cursors) carried by one group-commit transaction.", metrics.SizeBuckets),
		fanOut: reg.Histogram("parley_fanout_recipients",
			"Users a new log entry was published to.", metrics.SizeBuckets),
		history: reg.Histogram("parley_history_read_seconds",
			"Duration of one read of a conversation's messages from the store (history pages, sync, gap fills).", lat),
		http: reg.HistogramVec("parley_http_request_duration_seconds",
			"Duration of HTTP API requests by method and route (realtime long-polls excluded: they wait on purpose).", lat, "method", "route"),
		requests: reg.CounterVec("parley_http_requests_total", "HTTP requests by method, route and status.", "method", "route", "status"),
		push: reg.HistogramVec("parley_push_send_seconds",
			"Duration of one attempt to hand a notification to a push service, by channel and result (ok, gone, error).", lat, "channel", "result"),
	}
}

// vcsRevision is the commit the binary was built from, when the Go
// toolchain recorded it.
func vcsRevision() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}

func (nm *nodeMetrics) onRequest(method, route string, status int, d time.Duration) {
	nm.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	if route != "/socket.io/" {
		nm.http.WithLabelValues(method, route).Observe(d.Seconds())
	}
}

func (nm *nodeMetrics) onAck(event string, d time.Duration) {
	nm.ack.WithLabelValues(event).Observe(d.Seconds())
}

func (nm *nodeMetrics) onDelivered(d time.Duration) { nm.delivery.Observe(d.Seconds()) }

func (nm *nodeMetrics) onCommit(requests int, d time.Duration) {
	nm.commit.Observe(d.Seconds())
	nm.groupSize.Observe(float64(requests))
}

func (nm *nodeMetrics) onFanOut(recipients int) { nm.fanOut.Observe(float64(recipients)) }

// timedStore times the store's message reads.
type timedStore struct {
	parley.Store
	h prometheus.Observer
}

func (s timedStore) Messages(ctx context.Context, conversationID parley.ID, f parley.MessageFilter) ([]*parley.Message, error) {
	start := time.Now()
	ms, err := s.Store.Messages(ctx, conversationID, f)
	s.h.Observe(time.Since(start).Seconds())
	return ms, err
}

// timedPusher times each attempt of a push channel.
type timedPusher struct {
	parley.Pusher
	h *prometheus.HistogramVec
}

func (p timedPusher) Push(ctx context.Context, reg *parley.PushRegistration, n *parley.PushNotification) error {
	start := time.Now()
	err := p.Pusher.Push(ctx, reg, n)
	result := "ok"
	switch {
	case errors.Is(err, parley.ErrPushGone):
		result = "gone"
	case err != nil:
		result = "error"
	}
	p.h.WithLabelValues(string(p.Kind()), result).Observe(time.Since(start).Seconds())
	return err
}

func (nm *nodeMetrics) timePushers(ps []parley.Pusher) []parley.Pusher {
	out := make([]parley.Pusher, len(ps))
	for i, p := range ps {
		out[i] = timedPusher{p, nm.push}
		// A configured channel shows on the dashboard before its first push.
		nm.push.WithLabelValues(string(p.Kind()), "ok")
	}
	return out
}

// registerStats exports the app's and the gateway's running counts.
func (m *Main) registerStats() {
	st := m.app.Stats()
	m.Metrics.CounterFunc("parley_messages_stored_total", "New log entries stored (sends and recalls).", st.MessagesStored.Load)
	m.Metrics.CounterFunc("parley_sends_deduplicated_total", "Send retries answered with the original message.", st.SendsDuplicated.Load)
	m.Metrics.CounterFunc("parley_bus_events_published_total", "Events published on the bus, one per recipient user.", st.EventsPublished.Load)
	m.Metrics.CounterFunc("parley_bus_publish_errors_total", "Bus publishes that failed (delivery falls back to sync).", st.PublishErrors.Load)
	m.Metrics.CounterFunc("parley_media_blobs_deleted_total", "Media blobs deleted once no media used them.", st.BlobsDeleted.Load)

	gs := m.gateway.Stats()
	m.Metrics.GaugeFunc("parley_realtime_connections", "Realtime sockets connected to this node.", func() float64 { return float64(gs.Connections.Load()) })
	m.Metrics.CounterFunc("parley_realtime_connects_total", "Realtime connects accepted.", gs.Connects.Load)
	m.Metrics.CounterFunc("parley_realtime_refused_total", "Realtime connects refused (missing or bad token).", gs.Refused.Load)
	m.Metrics.CounterFunc("parley_realtime_too_many_total", "Realtime connects refused for a user's or an address's socket cap.", gs.TooMany.Load)
	m.Metrics.CounterFunc("parley_realtime_events_total", "Client events handled.", gs.Events.Load)
	m.Metrics.CounterFunc("parley_realtime_emitted_total", "Events emitted to sockets.", gs.Emitted.Load)
	m.Metrics.CounterFunc("parley_realtime_gap_fills_total", "Message gaps filled from the store.", gs.GapFills.Load)
	m.Metrics.CounterFunc("parley_realtime_slow_consumers_total", "Sockets dropped for not reading fast enough.", gs.SlowConsumers.Load)

	// Counting walks every session: one walk serves both gauges of a scrape.
	eio := m.gateway.Engine()
	var countsMu sync.Mutex
	var counts engineio.Counts
	var countedAt time.Time
	current := func() engineio.Counts {
		countsMu.Lock()
		defer countsMu.Unlock()
		if time.Since(countedAt) > time.Second {
			counts, countedAt = eio.Counts(), time.Now()
		}
		return counts
	}
	m.Metrics.GaugeVecFunc("parley_realtime_sessions", "Engine.IO sessions open on this node by transport (authenticated or not).", []string{"transport"}, func(emit func(float64, ...string)) {
		c := current()
		emit(float64(c.Polling), "polling")
		emit(float64(c.WebSocket), "websocket")
	})
	m.Metrics.GaugeFunc("parley_realtime_queued_bytes", "Outbound bytes realtime sockets of this node hold, waiting for their clients.", func() float64 {
		return float64(m.gateway.QueuedBytes())
	})
}

// serveAdmin listens on the admin address and serves /metrics and
// /debug/pprof/ there, away from the public port.
func (m *Main) serveAdmin(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on admin address %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Metrics)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn)}
	m.adminLn = ln
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	m.closers = append(m.closers, func() error {
		err := srv.Close()
		<-done
		return err
	})
	return nil
}

// AdminAddr returns the admin listener's address, "" without one.
func (m *Main) AdminAddr() string {
	if m.adminLn == nil {
		return ""
	}
	return m.adminLn.Addr().String()
}
