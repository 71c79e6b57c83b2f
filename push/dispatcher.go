package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley"
)

// DispatcherConfig configures a Dispatcher. Zero values take the defaults
// noted on each field.
type DispatcherConfig struct {
	// Pushers are the channels, at most one per kind. Required.
	Pushers []parley.Pusher
	// Workers is the number of concurrent pushes per channel (default 4).
	Workers int
	// QueueSize is how many pushes wait per channel before new ones are
	// dropped (default 1024).
	QueueSize int
	// MaxAttempts bounds the tries of one push, the first included
	// (default 5).
	MaxAttempts int
	// MinBackoff is the wait before the first retry; each further retry
	// waits twice as long, up to MaxBackoff (defaults 1s and 1m). A
	// service's Retry-After longer than MaxBackoff ends the retries.
	MinBackoff, MaxBackoff time.Duration
	// AttemptTimeout bounds one try (default 15s).
	AttemptTimeout time.Duration
	// OnGone is called, once per push, when a channel reports the
	// registration dead; the application deletes it there. It runs on a
	// worker, so it should be quick. Optional.
	OnGone func(ctx context.Context, reg *parley.PushRegistration)
	// Logger receives failures; nil discards them.
	Logger *slog.Logger
	// After waits for a backoff; nil means time.After. Tests replace it to
	// retry without sleeping.
	After func(time.Duration) <-chan time.Time
	// BreakerFailures is how many pushes in a row to one registration may
	// fail (retries exhausted, or a permanent error) before its breaker
	// opens: pushes to it are then dropped for BreakerCooldown, so an
	// address that never answers stops costing workers (defaults 3 and
	// 10m). A push that goes through closes the breaker.
	BreakerFailures int
	BreakerCooldown time.Duration
	// Now is the clock of the breakers; nil means time.Now.
	Now func() time.Time
}

// Stats are a Dispatcher's counters since it started.
type Stats struct {
	Sent    uint64 // delivered to the push service
	Failed  uint64 // given up on: permanent error or attempts exhausted
	Removed uint64 // registrations reported gone (OnGone called)
	Dropped uint64 // never tried to the end: queue full, no channel, or shut down
	Retried uint64 // retries made, successful or not
}

// Dispatcher sends pushes in the background so the message pipeline never
// waits for a push service. Each channel has its own bounded queue and
// workers, so a slow or failing service (whose pushes wait in backoff)
// never delays the others. When a queue is full the push is dropped and
// counted: devices catch up by syncing when opened, and an unbounded
// backlog would only deliver stale notifications later.
type Dispatcher struct {
	cfg    DispatcherConfig
	log    *slog.Logger
	ctx    context.Context // canceled when Close gives up waiting
	cancel context.CancelFunc
	lanes  map[parley.PushKind]*lane
	wg     sync.WaitGroup

	mu     sync.RWMutex // guards closed against Enqueue sending on a closed queue
	closed bool
	done   chan struct{} // closed when every worker has exited
	// inflight counts pushes from Enqueue to their outcome, waiting
	// retries included; the queues close once it is zero after Close.
	inflight   sync.WaitGroup
	closeQueue sync.Once

	breakerMu sync.Mutex
	breakers  map[parley.ID]*breaker

	noChannel atomic.Uint64 // pushes for a kind without a channel
}

type lane struct {
	pusher parley.Pusher
	queue  chan job
	// retrySlots bounds the pushes waiting for a retry (as many as the
	// queue holds); past it a failed push is not retried.
	retrySlots                              chan struct{}
	sent, failed, removed, dropped, retried atomic.Uint64
}

type job struct {
	reg     *parley.PushRegistration
	n       *parley.PushNotification
	attempt int // tries made so far
}

// breaker is a registration's run of failed pushes.
type breaker struct {
	failures  int
	openUntil time.Time
}

// maxBreakers bounds the registrations whose failures are remembered.
const maxBreakers = 100_000

// NewDispatcher starts the workers. It returns EINVALID when no pusher is
// given or two serve the same kind.
func NewDispatcher(cfg DispatcherConfig) (*Dispatcher, error) {
	if len(cfg.Pushers) == 0 {
		return nil, parley.Errorf(parley.EINVALID, "push dispatcher: no channels")
	}
	setDefault(&cfg.Workers, 4)
	setDefault(&cfg.QueueSize, 1024)
	setDefault(&cfg.MaxAttempts, 5)
	setDefault(&cfg.MinBackoff, time.Second)
	setDefault(&cfg.MaxBackoff, time.Minute)
	setDefault(&cfg.AttemptTimeout, 15*time.Second)
	setDefault(&cfg.BreakerFailures, 3)
	setDefault(&cfg.BreakerCooldown, 10*time.Minute)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = cfg.MinBackoff
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{cfg: cfg, log: log, lanes: make(map[parley.PushKind]*lane), done: make(chan struct{}),
		breakers: make(map[parley.ID]*breaker)}
	for _, p := range cfg.Pushers {
		if _, dup := d.lanes[p.Kind()]; dup {
			return nil, parley.Errorf(parley.EINVALID, "push dispatcher: two channels for %s", p.Kind())
		}
		d.lanes[p.Kind()] = &lane{pusher: p, queue: make(chan job, cfg.QueueSize), retrySlots: make(chan struct{}, cfg.QueueSize)}
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	for _, l := range d.lanes {
		for range cfg.Workers {
			d.wg.Go(func() { d.work(l) })
		}
	}
	go func() {
		d.wg.Wait()
		close(d.done)
	}()
	return d, nil
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Enqueue queues a push of n to reg and returns at once. It reports false
// when the push was dropped: the channel's queue is full, no channel serves
// reg.Kind, reg's breaker is open, or the Dispatcher is closed. Neither reg
// nor n may be changed afterwards.
func (d *Dispatcher) Enqueue(reg *parley.PushRegistration, n *parley.PushNotification) bool {
	l := d.lanes[reg.Kind]
	if l == nil {
		d.noChannel.Add(1)
		return false
	}
	if d.broken(reg.ID) {
		l.dropped.Add(1)
		return false
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		l.dropped.Add(1)
		return false
	}
	d.inflight.Add(1) // before a worker can take it and call Done
	select {
	case l.queue <- job{reg: reg, n: n}:
		return true
	default:
		d.inflight.Done()
		l.dropped.Add(1)
		return false
	}
}

func (d *Dispatcher) work(l *lane) {
	for j := range l.queue {
		if d.ctx.Err() != nil || d.broken(j.reg.ID) {
			l.dropped.Add(1) // shutting down, or the address keeps failing
			d.inflight.Done()
			continue
		}
		d.deliver(l, j)
	}
}

// deliver tries one push once. On a retryable failure the push goes back
// to its queue after its backoff, so no worker waits through it.
func (d *Dispatcher) deliver(l *lane, j job) {
	kind := l.pusher.Kind()
	j.attempt++
	ctx, cancel := context.WithTimeout(d.ctx, d.cfg.AttemptTimeout)
	err := l.pusher.Push(ctx, j.reg, j.n)
	cancel()
	switch {
	case err == nil:
		l.sent.Add(1)
		d.succeeded(j.reg.ID)
		d.inflight.Done()
		return
	case errors.Is(err, parley.ErrPushGone):
		l.removed.Add(1)
		d.log.Info("push registration gone", "kind", kind, "registration", j.reg.ID, "user", j.reg.UserID, "err", err)
		if d.cfg.OnGone != nil {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(d.ctx), d.cfg.AttemptTimeout)
			d.cfg.OnGone(ctx, j.reg)
			cancel()
		}
		d.inflight.Done()
		return
	case d.ctx.Err() != nil:
		l.dropped.Add(1)
		d.inflight.Done()
		return
	}
	wait, retry := d.backoff(j.attempt, err)
	if retry {
		select {
		case l.retrySlots <- struct{}{}:
		default:
			retry = false // too many waiting already
		}
	}
	if !retry {
		l.failed.Add(1)
		d.failedPush(j.reg.ID)
		d.log.Warn("push failed", "kind", kind, "registration", j.reg.ID, "attempts", j.attempt, "err", err)
		d.inflight.Done()
		return
	}
	d.log.Debug("push retry", "kind", kind, "registration", j.reg.ID, "attempt", j.attempt, "wait", wait, "err", err)
	d.wg.Go(func() { d.requeue(l, j, wait) })
}

// requeue puts j back on its queue after wait. It holds one of the lane's
// retry slots until then.
func (d *Dispatcher) requeue(l *lane, j job, wait time.Duration) {
	defer func() { <-l.retrySlots }()
	select {
	case <-d.cfg.After(wait):
	case <-d.ctx.Done():
		l.dropped.Add(1)
		d.inflight.Done()
		return
	}
	l.retried.Add(1)
	// The queue is still open: it closes only once nothing is in flight.
	select {
	case l.queue <- j:
	default:
		l.dropped.Add(1)
		d.inflight.Done()
	}
}

// broken reports whether id's breaker is open.
func (d *Dispatcher) broken(id parley.ID) bool {
	d.breakerMu.Lock()
	defer d.breakerMu.Unlock()
	b := d.breakers[id]
	return b != nil && d.cfg.Now().Before(b.openUntil)
}

func (d *Dispatcher) succeeded(id parley.ID) {
	d.breakerMu.Lock()
	delete(d.breakers, id)
	d.breakerMu.Unlock()
}

// failedPush counts a failed push to id, opening its breaker at
// BreakerFailures in a row.
func (d *Dispatcher) failedPush(id parley.ID) {
	d.breakerMu.Lock()
	defer d.breakerMu.Unlock()
	now := d.cfg.Now()
	b := d.breakers[id]
	if b == nil {
		if len(d.breakers) >= maxBreakers {
			for k, x := range d.breakers {
				if now.After(x.openUntil) {
					delete(d.breakers, k)
				}
			}
			if len(d.breakers) >= maxBreakers {
				return
			}
		}
		b = &breaker{}
		d.breakers[id] = b
	}
	if b.failures++; b.failures >= d.cfg.BreakerFailures {
		b.failures = 0
		b.openUntil = now.Add(d.cfg.BreakerCooldown)
		d.log.Warn("push breaker open", "registration", id, "for", d.cfg.BreakerCooldown)
	}
}

// backoff says whether to retry after the attempt-th failure with err, and
// how long to wait: exponential from MinBackoff, the upper half jittered so
// that pushes failing together do not retry together, and never less than
// the service's Retry-After.
func (d *Dispatcher) backoff(attempt int, err error) (time.Duration, bool) {
	if attempt >= d.cfg.MaxAttempts || !Retryable(err) {
		return 0, false
	}
	b := d.cfg.MinBackoff
	for i := 1; i < attempt && b < d.cfg.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, d.cfg.MaxBackoff)
	wait := b/2 + rand.N(b/2+1)
	if ra := RetryAfter(err); ra > 0 {
		if ra > d.cfg.MaxBackoff {
			return 0, false
		}
		wait = max(wait, ra)
	}
	return wait, true
}

// Stats returns the counters summed over all channels.
func (d *Dispatcher) Stats() Stats {
	s := Stats{Dropped: d.noChannel.Load()}
	for _, l := range d.lanes {
		ls := l.stats()
		s.Sent += ls.Sent
		s.Failed += ls.Failed
		s.Removed += ls.Removed
		s.Dropped += ls.Dropped
		s.Retried += ls.Retried
	}
	return s
}

// StatsByKind returns the counters of each channel, for metrics labelled
// by channel. Pushes for a kind without a channel are only in Stats.
func (d *Dispatcher) StatsByKind() map[parley.PushKind]Stats {
	m := make(map[parley.PushKind]Stats, len(d.lanes))
	for k, l := range d.lanes {
		m[k] = l.stats()
	}
	return m
}

func (l *lane) stats() Stats {
	return Stats{
		Sent:    l.sent.Load(),
		Failed:  l.failed.Load(),
		Removed: l.removed.Load(),
		Dropped: l.dropped.Load(),
		Retried: l.retried.Load(),
	}
}

// Close stops taking pushes and waits until the queued ones are done,
// retries included. If ctx ends first, pushes in flight are canceled and
// the rest of the queues is dropped (and counted); Close then still waits
// for the workers to exit, which they do promptly, and returns ctx's error.
// Close closes the channels' idle connections. Calling it again waits
// likewise.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		// Retries go back to their queues: close them only once every
		// push has its outcome.
		go func() {
			d.inflight.Wait()
			d.closeQueue.Do(func() {
				for _, l := range d.lanes {
					close(l.queue)
				}
			})
		}()
	}
	d.mu.Unlock()

	var err error
	select {
	case <-d.done:
	case <-ctx.Done():
		err = fmt.Errorf("push dispatcher: close: %w", ctx.Err())
		d.cancel()
		<-d.done
	}
	d.cancel()
	for _, l := range d.lanes {
		if c, ok := l.pusher.(closeIdler); ok {
			c.CloseIdleConnections()
		}
	}
	return err
}
