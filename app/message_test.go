package app_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/app"
)

func TestSend(t *testing.T) {
	e := MustApp(t, app.Config{MaxBodyBytes: 100})
	ctx := context.Background()
	a, b, out := e.MustUser(t), e.MustUser(t), e.MustUser(t)
	conv := e.MustDirect(t, a, b)
	aOther := e.MustLogin(t, a.Handle) // a second device of a
	evA, evB := e.Watch(t, a), e.Watch(t, b)
	m, _, err := e.app.Send(ctx, a.c, parley.SendRequest{ConversationID: conv, ClientMsgID: "k1", Body: "hello"}, nil)
	if err != nil || m.Seq != 1 || m.SenderID != a.ID || m.Type != parley.TextMessage {
		t.Fatalf("Send = %+v, %v", m, err)
	}
	t.Run("FanOutSkipsSendingDevice", func(t *testing.T) {
		for _, ev := range []*events{evA, evB} {
			got := ev.named(parley.EventMessage)
			if len(got) != 1 || got[0].Seq != 1 || got[0].ConversationID != conv || got[0].ExceptDevice != a.c.DeviceID {
				t.Fatalf("message events = %+v", got)
			}
			var back parley.Message
			if err := json.Unmarshal(got[0].Data, &back); err != nil || back.Body != "hello" || back.ID != m.ID {
				t.Fatalf("event data = %s", got[0].Data)
			}
		}
		_ = aOther
	})
	t.Run("RetryReturnsOriginal", func(t *testing.T) {
		again, created, err := e.app.Send(ctx, a.c, parley.SendRequest{ConversationID: conv, ClientMsgID: "k1", Body: "hello"}, nil)
		if err != nil || created || again.ID != m.ID || again.Seq != 1 {
			t.Fatalf("retry = %+v, %v", again, err)
		}
		if n := len(evB.named(parley.EventMessage)); n != 1 {
			t.Fatalf("a retry was fanned out again: %d events", n)
		}
	})
	t.Run("SameKeyOtherDevice", func(t *testing.T) {
		m2, _, err := e.app.Send(ctx, aOther, parley.SendRequest{ConversationID: conv, ClientMsgID: "k1", Body: "hello"}, nil)
		if err != nil || m2.Seq != 2 {
			t.Fatalf("other device = %+v, %v", m2, err)
		}
	})
	for _, tc := range []struct {
		name string
		who  parley.Caller
		req  parley.SendRequest
		code string
	}{
		{"ErrConflict", a.c, parley.SendRequest{ConversationID: conv, ClientMsgID: "k1", Body: "changed"}, parley.ECONFLICT},
		{"ErrNotMember", out.c, parley.SendRequest{ConversationID: conv, ClientMsgID: "o1", Body: "hi"}, parley.ENOTFOUND},
		{"ErrNoConversation", a.c, parley.SendRequest{ConversationID: 777777, ClientMsgID: "o2", Body: "hi"}, parley.ENOTFOUND},
		{"ErrTooLarge", a.c, parley.SendRequest{ConversationID: conv, ClientMsgID: "big", Body: strings.Repeat("x", 101)}, parley.ETOOLARGE},
		{"ErrNoClientID", a.c, parley.SendRequest{ConversationID: conv, Body: "x"}, parley.EINVALID},
		{"ErrEmptyText", a.c, parley.SendRequest{ConversationID: conv, ClientMsgID: "e"}, parley.EINVALID},
		{"ErrBadType", a.c, parley.SendRequest{ConversationID: conv, ClientMsgID: "t", Type: "video", Body: "x"}, parley.EINVALID},
		{"ErrImageWithoutMedia", a.c, parley.SendRequest{ConversationID: conv, ClientMsgID: "i", Type: parley.ImageMessage}, parley.EINVALID},
		{"ErrClientTypeRecall", a.c, parley.SendRequest{ConversationID: conv, ClientMsgID: "r", Type: parley.RecallEntry, Body: "x"}, parley.EINVALID},
		{"ErrBadUTF8", a.c, parley.SendRequest{ConversationID: conv, ClientMsgID: "u", Body: "\xff"}, parley.EINVALID},
		{"ErrReplyElsewhere", a.c, parley.SendRequest{ConversationID: conv, ClientMsgID: "rp", Body: "x", ReplyTo: 999999}, parley.EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := e.app.Send(ctx, tc.who, tc.req, nil)
			wantCode(t, err, tc.code)
		})
	}
	t.Run("Reply", func(t *testing.T) {
		r, _, err := e.app.Send(ctx, b.c, parley.SendRequest{ConversationID: conv, ClientMsgID: "rp2", Body: "re", ReplyTo: m.ID}, nil)
		if err != nil || r.ReplyTo != m.ID {
			t.Fatalf("reply = %+v, %v", r, err)
		}
	})
	t.Run("ErrBlocked", func(t *testing.T) {
		if err := e.app.Block(ctx, b.c, a.ID); err != nil {
			t.Fatal(err)
		}
		_, _, err := e.app.Send(ctx, a.c, parley.SendRequest{ConversationID: conv, ClientMsgID: "blk", Body: "hi"}, nil)
		wantCode(t, err, parley.EFORBIDDEN)
		_, _, err = e.app.Send(ctx, b.c, parley.SendRequest{ConversationID: conv, ClientMsgID: "blk2", Body: "hi"}, nil)
		wantCode(t, err, parley.EFORBIDDEN)
		if err := e.app.Unblock(ctx, b.c, a.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.app.Send(ctx, a.c, parley.SendRequest{ConversationID: conv, ClientMsgID: "blk3", Body: "hi"}, nil); err != nil {
			t.Fatalf("after unblock: %v", err)
		}
	})
}

func TestReceipts(t *testing.T) {
	e := MustApp(t, app.Config{})
	ctx := context.Background()
	a, b, out := e.MustUser(t), e.MustUser(t), e.MustUser(t)
	conv := e.MustDirect(t, a, b)
	for i := 0; i < 3; i++ {
		e.MustSend(t, a, conv, "m")
	}
	evA := e.Watch(t, a)
	if err := e.app.MarkDelivered(ctx, b.c, conv, 3); err != nil {
		t.Fatal(err)
	}
	if err := e.app.MarkRead(ctx, b.c, conv, 2); err != nil {
		t.Fatal(err)
	}
	t.Run("ReceiptEventsReachSender", func(t *testing.T) {
		got := evA.named(parley.EventReceipt)
		if len(got) != 2 {
			t.Fatalf("receipt events = %d", len(got))
		}
		var r parley.Receipt
		json.Unmarshal(got[1].Data, &r)
		if r.UserID != b.ID || r.DeliveredSeq != 3 || r.ReadSeq != 2 {
			t.Fatalf("receipt = %+v", r)
		}
	})
	t.Run("NoEventWhenNothingChanges", func(t *testing.T) {
		if err := e.app.MarkDelivered(ctx, b.c, conv, 1); err != nil {
			t.Fatal(err)
		}
		if got := evA.named(parley.EventReceipt); len(got) != 2 {
			t.Fatalf("a lower watermark was published: %d events", len(got))
		}
		rs, err := e.app.Receipts(ctx, a.c, conv)
		if err != nil || len(rs) != 2 {
			t.Fatal(rs, err)
		}
		for _, r := range rs {
			if r.UserID == b.ID && (r.DeliveredSeq != 3 || r.ReadSeq != 2) {
				t.Fatalf("watermarks decreased: %+v", r)
			}
		}
	})
	t.Run("DeviceCursorRecorded", func(t *testing.T) {
		cur, err := e.store.DeviceCursors(ctx, b.c.DeviceID)
		if err != nil || cur[conv] != 3 {
			t.Fatalf("cursors = %v, %v", cur, err)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		wantCode(t, e.app.MarkDelivered(ctx, b.c, conv, 4), parley.EINVALID)
		wantCode(t, e.app.MarkRead(ctx, b.c, conv, -1), parley.EINVALID)
		wantCode(t, e.app.MarkRead(ctx, out.c, conv, 1), parley.ENOTFOUND)
		_, err := e.app.Receipts(ctx, out.c, conv)
		wantCode(t, err, parley.ENOTFOUND)
	})
}

func TestRecall(t *testing.T) {
	e := MustApp(t, app.Config{RecallWindow: time.Hour})
	ctx := context.Background()
	a, b := e.MustUser(t), e.MustUser(t)
	conv := e.MustDirect(t, a, b)
	m := e.MustSend(t, a, conv, "oops")
	evB := e.Watch(t, b)
	t.Run("ErrNotSender", func(t *testing.T) {
		_, err := e.app.Recall(ctx, b.c, conv, m.ID)
		wantCode(t, err, parley.EFORBIDDEN)
	})
	t.Run("ErrWrongConversation", func(t *testing.T) {
		other := e.MustGroup(t, a, b)
		_, err := e.app.Recall(ctx, a.c, other, m.ID)
		wantCode(t, err, parley.ENOTFOUND)
	})
	t.Run("OK", func(t *testing.T) {
		got, err := e.app.Recall(ctx, a.c, conv, m.ID)
		if err != nil || got.RecalledAt == nil || got.Body != "" {
			t.Fatalf("Recall = %+v, %v", got, err)
		}
		hist, _ := e.app.History(ctx, b.c, conv, parley.HistoryQuery{})
		if len(hist) != 2 || hist[0].Body != "" || hist[0].RecalledAt == nil || hist[1].Type != parley.RecallEntry || hist[1].RecallOf != m.ID || hist[1].Seq != 2 {
			t.Fatalf("history = %+v", hist)
		}
		if n := len(evB.named(parley.EventRecall)); n != 1 {
			t.Fatalf("recall events = %d", n)
		}
		if msgs := evB.named(parley.EventMessage); len(msgs) != 1 || msgs[0].Seq != 2 {
			t.Fatalf("recall entry not fanned out: %+v", msgs)
		}
		again, err := e.app.Recall(ctx, a.c, conv, m.ID)
		if err != nil || again.RecalledAt == nil {
			t.Fatalf("second recall = %+v, %v", again, err)
		}
	})
	t.Run("ErrWindowPassed", func(t *testing.T) {
		old := e.MustSend(t, a, conv, "too late")
		e.clock.add(time.Hour + time.Second)
		_, err := e.app.Recall(ctx, a.c, conv, old.ID)
		wantCode(t, err, parley.EFORBIDDEN)
	})
}

func TestSync(t *testing.T) {
	e := MustApp(t, app.Config{})
	ctx := context.Background()
	a, b, c := e.MustUser(t), e.MustUser(t), e.MustUser(t)
	ab := e.MustDirect(t, a, b)
	g := e.MustGroup(t, a, b, c)
	for i := 0; i < 250; i++ {
		e.MustSend(t, a, ab, "m")
	}
	e.MustSend(t, c, g, "g1")
	e.MustSend(t, c, g, "g2")
	type emitted struct {
		name string
		data any
	}
	run := func(cursors map[parley.ID]int64) []emitted {
		var out []emitted
		err := e.app.Sync(ctx, b.c, parley.SyncQuery{Cursors: cursors}, func(name string, data any) error {
			out = append(out, emitted{name, data})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	t.Run("FromStoredCursors", func(t *testing.T) {
		if err := e.app.MarkDelivered(ctx, b.c, ab, 240); err != nil {
			t.Fatal(err)
		}
		out := run(nil)
		var seqs []int64
		for _, x := range out {
			if m, ok := x.data.(*parley.Message); ok && m.ConversationID == ab {
				seqs = append(seqs, m.Seq)
			}
		}
		if len(seqs) != 10 || seqs[0] != 241 || seqs[9] != 250 {
			t.Fatalf("replayed %v", seqs)
		}
	})
	t.Run("GivenCursorsInOrderWithReceipts", func(t *testing.T) {
		out := run(map[parley.ID]int64{ab: 0, g: 1})
		last := map[parley.ID]int64{}
		n, receipts := 0, 0
		for _, x := range out {
			switch v := x.data.(type) {
			case *parley.Message:
				if v.Seq != last[v.ConversationID]+1 && !(v.ConversationID == g && v.Seq == 2) {
					t.Fatalf("out of order: %d after %d", v.Seq, last[v.ConversationID])
				}
				last[v.ConversationID] = v.Seq
				n++
			case parley.Receipt:
				receipts++
			}
		}
		if n != 251 || last[ab] != 250 || last[g] != 2 {
			t.Fatalf("replayed %d messages, last %v", n, last)
		}
		if receipts != 3 { // a in the direct conversation; a and c in the group
			t.Fatalf("receipts = %d", receipts)
		}
	})
}

func TestRetention(t *testing.T) {
	e := MustApp(t, app.Config{Retention: 30 * 24 * time.Hour})
	ctx := context.Background()
	a, b := e.MustUser(t), e.MustUser(t)
	conv := e.MustDirect(t, a, b)
	e.MustSend(t, a, conv, "old")
	e.clock.add(20 * 24 * time.Hour)
	e.MustSend(t, a, conv, "newer")
	if n, err := e.app.Prune(ctx); err != nil || n != 0 {
		t.Fatalf("Prune at day 20 = %d, %v", n, err)
	}
	e.clock.add(11 * 24 * time.Hour) // day 31: the first message is over 30 days old
	n, err := e.app.Prune(ctx)
	if err != nil || n != 1 {
		t.Fatalf("Prune at day 31 = %d, %v", n, err)
	}
	ms, _ := e.app.History(ctx, b.c, conv, parley.HistoryQuery{})
	if len(ms) != 1 || ms[0].Body != "newer" || ms[0].Seq != 2 {
		t.Fatalf("history after retention = %+v", ms)
	}
	// The log keeps counting: the next message is seq 3.
	if m := e.MustSend(t, a, conv, "after"); m.Seq != 3 {
		t.Fatalf("seq after retention = %d", m.Seq)
	}
	off := MustApp(t, app.Config{})
	if n, err := off.app.Prune(ctx); n != 0 || err != nil {
		t.Fatalf("Prune without retention = %d, %v", n, err)
	}
}
