package chaos_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/client"
)

// device is one login of a user with its realtime connection. A syncing
// device uses the client's own reconnection and syncs after each one; a
// device that never syncs dials again itself when its socket ends and
// lives on what the live stream brings.
type device struct {
	w         *world
	name      string
	user      *user
	id        parley.ID
	node      *node
	http      *client.Client
	neverSync bool
	rng       *rand.Rand // the workload goroutine's alone

	stop     chan struct{} // closed at the end: no more dials
	stopOnce sync.Once
	wg       sync.WaitGroup

	mu      sync.Mutex
	sock    *client.Socket
	cur     *connLog
	conns   []*connLog
	frozen  bool // socket-level records end; events go to history only
	syncing int  // sync calls outstanding
	syncGen int  // incremented at each sync call
	syncsN  int
	hist    map[parley.ID]map[int64]parley.ID
	contig  map[parley.ID]int64 // highest seq held without a gap, as last computed
	// finalCursors are the cursors of the last final sync.
	finalCursors map[parley.ID]int64
	receipts     map[parley.ID]map[parley.ID]parley.Receipt
	own          []*parley.Message // acked sends, for recalls
}

// connLog is what one socket (one connection) received.
type connLog struct {
	n     int
	start time.Time // Dial returned: the socket had authenticated
	end   time.Time // zero while up
	seqs  map[parley.ID][]int64
	got   map[parley.ID]map[int64]bool
	last  map[parley.ID]int64
	// gen0 is the device's syncGen when the socket began; descents counts,
	// per conversation, the replay runs begun on it. Each sync call the
	// device began since may start one run per conversation (two calls
	// may overlap: a resync event during the sync after a reconnection).
	gen0     int
	descents map[parley.ID]int
	// lingering counts sync calls on this socket that timed out: the
	// server may still be replaying them.
	lingering int
}

func (d *device) newConnLocked() *connLog {
	c := &connLog{n: len(d.conns) + 1, seqs: map[parley.ID][]int64{}, got: map[parley.ID]map[int64]bool{},
		last: map[parley.ID]int64{}, gen0: d.syncGen, descents: map[parley.ID]int{}}
	d.conns = append(d.conns, c)
	d.cur = c
	return c
}

func (d *device) socketConfig(c *connLog) client.SocketConfig {
	cfg := client.SocketConfig{
		AckTimeout:       5 * time.Second,
		HandshakeTimeout: 5 * time.Second,
	}
	if d.neverSync {
		cfg.Handler = func(ev client.Event) { d.onEvent(c, ev) }
		return cfg
	}
	cfg.Reconnect = true
	cfg.ReconnectMin, cfg.ReconnectMax = 50*time.Millisecond, 500*time.Millisecond
	cfg.Handler = func(ev client.Event) {
		d.mu.Lock()
		cur := d.cur
		d.mu.Unlock()
		d.onEvent(cur, ev)
	}
	cfg.OnDisconnect = func(error) {
		// Runs on the reader goroutine, in order with the events: what
		// follows belongs to the next connection.
		d.mu.Lock()
		d.cur.end = time.Now()
		d.newConnLocked()
		d.mu.Unlock()
	}
	cfg.OnReconnect = func(s *client.Socket, _ map[parley.ID]int64) {
		d.w.reconnects.Add(1)
		d.mu.Lock()
		if d.cur.start.IsZero() {
			d.cur.start = time.Now()
		}
		d.mu.Unlock()
		d.sync(s)
	}
	return cfg
}

// start connects the device and keeps it connected until stop.
func (d *device) start() {
	d.stop = make(chan struct{})
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		for first := true; ; first = false {
			select {
			case <-d.stop:
				return
			default:
			}
			d.mu.Lock()
			c := d.newConnLocked()
			d.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			s, err := d.http.Dial(ctx, d.socketConfig(c))
			cancel()
			if err != nil {
				d.mu.Lock()
				c.end = time.Now()
				d.mu.Unlock()
				select {
				case <-d.stop:
					return
				case <-time.After(100 * time.Millisecond): // redial pace
				}
				continue
			}
			if !first {
				d.w.reconnects.Add(1)
			}
			d.mu.Lock()
			c.start = time.Now()
			d.sock = s
			d.mu.Unlock()
			if !d.neverSync {
				go d.sync(s)
			}
			select {
			case <-s.Done():
				d.mu.Lock()
				if d.cur.end.IsZero() {
					d.cur.end = time.Now()
				}
				d.mu.Unlock()
			case <-d.stop:
				return
			}
		}
	}()
}

// close ends the device's connection for good. It may be called again.
func (d *device) close() {
	d.stopOnce.Do(func() { close(d.stop) })
	d.wg.Wait()
	if s := d.socket(); s != nil {
		s.Close()
	}
}

func (d *device) socket() *client.Socket {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sock
}

// reconnect drops the connection on purpose; the device's loop dials a
// new one (which syncs, if the device ever does).
func (d *device) reconnect() {
	s := d.socket()
	if s == nil {
		return
	}
	// A syncing device's Socket reconnects by itself only after a
	// network failure; closing it ends it, and the loop in start dials a
	// new one.
	s.Close()
}

// sync catches the device up, from its own cursors or the server's,
// retrying while the server cannot answer for now.
func (d *device) sync(s *client.Socket) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		d.mu.Lock()
		d.syncing++
		d.syncGen++
		d.syncsN++
		c := d.cur
		var cursors map[parley.ID]int64
		if d.syncsN%2 == 1 {
			cursors = d.cursorsLocked()
		}
		d.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := s.Sync(ctx, cursors)
		cancel()
		d.endSync(c, err)
		if err == nil {
			d.w.syncs.Add(1)
			return
		}
		var pe *parley.Error
		if errors.Is(err, client.ErrClosed) || (errors.As(err, &pe) && !parley.IsRetryable(err)) || time.Now().After(deadline) {
			return // a socket that drops syncs again when it reconnects
		}
		select {
		case <-s.Done():
			return
		case <-time.After(50 * time.Millisecond): // retry pace
		}
	}
}

// finalSync catches the device up after recovery from the cursors of what
// it holds without a gap, on the socket it has, as a client that noticed a
// hole would: it calls sync again while the server answers caught_up
// false or cannot answer for now, for up to a minute.
func (d *device) finalSync() error {
	deadline := time.Now().Add(60 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		s := d.socket()
		if s == nil {
			return errors.New("no socket")
		}
		d.mu.Lock()
		d.syncing++
		d.syncGen++
		c := d.cur
		cursors := d.cursorsLocked()
		d.finalCursors = cursors
		d.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = s.Sync(ctx, cursors)
		cancel()
		d.endSync(c, err)
		if err == nil {
			d.w.syncs.Add(1)
			return nil
		}
		time.Sleep(50 * time.Millisecond) // retry pace
	}
	return err
}

// endSync closes a sync call's window. A call that timed out leaves it
// open on its socket: its replay may still come.
func (d *device) endSync(c *connLog, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.syncing--
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, client.ErrAckTimeout) {
		c.lingering++
	}
}

// cursorsLocked returns, per conversation, the highest seq held without a
// gap.
func (d *device) cursorsLocked() map[parley.ID]int64 {
	out := map[parley.ID]int64{}
	for _, conv := range d.user.convs {
		out[conv] = d.contiguousLocked(conv)
	}
	return out
}

func (d *device) contiguousLocked(conv parley.ID) int64 {
	// A history only grows, so the walk resumes where it stopped.
	h := d.hist[conv]
	cur := d.contig[conv]
	for h[cur+1] != 0 {
		cur++
	}
	d.contig[conv] = cur
	return cur
}

func (d *device) onEvent(c *connLog, ev client.Event) {
	if ev.Name == parley.EventResync && !d.neverSync {
		// The node's bus came back and events may have been lost: a
		// device that syncs does so now, as the contract asks.
		if s := d.socket(); s != nil {
			go d.sync(s)
		}
		return
	}
	if ev.Err != nil {
		// The checker would not see what it cannot read: say so.
		d.w.violate(kindConflict, "%s: a %s event did not decode: %v", d.name, ev.Name, ev.Err)
		return
	}
	switch v := ev.Data.(type) {
	case *parley.Message:
		d.w.events.Add(1)
		d.onMessage(c, v)
	case *parley.Receipt:
		d.w.receiptEvents.Add(1)
		d.onReceipt(v)
	}
}

// onMessage records a message event in the history and checks it against
// the socket's order.
func (d *device) onMessage(c *connLog, m *parley.Message) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.recordLocked(m)
	if d.frozen || c == nil {
		return
	}
	conv := m.ConversationID
	got := c.got[conv]
	if got == nil {
		got = map[int64]bool{}
		c.got[conv] = got
	}
	last := c.last[conv]
	switch {
	case got[m.Seq]:
		d.w.violate(kindDup, "%s socket %d: message seq %d of conversation %s emitted twice on the socket (received so far: %s; last arrivals: %s)",
			d.name, c.n, m.Seq, conv, ranges(c.seqs[conv]), recent(c.seqs[conv]))
	case m.Seq > last:
	case (d.syncing > 0 || c.lingering > 0) && c.descents[conv] < d.syncGen-c.gen0:
		// The replay of a sync the device asked for starts its own run.
		c.descents[conv]++
	default:
		d.w.violate(kindOrder, "%s socket %d: message seq %d of conversation %s after seq %d (no sync replay of the device began here; last arrivals: %s)",
			d.name, c.n, m.Seq, conv, last, recent(c.seqs[conv]))
	}
	got[m.Seq] = true
	c.seqs[conv] = append(c.seqs[conv], m.Seq)
	c.last[conv] = m.Seq
}

func (d *device) recordLocked(m *parley.Message) {
	h := d.hist[m.ConversationID]
	if h == nil {
		h = map[int64]parley.ID{}
		d.hist[m.ConversationID] = h
	}
	if id, ok := h[m.Seq]; ok && id != m.ID {
		d.w.violate(kindConflict, "%s: seq %d of conversation %s is message %s, and also %s", d.name, m.Seq, m.ConversationID, id, m.ID)
	}
	h[m.Seq] = m.ID
}

// onReceipt checks that watermarks seen by this device never go down.
func (d *device) onReceipt(r *parley.Receipt) {
	d.mu.Lock()
	defer d.mu.Unlock()
	byUser := d.receipts[r.ConversationID]
	if byUser == nil {
		byUser = map[parley.ID]parley.Receipt{}
		d.receipts[r.ConversationID] = byUser
	}
	prev := byUser[r.UserID]
	if r.DeliveredSeq < prev.DeliveredSeq || r.ReadSeq < prev.ReadSeq {
		d.w.violate(kindReceipt, "%s: receipt of user %s in conversation %s went from delivered %d read %d to delivered %d read %d",
			d.name, r.UserID, r.ConversationID, prev.DeliveredSeq, prev.ReadSeq, r.DeliveredSeq, r.ReadSeq)
	}
	prev.DeliveredSeq, prev.ReadSeq = max(prev.DeliveredSeq, r.DeliveredSeq), max(prev.ReadSeq, r.ReadSeq)
	byUser[r.UserID] = prev
}
