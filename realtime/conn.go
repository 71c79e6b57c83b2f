package realtime

import (
	"context"
	"encoding/json"
	"sort"
	"sync"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/engineio"
	"github.com/parleyhq/parley/socketio"
)

// conn is one authenticated socket. It is kept small: an idle connection
// holds no maps, buffers or timers.
type conn struct {
	g      *Gateway
	s      socket
	caller parley.Caller
	token  string
	authAt time.Time

	// tokens and refill implement the per-connection event rate; only the
	// client's handler goroutine (one at a time) touches them.
	tokens float64
	refill time.Time

	mu      sync.Mutex
	gone    bool
	streams map[parley.ID]*stream // per conversation, created on first message
	syncing bool
	pending []heldEvent // message events that arrived during sync
}

// stream keeps one conversation's messages in seq order for a socket.
type stream struct {
	last  int64 // highest seq the socket has, in order
	known bool
	// base is the first seq this socket emitted when it took the stream up
	// mid-way (not by sync): the socket is known to have base..last only.
	base int64
	// replayLow is the lowest seq the running sync replayed (0: none).
	replayLow int64
	// initing is set while the device's cursor is being read to start the
	// stream; messages are held meanwhile.
	initing bool
	held    map[int64][]byte // seq → encoded message that arrived early; nil: already had it (own send)
	timer   *time.Timer
}

type heldEvent struct {
	conv parley.ID
	seq  int64
	data []byte // nil: silent (the socket's own send, acknowledged already)
}

// socket is what a conn needs of its Socket.IO socket (a test double in the
// package's tests).
type socket interface {
	EmitRaw(event string, data []byte) error
	Disconnect()
	CloseWith(reason engineio.Reason)
	Transport() string
}

// sioSocket adapts *socketio.Socket.
type sioSocket struct{ *socketio.Socket }

func (s sioSocket) CloseWith(r engineio.Reason) { s.Session().CloseWith(r) }
func (s sioSocket) Transport() string           { return s.Session().Transport() }

func connOf(s *socketio.Socket) *conn {
	c, _ := s.Data().(*conn)
	return c
}

// allow takes one token of the connection's event rate.
func (c *conn) allow(now time.Time) bool {
	r := c.g.cfg.EventRate
	if r.PerSecond <= 0 {
		return true
	}
	c.tokens = min(float64(r.Burst), c.tokens+now.Sub(c.refill).Seconds()*r.PerSecond)
	c.refill = now
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

func (c *conn) emitRaw(name string, data []byte) {
	if c.s.EmitRaw(name, data) == nil {
		c.g.stats.Emitted.Add(1)
	}
}

// dropSlow closes the connection as a slow consumer: the client reconnects
// and resyncs.
func (c *conn) dropSlow() {
	go c.s.CloseWith(engineio.ReasonSlowConsumer)
}

// onBusEvent runs on the bus delivery goroutine and must not block.
func (c *conn) onBusEvent(e *parley.Event) {
	switch e.Name {
	case parley.EventRevoke:
		go c.s.Disconnect()
	case parley.EventMessage:
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.gone {
			return
		}
		data := append([]byte(nil), e.Data...)
		if c.syncing {
			if len(c.pending) >= c.g.cfg.MaxHeld {
				c.dropSlow()
				return
			}
			c.pending = append(c.pending, heldEvent{e.ConversationID, e.Seq, data})
			return
		}
		c.deliverLocked(e.ConversationID, e.Seq, data)
	default:
		c.emitRaw(e.Name, e.Data)
	}
}

// acked records a message the socket has through its own send's ack, so
// the stream moves past it without emitting it.
func (c *conn) acked(m *parley.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		return
	}
	if c.syncing {
		c.pending = append(c.pending, heldEvent{m.ConversationID, m.Seq, nil})
		return
	}
	if st := c.streams[m.ConversationID]; st == nil || !st.known {
		// Taking the stream up at one's own message could skip an earlier
		// message still on its way; leave the start to the next event.
		return
	}
	c.deliverLocked(m.ConversationID, m.Seq, nil)
}

func (c *conn) stream(conv parley.ID) *stream {
	if c.streams == nil {
		c.streams = make(map[parley.ID]*stream)
	}
	st := c.streams[conv]
	if st == nil {
		st = &stream{}
		c.streams[conv] = st
	}
	return st
}

// deliverLocked emits a message in seq order: a duplicate is dropped, the
// next one is emitted (with any held ones that now follow), and one that
// comes early is held until the gap fills or GapWait passes. A
// conversation's first message on a socket is held while the device's
// cursor is read, so the stream starts where the device is, not at
// whichever message happened to be published first.
func (c *conn) deliverLocked(conv parley.ID, seq int64, data []byte) {
	st := c.stream(conv)
	if !st.known {
		if data == nil {
			return // the socket's own send; the stream starts with the next message
		}
		if !c.holdLocked(st, seq, data) {
			return
		}
		if !st.initing {
			st.initing = true
			go c.initStream(conv)
		}
		return
	}
	switch {
	case seq <= st.last:
		return
	case seq == st.last+1:
		if data != nil {
			c.emitRaw(parley.EventMessage, data)
		}
		st.last = seq
		c.drainLocked(st)
	default:
		if !c.holdLocked(st, seq, data) {
			return
		}
		if st.timer == nil {
			st.timer = time.AfterFunc(c.g.cfg.GapWait, func() { c.fillGap(conv) })
		}
	}
}

// holdLocked keeps an early message; over MaxHeld the socket is dropped.
func (c *conn) holdLocked(st *stream, seq int64, data []byte) bool {
	if st.held == nil {
		st.held = make(map[int64][]byte)
	}
	if len(st.held) >= c.g.cfg.MaxHeld {
		c.dropSlow()
		return false
	}
	if _, dup := st.held[seq]; !dup || data != nil {
		st.held[seq] = data
	}
	return true
}

// maxBackfill bounds how far behind its cursor a device may be for the
// stream to fetch the difference on its own; further behind, the stream
// starts at the live message and the device catches up with sync.
const maxBackfill = parley.MaxHistoryLimit

// initStream starts a conversation's stream at the device's cursor.
func (c *conn) initStream(conv parley.ID) {
	ctx, cancel := context.WithTimeout(context.Background(), c.g.cfg.CallTimeout)
	cur, err := c.g.svc.Messages.Cursor(ctx, c.caller, conv)
	cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.streams[conv]
	if c.gone || st == nil {
		return
	}
	if parley.IsRetryable(err) && !st.known && len(st.held) > 0 {
		// The store cannot say where the device is for now: keep holding
		// (bounded by MaxHeld) and ask again after GapWait.
		time.AfterFunc(c.g.cfg.GapWait, func() { c.initStream(conv) })
		return
	}
	st.initing = false
	if !st.known && len(st.held) > 0 {
		low := firstHeld(st.held)
		if err != nil || cur >= low || low-cur-1 > maxBackfill {
			cur = low - 1
		}
		st.known, st.last, st.base = true, cur, cur+1
	}
	c.drainLocked(st)
	if len(st.held) > 0 && st.timer == nil {
		// Everything below a published seq is committed: fetch the hole now.
		st.timer = time.AfterFunc(0, func() { c.fillGap(conv) })
	}
}

// drainLocked emits the held messages that now follow in order.
func (c *conn) drainLocked(st *stream) {
	for seq := range st.held {
		if seq <= st.last {
			delete(st.held, seq) // sync or a gap fill brought it already
		}
	}
	for len(st.held) > 0 {
		data, ok := st.held[st.last+1]
		if !ok {
			return
		}
		delete(st.held, st.last+1)
		if data != nil {
			c.emitRaw(parley.EventMessage, data)
		}
		st.last++
	}
	if st.timer != nil {
		st.timer.Stop()
		st.timer = nil
	}
}

// fillGap fetches the messages missing before the first held one from the
// store. If the store has nothing to give for the hole (retention removed
// it, or the member may not see it), the stream moves past it; if the
// store is unavailable for now, it tries again after GapWait.
func (c *conn) fillGap(conv parley.ID) {
	c.mu.Lock()
	st := c.streams[conv]
	if c.gone || st == nil || !st.known || len(st.held) == 0 {
		if st != nil {
			st.timer = nil
		}
		c.mu.Unlock()
		return
	}
	from, to := st.last, firstHeld(st.held)
	c.mu.Unlock()

	c.g.stats.GapFills.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), c.g.cfg.CallTimeout)
	ms, err := c.g.svc.Conversations.History(ctx, c.caller, conv, parley.HistoryQuery{
		AfterSeq: from, Ascending: true, Limit: int(min(to-from-1, parley.MaxHistoryLimit)),
	})
	cancel()

	c.mu.Lock()
	defer c.mu.Unlock()
	st.timer = nil
	if c.gone {
		return
	}
	if err != nil {
		c.g.logger.Warn("fill message gap", "conversation", conv, "err", err)
	}
	for _, m := range ms {
		if m.Seq != st.last+1 {
			continue
		}
		// This device's own sends reached it in their acks.
		own := m.SenderDeviceID == c.caller.DeviceID && m.Type != parley.RecallEntry
		if data, err := json.Marshal(m); err == nil && !own {
			c.emitRaw(parley.EventMessage, data)
		}
		st.last = m.Seq
	}
	if !parley.IsRetryable(err) && len(ms) == 0 && st.last == from {
		// Nothing to fetch for the hole: move past it. The socket has only
		// what follows. (A store that could not answer for now has said
		// nothing of the hole: it is kept and fetched again below.)
		st.last, st.base = to-1, to
	}
	c.drainLocked(st)
	if len(st.held) > 0 && st.timer == nil {
		st.timer = time.AfterFunc(c.g.cfg.GapWait, func() { c.fillGap(conv) })
	}
}

func firstHeld(h map[int64][]byte) int64 {
	keys := make([]int64, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys[0]
}

// close releases the connection's timers.
func (c *conn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gone = true
	for _, st := range c.streams {
		if st.timer != nil {
			st.timer.Stop()
		}
	}
	c.streams, c.pending = nil, nil
}

// replayed emits a message that sync replays, and moves the stream to it.
func (c *conn) replayed(conv parley.ID, seq int64, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		return
	}
	st := c.stream(conv)
	if st.known && seq >= st.base && seq <= st.last {
		return // this socket emitted it already
	}
	c.emitRaw(parley.EventMessage, data)
	switch {
	case !st.known:
		st.known, st.last, st.base = true, seq, seq
	case seq > st.last:
		st.last = seq
	}
	if st.replayLow == 0 || seq < st.replayLow {
		st.replayLow = seq
	}
	for s := range st.held {
		if s <= st.last {
			delete(st.held, s)
		}
	}
}

// endSync delivers, in order, the live messages held during sync.
func (c *conn) endSync() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.syncing = false
	pending := c.pending
	c.pending = nil
	if c.gone {
		return
	}
	// Sync replays an ascending run from the client's cursor, so now that
	// it is through, the socket has everything from the lowest replayed seq.
	for _, st := range c.streams {
		if st.replayLow > 0 {
			st.base = min(st.base, st.replayLow)
			st.replayLow = 0
		}
	}
	for _, e := range pending {
		c.deliverLocked(e.conv, e.seq, e.data)
	}
}
