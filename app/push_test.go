package app_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/app"
)

// fakeQueue records the pushes the app queues instead of sending them.
type fakeQueue struct {
	mu     sync.Mutex
	pushed []pushed
	full   bool
}

type pushed struct {
	reg *parley.PushRegistration
	n   *parley.PushNotification
}

func (q *fakeQueue) Check(reg *parley.PushRegistration) error {
	if strings.Contains(reg.Endpoint, "refused") {
		return parley.Errorf(parley.EINVALID, "not a push service")
	}
	return nil
}

func (q *fakeQueue) Enqueue(reg *parley.PushRegistration, n *parley.PushNotification) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.full {
		return false
	}
	q.pushed = append(q.pushed, pushed{reg, n})
	return true
}

// take returns and forgets what was pushed.
func (q *fakeQueue) take() []pushed {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.pushed
	q.pushed = nil
	return out
}

// to returns the pushes to a device.
func to(ps []pushed, device parley.ID) []pushed {
	var out []pushed
	for _, p := range ps {
		if p.reg.DeviceID == device {
			out = append(out, p)
		}
	}
	return out
}

const pushDelay = 3 * time.Second

type pushEnv struct {
	*env
	q *fakeQueue
}

func mustPushApp(tb testing.TB, cfg app.Config) *pushEnv {
	tb.Helper()
	q := &fakeQueue{}
	cfg.PushDelay = pushDelay
	return &pushEnv{env: MustAppWith(tb, cfg, app.Deps{Push: q}), q: q}
}

// MustRegister registers a web push address for the device.
func (e *pushEnv) MustRegister(tb testing.TB, c parley.Caller, endpoint string) *parley.PushRegistration {
	tb.Helper()
	reg, _, err := e.app.RegisterPush(context.Background(), c, parley.PushRegistration{Kind: parley.PushWeb, Endpoint: endpoint, P256dh: "BPxk", Auth: "c2VjcmV0"})
	if err != nil {
		tb.Fatal(err)
	}
	return reg
}

// settle moves the clock past the push delay and runs the checks due.
func (e *pushEnv) settle() []pushed {
	e.clock.add(pushDelay)
	e.app.RunDuePushes()
	return e.q.take()
}

func TestPushOffline(t *testing.T) {
	e := mustPushApp(t, app.Config{})
	a, b := e.MustUser(t), e.MustUser(t)
	conv := e.MustDirect(t, a, b)
	e.MustRegister(t, a.c, "https://push.example/a")
	reg := e.MustRegister(t, b.c, "https://push.example/b")
	e.MustSend(t, a, conv, "first")
	e.clock.add(time.Second)
	e.MustSend(t, a, conv, "second")
	e.MustSend(t, a, conv, "third, and   the\nnewest")

	t.Run("NothingBeforeTheDelay", func(t *testing.T) {
		e.clock.add(pushDelay - 2*time.Second)
		e.app.RunDuePushes()
		if got := e.q.take(); len(got) != 0 {
			t.Fatalf("pushed before the delay: %+v", got)
		}
	})
	t.Run("OneCollapsedPushPerBurst", func(t *testing.T) {
		got := e.settle()
		if len(got) != 1 {
			t.Fatalf("pushes = %d, want 1", len(got))
		}
		p := got[0]
		if p.reg.ID != reg.ID {
			t.Fatalf("pushed to %+v", p.reg)
		}
		n := p.n
		want := parley.PushNotification{ConversationID: conv, Seq: 3, SenderID: a.ID, SenderName: a.DisplayName,
			Preview: "third, and the newest", CollapseKey: parley.PushCollapseKey(conv), Unread: 3}
		if *n != want {
			t.Fatalf("notification = %+v\nwant %+v", *n, want)
		}
	})
	t.Run("NextBurst", func(t *testing.T) {
		e.MustSend(t, a, conv, "later")
		got := e.settle()
		if len(got) != 1 || got[0].n.Seq != 4 || got[0].n.Unread != 4 {
			t.Fatalf("pushes = %+v", got)
		}
	})
	t.Run("NoneWithoutNewMessages", func(t *testing.T) {
		if got := e.settle(); len(got) != 0 {
			t.Fatalf("pushes = %+v", got)
		}
	})
}

func TestPushAcknowledged(t *testing.T) {
	e := mustPushApp(t, app.Config{})
	ctx := context.Background()
	a, b := e.MustUser(t), e.MustUser(t)
	conv := e.MustDirect(t, a, b)
	e.MustRegister(t, b.c, "https://push.example/b")
	t.Run("ConnectedAndAcking", func(t *testing.T) {
		m := e.MustSend(t, a, conv, "hi")
		if err := e.app.MarkDelivered(ctx, b.c, conv, m.Seq); err != nil {
			t.Fatal(err)
		}
		if got := e.settle(); len(got) != 0 {
			t.Fatalf("a device that acknowledged was pushed: %+v", got)
		}
	})
	t.Run("AckedAnEarlierMessage", func(t *testing.T) {
		m := e.MustSend(t, a, conv, "one")
		if err := e.app.MarkDelivered(ctx, b.c, conv, m.Seq); err != nil {
			t.Fatal(err)
		}
		e.MustSend(t, a, conv, "two")
		got := e.settle()
		if len(got) != 1 || got[0].n.Seq != m.Seq+1 {
			t.Fatalf("pushes = %+v, want one for the unacknowledged message", got)
		}
	})
	t.Run("ConnectedButFrozen", func(t *testing.T) {
		// Connected without acknowledging is, to the decision, offline.
		if err := e.app.Connected(ctx, b.c); err != nil {
			t.Fatal(err)
		}
		e.MustSend(t, a, conv, "are you there?")
		if got := e.settle(); len(got) != 1 {
			t.Fatalf("pushes = %+v, want 1", got)
		}
	})
}

func TestPushReadOnAnotherDevice(t *testing.T) {
	e := mustPushApp(t, app.Config{})
	ctx := context.Background()
	a, b := e.MustUser(t), e.MustUser(t)
	conv := e.MustDirect(t, a, b)
	laptop := e.MustLogin(t, b.Handle)
	e.MustRegister(t, b.c, "https://push.example/phone")
	m := e.MustSend(t, a, conv, "hi")
	if err := e.app.MarkRead(ctx, laptop, conv, m.Seq); err != nil {
		t.Fatal(err)
	}
	if got := e.settle(); len(got) != 0 {
		t.Fatalf("pushed a message read on another device: %+v", got)
	}
	t.Run("ReplyingReads", func(t *testing.T) {
		e.MustSend(t, a, conv, "question")
		e.MustSend(t, b, conv, "answer from the laptop")
		if got := e.settle(); len(got) != 0 {
			t.Fatalf("pushes = %+v", got)
		}
	})
}

func TestPushMuted(t *testing.T) {
	e := mustPushApp(t, app.Config{})
	ctx := context.Background()
	a, b := e.MustUser(t), e.MustUser(t)
	conv := e.MustDirect(t, a, b)
	e.MustRegister(t, b.c, "https://push.example/b")
	if err := e.app.SetMuted(ctx, b.c, conv, true); err != nil {
		t.Fatal(err)
	}
	e.MustSend(t, a, conv, "hi")
	if got := e.settle(); len(got) != 0 {
		t.Fatalf("pushed a muted conversation: %+v", got)
	}
	t.Run("MutedWhilePending", func(t *testing.T) {
		if err := e.app.SetMuted(ctx, b.c, conv, false); err != nil {
			t.Fatal(err)
		}
		e.MustSend(t, a, conv, "again")
		if err := e.app.SetMuted(ctx, b.c, conv, true); err != nil {
			t.Fatal(err)
		}
		if got := e.settle(); len(got) != 0 {
			t.Fatalf("pushes = %+v", got)
		}
	})
	t.Run("Unmuted", func(t *testing.T) {
		if err := e.app.SetMuted(ctx, b.c, conv, false); err != nil {
			t.Fatal(err)
		}
		e.MustSend(t, a, conv, "and again")
		if got := e.settle(); len(got) != 1 {
			t.Fatalf("pushes = %+v, want 1", got)
		}
	})
}

func TestPushNeverToSender(t *testing.T) {
	e := mustPushApp(t, app.Config{})
	a, b := e.MustUser(t), e.MustUser(t)
	conv := e.MustDirect(t, a, b)
	aOther := e.MustLogin(t, a.Handle)
	e.MustRegister(t, a.c, "https://push.example/a-phone")
	e.MustRegister(t, aOther, "https://push.example/a-laptop")
	e.MustSend(t, a, conv, "from my phone")
	if got := e.settle(); len(got) != 0 {
		t.Fatalf("the sender's devices were pushed: %+v", got)
	}
}

func TestPushGroup(t *testing.T) {
	e := mustPushApp(t, app.Config{})
	ctx := context.Background()
	owner, b, c, d := e.MustUser(t), e.MustUser(t), e.MustUser(t), e.MustUser(t)
	conv := e.MustGroup(t, owner, b, c, d)
	bLaptop := e.MustLogin(t, b.Handle)
	bPhone := e.MustRegister(t, b.c, "https://push.example/b-phone")
	e.MustRegister(t, bLaptop, "https://push.example/b-laptop")
	cReg := e.MustRegister(t, c.c, "https://push.example/c")
	// d registers nothing.
	m := e.MustSend(t, owner, conv, "meeting at 6")
	if err := e.app.MarkDelivered(ctx, bLaptop, conv, m.Seq); err != nil {
		t.Fatal(err)
	}
	got := e.settle()
	if len(got) != 2 || len(to(got, bPhone.DeviceID)) != 1 || len(to(got, cReg.DeviceID)) != 1 {
		t.Fatalf("pushes = %+v, want b's phone and c", got)
	}
	if n := got[0].n; n.Title != "group" || n.SenderName != owner.DisplayName || n.Preview != "meeting at 6" {
		t.Fatalf("notification = %+v", n)
	}
	t.Run("LeftTheGroup", func(t *testing.T) {
		e.MustSend(t, owner, conv, "bye c")
		if err := e.app.RemoveMember(ctx, c.c, conv, c.ID); err != nil {
			t.Fatal(err)
		}
		got := e.settle()
		if len(to(got, cReg.DeviceID)) != 0 {
			t.Fatalf("pushed a member who left: %+v", got)
		}
	})
}

func TestPushPreviewsOff(t *testing.T) {
	e := mustPushApp(t, app.Config{})
	ctx := context.Background()
	a, b := e.MustUser(t), e.MustUser(t)
	conv := e.MustDirect(t, a, b)
	e.MustRegister(t, b.c, "https://push.example/b")
	off := false
	u, err := e.app.UpdateProfile(ctx, b.c, parley.UserUpdate{PushPreviews: &off})
	if err != nil || u.PushPreviews {
		t.Fatalf("UpdateProfile = %+v, %v", u, err)
	}
	e.MustSend(t, a, conv, "secret")
	got := e.settle()
	if len(got) != 1 || got[0].n.Preview != "" || got[0].n.SenderName != a.DisplayName {
		t.Fatalf("pushes = %+v", got)
	}
	t.Run("RecalledBeforeThePush", func(t *testing.T) {
		on := true
		if _, err := e.app.UpdateProfile(ctx, b.c, parley.UserUpdate{PushPreviews: &on}); err != nil {
			t.Fatal(err)
		}
		m := e.MustSend(t, a, conv, "oops")
		if _, err := e.app.Recall(ctx, a.c, conv, m.ID); err != nil {
			t.Fatal(err)
		}
		for _, p := range e.settle() {
			if p.n.Preview != "" {
				t.Fatalf("a recalled message was previewed: %+v", p.n)
			}
		}
	})
	t.Run("LongBody", func(t *testing.T) {
		e.MustSend(t, a, conv, strings.Repeat("é", 300))
		got := e.settle()
		if len(got) != 1 || got[0].n.Preview != strings.Repeat("é", parley.MaxPushPreviewRunes-1)+"…" {
			t.Fatalf("pushes = %+v", got)
		}
	})
}

func TestPushOneAddressPerDevice(t *testing.T) {
	e := mustPushApp(t, app.Config{})
	a, b := e.MustUser(t), e.MustUser(t)
	conv := e.MustDirect(t, a, b)
	e.MustRegister(t, b.c, "https://push.example/old")
	e.clock.add(time.Second)
	newer := e.MustRegister(t, b.c, "https://push.example/new")
	e.MustSend(t, a, conv, "hi")
	got := e.settle()
	if len(got) != 1 || got[0].reg.ID != newer.ID {
		t.Fatalf("pushes = %+v, want one to the newest address", got)
	}
}

func TestPushBounded(t *testing.T) {
	e := mustPushApp(t, app.Config{MaxPendingPushes: 1})
	a, b, c := e.MustUser(t), e.MustUser(t), e.MustUser(t)
	ab, ac := e.MustDirect(t, a, b), e.MustDirect(t, a, c)
	e.MustRegister(t, b.c, "https://push.example/b")
	e.MustRegister(t, c.c, "https://push.example/c")
	e.MustSend(t, a, ab, "kept")
	e.MustSend(t, a, ab, "joins the pending check")
	e.MustSend(t, a, ac, "dropped")
	got := e.settle()
	if len(got) != 1 || got[0].n.ConversationID != ab || got[0].n.Seq != 2 {
		t.Fatalf("pushes = %+v", got)
	}
	if n := e.app.Stats().PushesDropped.Load(); n != 1 {
		t.Fatalf("dropped = %d, want 1", n)
	}
	t.Run("FullQueue", func(t *testing.T) {
		e.q.full = true
		e.MustSend(t, a, ac, "no room")
		e.settle()
		if n := e.app.Stats().PushesDropped.Load(); n != 2 {
			t.Fatalf("dropped = %d, want 2", n)
		}
	})
}

// TestPushInBackground lets the scheduler's own loop run a check on the
// real clock.
func TestPushInBackground(t *testing.T) {
	q := &fakeQueue{}
	e := MustAppWith(t, app.Config{PushDelay: 10 * time.Millisecond}, app.Deps{Push: q})
	a, b := e.MustUser(t), e.MustUser(t)
	conv := e.MustDirect(t, a, b)
	if _, _, err := e.app.RegisterPush(context.Background(), b.c, parley.PushRegistration{Kind: parley.PushFCM, Endpoint: "fcm-token"}); err != nil {
		t.Fatal(err)
	}
	e.MustSend(t, a, conv, "hi")
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The app's clock is a test clock: move it along with real time.
		e.clock.add(10 * time.Millisecond)
		q.mu.Lock()
		n := len(q.pushed)
		q.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no push from the background loop")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPushRegistrations(t *testing.T) {
	e := mustPushApp(t, app.Config{})
	ctx := context.Background()
	a, b := e.MustUser(t), e.MustUser(t)
	reg := e.MustRegister(t, a.c, "https://push.example/1")
	if reg.UserID != a.ID || reg.DeviceID != a.c.DeviceID || reg.Kind != parley.PushWeb || reg.ID == 0 {
		t.Fatalf("registration = %+v", reg)
	}
	for _, tc := range []struct {
		name string
		reg  parley.PushRegistration
		code string
	}{
		{"ErrKind", parley.PushRegistration{Kind: "sms", Endpoint: "x"}, parley.EINVALID},
		{"ErrNoEndpoint", parley.PushRegistration{Kind: parley.PushAPNs}, parley.EINVALID},
		{"ErrWebPushWithoutKeys", parley.PushRegistration{Kind: parley.PushWeb, Endpoint: "https://push.example/2"}, parley.EINVALID},
		{"ErrKeysOnAToken", parley.PushRegistration{Kind: parley.PushFCM, Endpoint: "t", Auth: "x"}, parley.EINVALID},
		{"ErrBadKeys", parley.PushRegistration{Kind: parley.PushWeb, Endpoint: "https://push.example/3", P256dh: "not base64!", Auth: "x"}, parley.EINVALID},
		{"ErrSpaceInToken", parley.PushRegistration{Kind: parley.PushAPNs, Endpoint: "ab cd"}, parley.EINVALID},
		{"ErrTooLong", parley.PushRegistration{Kind: parley.PushAPNs, Endpoint: strings.Repeat("a", parley.MaxPushEndpointLen+1)}, parley.EINVALID},
		{"ErrChannelRefuses", parley.PushRegistration{Kind: parley.PushWeb, Endpoint: "https://refused.example/", P256dh: "k", Auth: "a"}, parley.EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := e.app.RegisterPush(ctx, a.c, tc.reg)
			wantCode(t, err, tc.code)
		})
	}
	t.Run("SameAddressReplaces", func(t *testing.T) {
		again, created, err := e.app.RegisterPush(ctx, a.c, parley.PushRegistration{Kind: parley.PushWeb, Endpoint: "https://push.example/1", P256dh: "BPxk2w", Auth: "c2VjcmV0"})
		if err != nil || created || again.ID != reg.ID {
			t.Fatalf("re-register = %+v, %v, %v", again, created, err)
		}
		rs, _ := e.app.PushRegistrations(ctx, a.c)
		if len(rs) != 1 || rs[0].P256dh != "BPxk2w" {
			t.Fatalf("registrations = %+v", rs)
		}
	})
	t.Run("ErrTooMany", func(t *testing.T) {
		for i := 2; i <= parley.MaxPushRegistrationsPerDevice; i++ {
			e.MustRegister(t, a.c, fmt.Sprint("https://push.example/many/", i))
		}
		_, _, err := e.app.RegisterPush(ctx, a.c, parley.PushRegistration{Kind: parley.PushAPNs, Endpoint: "0123456789abcdef"})
		wantCode(t, err, parley.ETOOMANY)
		// Registering an address the device has is a replacement.
		e.MustRegister(t, a.c, "https://push.example/many/2")
	})
	t.Run("OnlyTheDevicesOwn", func(t *testing.T) {
		other := e.MustLogin(t, a.Handle)
		if rs, _ := e.app.PushRegistrations(ctx, other); len(rs) != 0 {
			t.Fatalf("another device sees %+v", rs)
		}
		if rs, _ := e.app.PushRegistrations(ctx, b.c); len(rs) != 0 {
			t.Fatalf("another user sees %+v", rs)
		}
	})
	t.Run("Unregister", func(t *testing.T) {
		wantCode(t, e.app.UnregisterPush(ctx, b.c, parley.PushWeb, "https://push.example/1"), parley.ENOTFOUND)
		if err := e.app.UnregisterPush(ctx, a.c, parley.PushWeb, "https://push.example/1"); err != nil {
			t.Fatal(err)
		}
		wantCode(t, e.app.UnregisterPush(ctx, a.c, parley.PushWeb, "https://push.example/1"), parley.ENOTFOUND)
	})
	t.Run("Gone", func(t *testing.T) {
		r := e.MustRegister(t, b.c, "https://push.example/dead")
		e.app.PushGone(ctx, r)
		e.app.PushGone(ctx, r) // twice: the second finds nothing
		if rs, _ := e.app.PushRegistrations(ctx, b.c); len(rs) != 0 {
			t.Fatalf("a dead registration stayed: %+v", rs)
		}
	})
	t.Run("LogoutRemoves", func(t *testing.T) {
		if err := e.app.Logout(ctx, a.c); err != nil {
			t.Fatal(err)
		}
		rs, err := e.store.PushRegistrations(ctx, a.ID)
		if err != nil || len(rs) != 0 {
			t.Fatalf("a logged-out device keeps %+v, %v", rs, err)
		}
	})
	t.Run("ErrNotConfigured", func(t *testing.T) {
		plain := MustApp(t, app.Config{})
		u := plain.MustUser(t)
		_, _, err := plain.app.RegisterPush(ctx, u.c, parley.PushRegistration{Kind: parley.PushFCM, Endpoint: "t"})
		wantCode(t, err, parley.EINVALID)
	})
}

// BenchmarkPushCheck measures one push check of a recipient that has a
// push registration and whose device acknowledged the message: the
// common case of a user with the app open. The sends are not timed.
//
//	go test ./app -run '^$' -bench PushCheck
func BenchmarkPushCheck(b *testing.B) {
	e := mustPushApp(b, app.Config{SendRate: app.Rate{}})
	ctx := context.Background()
	a, r := e.MustUser(b), e.MustUser(b)
	conv := e.MustDirect(b, a, r)
	e.MustRegister(b, r.c, "https://push.example/r")
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		m := e.MustSend(b, a, conv, "hi")
		if err := e.app.MarkDelivered(ctx, r.c, conv, m.Seq); err != nil {
			b.Fatal(err)
		}
		e.clock.add(pushDelay)
		b.StartTimer()
		e.app.RunDuePushes()
	}
	b.StopTimer()
	if got := e.q.take(); len(got) != 0 {
		b.Fatalf("pushed %d", len(got))
	}
}
