package realtime

import (
	"net/netip"
	"sync"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/socketio"
)

// QueuedBytes returns the outbound bytes every socket of this node holds
// now (polling queues and WebSocket write buffers), for a metrics gauge.
func (g *Gateway) QueuedBytes() int64 { return g.io.Engine().QueuedBytes() }

// addrTable counts the sockets of each client address: those being
// authenticated and those connected.
type addrTable struct {
	max int
	mu  sync.Mutex
	m   map[netip.Addr]int
}

func newAddrTable(max int) *addrTable { return &addrTable{max: max, m: make(map[netip.Addr]int)} }

// acquire takes a slot of addr; false when it has max already. An address
// that is not known (not an IP peer) is not counted.
func (t *addrTable) acquire(a netip.Addr) bool {
	if !a.IsValid() {
		return true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m[a] >= t.max {
		return false
	}
	t.m[a]++
	return true
}

func (t *addrTable) release(a netip.Addr) {
	if !a.IsValid() {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := t.m[a]; n <= 1 {
		delete(t.m, a)
	} else {
		t.m[a] = n - 1
	}
}

// admitEvent runs before every event's handler (socketio's Admit): it
// refuses, with the event's answer, text that is not UTF-8 (invalid, on
// every transport alike) and events over the user's rate across all its
// sockets (too_many). The per-connection checks follow in the handler.
func (g *Gateway) admitEvent(s *socketio.Socket, ev socketio.Event) bool {
	c := connOf(s)
	if c == nil {
		return true
	}
	var err error
	switch {
	case ev.InvalidUTF8:
		err = parley.Errorf(parley.EINVALID, "text must be valid UTF-8")
	case !c.allowUserEvent(time.Now()):
		err = parley.Errorf(parley.ETOOMANY, "too many events from this account; slow down")
	default:
		return true
	}
	g.stats.Events.Add(1)
	name := ev.Name
	if len(name) > 64 {
		name = name[:64]
	}
	g.answer(c, name, ev, nil, err)
	return false
}

// replayBudget bounds the bytes one sync call replays (Config.SyncBytes),
// so the replay fits the connection's outbound buffer (which a polling
// session fills until its next GET) with room left for live events. A
// count alone does not do: 500 messages of 64 KiB are 32 MiB.
type replayBudget struct{ left int }

func (g *Gateway) newReplayBudget() *replayBudget {
	return &replayBudget{left: g.cfg.SyncBytes}
}

// take reserves n bytes for one replayed message and reports whether it may
// go: while anything is left, so the message that crosses the budget goes
// too (half the buffer plus one message still fits it) and every sync call
// makes progress, however large its first message.
func (b *replayBudget) take(n int) bool {
	if b.left <= 0 {
		return false
	}
	b.left -= n
	return true
}
