package push_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/push"
)

// fakePusher answers pushes from a script and records them.
type fakePusher struct {
	kind parley.PushKind

	mu     sync.Mutex
	script []error // answers in order; nil once the script runs out
	calls  int

	started chan struct{} // receives once per call, if set
	release chan struct{} // when set, each call waits for it (or its context)
}

func (f *fakePusher) Kind() parley.PushKind { return f.kind }

func (f *fakePusher) Push(ctx context.Context, reg *parley.PushRegistration, n *parley.PushNotification) error {
	f.mu.Lock()
	f.calls++
	var err error
	if len(f.script) > 0 {
		err, f.script = f.script[0], f.script[1:]
	}
	f.mu.Unlock()
	if f.started != nil {
		f.started <- struct{}{}
	}
	if f.release != nil {
		select {
		case <-f.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}

func (f *fakePusher) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// waits records the backoffs a Dispatcher asked for and lets each pass at
// once, so tests retry without sleeping.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) After(d time.Duration) <-chan time.Time {
	w.mu.Lock()
	w.d = append(w.d, d)
	w.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- time.Time{}
	return ch
}

func (w *waits) All() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.d...)
}

func MustDispatcher(tb testing.TB, cfg push.DispatcherConfig) *push.Dispatcher {
	tb.Helper()
	d, err := push.NewDispatcher(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func MustClose(tb testing.TB, d *push.Dispatcher) {
	tb.Helper()
	if err := d.Close(context.Background()); err != nil {
		tb.Fatal(err)
	}
}

var (
	errUnavailable = &push.StatusError{Kind: parley.PushWeb, StatusCode: http.StatusServiceUnavailable, Temporary: true}
	webReg         = &parley.PushRegistration{ID: 1, UserID: 2, DeviceID: 3, Kind: parley.PushWeb, Endpoint: "https://push.example/1"}
)

func TestDispatcherRetryThenSuccess(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	p := &fakePusher{kind: parley.PushWeb, script: []error{errUnavailable, errors.New("connection reset"), errUnavailable}}
	w := &waits{}
	d := MustDispatcher(t, push.DispatcherConfig{Pushers: []parley.Pusher{p}, After: w.After, MinBackoff: time.Second, MaxBackoff: 3 * time.Second})
	if !d.Enqueue(webReg, testNotification()) {
		t.Fatal("Enqueue dropped the push")
	}
	MustClose(t, d) // waits for the queue, retries included

	if got, want := d.Stats(), (push.Stats{Sent: 1, Retried: 3}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
	if p.Calls() != 4 {
		t.Errorf("%d calls, want 4", p.Calls())
	}
	// Exponential, jittered within the upper half, capped at MaxBackoff.
	bounds := [][2]time.Duration{{500 * time.Millisecond, time.Second}, {time.Second, 2 * time.Second}, {1500 * time.Millisecond, 3 * time.Second}}
	got := w.All()
	if len(got) != len(bounds) {
		t.Fatalf("waits = %v, want %d", got, len(bounds))
	}
	for i, b := range bounds {
		if got[i] < b[0] || got[i] > b[1] {
			t.Errorf("wait %d = %s, want within %s..%s", i, got[i], b[0], b[1])
		}
	}
}

func TestDispatcherRetryAfter(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	t.Run("OKHonoured", func(t *testing.T) {
		p := &fakePusher{kind: parley.PushWeb, script: []error{&push.StatusError{StatusCode: 429, RetryAfter: 20 * time.Second, Temporary: true}}}
		w := &waits{}
		d := MustDispatcher(t, push.DispatcherConfig{Pushers: []parley.Pusher{p}, After: w.After})
		d.Enqueue(webReg, testNotification())
		MustClose(t, d)
		if got := w.All(); len(got) != 1 || got[0] < 20*time.Second {
			t.Errorf("waits = %v, want one of at least 20s", got)
		}
		if s := d.Stats(); s.Sent != 1 {
			t.Errorf("Stats = %+v", s)
		}
	})
	t.Run("ErrOverMaxBackoff", func(t *testing.T) {
		p := &fakePusher{kind: parley.PushWeb, script: []error{&push.StatusError{StatusCode: 429, RetryAfter: time.Hour, Temporary: true}}}
		w := &waits{}
		d := MustDispatcher(t, push.DispatcherConfig{Pushers: []parley.Pusher{p}, After: w.After})
		d.Enqueue(webReg, testNotification())
		MustClose(t, d)
		if got := d.Stats(); got != (push.Stats{Failed: 1}) || len(w.All()) != 0 {
			t.Errorf("Stats = %+v, waits %v; want given up at once", got, w.All())
		}
	})
}

func TestDispatcherGiveUp(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	t.Run("ErrAttemptsExhausted", func(t *testing.T) {
		p := &fakePusher{kind: parley.PushWeb, script: []error{errUnavailable, errUnavailable, errUnavailable, errUnavailable}}
		d := MustDispatcher(t, push.DispatcherConfig{Pushers: []parley.Pusher{p}, After: (&waits{}).After, MaxAttempts: 3})
		d.Enqueue(webReg, testNotification())
		MustClose(t, d)
		if got, want := d.Stats(), (push.Stats{Failed: 1, Retried: 2}); got != want || p.Calls() != 3 {
			t.Errorf("Stats = %+v after %d calls, want %+v after 3", got, p.Calls(), want)
		}
	})
	t.Run("ErrPermanent", func(t *testing.T) {
		p := &fakePusher{kind: parley.PushWeb, script: []error{parley.Errorf(parley.EINVALID, "bad subscription")}}
		d := MustDispatcher(t, push.DispatcherConfig{Pushers: []parley.Pusher{p}, After: (&waits{}).After})
		d.Enqueue(webReg, testNotification())
		MustClose(t, d)
		if got := d.Stats(); got != (push.Stats{Failed: 1}) || p.Calls() != 1 {
			t.Errorf("Stats = %+v after %d calls, want one failed call", got, p.Calls())
		}
	})
}

func TestDispatcherGone(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	p := &fakePusher{kind: parley.PushWeb, script: []error{errUnavailable, push.StatusErrorGone()}}
	var mu sync.Mutex
	var removed []*parley.PushRegistration
	d := MustDispatcher(t, push.DispatcherConfig{
		Pushers: []parley.Pusher{p},
		After:   (&waits{}).After,
		OnGone: func(ctx context.Context, reg *parley.PushRegistration) {
			mu.Lock()
			removed = append(removed, reg)
			mu.Unlock()
		},
	})
	d.Enqueue(webReg, testNotification())
	MustClose(t, d)
	if len(removed) != 1 || removed[0] != webReg {
		t.Errorf("OnGone got %v, want the registration once", removed)
	}
	if got, want := d.Stats(), (push.Stats{Removed: 1, Retried: 1}); got != want || p.Calls() != 2 {
		t.Errorf("Stats = %+v after %d calls, want %+v after 2", got, p.Calls(), want)
	}
}

func TestDispatcherFullQueueDrops(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	p := &fakePusher{kind: parley.PushWeb, started: make(chan struct{}, 8), release: make(chan struct{})}
	d := MustDispatcher(t, push.DispatcherConfig{Pushers: []parley.Pusher{p}, Workers: 1, QueueSize: 1})

	if !d.Enqueue(webReg, testNotification()) {
		t.Fatal("first push dropped")
	}
	<-p.started // the only worker is now stuck in the first push
	if !d.Enqueue(webReg, testNotification()) {
		t.Fatal("second push dropped; the queue has room for one")
	}
	// The queue is full: Enqueue must return at once, not wait for the
	// stuck worker. (A blocking Enqueue would hang the test here.)
	if d.Enqueue(webReg, testNotification()) {
		t.Fatal("third push queued beyond QueueSize")
	}
	if got := d.Stats().Dropped; got != 1 {
		t.Errorf("Dropped = %d, want 1", got)
	}
	close(p.release)
	MustClose(t, d)
	if got := d.Stats(); got.Sent != 2 || got.Dropped != 1 {
		t.Errorf("Stats = %+v, want 2 sent and 1 dropped", got)
	}
}

func TestDispatcherClose(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	t.Run("ErrDeadlineCancelsStuckPushes", func(t *testing.T) {
		p := &fakePusher{kind: parley.PushWeb, started: make(chan struct{}, 8), release: make(chan struct{})}
		d := MustDispatcher(t, push.DispatcherConfig{Pushers: []parley.Pusher{p}, Workers: 2, QueueSize: 10})
		for range 5 {
			d.Enqueue(webReg, testNotification())
		}
		<-p.started
		<-p.started
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // no patience: cancel what is in flight, drop the rest
		if err := d.Close(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Close = %v, want context.Canceled", err)
		}
		if got := d.Stats(); got.Dropped != 5 || got.Sent != 0 {
			t.Errorf("Stats = %+v, want all 5 dropped", got)
		}
		if d.Enqueue(webReg, testNotification()) {
			t.Error("Enqueue after Close queued a push")
		}
		if err := d.Close(context.Background()); err != nil {
			t.Errorf("second Close = %v", err)
		}
	})
	t.Run("OKDrains", func(t *testing.T) {
		p := &fakePusher{kind: parley.PushWeb}
		d := MustDispatcher(t, push.DispatcherConfig{Pushers: []parley.Pusher{p}, Workers: 3})
		for range 100 {
			d.Enqueue(webReg, testNotification())
		}
		MustClose(t, d)
		if got := d.Stats(); got.Sent != 100 {
			t.Errorf("Stats = %+v, want 100 sent", got)
		}
	})
}

func TestDispatcherKinds(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	web := &fakePusher{kind: parley.PushWeb}
	apns := &fakePusher{kind: parley.PushAPNs, script: []error{parley.Errorf(parley.EINVALID, "x")}}
	d := MustDispatcher(t, push.DispatcherConfig{Pushers: []parley.Pusher{web, apns}})
	d.Enqueue(webReg, testNotification())
	d.Enqueue(&parley.PushRegistration{ID: 2, Kind: parley.PushAPNs}, testNotification())
	if d.Enqueue(&parley.PushRegistration{ID: 3, Kind: parley.PushFCM}, testNotification()) {
		t.Error("push for a kind without a channel was queued")
	}
	MustClose(t, d)
	byKind := d.StatsByKind()
	if byKind[parley.PushWeb] != (push.Stats{Sent: 1}) || byKind[parley.PushAPNs] != (push.Stats{Failed: 1}) {
		t.Errorf("StatsByKind = %+v", byKind)
	}
	if got, want := d.Stats(), (push.Stats{Sent: 1, Failed: 1, Dropped: 1}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

func TestNewDispatcherErrInvalid(t *testing.T) {
	for name, cfg := range map[string]push.DispatcherConfig{
		"NoPushers":   {},
		"TwoForAKind": {Pushers: []parley.Pusher{&fakePusher{kind: parley.PushWeb}, &fakePusher{kind: parley.PushWeb}}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := push.NewDispatcher(cfg); parley.ErrorCode(err) != parley.EINVALID {
				t.Errorf("err = %v, want EINVALID", err)
			}
		})
	}
}

// TestDispatcherWebPushEndToEnd runs real Web Push pushes through the
// Dispatcher: delivered ones are decrypted by the push service, and an
// expired subscription is handed to OnGone.
func TestDispatcherWebPushEndToEnd(t *testing.T) {
	key := MustVAPIDKey(t)
	clk := newClock()
	ps := newPushService(t, key.PublicKey(), clk.Now)
	w := MustWebPush(t, ps, key, clk)
	live, _ := ps.Subscribe("live")
	expired, _ := ps.Subscribe("expired")
	expired.ID = 99
	ps.Answer("expired", http.StatusGone, "")

	goneCh := make(chan parley.ID, 2)
	d := MustDispatcher(t, push.DispatcherConfig{
		Pushers: []parley.Pusher{w},
		OnGone:  func(ctx context.Context, reg *parley.PushRegistration) { goneCh <- reg.ID },
	})
	d.Enqueue(live, testNotification())
	d.Enqueue(expired, testNotification())
	MustClose(t, d)
	if got := len(ps.Deliveries()); got != 1 {
		t.Errorf("%d pushes delivered, want 1", got)
	}
	close(goneCh)
	var ids []parley.ID
	for id := range goneCh {
		ids = append(ids, id)
	}
	if len(ids) != 1 || ids[0] != 99 {
		t.Errorf("OnGone for %v, want [99]", ids)
	}
	if got, want := d.Stats(), (push.Stats{Sent: 1, Removed: 1}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

// routedPusher fails pushes to one registration and records the others.
type routedPusher struct {
	kind    parley.PushKind
	failFor parley.ID
	err     error
	mu      sync.Mutex
	sent    []parley.ID
	failed  int
	ok      chan parley.ID
}

func (r *routedPusher) Kind() parley.PushKind { return r.kind }

func (r *routedPusher) Push(ctx context.Context, reg *parley.PushRegistration, n *parley.PushNotification) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if reg.ID == r.failFor {
		r.failed++
		return r.err
	}
	r.sent = append(r.sent, reg.ID)
	if r.ok != nil {
		r.ok <- reg.ID
	}
	return nil
}

func TestDispatcherRetryFreesTheWorker(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	p := &routedPusher{kind: parley.PushWeb, failFor: 1, err: errUnavailable, ok: make(chan parley.ID, 1)}
	gate := make(chan time.Time)
	asked := make(chan time.Duration, 1)
	after := func(d time.Duration) <-chan time.Time { asked <- d; return gate }
	d := MustDispatcher(t, push.DispatcherConfig{Pushers: []parley.Pusher{p}, Workers: 1, After: after, MaxAttempts: 2})
	d.Enqueue(webReg, testNotification()) // registration 1: fails, then waits
	<-asked                               // its retry is scheduled, not slept through
	other := &parley.PushRegistration{ID: 9, UserID: 2, DeviceID: 3, Kind: parley.PushWeb, Endpoint: "https://push.example/9"}
	d.Enqueue(other, testNotification())
	if got := <-p.ok; got != 9 {
		t.Fatalf("pushed %d", got)
	}
	// The only worker pushed registration 9 while registration 1 waited.
	close(gate)
	MustClose(t, d)
	if got := d.Stats(); got.Sent != 1 || got.Failed != 1 || got.Retried != 1 {
		t.Errorf("Stats = %+v", got)
	}
}

func TestDispatcherBreaker(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	var mu sync.Mutex
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	p := &routedPusher{kind: parley.PushWeb, failFor: 1, err: parley.Errorf(parley.EINVALID, "refused")}
	d := MustDispatcher(t, push.DispatcherConfig{Pushers: []parley.Pusher{p}, Workers: 1, BreakerFailures: 3, BreakerCooldown: time.Minute, Now: clock})
	defer MustClose(t, d)
	for i := 0; i < 3; i++ {
		if !d.Enqueue(webReg, testNotification()) {
			t.Fatalf("push %d dropped before the breaker opened", i)
		}
	}
	waitUntil := func(cond func() bool) {
		for deadline := time.Now().Add(10 * time.Second); !cond(); {
			if time.Now().After(deadline) {
				t.Fatal("timed out")
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitUntil(func() bool { return d.Stats().Failed == 3 })
	t.Run("OpenDropsPushes", func(t *testing.T) {
		if d.Enqueue(webReg, testNotification()) {
			t.Fatal("a push to a registration whose breaker is open was queued")
		}
	})
	t.Run("OtherRegistrationsUnaffected", func(t *testing.T) {
		if !d.Enqueue(&parley.PushRegistration{ID: 5, Kind: parley.PushWeb}, testNotification()) {
			t.Fatal("another registration's push dropped")
		}
	})
	t.Run("ClosesAfterTheCooldown", func(t *testing.T) {
		mu.Lock()
		now = now.Add(time.Minute)
		mu.Unlock()
		if !d.Enqueue(webReg, testNotification()) {
			t.Fatal("push dropped after the cooldown")
		}
	})
}
