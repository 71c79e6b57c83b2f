package app_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/app"
	"github.com/parleyhq/parley/argon2id"
	"github.com/parleyhq/parley/inmem"
	"github.com/parleyhq/parley/sqlite"
	"go.uber.org/goleak"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	app   *app.App
	store *sqlite.DB
	bus   *inmem.Bus
	clock *clock
	n     int
}

// MustApp returns an app on a fresh SQLite store and the in-process bus.
// Password hashing uses cheap Argon2id parameters to keep tests fast; the
// production default is argon2id.OWASP.
func MustApp(tb testing.TB, cfg app.Config) *env {
	tb.Helper()
	return MustAppWith(tb, cfg, app.Deps{})
}

// MustAppWith is MustApp with the optional ports of deps (blob store, push
// queue) wired in.
func MustAppWith(tb testing.TB, cfg app.Config, deps app.Deps) *env {
	tb.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(tb.TempDir(), "parley.db")})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	clk := &clock{t: time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)}
	bus := inmem.NewBus()
	if o, ok := deps.Store.(*outageStore); ok {
		o.Store = db // the test's store, with outages on demand
	} else {
		deps.Store = db
	}
	deps.Bus, deps.Presence, deps.Clock = bus, inmem.NewPresence(), clk.now
	deps.Hasher = argon2id.New(argon2id.Params{MemoryKiB: 64, Time: 1, Threads: 1})
	a, err := app.New(ctx, cfg, deps)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { a.Close() })
	return &env{app: a, store: db, bus: bus, clock: clk}
}

type user struct {
	*parley.User
	c     parley.Caller
	token string
}

// MustUser registers and logs in a new user.
func (e *env) MustUser(tb testing.TB) *user {
	tb.Helper()
	e.n++
	ctx := context.Background()
	h := fmt.Sprintf("user%d", e.n)
	u, err := e.app.Register(ctx, parley.RegisterRequest{Handle: h, Password: "password-" + h, DisplayName: "User " + h})
	if err != nil {
		tb.Fatal(err)
	}
	return &user{User: u, c: e.MustLogin(tb, h), token: ""}
}

func (e *env) MustLogin(tb testing.TB, handle string) parley.Caller {
	tb.Helper()
	s, err := e.app.Login(context.Background(), parley.LoginRequest{Handle: handle, Password: "password-" + handle, DeviceName: "test"})
	if err != nil {
		tb.Fatal(err)
	}
	return parley.Caller{UserID: s.User.ID, DeviceID: s.DeviceID}
}

func (e *env) MustDirect(tb testing.TB, a, b *user) parley.ID {
	tb.Helper()
	v, _, err := e.app.CreateConversation(context.Background(), a.c, parley.CreateConversationRequest{MemberIDs: []parley.ID{b.ID}})
	if err != nil {
		tb.Fatal(err)
	}
	return v.ID
}

func (e *env) MustGroup(tb testing.TB, owner *user, others ...*user) parley.ID {
	tb.Helper()
	ids := make([]parley.ID, len(others))
	for i, o := range others {
		ids[i] = o.ID
	}
	v, _, err := e.app.CreateConversation(context.Background(), owner.c, parley.CreateConversationRequest{MemberIDs: ids, Title: "group"})
	if err != nil {
		tb.Fatal(err)
	}
	return v.ID
}

func (e *env) MustSend(tb testing.TB, u *user, conv parley.ID, body string) *parley.Message {
	tb.Helper()
	e.n++
	m, _, err := e.app.Send(context.Background(), u.c, parley.SendRequest{ConversationID: conv, ClientMsgID: fmt.Sprint("c", e.n), Type: parley.TextMessage, Body: body}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// events records the bus events published to a user.
type events struct {
	mu  sync.Mutex
	got []parley.Event
}

func (e *env) Watch(tb testing.TB, u *user) *events {
	tb.Helper()
	ev := &events{}
	sub, err := e.bus.Subscribe(context.Background(), parley.UserTopic(u.ID), func(p []byte) {
		x, err := parley.DecodeEvent(p)
		if err != nil {
			tb.Errorf("bad event: %v", err)
			return
		}
		x.Data = append([]byte(nil), x.Data...)
		ev.mu.Lock()
		ev.got = append(ev.got, x)
		ev.mu.Unlock()
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { sub.Close() })
	return ev
}

func (ev *events) named(name string) []parley.Event {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	var out []parley.Event
	for _, x := range ev.got {
		if x.Name == name {
			out = append(out, x)
		}
	}
	return out
}

func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := parley.ErrorCode(err); got != code {
		tb.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
