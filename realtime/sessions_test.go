package realtime

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/engineio"
)

// hangup is a socket that reports its Disconnect.
type hangup struct {
	device parley.ID
	gone   chan parley.ID
}

func (h *hangup) EmitRaw(string, []byte) error { return nil }
func (h *hangup) Disconnect()                  { h.gone <- h.device }
func (h *hangup) CloseWith(engineio.Reason)    {}
func (h *hangup) Transport() string            { return "websocket" }
func newSessionGateway() *Gateway {
	g := &Gateway{cfg: Config{}.withDefaults()}
	g.logger = g.cfg.Logger
	g.users = newUserTable(g)
	return g
}

// plug registers a socket of the device in the gateway's table, without
// a bus subscription.
func plug(g *Gateway, user, device parley.ID, gone chan parley.ID) {
	sh := g.users.shard(user)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[user]
	if e == nil {
		e = &userEntry{id: user}
		sh.m[user] = e
	}
	e.conns = append(e.conns, &conn{g: g, s: &hangup{device, gone}, caller: parley.Caller{UserID: user, DeviceID: device}})
}

func wantGone(t *testing.T, gone chan parley.ID, device parley.ID) {
	t.Helper()
	select {
	case d := <-gone:
		if d != device {
			t.Fatalf("disconnected device %d, want %d", d, device)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("device %d was not disconnected", device)
	}
}

func TestCloseSessions(t *testing.T) {
	g := newSessionGateway()
	gone := make(chan parley.ID, 8)
	plug(g, 1, 11, gone)
	plug(g, 1, 12, gone)
	plug(g, 2, 21, gone)
	n := g.CloseSessions([]parley.SessionEnd{
		{UserID: 1, DeviceID: 12},
		{UserID: 1, DeviceID: 99}, // no socket here
		{UserID: 3, DeviceID: 21}, // another user's device id never matches
	})
	if n != 1 {
		t.Fatalf("CloseSessions closed %d sockets, want 1", n)
	}
	wantGone(t, gone, 12)
	if !g.DeviceConnected(1, 11) || !g.DeviceConnected(2, 21) || g.DeviceConnected(2, 11) {
		t.Fatal("DeviceConnected is wrong")
	}
}

// feed is a SessionFeed that ends the same sessions at every read and
// records what it is asked.
type feed struct {
	ends  []parley.SessionEnd
	mu    sync.Mutex
	since []time.Time
	reads chan struct{}
	seen  chan []parley.ID
}

func (f *feed) EndedSessions(_ context.Context, since time.Time) ([]parley.SessionEnd, time.Time, error) {
	f.mu.Lock()
	f.since = append(f.since, since)
	n := len(f.since)
	f.mu.Unlock()
	f.reads <- struct{}{}
	return f.ends, time.Unix(int64(n), 0), nil
}

func (f *feed) SessionsSeen(_ context.Context, ids []parley.ID) error {
	f.seen <- ids
	return nil
}

func TestSessionWatcher(t *testing.T) {
	t.Run("Recheck", func(t *testing.T) {
		g := newSessionGateway()
		gone := make(chan parley.ID, 8)
		plug(g, 1, 11, gone)
		f := &feed{ends: []parley.SessionEnd{{UserID: 1, DeviceID: 11}}, reads: make(chan struct{}, 8), seen: make(chan []parley.ID, 8)}
		// Polls and use reports an hour apart: only Recheck reads now.
		w := g.WatchSessions(f, SessionWatchConfig{Poll: time.Hour, Seen: time.Hour})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); w.Run(ctx) }()
		defer func() { cancel(); <-done }()
		w.Recheck()
		<-f.reads
		wantGone(t, gone, 11)
		w.Recheck()
		<-f.reads
		f.mu.Lock()
		defer f.mu.Unlock()
		// The first read starts from now; the next from where it ended.
		if len(f.since) != 2 || !f.since[0].IsZero() || !f.since[1].Equal(time.Unix(1, 0)) {
			t.Fatalf("reads from %v", f.since)
		}
	})
	t.Run("SeenReportsLiveDevices", func(t *testing.T) {
		g := newSessionGateway()
		gone := make(chan parley.ID, 8)
		plug(g, 1, 11, gone)
		plug(g, 2, 21, gone)
		f := &feed{reads: make(chan struct{}, 1000), seen: make(chan []parley.ID, 8)}
		w := g.WatchSessions(f, SessionWatchConfig{Poll: time.Hour, Seen: 10 * time.Millisecond})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); w.Run(ctx) }()
		defer func() { cancel(); <-done }()
		select {
		case ids := <-f.seen:
			if len(ids) != 2 || (ids[0] != 11 && ids[1] != 11) || (ids[0] != 21 && ids[1] != 21) {
				t.Fatalf("SessionsSeen(%v), want devices 11 and 21", ids)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the devices with sockets were not reported in use")
		}
	})
}
