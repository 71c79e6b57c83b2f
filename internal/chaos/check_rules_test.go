package chaos_test

import (
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley"
)

// The checker's rules on made-up histories: a suite that never fails
// proves nothing, so each rule is shown to catch what it names and to
// leave alone what the contract allows.

const testConv parley.ID = 7

func testDevice(t *testing.T, neverSync bool) (*world, *device) {
	w := newWorld(t, 1)
	d := &device{w: w, name: "user9/d1", user: &user{convs: []parley.ID{testConv}}, neverSync: neverSync,
		hist: map[parley.ID]map[int64]parley.ID{}, contig: map[parley.ID]int64{}, receipts: map[parley.ID]map[parley.ID]parley.Receipt{}}
	w.devs = []*device{d}
	return w, d
}

func feed(d *device, c *connLog, seqs ...int64) {
	for _, s := range seqs {
		d.onMessage(c, &parley.Message{ID: parley.ID(1000 + s), ConversationID: testConv, Seq: s})
	}
}

// testLog is a log of n messages, issued at issued(seq), sent by other
// devices except the seqs in own.
func testLog(d *device, n int64, issued func(int64) time.Time, own ...int64) map[parley.ID]*convLog {
	l := &convLog{id: testConv, issued: map[int64]time.Time{}, sender: map[int64]*device{}}
	for s := int64(1); s <= n; s++ {
		l.msgs = append(l.msgs, &parley.Message{ID: parley.ID(1000 + s), ConversationID: testConv, Seq: s})
		l.issued[s] = issued(s)
	}
	for _, s := range own {
		l.sender[s] = d
	}
	return map[parley.ID]*convLog{testConv: l}
}

func wantViolations(t *testing.T, w *world, want ...string) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.violations) != len(want) {
		t.Fatalf("violations = %q, want %d", w.violations, len(want))
	}
	for i, v := range w.violations {
		if !strings.Contains(v, want[i]) {
			t.Errorf("violation %d = %q, want it to say %q", i, v, want[i])
		}
	}
}

func TestCheckerOrder(t *testing.T) {
	t.Run("InOrder", func(t *testing.T) {
		w, d := testDevice(t, true)
		feed(d, d.newConnLocked(), 3, 4, 9)
		wantViolations(t, w)
	})
	t.Run("ErrOutOfOrder", func(t *testing.T) {
		w, d := testDevice(t, true)
		feed(d, d.newConnLocked(), 1, 3, 2)
		wantViolations(t, w, "out of order: user9/d1 socket 1: message seq 2 of conversation 7 after seq 3")
	})
	t.Run("ErrDuplicate", func(t *testing.T) {
		w, d := testDevice(t, true)
		feed(d, d.newConnLocked(), 1, 2, 2)
		wantViolations(t, w, "duplicated: user9/d1 socket 1: message seq 2")
	})
	t.Run("NewSocketStartsOver", func(t *testing.T) {
		w, d := testDevice(t, true)
		feed(d, d.newConnLocked(), 1, 2, 3)
		feed(d, d.newConnLocked(), 2, 3, 4)
		wantViolations(t, w)
	})
	t.Run("SyncReplayIsItsOwnRun", func(t *testing.T) {
		w, d := testDevice(t, false)
		c := d.newConnLocked()
		feed(d, c, 5, 6)
		d.syncing, d.syncGen = 1, 1
		feed(d, c, 2, 3, 4, 7)
		d.syncing = 0
		feed(d, c, 8)
		wantViolations(t, w)
	})
	t.Run("ErrTwoDescentsInOneSync", func(t *testing.T) {
		w, d := testDevice(t, false)
		c := d.newConnLocked()
		feed(d, c, 5, 6)
		d.syncing, d.syncGen = 1, 1
		feed(d, c, 2, 3, 1)
		wantViolations(t, w, "out of order: user9/d1 socket 1: message seq 1 of conversation 7 after seq 3")
	})
	t.Run("OverlappingSyncsEachStartARun", func(t *testing.T) {
		w, d := testDevice(t, false)
		c := d.newConnLocked()
		feed(d, c, 5, 6)
		d.syncing, d.syncGen = 2, 2
		// The first replay from cursor 2, the second from 0.
		feed(d, c, 3, 4, 1, 2, 7)
		wantViolations(t, w)
		feed(d, c, 0)
		wantViolations(t, w, "out of order: user9/d1 socket 1: message seq 0")
	})
	t.Run("ErrDescentOutsideSync", func(t *testing.T) {
		w, d := testDevice(t, false)
		c := d.newConnLocked()
		feed(d, c, 5, 6)
		d.syncing, d.syncGen = 1, 1
		feed(d, c, 2)
		d.syncing = 0
		feed(d, c, 7, 3)
		wantViolations(t, w, "out of order: user9/d1 socket 1: message seq 3")
	})
}

func TestCheckerLiveDelivery(t *testing.T) {
	t0 := time.Now()
	after := func(s int64) time.Time { return t0.Add(time.Duration(s) * time.Millisecond) }
	before := func(int64) time.Time { return t0.Add(-time.Second) }
	socket := func(d *device, up bool, seqs ...int64) {
		c := d.newConnLocked()
		c.start = t0
		if !up {
			c.end = t0.Add(time.Second)
		}
		feed(d, c, seqs...)
	}
	t.Run("AllThere", func(t *testing.T) {
		w, d := testDevice(t, true)
		socket(d, true, 1, 2, 3, 4)
		w.checkSockets(d, testLog(d, 4, after))
		wantViolations(t, w)
	})
	t.Run("OwnSendsComeInAcks", func(t *testing.T) {
		w, d := testDevice(t, true)
		socket(d, true, 1, 3, 4)
		w.checkSockets(d, testLog(d, 4, after, 2))
		wantViolations(t, w)
	})
	t.Run("ErrGap", func(t *testing.T) {
		w, d := testDevice(t, true)
		socket(d, true, 1, 2, 4)
		w.checkSockets(d, testLog(d, 4, before))
		wantViolations(t, w, "lost: user9/d1 socket 1: conversation 7: a gap: received seqs 1-2,4 but not 3")
	})
	t.Run("ErrStreamStartedLate", func(t *testing.T) {
		// The socket was up before 3 and 4 were sent, and its stream
		// began at 5: the skipped start is lost even though it dropped.
		w, d := testDevice(t, true)
		socket(d, false, 5, 6)
		w.checkSockets(d, testLog(d, 8, func(s int64) time.Time {
			if s < 3 {
				return before(s)
			}
			return after(s)
		}))
		wantViolations(t, w, "lost: user9/d1 socket 1 (never syncs, dropped after 1s, highest seq received 6): conversation 7: messages issued after the socket authenticated never arrived on it: seqs 3-4")
	})
	t.Run("ErrLiveMissingAtTheEnd", func(t *testing.T) {
		w, d := testDevice(t, true)
		socket(d, true, 1, 2)
		w.checkSockets(d, testLog(d, 4, after))
		wantViolations(t, w, "still up at the end): conversation 7: messages issued after the socket authenticated never arrived on it: seqs 3-4")
	})
	t.Run("DroppedSocketOwesNothingAfterIt", func(t *testing.T) {
		w, d := testDevice(t, true)
		socket(d, false, 1, 2)
		w.checkSockets(d, testLog(d, 4, after))
		wantViolations(t, w)
	})
	t.Run("SentBeforeTheSocketNeedNotCome", func(t *testing.T) {
		w, d := testDevice(t, true)
		socket(d, true, 4)
		w.checkSockets(d, testLog(d, 4, before))
		wantViolations(t, w)
	})
	t.Run("SyncingSocketMaySkipAhead", func(t *testing.T) {
		w, d := testDevice(t, false)
		socket(d, true, 1, 5)
		w.checkSockets(d, testLog(d, 5, after))
		wantViolations(t, w)
	})
}

func TestCheckerHistoryAndReceipts(t *testing.T) {
	t.Run("ErrHistory", func(t *testing.T) {
		w, d := testDevice(t, false)
		feed(d, d.newConnLocked(), 1, 2, 4)
		d.onMessage(nil, &parley.Message{ID: 99, ConversationID: testConv, Seq: 9})
		w.checkHistory(d, testLog(d, 5, func(int64) time.Time { return time.Time{} }))
		wantViolations(t, w,
			"lost: user9/d1: conversation 7: history lacks seqs 3,5",
			"conflict: user9/d1: conversation 7: history holds seqs 9 beyond the log's last 5")
	})
	t.Run("ErrReceiptBackwards", func(t *testing.T) {
		w, d := testDevice(t, false)
		d.onReceipt(&parley.Receipt{ConversationID: testConv, UserID: 3, DeliveredSeq: 5, ReadSeq: 2})
		d.onReceipt(&parley.Receipt{ConversationID: testConv, UserID: 3, DeliveredSeq: 6, ReadSeq: 2})
		d.onReceipt(&parley.Receipt{ConversationID: testConv, UserID: 4, DeliveredSeq: 1, ReadSeq: 1})
		d.onReceipt(&parley.Receipt{ConversationID: testConv, UserID: 3, DeliveredSeq: 6, ReadSeq: 1})
		wantViolations(t, w, "receipt backwards: user9/d1: receipt of user 3 in conversation 7 went from delivered 6 read 2 to delivered 6 read 1")
	})
}

func TestRanges(t *testing.T) {
	for _, tc := range []struct {
		in   []int64
		want string
	}{
		{nil, "none"},
		{[]int64{3}, "3"},
		{[]int64{5, 1, 2, 3, 3, 9}, "1-3,5,9"},
		{[]int64{1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27}, "1,3,5,7,9,11,…(2 runs)…,17,19,21,23,25,27"},
	} {
		if got := ranges(tc.in); got != tc.want {
			t.Errorf("ranges(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
