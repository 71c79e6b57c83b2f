package realtime

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/engineio"
	"github.com/parleyhq/parley/socketio"
)

// conn is one authenticated socket. It is kept small: an idle connection
// holds no maps, buffers or timers.
//
// Its message stream, per conversation, emits every log entry committed
// after the connection started receiving its user's events exactly once,
// in seq order, whether or not the client ever syncs. pos, taken once the
// user's bus topic was subscribed, fixes where that is: a conversation's
// stream starts after the last seq committed at pos (StreamStarts), so
// entries that arrive out of order, late or not at all are recognised and
// fetched from the store, and those committed before pos are left to sync.
type conn struct {
	g      *Gateway
	s      socket
	caller parley.Caller
	token  string
	authAt int64 // when the session was last checked, on the gateway's clock (mono)
	pos    parley.LogPosition
	// broken is set once an emit failed; see emitRaw.
	broken atomic.Bool

	// tokens and refill implement the per-connection event rate; only the
	// client's handler goroutine (one at a time) touches them. refill is
	// on the gateway's clock.
	tokens float32
	refill int64

	// syncMu lets one replay (a client's sync, or a catch-up) run at a
	// time.
	syncMu sync.Mutex

	// The fields are ordered to leave no padding: an idle connection is
	// one 176-byte object.
	mu sync.Mutex
	// heldN and heldBytes count what the connection holds back, in
	// pending and in its streams' held maps, against MaxHeld and
	// MaxHeldBytes.
	heldN   int32
	gone    bool
	ready   bool // set once pos is known; until then, as during a sync, message events wait in pending
	syncing bool
	streams map[parley.ID]*stream // per conversation, created on first message
	pending []heldEvent           // message events that arrived before ready or during sync
	// receipts holds, per (conversation, user), the watermarks this
	// socket told or knows to be stored; see emitReceipt.
	receipts map[receiptKey]receiptMarks
	// priming holds the conversations whose stored watermarks are being
	// read for receipts that wait for them.
	priming   map[parley.ID]bool
	heldBytes int
}

// stream keeps one conversation's messages in seq order for a socket.
type stream struct {
	// last is the highest seq the socket has, in order; known is false
	// until the stream's start is fixed.
	last  int64
	known bool
	// base is the lowest seq of the run base..last the socket emitted (or
	// was told by the client it has): sync replays skip that run.
	base int64
	// replayLow..replayTop is the run the running sync replayed below
	// base (0: none).
	replayLow, replayTop int64
	// starting is set while the stream's start is being read.
	starting bool
	held     map[int64][]byte // seq → encoded message that arrived early; nil: the socket's own send
	timer    *time.Timer      // the next fill (or start) attempt
	// retry is the wait before the next attempt after a store error.
	retry time.Duration
}

type heldEvent struct {
	conv parley.ID
	seq  int64
	data []byte // a message's nil: silent (the socket's own send, acknowledged already)
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
	t := mono(now)
	c.tokens = float32(min(float64(r.Burst), float64(c.tokens)+time.Duration(t-c.refill).Seconds()*r.PerSecond))
	c.refill = t
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

// emitRaw emits one event. Once an emit failed (the transport is closing:
// its buffer overflowed, or it broke) nothing more is emitted, even if the
// transport would take it: a client must never get a message after one it
// missed. It reconnects and resyncs.
func (c *conn) emitRaw(name string, data []byte) {
	if c.broken.Load() {
		return
	}
	if c.s.EmitRaw(name, data) != nil {
		c.broken.Store(true)
		return
	}
	c.g.stats.Emitted.Add(1)
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
		// e.Data is the bus's: what keeps it past this call copies it
		// (here and holdLocked); emitting copies it into the frame.
		data := e.Data
		if len(data) == 0 {
			data = nil // nil data marks an entry the socket has (acked)
		}
		if c.syncing || !c.ready {
			if c.budgetLocked(len(data)) {
				c.pending = append(c.pending, heldEvent{conv: e.ConversationID, seq: e.Seq, data: bytes.Clone(data)})
			}
			return
		}
		c.deliverLocked(e.ConversationID, e.Seq, data)
	case parley.EventReceipt:
		c.emitReceipt(e.Data, false)
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
	if c.syncing || !c.ready {
		if c.budgetLocked(0) {
			c.pending = append(c.pending, heldEvent{conv: m.ConversationID, seq: m.Seq})
		}
		return
	}
	c.deliverLocked(m.ConversationID, m.Seq, nil)
}

type receiptKey struct{ conv, user parley.ID }

type receiptMarks struct {
	delivered, read int64
	// waiting: a live receipt that is not told yet; the conversation's
	// stored watermarks are being read.
	waiting bool
	// told: the socket was told these marks; otherwise they are what the
	// store held when the socket read it, a floor for what it tells.
	told bool
}

// maxReceipts bounds the watermarks one connection remembers; past it the
// memory starts over (and the stored watermarks are read again).
const maxReceipts = 4096

// emitReceipt emits a receipt event so that neither watermark ever seems
// to go back, on this socket or from one socket of the device to the next.
// Receipts of marks that raced (on one node or two) may be published out
// of order, a publish may be delayed by the network past a reconnection,
// and a sync emits the receipts it read while live ones go on. So each
// socket keeps, per conversation and member, the watermarks it told; and
// before it tells a live receipt of a member it knows nothing of, it
// reads the conversation's stored watermarks (which are at least what any
// earlier socket of the device showed, since each receipt is published
// after its commit) and remembers every member's as a floor. A receipt
// that would lower a watermark goes out raised; one that tells nothing
// new, not at all. fresh marks a receipt read from the store just now (a
// sync's), which is its own floor.
func (c *conn) emitReceipt(data []byte, fresh bool) {
	var r parley.Receipt
	if err := json.Unmarshal(data, &r); err != nil {
		c.emitRaw(parley.EventReceipt, data)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		return
	}
	if c.receipts == nil || len(c.receipts) >= maxReceipts {
		c.receipts = make(map[receiptKey]receiptMarks)
		c.priming = make(map[parley.ID]bool)
	}
	k := receiptKey{r.ConversationID, r.UserID}
	prev, known := c.receipts[k]
	if fresh || (known && !prev.waiting) {
		c.tellReceiptLocked(r)
		return
	}
	// Hold it until the stored watermarks are known (primeReceipts).
	c.receipts[k] = receiptMarks{delivered: max(prev.delivered, r.DeliveredSeq), read: max(prev.read, r.ReadSeq), waiting: true}
	if !c.priming[r.ConversationID] {
		c.priming[r.ConversationID] = true
		go c.primeReceipts(r.ConversationID, 0)
	}
}

// tellReceiptLocked emits r raised to what the socket told or knows to be
// stored, unless it tells nothing the socket was not told already.
func (c *conn) tellReceiptLocked(r parley.Receipt) {
	k := receiptKey{r.ConversationID, r.UserID}
	prev, seen := c.receipts[k]
	next := receiptMarks{delivered: max(prev.delivered, r.DeliveredSeq), read: max(prev.read, r.ReadSeq), told: true}
	if seen && prev.told && !prev.waiting && next.delivered == prev.delivered && next.read == prev.read {
		return
	}
	r.DeliveredSeq, r.ReadSeq = next.delivered, next.read
	c.receipts[k] = next
	if b, err := json.Marshal(r); err == nil {
		c.emitRaw(parley.EventReceipt, b)
	}
}

// primeReceipts reads a conversation's stored watermarks, keeps each
// member's as the floor of what the socket tells of it, and tells the
// receipts that waited, raised to them. A store that cannot answer now is
// asked again (GapWait, doubling up to maxRetryWait), the receipts held
// meanwhile: told as they came, one published late could show a watermark
// lower than a previous socket of the device showed. A caller who may no
// longer read the conversation is told none of them.
func (c *conn) primeReceipts(conv parley.ID, wait time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), c.g.cfg.CallTimeout)
	stored, err := c.g.svc.Conversations.Receipts(ctx, c.caller, conv)
	cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone || !c.priming[conv] {
		return // gone, or the memory started over (maxReceipts) meanwhile
	}
	lost := parley.ErrorCode(err) == parley.ENOTFOUND || parley.ErrorCode(err) == parley.EFORBIDDEN
	if err != nil && !lost {
		wait = min(max(wait*2, c.g.cfg.GapWait), maxRetryWait)
		c.g.logger.Debug("read receipts", "conversation", conv, "err", err, "retry", wait)
		time.AfterFunc(wait, func() { c.primeReceipts(conv, wait) })
		return
	}
	delete(c.priming, conv)
	for _, s := range stored {
		k := receiptKey{conv, s.UserID}
		m, ok := c.receipts[k]
		switch {
		case !ok:
			c.receipts[k] = receiptMarks{delivered: s.DeliveredSeq, read: s.ReadSeq}
		case m.waiting:
			c.tellReceiptLocked(parley.Receipt{ConversationID: conv, UserID: s.UserID,
				DeliveredSeq: max(m.delivered, s.DeliveredSeq), ReadSeq: max(m.read, s.ReadSeq)})
		case !m.told:
			c.receipts[k] = receiptMarks{delivered: max(m.delivered, s.DeliveredSeq), read: max(m.read, s.ReadSeq)}
		}
	}
	// Waiting receipts of users the store did not answer for (no longer
	// members) go as they came; none if the caller may not read it now.
	for k, m := range c.receipts {
		if k.conv != conv || !m.waiting {
			continue
		}
		if lost {
			delete(c.receipts, k)
			continue
		}
		c.tellReceiptLocked(parley.Receipt{ConversationID: conv, UserID: k.user, DeliveredSeq: m.delivered, ReadSeq: m.read})
	}
}

// budgetLocked takes room for one more held message of n bytes, or drops
// the connection as a slow consumer (it reconnects and syncs) when the
// connection holds too much already.
func (c *conn) budgetLocked(n int) bool {
	if int(c.heldN) >= c.g.cfg.MaxHeld || c.heldBytes+n > c.g.cfg.MaxHeldBytes {
		c.dropSlow()
		return false
	}
	c.heldN++
	c.heldBytes += n
	return true
}

func (c *conn) releaseLocked(n int) {
	c.heldN--
	c.heldBytes -= n
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
// conversation's first message on a socket is held while the stream's
// start is read.
func (c *conn) deliverLocked(conv parley.ID, seq int64, data []byte) {
	st := c.stream(conv)
	if !st.known {
		if !c.holdLocked(st, seq, data) {
			return
		}
		if !st.starting {
			st.starting = true
			c.g.requestStart(conv, c)
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
			c.armLocked(conv, st, c.g.cfg.GapWait)
		}
	}
}

// holdLocked keeps an early message within the connection's budget.
func (c *conn) holdLocked(st *stream, seq int64, data []byte) bool {
	if st.held == nil {
		st.held = make(map[int64][]byte)
	}
	if _, dup := st.held[seq]; dup {
		return true
	}
	if !c.budgetLocked(len(data)) {
		return false
	}
	st.held[seq] = bytes.Clone(data) // the caller's data may be the bus's
	return true
}

// armLocked schedules the stream's next fill (or start) after d.
func (c *conn) armLocked(conv parley.ID, st *stream, d time.Duration) {
	if st.timer != nil {
		st.timer.Stop()
	}
	st.timer = time.AfterFunc(d, func() { c.fillGap(conv) })
}

// backoffLocked returns how long to wait before asking a store that
// failed again: GapWait, doubling up to maxRetryWait.
func (c *conn) backoffLocked(st *stream) time.Duration {
	st.retry = min(max(st.retry*2, c.g.cfg.GapWait), maxRetryWait)
	return st.retry
}

const maxRetryWait = 5 * time.Second

// started fixes where a conversation's stream starts: after start, the
// last seq committed at the connection's position (see requestStart). Held
// messages at or below it were committed before and are the business of
// sync; a hole above it is fetched from the store at once (everything
// below a published seq is committed). A store that could not answer
// (err) is asked again later, the messages held meanwhile.
func (c *conn) started(conv parley.ID, start int64, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.streams[conv]
	if c.gone || st == nil || !st.starting {
		return
	}
	if !st.known && err != nil {
		c.g.logger.Warn("start message stream", "conversation", conv, "err", err)
		st.timer = time.AfterFunc(c.backoffLocked(st), func() { c.g.requestStart(conv, c) })
		return
	}
	st.starting, st.retry = false, 0
	if !st.known {
		// (A sync may have taken the stream up meanwhile: it stands.)
		st.known, st.last, st.base = true, start, start+1
	}
	c.drainLocked(st)
	if len(st.held) > 0 {
		c.armLocked(conv, st, 0)
	}
}

// drainLocked emits the held messages that now follow in order.
func (c *conn) drainLocked(st *stream) {
	for seq, data := range st.held {
		if seq <= st.last {
			delete(st.held, seq) // before the start, or sync or a fill brought it
			c.releaseLocked(len(data))
		}
	}
	for len(st.held) > 0 {
		data, ok := st.held[st.last+1]
		if !ok {
			return
		}
		delete(st.held, st.last+1)
		c.releaseLocked(len(data))
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

// fillGap fetches, a page at a time, the messages missing before the first
// held one. What the store answers for the hole is the truth: an entry it
// does not return there (removed by retention, or outside what the member
// may see) is passed over. An error never is: the hole is kept and asked
// for again after a back-off, unless the caller may no longer read the
// conversation at all, which ends its stream.
func (c *conn) fillGap(conv parley.ID) {
	c.mu.Lock()
	st := c.streams[conv]
	if c.gone || st == nil {
		c.mu.Unlock()
		return
	}
	st.timer = nil
	if !st.known || len(st.held) == 0 {
		c.mu.Unlock()
		return
	}
	from, to := st.last, firstHeld(st.held)
	c.mu.Unlock()
	if to == from+1 {
		c.mu.Lock()
		c.drainLocked(st)
		c.mu.Unlock()
		return
	}

	c.g.stats.GapFills.Add(1)
	limit := int(min(to-from-1, parley.MaxHistoryLimit))
	ctx, cancel := context.WithTimeout(context.Background(), c.g.cfg.CallTimeout)
	ms, err := c.g.svc.Conversations.History(ctx, c.caller, conv, parley.HistoryQuery{
		AfterSeq: from, Ascending: true, Limit: limit,
	})
	cancel()

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone || c.streams[conv] != st || st.timer != nil {
		return
	}
	if err != nil {
		switch parley.ErrorCode(err) {
		case parley.ENOTFOUND, parley.EFORBIDDEN:
			// The caller may not read this conversation any more: what
			// waits for the hole is let go. The stream keeps its place, so
			// it never starts over below what the socket has.
			c.releaseHeldLocked(st)
		default:
			c.g.logger.Warn("fill message gap", "conversation", conv, "err", err)
			c.armLocked(conv, st, c.backoffLocked(st))
		}
		return
	}
	st.retry = 0
	if st.last != from {
		// Sync moved the stream meanwhile; look at the hole anew.
		c.drainLocked(st)
		if len(st.held) > 0 {
			c.armLocked(conv, st, 0)
		}
		return
	}
	done := len(ms) < limit
	for _, m := range ms {
		if m.Seq >= to {
			done = true
			break
		}
		if m.Seq <= st.last {
			continue
		}
		// This device's own sends reached it in their acks (or, sent over
		// HTTP, in the response). Only sends: its recalls, edits,
		// reactions and timer changes are acknowledged without their log
		// entries, which reach the device through the stream like anyone's.
		own := m.SenderDeviceID == c.caller.DeviceID && m.Type.Sent()
		if !own {
			if data, err := json.Marshal(m); err == nil {
				c.emitRaw(parley.EventMessage, data)
			}
		}
		st.last = m.Seq
	}
	if done {
		// Nothing else the caller may see lies in the hole.
		st.last = max(st.last, to-1)
	}
	c.drainLocked(st)
	if len(st.held) > 0 {
		c.armLocked(conv, st, 0) // the next page, or the next hole
	}
}

// releaseHeldLocked lets go of what a stream held.
func (c *conn) releaseHeldLocked(st *stream) {
	for seq, data := range st.held {
		c.releaseLocked(len(data))
		delete(st.held, seq)
	}
	if st.timer != nil {
		st.timer.Stop()
		st.timer = nil
	}
}

func firstHeld(h map[int64][]byte) int64 {
	first := int64(math.MaxInt64)
	for k := range h {
		first = min(first, k)
	}
	return first
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
	c.heldN, c.heldBytes = 0, 0
}

// streamPlaces returns, per conversation whose stream's place is known,
// the seq the socket has the log up to; ok is false once the connection
// is gone.
func (c *conn) streamPlaces() (places map[parley.ID]int64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone || !c.ready {
		// Not ready: its position is taken after the bus came back, so its
		// streams start after anything the outage lost.
		return nil, false
	}
	places = make(map[parley.ID]int64, len(c.streams))
	for conv, st := range c.streams {
		if st.known {
			places[conv] = st.last
		}
	}
	return places, true
}

// syncFrom takes up a conversation's stream where a sync starts replaying
// it: the client says it has the log up to p.Seq. A stream already under
// way keeps its place (the replay skips what it emitted).
func (c *conn) syncFrom(p parley.SyncPoint) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		return
	}
	if st := c.stream(p.ConversationID); !st.known {
		// The socket itself has emitted nothing yet: a later replay from a
		// lower cursor skips nothing.
		st.known, st.last, st.base = true, p.Seq, p.Seq+1
	}
}

// replayed emits a message that sync replays, and moves the stream to it.
// A replay is ascending. Below the run base..last the socket has, its
// messages form a run of their own, which joins base..last once it
// reaches base-1; a replay that stops before that (caught_up false)
// leaves it apart, and the next replay, from where this one stopped,
// still emits what lies between.
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
	default:
		if st.replayLow == 0 || seq != st.replayTop+1 {
			st.replayLow = seq
		}
		st.replayTop = seq
		if st.replayTop == st.base-1 {
			st.base, st.replayLow, st.replayTop = st.replayLow, 0, 0
		}
	}
	for s, d := range st.held {
		if s <= st.last {
			delete(st.held, s)
			c.releaseLocked(len(d))
		}
	}
}

// setPosition records where the connection's streams start and delivers
// the message events that arrived before it was known.
func (c *conn) setPosition(pos parley.LogPosition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pos, c.ready = pos, true
	if !c.syncing {
		c.deliverPendingLocked()
	}
}

// endSync delivers, in order, the live messages held during sync.
func (c *conn) endSync() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.syncing = false
	if c.ready {
		c.deliverPendingLocked()
	}
}

func (c *conn) deliverPendingLocked() {
	pending := c.pending
	c.pending = nil
	if c.gone {
		return
	}
	for _, e := range pending {
		c.releaseLocked(len(e.data))
	}
	// A replayed run that did not reach the stream's is forgotten: the
	// next replay starts after it.
	for _, st := range c.streams {
		st.replayLow, st.replayTop = 0, 0
	}
	for _, e := range pending {
		c.deliverLocked(e.conv, e.seq, e.data)
	}
}
