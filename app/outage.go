package app

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// outage turns a dependency's run of failures into two log lines: a
// warning when the first one fails and a note, with the count, when one
// succeeds again. During a bus outage every send fails to publish; a line
// per send would bury everything else in the log.
type outage struct {
	what   string // "bus publish"
	down   atomic.Bool
	mu     sync.Mutex
	failed uint64
	since  time.Time
}

// fail records a failure; only the first of a run is logged.
func (o *outage) fail(logger *slog.Logger, now time.Time, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failed++
	if o.down.Load() {
		return
	}
	o.down.Store(true)
	o.since = now
	logger.Warn(o.what+" failing; further failures are counted until it recovers", "err", err)
}

// ok records a success, which ends a run of failures.
func (o *outage) ok(logger *slog.Logger, now time.Time) {
	if !o.down.Load() {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.down.Load() {
		return
	}
	o.down.Store(false)
	logger.Info(o.what+" recovered", "failed", o.failed, "lasted", now.Sub(o.since).Round(time.Millisecond))
	o.failed = 0
}
