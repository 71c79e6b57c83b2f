package realtime

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/socketio"
)

// userTable holds this node's connections by user. A user's bus topic is
// subscribed while the user has at least one connection here, so a node
// receives only the events of its own users.
type userTable struct {
	g      *Gateway
	shards [64]userShard
}

type userShard struct {
	mu sync.Mutex
	m  map[parley.ID]*userEntry
}

type userEntry struct {
	id    parley.ID
	mu    sync.Mutex
	conns []*conn
	sub   parley.Subscription
	// tokens and refill are the user's event bucket (Config.UserEventRate),
	// shared by all its connections; guarded by mu. refill is on the
	// gateway's clock (mono).
	tokens float64
	refill int64
}

// errTooMany refuses a connect over a user's or an address's socket cap.
var errTooMany = &socketio.ConnectError{Message: parley.ETOOMANY}

func newUserTable(g *Gateway) *userTable {
	t := &userTable{g: g}
	for i := range t.shards {
		t.shards[i].m = make(map[parley.ID]*userEntry)
	}
	return t
}

func (t *userTable) shard(id parley.ID) *userShard {
	return &t.shards[uint64(id)%uint64(len(t.shards))]
}

// add registers c and subscribes its user's topic if c is the first. It
// returns errTooMany when the user has Config.MaxSocketsPerUser connections
// here already.
func (t *userTable) add(ctx context.Context, c *conn) error {
	sh := t.shard(c.caller.UserID)
	sh.mu.Lock()
	e := sh.m[c.caller.UserID]
	if e == nil {
		e = &userEntry{id: c.caller.UserID, tokens: float64(t.g.cfg.UserEventRate.Burst), refill: mono(time.Now())}
		sh.m[e.id] = e
	}
	e.mu.Lock()
	if len(e.conns) >= t.g.cfg.MaxSocketsPerUser {
		e.mu.Unlock()
		sh.mu.Unlock()
		return errTooMany
	}
	e.conns = append(e.conns, c)
	first := e.sub == nil
	e.mu.Unlock()
	sh.mu.Unlock()
	if !first {
		return nil
	}
	sub, err := t.g.bus.Subscribe(ctx, parley.UserTopic(e.id), e.onEvent)
	if err != nil {
		t.remove(c)
		return err
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sub != nil || len(e.conns) == 0 {
		// Raced with another first connection, or every connection already
		// left: keep one subscription only.
		sub.Close()
		return nil
	}
	e.sub = sub
	return nil
}

// remove unregisters c and ends the subscription with the user's last
// connection.
func (t *userTable) remove(c *conn) {
	sh := t.shard(c.caller.UserID)
	sh.mu.Lock()
	e := sh.m[c.caller.UserID]
	if e == nil {
		sh.mu.Unlock()
		return
	}
	e.mu.Lock()
	for i, x := range e.conns {
		if x == c {
			e.conns[i] = e.conns[len(e.conns)-1]
			e.conns[len(e.conns)-1] = nil
			e.conns = e.conns[:len(e.conns)-1]
			break
		}
	}
	var sub parley.Subscription
	if len(e.conns) == 0 {
		sub, e.sub = e.sub, nil
		delete(sh.m, e.id)
	}
	e.mu.Unlock()
	sh.mu.Unlock()
	if sub != nil {
		sub.Close()
	}
}

// onEvent runs on the bus's delivery goroutine: it decodes the event once
// and hands it to each of the user's sockets without blocking.
func (e *userEntry) onEvent(payload []byte) {
	ev, err := parley.DecodeEvent(payload)
	if err != nil {
		return
	}
	e.mu.Lock()
	conns := append([]*conn(nil), e.conns...)
	e.mu.Unlock()
	// Delivery latency is observed at the hand-off to each socket, which
	// writes at once unless the message waits for an earlier one.
	var stamped time.Time
	if ev.Name == parley.EventMessage && len(conns) > 0 && conns[0].g.cfg.Delivered != nil {
		stamped = createdAt(ev.Data)
	}
	for _, c := range conns {
		if ev.DeviceID != 0 && c.caller.DeviceID != ev.DeviceID {
			continue
		}
		if ev.ExceptDevice != 0 && c.caller.DeviceID == ev.ExceptDevice {
			continue
		}
		c.onBusEvent(&ev)
		c.g.observeDelivery(stamped)
	}
}

func (t *userTable) each(fn func(c *conn)) {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		var all []*conn
		for _, e := range sh.m {
			e.mu.Lock()
			all = append(all, e.conns...)
			e.mu.Unlock()
		}
		sh.mu.Unlock()
		for _, c := range all {
			fn(c)
		}
	}
}

func (t *userTable) closeAll() {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for id, e := range sh.m {
			e.mu.Lock()
			if e.sub != nil {
				e.sub.Close()
				e.sub = nil
			}
			e.mu.Unlock()
			delete(sh.m, id)
		}
		sh.mu.Unlock()
	}
}

// allowEvent takes one token of the user's event bucket, shared by all its
// connections to this node. It reports false when the bucket is empty.
func (t *userTable) allowEvent(id parley.ID, now time.Time) bool {
	r := t.g.cfg.UserEventRate
	if r.PerSecond <= 0 {
		return true
	}
	sh := t.shard(id)
	sh.mu.Lock()
	e := sh.m[id]
	sh.mu.Unlock()
	if e == nil {
		return true // the user's last connection just left
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	at := mono(now)
	e.tokens = min(float64(r.Burst), e.tokens+time.Duration(at-e.refill).Seconds()*r.PerSecond)
	e.refill = at
	if e.tokens < 1 {
		return false
	}
	e.tokens--
	return true
}

// allowUserEvent takes one token of the connection's user's event bucket
// (Config.UserEventRate); false means the event is to be answered too_many.
func (c *conn) allowUserEvent(now time.Time) bool {
	return c.g.users.allowEvent(c.caller.UserID, now)
}

// createdAt reads a message event's created_at without decoding the rest;
// the zero time when it has none.
func createdAt(data []byte) time.Time {
	const key = `"created_at":"`
	i := bytes.LastIndex(data, []byte(key)) // the message's own, after its media's
	if i < 0 {
		return time.Time{}
	}
	rest := data[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, string(rest[:j]))
	if err != nil {
		return time.Time{}
	}
	return t
}
