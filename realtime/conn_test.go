package realtime

import (
	"context"
	"encoding/json"
	"fmt"
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

// store answers History from a fixed log, and Cursor with a fixed device
// cursor, and counts the calls.
type store struct {
	parley.ConversationService
	parley.MessageService
	cursor int64
	mu     sync.Mutex
	log    map[int64]bool
	calls  []parley.HistoryQuery
	// fail is returned by the next failures History calls.
	fail     error
	failures int
	// cursorFailures Cursor calls answer EUNAVAILABLE.
	cursorFailures int
}

func (s *store) History(_ context.Context, _ parley.Caller, conv parley.ID, q parley.HistoryQuery) ([]*parley.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, q)
	if s.failures > 0 {
		s.failures--
		return nil, s.fail
	}
	var out []*parley.Message
	for seq := q.AfterSeq + 1; len(out) < q.Limit && seq <= q.AfterSeq+int64(q.Limit); seq++ {
		if s.log[seq] {
			out = append(out, &parley.Message{ConversationID: conv, Seq: seq})
		}
	}
	return out, nil
}

func (s *store) historyCalls() []parley.HistoryQuery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]parley.HistoryQuery(nil), s.calls...)
}

func (s *store) Cursor(context.Context, parley.Caller, parley.ID) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cursorFailures > 0 {
		s.cursorFailures--
		return 0, parley.Errorf(parley.EUNAVAILABLE, "database unavailable")
	}
	return s.cursor, nil
}

const conv = parley.ID(7)

func newTestConn(t *testing.T, log ...int64) (*conn, *recorder, *store) {
	st := &store{log: map[int64]bool{}}
	for _, s := range log {
		st.log[s] = true
	}
	g := &Gateway{cfg: Config{GapWait: 20 * time.Millisecond, MaxHeld: 8}.withDefaults(), svc: Services{Conversations: st, Messages: st}}
	g.logger = g.cfg.Logger
	r := &recorder{}
	c := &conn{g: g, s: r, caller: parley.Caller{UserID: 1, DeviceID: 1}}
	t.Cleanup(c.close)
	return c, r, st
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
		deliver(c, 1) // the stream starts (a cursor read) before the gap
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
	t.Run("HoleTheStoreCannotFillIsSkipped", func(t *testing.T) {
		c, r, _ := newTestConn(t)
		deliver(c, 1, 4, 5)
		waitGot(t, r, "[1 4 5]")
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
	t.Run("GapSkippedOnPermanentError", func(t *testing.T) {
		c, r, st := newTestConn(t, 1, 2, 3)
		st.fail, st.failures = parley.Errorf(parley.EFORBIDDEN, "not a member"), 1
		deliver(c, 1, 3)
		waitGot(t, r, "[1 3]")
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
	t.Run("StreamStartsAtDeviceCursor", func(t *testing.T) {
		c, r, st := newTestConn(t, 5, 6, 7, 8)
		st.cursor = 5
		deliver(c, 8)
		waitGot(t, r, "[6 7 8]")
	})
	t.Run("StreamStartWaitsForUnavailableStore", func(t *testing.T) {
		c, r, st := newTestConn(t, 5, 6, 7, 8)
		st.cursor, st.cursorFailures = 5, 2
		deliver(c, 8)
		waitGot(t, r, "[6 7 8]")
	})
	t.Run("FirstArrivalOutOfOrder", func(t *testing.T) {
		// Everything below a published seq is committed, so the store has
		// 1 and 2 even when the stream starts before they arrive live.
		c, r, _ := newTestConn(t, 1, 2, 3)
		deliver(c, 3, 1, 2)
		waitGot(t, r, "[1 2 3]")
	})
	t.Run("FarBehindCursorStartsAtLiveMessage", func(t *testing.T) {
		c, r, st := newTestConn(t)
		st.cursor = 0
		deliver(c, 1000, 1001)
		waitGot(t, r, "[1000 1001]")
		if calls := st.historyCalls(); len(calls) != 0 {
			t.Fatalf("fetched a backlog beyond maxBackfill: %+v", calls)
		}
	})
	t.Run("OwnSendFirstDoesNotSkipEarlierMessages", func(t *testing.T) {
		c, r, _ := newTestConn(t, 1, 2)
		c.acked(&parley.Message{ConversationID: conv, Seq: 2})
		deliver(c, 1, 3)
		waitGot(t, r, "[1 2 3]") // 2 comes again from the store: a duplicate, never a loss
	})
	t.Run("SyncThenHeldLiveEvents", func(t *testing.T) {
		c, r, _ := newTestConn(t)
		c.mu.Lock()
		c.syncing = true
		c.mu.Unlock()
		deliver(c, 4, 6) // live, during the replay
		for _, s := range []int64{2, 3, 4, 5} {
			b, _ := json.Marshal(&parley.Message{ConversationID: conv, Seq: s})
			c.replayed(conv, s, b)
		}
		c.endSync()
		waitGot(t, r, "[2 3 4 5 6]")
	})
	t.Run("SecondSyncSkipsWhatTheSocketHas", func(t *testing.T) {
		c, r, _ := newTestConn(t)
		deliver(c, 10, 11) // taken up mid-way: the socket has 10..11
		waitGot(t, r, "[10 11]")
		c.mu.Lock()
		c.syncing = true
		c.mu.Unlock()
		for s := int64(8); s <= 12; s++ {
			b, _ := json.Marshal(&parley.Message{ConversationID: conv, Seq: s})
			c.replayed(conv, s, b)
		}
		c.endSync()
		waitGot(t, r, "[10 11 8 9 12]")
	})
	t.Run("TooManyHeldDropsSlowConsumer", func(t *testing.T) {
		c, r, _ := newTestConn(t)
		waitLong(c)
		deliver(c, 1)
		waitGot(t, r, "[1]")
		for s := int64(3); s < 3+9; s++ {
			deliver(c, s)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			r.mu.Lock()
			closed := r.closed
			r.mu.Unlock()
			if closed == engineio.ReasonSlowConsumer {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("not dropped; closed = %q", closed)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}
