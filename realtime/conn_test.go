package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/engineio"
)

// recorder is a socket that records what it is sent.
type recorder struct {
	mu     sync.Mutex
	seqs   []int64
	closed engineio.Reason
}

func (r *recorder) EmitRaw(event string, data []byte) error {
	var m parley.Message
	json.Unmarshal(data, &m)
	r.mu.Lock()
	r.seqs = append(r.seqs, m.Seq)
	r.mu.Unlock()
	return nil
}
func (r *recorder) Disconnect()                      {}
func (r *recorder) Transport() string                { return "websocket" }
func (r *recorder) CloseWith(reason engineio.Reason) { r.mu.Lock(); r.closed = reason; r.mu.Unlock() }
func (r *recorder) got() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprint(r.seqs)
}

// store answers History from a fixed log, and StreamStarts with a fixed
// start, and counts the calls.
type store struct {
	parley.ConversationService
	parley.MessageService
	start int64
	mu    sync.Mutex
	log   map[int64]bool
	// own are entries of the log the socket's own device appended, by type.
	own map[int64]parley.MessageType
	// entries, when set for a seq of log, is what History answers for it.
	entries map[int64]*parley.Message
	calls   []parley.HistoryQuery
	// fail is returned by the next failures History calls.
	fail     error
	failures int
	// startFailures StreamStarts calls answer EUNAVAILABLE.
	startFailures int
	startCalls    int
	// startAt answers positions other than testPosition; startGate, when
	// set, is sent each call's positions and holds the call until it is
	// sent to in return.
	startAt   map[parley.LogPosition]int64
	startGate chan []parley.LogPosition
	// stored are the watermarks Receipts answers, after receiptErrs
	// calls that answer the first of receiptErrs in turn.
	stored       []parley.Receipt
	receiptErrs  []error
	receiptCalls int
}

func (s *store) Receipts(context.Context, parley.Caller, parley.ID) ([]parley.Receipt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.receiptCalls++
	if len(s.receiptErrs) > 0 {
		err := s.receiptErrs[0]
		s.receiptErrs = s.receiptErrs[1:]
		return nil, err
	}
	return append([]parley.Receipt(nil), s.stored...), nil
}

func (s *store) History(_ context.Context, _ parley.Caller, conv parley.ID, q parley.HistoryQuery) ([]*parley.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, q)
	if s.failures > 0 {
		s.failures--
		return nil, s.fail
	}
	// As the stores answer: the next Limit entries there are after
	// AfterSeq, whatever holes lie between (expired or removed entries).
	var top int64
	for seq := range s.log {
		top = max(top, seq)
	}
	var out []*parley.Message
	for seq := q.AfterSeq + 1; len(out) < q.Limit && seq <= top; seq++ {
		if m := s.entries[seq]; m != nil && s.log[seq] {
			out = append(out, m)
		} else if s.log[seq] {
			m := &parley.Message{ConversationID: conv, Seq: seq, Type: parley.TextMessage}
			if typ, ok := s.own[seq]; ok {
				m.Type, m.SenderDeviceID = typ, 1
			}
			out = append(out, m)
		}
	}
	return out, nil
}

func (s *store) historyCalls() []parley.HistoryQuery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]parley.HistoryQuery(nil), s.calls...)
}

func (s *store) StreamStarts(_ context.Context, _ parley.ID, positions []parley.LogPosition) ([]int64, error) {
	if s.startGate != nil {
		s.startGate <- positions
		<-s.startGate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.startCalls++
	seqs := make([]int64, len(positions))
	for i, pos := range positions {
		at, ok := s.startAt[pos]
		if !ok && pos != testPosition {
			return nil, parley.Errorf(parley.EINVALID, "not a log position of this store")
		}
		seqs[i] = s.start
		if ok {
			seqs[i] = at
		}
	}
	if s.startFailures > 0 {
		s.startFailures--
		return nil, parley.Errorf(parley.EUNAVAILABLE, "database unavailable")
	}
	return seqs, nil
}

const testPosition = parley.LogPosition("test-position")

const conv = parley.ID(7)

func newTestConn(t *testing.T, log ...int64) (*conn, *recorder, *store) {
	g, st := newTestGateway(log...)
	c, r := addTestConn(t, g, testPosition)
	return c, r, st
}

// newTestGateway returns a gateway whose store holds log.
func newTestGateway(log ...int64) (*Gateway, *store) {
	st := &store{log: map[int64]bool{}}
	for _, s := range log {
		st.log[s] = true
	}
	g := &Gateway{cfg: Config{GapWait: 20 * time.Millisecond, MaxHeld: 8}.withDefaults(), svc: Services{Conversations: st, Messages: st}}
	g.logger = g.cfg.Logger
	return g, st
}

// addTestConn connects a socket to g that took its position at pos.
func addTestConn(t *testing.T, g *Gateway, pos parley.LogPosition) (*conn, *recorder) {
	r := &recorder{}
	c := &conn{g: g, s: r, caller: parley.Caller{UserID: 1, DeviceID: 1}}
	c.setPosition(pos)
	t.Cleanup(c.close)
	return c, r
}

// syncing makes c behave as during a sync's replay.
func syncing(c *conn) {
	c.mu.Lock()
	c.syncing = true
	c.mu.Unlock()
}

func replay(c *conn, seqs ...int64) {
	for _, s := range seqs {
		b, _ := json.Marshal(&parley.Message{ConversationID: conv, Seq: s})
		c.replayed(conv, s, b)
	}
}

func waitClosed(t *testing.T, r *recorder) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.mu.Lock()
		closed := r.closed
		r.mu.Unlock()
		if closed == engineio.ReasonSlowConsumer {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not dropped; closed = %q", closed)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitLong makes a gap wait for a minute, for tests that fill it live:
// only a bug asks the store then, never a slow machine.
func waitLong(c *conn) { c.g.cfg.GapWait = time.Minute }

func msg(seq int64) *parley.Event {
	b, _ := json.Marshal(&parley.Message{ConversationID: conv, Seq: seq})
	return &parley.Event{Name: parley.EventMessage, ConversationID: conv, Seq: seq, Data: b}
}

func deliver(c *conn, seqs ...int64) {
	for _, s := range seqs {
		c.onBusEvent(msg(s))
	}
}

func waitGot(t *testing.T, r *recorder, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for r.got() != want {
		if time.Now().After(deadline) {
			t.Fatalf("socket got %s, want %s", r.got(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStreamOrder(t *testing.T) {
	t.Run("InOrder", func(t *testing.T) {
		c, r, _ := newTestConn(t)
		deliver(c, 1, 2, 3)
		waitGot(t, r, "[1 2 3]")
	})
	t.Run("DuplicatesDropped", func(t *testing.T) {
		c, r, _ := newTestConn(t)
		deliver(c, 1, 2, 2, 1, 3)
		waitGot(t, r, "[1 2 3]")
	})
	t.Run("EarlyMessageHeldUntilGapFills", func(t *testing.T) {
		c, r, st := newTestConn(t)
		waitLong(c)
		deliver(c, 1)
		waitGot(t, r, "[1]")
		deliver(c, 3, 4, 2)
		waitGot(t, r, "[1 2 3 4]")
		time.Sleep(50 * time.Millisecond)
		if calls := st.historyCalls(); len(calls) != 0 {
			t.Fatalf("store asked although the gap filled: %+v", calls)
		}
	})
	t.Run("GapFetchedFromStore", func(t *testing.T) {
		c, r, st := newTestConn(t, 1, 2, 3, 4)
		deliver(c, 1, 4)
		waitGot(t, r, "[1 2 3 4]")
		if calls := st.historyCalls(); len(calls) != 1 || calls[0].AfterSeq != 1 || calls[0].Limit != 2 || !calls[0].Ascending {
			t.Fatalf("history calls = %+v", calls)
		}
	})
	t.Run("LargeHoleFetchedInPages", func(t *testing.T) {
		var log []int64
		for s := int64(1); s <= 450; s++ {
			log = append(log, s)
		}
		c, r, st := newTestConn(t, log...)
		deliver(c, 451)
		want := fmt.Sprint(append(log, 451))
		waitGot(t, r, want)
		calls := st.historyCalls()
		if len(calls) != 3 || calls[0].AfterSeq != 0 || calls[1].AfterSeq != 200 || calls[2].AfterSeq != 400 || calls[2].Limit != 50 {
			t.Fatalf("history calls = %+v, want pages after 0, 200 and 400", calls)
		}
	})
	t.Run("HoleTheStoreDoesNotShowIsPassedOver", func(t *testing.T) {
		// Retention removed 2 and 3, or the member may not see them: the
		// store's answer, not an error, says there is nothing there.
		c, r, _ := newTestConn(t)
		deliver(c, 1, 4, 5)
		waitGot(t, r, "[1 4 5]")
	})
	t.Run("ExpiredMessageInTheHoleIsPassedOver", func(t *testing.T) {
		// 2 expired: the store answers the entries after it, and the
		// stream moves on rather than wait for a seq that never comes.
		c, r, _ := newTestConn(t, 1, 3, 4)
		deliver(c, 1, 4)
		waitGot(t, r, "[1 3 4]")
	})
	t.Run("ExpiredMessagesEndingTheHoleArePassedOver", func(t *testing.T) {
		c, r, _ := newTestConn(t, 1, 2, 5)
		deliver(c, 1, 5)
		waitGot(t, r, "[1 2 5]")
	})
	t.Run("OwnSettingEntryIsEmitted", func(t *testing.T) {
		// A timer change this device made over HTTP had no ack on the
		// socket: the fill emits it, unlike the device's own sends.
		c, r, st := newTestConn(t, 1, 2, 3, 4, 5)
		st.own = map[int64]parley.MessageType{2: parley.SettingEntry, 3: parley.TextMessage, 4: parley.RecallEntry}
		deliver(c, 1, 5)
		waitGot(t, r, "[1 2 4 5]")
	})
	t.Run("GapKeptWhileStoreUnavailable", func(t *testing.T) {
		c, r, st := newTestConn(t, 1, 2, 3)
		st.fail, st.failures = parley.Errorf(parley.EUNAVAILABLE, "database unavailable"), 2
		deliver(c, 1, 3)
		waitGot(t, r, "[1 2 3]")
		if calls := st.historyCalls(); len(calls) != 3 {
			t.Fatalf("history calls = %+v, want 2 failed and 1 answered", calls)
		}
	})
	t.Run("GapKeptOnInternalError", func(t *testing.T) {
		// An error is never an empty answer, whatever its code.
		c, r, st := newTestConn(t, 1, 2, 3)
		st.fail, st.failures = errors.New("disk I/O error"), 2
		deliver(c, 1, 3)
		waitGot(t, r, "[1 2 3]")
	})
	t.Run("StreamEndsWhenNoLongerAMember", func(t *testing.T) {
		c, r, st := newTestConn(t, 1, 2, 3)
		st.fail, st.failures = parley.Errorf(parley.ENOTFOUND, "conversation not found"), 1
		deliver(c, 1, 3)
		waitGot(t, r, "[1]")
		deadline := time.Now().Add(5 * time.Second)
		for {
			c.mu.Lock()
			n, held := c.heldN, c.heldBytes
			c.mu.Unlock()
			if n == 0 && held == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d messages, %d bytes still held", n, held)
			}
			time.Sleep(5 * time.Millisecond)
		}
		// The stream keeps its place: a late arrival below it is not
		// emitted as if the stream started over.
		deliver(c, 1)
		if got := r.got(); got != "[1]" {
			t.Fatalf("socket got %s after its stream ended, want [1]", got)
		}
	})
	t.Run("OwnSendIsNotEmittedAgain", func(t *testing.T) {
		c, r, _ := newTestConn(t)
		waitLong(c)
		deliver(c, 1)
		waitGot(t, r, "[1]")
		c.acked(&parley.Message{ConversationID: conv, Seq: 3})
		deliver(c, 2, 4)
		waitGot(t, r, "[1 2 4]")
	})
	t.Run("StreamStartsAtPosition", func(t *testing.T) {
		c, r, st := newTestConn(t, 5, 6, 7, 8)
		st.start = 5
		deliver(c, 8)
		waitGot(t, r, "[6 7 8]")
	})
	t.Run("OneReadStartsManyConnections", func(t *testing.T) {
		// A group's message reaches 50 sockets that took their positions
		// at two moments. The first socket's read is under way while the
		// others ask: they share one read, with each distinct position
		// asked once, and each stream starts where its own position says.
		g, st := newTestGateway(5, 6, 7, 8)
		st.startAt = map[parley.LogPosition]int64{"early": 5, "late": 7}
		st.startGate = make(chan []parley.LogPosition)
		var rs []*recorder
		var cs []*conn
		for i := range 50 {
			pos := parley.LogPosition("early")
			if i%2 == 1 {
				pos = "late"
			}
			c, r := addTestConn(t, g, pos)
			waitLong(c)
			cs, rs = append(cs, c), append(rs, r)
		}
		deliver(cs[0], 8)
		if asked := fmt.Sprint(<-st.startGate); asked != "[early]" {
			t.Fatalf("first read asked %s; want [early]", asked)
		}
		for _, c := range cs[1:] {
			deliver(c, 8)
		}
		st.startGate <- nil
		if asked := fmt.Sprint(<-st.startGate); asked != "[late early]" {
			t.Fatalf("second read asked %s; want [late early]", asked)
		}
		st.startGate <- nil
		for i, r := range rs {
			want := "[6 7 8]"
			if i%2 == 1 {
				want = "[8]"
			}
			waitGot(t, r, want)
		}
		st.mu.Lock()
		defer st.mu.Unlock()
		if st.startCalls != 2 {
			t.Fatalf("%d reads of where streams start; want 2", st.startCalls)
		}
	})
	t.Run("StreamStartWaitsForUnavailableStore", func(t *testing.T) {
		c, r, st := newTestConn(t, 5, 6, 7, 8)
		st.start, st.startFailures = 5, 2
		deliver(c, 8)
		waitGot(t, r, "[6 7 8]")
	})
	t.Run("CommittedBeforePositionLeftToSync", func(t *testing.T) {
		c, r, st := newTestConn(t, 3, 4, 5, 6)
		st.start = 5
		deliver(c, 3, 4, 6)
		waitGot(t, r, "[6]")
	})
	t.Run("LateFanOutOfEarlierCommitIsNotSkipped", func(t *testing.T) {
		// The messages of one commit are published by their senders one by
		// one: the first to arrive may be the last of the commit. The
		// stream starts where the store stood when the socket subscribed,
		// never at whichever message came first. (Whether 11…14 then come
		// from the store or live, each is emitted once.)
		c, r, st := newTestConn(t, 11, 12, 13, 14, 15)
		waitLong(c)
		st.start = 10
		deliver(c, 15)
		deliver(c, 13, 11, 14, 12)
		waitGot(t, r, "[11 12 13 14 15]")
	})
	t.Run("FirstArrivalOutOfOrder", func(t *testing.T) {
		// Everything below a published seq is committed, so the store has
		// 1 and 2 even when the stream starts before they arrive live.
		c, r, _ := newTestConn(t, 1, 2, 3)
		deliver(c, 3, 1, 2)
		waitGot(t, r, "[1 2 3]")
	})
	t.Run("OwnChangesFilledFromStoreAreEmitted", func(t *testing.T) {
		// A gap is filled from the store: this device's own sends are
		// skipped (their acks had them), its own edits and reactions are
		// not (their acks carry no entry).
		c, r, st := newTestConn(t, 1, 2, 3, 4, 5)
		own := func(seq int64, typ parley.MessageType) *parley.Message {
			return &parley.Message{ConversationID: conv, Seq: seq, SenderID: 1, SenderDeviceID: c.caller.DeviceID, Type: typ}
		}
		st.entries = map[int64]*parley.Message{2: own(2, parley.TextMessage), 3: own(3, parley.EditEntry), 4: own(4, parley.ReactionEntry)}
		deliver(c, 5)
		waitGot(t, r, "[1 3 4 5]")
	})
	t.Run("OwnSendFirstDoesNotSkipEarlierMessages", func(t *testing.T) {
		c, r, _ := newTestConn(t, 1, 2)
		c.acked(&parley.Message{ConversationID: conv, Seq: 2})
		deliver(c, 1, 3)
		waitGot(t, r, "[1 3]")
	})
	t.Run("EventsBeforePositionWait", func(t *testing.T) {
		_, _, st := newTestConn(t)
		r := &recorder{}
		c := &conn{g: &Gateway{cfg: Config{GapWait: time.Minute}.withDefaults(), svc: Services{Conversations: st, Messages: st}}, s: r}
		c.g.logger = c.g.cfg.Logger
		t.Cleanup(c.close)
		deliver(c, 1, 2)
		if got := r.got(); got != "[]" {
			t.Fatalf("emitted %s before the stream's position was known", got)
		}
		c.setPosition(testPosition)
		waitGot(t, r, "[1 2]")
	})
	t.Run("SyncThenHeldLiveEvents", func(t *testing.T) {
		c, r, _ := newTestConn(t)
		syncing(c)
		deliver(c, 4, 6) // live, during the replay
		replay(c, 2, 3, 4, 5)
		c.endSync()
		waitGot(t, r, "[2 3 4 5 6]")
	})
	t.Run("SyncPointStartsStream", func(t *testing.T) {
		c, r, st := newTestConn(t, 6, 7)
		st.start = 2
		syncing(c)
		c.syncFrom(parley.SyncPoint{ConversationID: conv, Seq: 5})
		c.endSync()
		deliver(c, 7)
		waitGot(t, r, "[6 7]")
		st.mu.Lock()
		calls := st.startCalls
		st.mu.Unlock()
		if calls != 0 {
			t.Fatalf("StreamStarts called %d times for a stream sync took up", calls)
		}
	})
	t.Run("SecondSyncSkipsWhatTheSocketHas", func(t *testing.T) {
		c, r, st := newTestConn(t)
		st.start = 9
		deliver(c, 10, 11)
		waitGot(t, r, "[10 11]")
		syncing(c)
		replay(c, 8, 9, 10, 11, 12)
		c.endSync()
		waitGot(t, r, "[10 11 8 9 12]")
	})
	t.Run("PartialReplayLeavesNoHole", func(t *testing.T) {
		// A sync that stops early (caught_up false) below what the live
		// stream emitted must not make the next one skip what lies between.
		c, r, st := newTestConn(t)
		st.start = 9
		deliver(c, 10, 11)
		waitGot(t, r, "[10 11]")
		syncing(c)
		replay(c, 5, 6)
		c.endSync()
		syncing(c)
		replay(c, 7, 8, 9, 10, 11, 12)
		c.endSync()
		waitGot(t, r, "[10 11 5 6 7 8 9 12]")
	})
	t.Run("TooManyHeldDropsSlowConsumer", func(t *testing.T) {
		c, r, _ := newTestConn(t)
		waitLong(c)
		deliver(c, 1)
		waitGot(t, r, "[1]")
		for s := int64(3); s < 3+9; s++ {
			deliver(c, s)
		}
		waitClosed(t, r)
	})
	t.Run("TooManyHeldBytesDropsSlowConsumer", func(t *testing.T) {
		c, r, _ := newTestConn(t)
		waitLong(c)
		c.g.cfg.MaxHeldBytes = 200
		deliver(c, 1)
		waitGot(t, r, "[1]")
		big := func(seq int64) *parley.Event {
			b, _ := json.Marshal(&parley.Message{ConversationID: conv, Seq: seq, Body: strings.Repeat("x", 150)})
			return &parley.Event{Name: parley.EventMessage, ConversationID: conv, Seq: seq, Data: b}
		}
		c.onBusEvent(big(3))
		c.onBusEvent(big(4))
		waitClosed(t, r)
	})
	t.Run("HeldBudgetReturnedOnDelivery", func(t *testing.T) {
		c, r, _ := newTestConn(t)
		waitLong(c)
		deliver(c, 1)
		waitGot(t, r, "[1]")
		for round := range 5 {
			base := int64(2 + 7*round)
			for s := base + 6; s >= base; s-- { // 7 at a time, one under MaxHeld
				deliver(c, s)
			}
		}
		waitGot(t, r, fmt.Sprint(seqRange(1, 36)))
		c.mu.Lock()
		n, b := c.heldN, c.heldBytes
		c.mu.Unlock()
		if n != 0 || b != 0 {
			t.Fatalf("held after delivery: %d messages, %d bytes", n, b)
		}
	})
}

func seqRange(lo, hi int64) []int64 {
	var out []int64
	for s := lo; s <= hi; s++ {
		out = append(out, s)
	}
	return out
}

// receiptRecorder records the receipts a socket is sent.
type receiptRecorder struct {
	recorder
	receipts []parley.Receipt
}

func (r *receiptRecorder) EmitRaw(event string, data []byte) error {
	if event != parley.EventReceipt {
		return r.recorder.EmitRaw(event, data)
	}
	var rc parley.Receipt
	json.Unmarshal(data, &rc)
	r.mu.Lock()
	r.receipts = append(r.receipts, rc)
	r.mu.Unlock()
	return nil
}

func (r *receiptRecorder) got() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprint(r.receipts)
}

func TestReceiptsNeverGoBack(t *testing.T) {
	receipt := func(user parley.ID, d, rd int64) parley.Receipt {
		return parley.Receipt{ConversationID: conv, UserID: user, DeliveredSeq: d, ReadSeq: rd}
	}
	live := func(c *conn, rc parley.Receipt) {
		b, _ := json.Marshal(rc)
		c.onBusEvent(&parley.Event{Name: parley.EventReceipt, ConversationID: conv, Data: b})
	}
	waitReceipts := func(t *testing.T, r *receiptRecorder, want ...parley.Receipt) {
		t.Helper()
		w := fmt.Sprint(want)
		deadline := time.Now().Add(5 * time.Second)
		for r.got() != w {
			if time.Now().After(deadline) {
				t.Fatalf("receipts emitted %s, want %s", r.got(), w)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	t.Run("OutOfOrderOnOneSocket", func(t *testing.T) {
		c, _, _ := newTestConn(t)
		r := &receiptRecorder{}
		c.s = r
		for _, m := range [][2]int64{{220, 200}, {218, 210}, {218, 210}, {230, 205}, {230, 210}} {
			live(c, receipt(5, m[0], m[1]))
			// Each waits for the conversation's stored watermarks (none
			// here) only the first time.
			if m == [2]int64{220, 200} {
				waitReceipts(t, r, receipt(5, 220, 200))
			}
		}
		live(c, receipt(6, 1, 1))
		waitReceipts(t, r, receipt(5, 220, 200), receipt(5, 220, 210), receipt(5, 230, 210), receipt(6, 1, 1))
	})
	t.Run("StaleAfterReconnect", func(t *testing.T) {
		// A new socket of the device gets a receipt published long ago: it
		// goes out raised to what is stored, which the previous socket may
		// have shown already.
		c, _, st := newTestConn(t)
		st.stored = []parley.Receipt{receipt(5, 13810, 13810)}
		r := &receiptRecorder{}
		c.s = r
		live(c, receipt(5, 13787, 13782))
		waitReceipts(t, r, receipt(5, 13810, 13810))
		live(c, receipt(5, 13811, 13800))
		waitReceipts(t, r, receipt(5, 13810, 13810), receipt(5, 13811, 13810))
	})
	t.Run("StoreOutageWhilePriming", func(t *testing.T) {
		// The stored watermarks cannot be read for a while: the late
		// receipt waits for them rather than going out lower than what a
		// previous socket of the device showed.
		c, _, st := newTestConn(t)
		unavailable := parley.Errorf(parley.EUNAVAILABLE, "store down")
		st.stored = []parley.Receipt{receipt(5, 11856, 11850)}
		st.receiptErrs = []error{unavailable, unavailable, context.DeadlineExceeded}
		r := &receiptRecorder{}
		c.s = r
		live(c, receipt(5, 11836, 11830))
		waitReceipts(t, r, receipt(5, 11856, 11850))
		st.mu.Lock()
		calls := st.receiptCalls
		st.mu.Unlock()
		if calls != 4 {
			t.Fatalf("stored watermarks read %d times, want 4 (three failures, then the answer)", calls)
		}
	})
	t.Run("NoLongerMember", func(t *testing.T) {
		c, _, st := newTestConn(t)
		st.receiptErrs = []error{parley.Errorf(parley.ENOTFOUND, "conversation not found")}
		r := &receiptRecorder{}
		c.s = r
		live(c, receipt(5, 7, 7))
		deadline := time.Now().Add(5 * time.Second)
		for {
			c.mu.Lock()
			done := !c.priming[conv]
			c.mu.Unlock()
			if done {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the conversation's receipts were never settled")
			}
			time.Sleep(5 * time.Millisecond)
		}
		if got := r.got(); got != "[]" {
			t.Fatalf("receipts emitted %s for a conversation the caller may not read", got)
		}
	})
	t.Run("OtherMembersFromTheSameRead", func(t *testing.T) {
		// The read a member's live receipt waited for gives every member's
		// stored watermarks: a late receipt of another member goes out
		// raised to them.
		c, _, st := newTestConn(t)
		st.stored = []parley.Receipt{receipt(5, 100, 100), receipt(6, 16126, 16126)}
		r := &receiptRecorder{}
		c.s = r
		live(c, receipt(5, 50, 50))
		waitReceipts(t, r, receipt(5, 100, 100))
		live(c, receipt(6, 16070, 16070))
		waitReceipts(t, r, receipt(5, 100, 100), receipt(6, 16126, 16126))
		live(c, receipt(6, 16126, 16126)) // nothing new
		live(c, receipt(6, 16130, 16126))
		waitReceipts(t, r, receipt(5, 100, 100), receipt(6, 16126, 16126), receipt(6, 16130, 16126))
		st.mu.Lock()
		n := st.receiptCalls
		st.mu.Unlock()
		if n != 1 {
			t.Fatalf("stored watermarks read %d times, want once", n)
		}
	})
	t.Run("SyncReceiptOfOneMemberOnly", func(t *testing.T) {
		// A sync's receipt of one member says nothing of the others: a late
		// receipt of another still waits for the stored watermarks.
		c, _, st := newTestConn(t)
		st.stored = []parley.Receipt{receipt(5, 40, 30), receipt(6, 200, 200)}
		r := &receiptRecorder{}
		c.s = r
		b, _ := json.Marshal(receipt(5, 40, 30))
		c.emitReceipt(b, true)
		live(c, receipt(6, 150, 150))
		waitReceipts(t, r, receipt(5, 40, 30), receipt(6, 200, 200))
	})
	t.Run("SyncReceiptsNeedNoRead", func(t *testing.T) {
		c, _, st := newTestConn(t)
		st.stored = []parley.Receipt{receipt(5, 99, 99)} // would show if it were read
		r := &receiptRecorder{}
		c.s = r
		b, _ := json.Marshal(receipt(5, 40, 30))
		c.emitReceipt(b, true)
		live(c, receipt(5, 41, 30))
		waitReceipts(t, r, receipt(5, 40, 30), receipt(5, 41, 30))
	})
}
