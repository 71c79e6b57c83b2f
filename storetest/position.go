package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/parleyhq/parley"
)

// testLogPosition checks the contract a realtime connection's stream start
// rests on: LastSeqsAt(pos) is where each conversation's log stood when pos
// was taken, whatever was written after, concurrently or not, and a queued
// callback runs before the append returns.
func testLogPosition(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	a, b := MustUser(t, s), MustUser(t, s)
	da, db := MustDevice(t, s, a), MustDevice(t, s, b)
	one := MustConversation(t, s, parley.Direct, a, b)
	two := MustConversation(t, s, parley.Group, a, b)
	empty := MustConversation(t, s, parley.Group, a, b)

	start, err := s.LogPosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		MustSend(t, s, one, a, da, fmt.Sprint("one-", i), "x")
	}
	MustSend(t, s, two, b, db, "two-0", "x")
	mid, err := s.LogPosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// After mid, both conversations grow concurrently from both users.
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, d, conv := a, da, one
			if w%2 == 1 {
				u, d, conv = b, db, two
			}
			for i := range 10 {
				MustSend(t, s, conv, u, d, fmt.Sprint("w", w, "-", i), "y")
			}
		}()
	}
	wg.Wait()
	end, err := s.LogPosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		pos  parley.LogPosition
		conv *parley.Conversation
		want int64
	}{
		{"BeforeAnything", start, one, 0},
		{"BeforeAnythingOther", start, two, 0},
		{"Mid", mid, one, 3},
		{"MidOther", mid, two, 1},
		{"End", end, one, 23},
		{"EndOther", end, two, 21},
		{"EmptyConversation", end, empty, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mustLastSeqAt(t, s, tc.conv, tc.pos); got != tc.want {
				t.Fatalf("LastSeqsAt = %d; want %d", got, tc.want)
			}
		})
	}
	pt := func(conv parley.ID, pos parley.LogPosition) parley.LogPoint {
		return parley.LogPoint{ConversationID: conv, Position: pos}
	}
	t.Run("ManyPointsInTheirOrder", func(t *testing.T) {
		// One conversation at many positions, as a group's first message
		// reaching its members' sockets asks; many conversations at one,
		// as a catch-up does; and both mixed.
		points := []parley.LogPoint{
			pt(one.ID, end), pt(one.ID, start), pt(one.ID, mid), pt(one.ID, end), pt(one.ID, mid), pt(one.ID, start),
			pt(two.ID, mid), pt(empty.ID, mid), pt(one.ID, mid), pt(two.ID, end),
		}
		got, err := s.LastSeqsAt(ctx, points)
		if want := []int64{23, 0, 3, 23, 3, 0, 1, 0, 3, 21}; err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("LastSeqsAt = %v, %v; want %v", got, err, want)
		}
		if got, err := s.LastSeqsAt(ctx, nil); err != nil || len(got) != 0 {
			t.Fatalf("LastSeqsAt of no point = %v, %v; want none", got, err)
		}
		if got, err := s.LastSeqsAt(ctx, []parley.LogPoint{pt(99999999, end)}); err != nil || fmt.Sprint(got) != "[0]" {
			t.Fatalf("LastSeqsAt of a conversation that does not exist = %v, %v; want [0]", got, err)
		}
	})
	t.Run("ErrInvalidPosition", func(t *testing.T) {
		_, err := s.LastSeqsAt(ctx, []parley.LogPoint{pt(one.ID, "not a position")})
		wantCode(t, err, parley.EINVALID)
		_, err = s.LastSeqsAt(ctx, []parley.LogPoint{pt(one.ID, mid), pt(two.ID, "not a position"), pt(one.ID, end)})
		wantCode(t, err, parley.EINVALID)
	})
	t.Run("RecallEntriesCount", func(t *testing.T) {
		orig := MustSend(t, s, one, a, da, "to-recall", "z")
		entry := &parley.Message{ConversationID: one.ID, SenderID: a.ID, SenderDeviceID: da.ID, Type: parley.RecallEntry, RecallOf: orig.ID, CreatedAt: epoch}
		if _, err := s.RecallMessage(ctx, entry); err != nil {
			t.Fatal(err)
		}
		pos, err := s.LogPosition(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := mustLastSeqAt(t, s, one, pos); got != entry.Seq {
			t.Fatalf("LastSeqsAt after a recall = %d; want %d", got, entry.Seq)
		}
	})
	t.Run("QueuedBeforeReturn", func(t *testing.T) {
		called := 0
		m := &parley.Message{ConversationID: two.ID, SenderID: a.ID, SenderDeviceID: da.ID, ClientMsgID: "queued", Type: parley.TextMessage, Body: "q", CreatedAt: epoch}
		if _, _, err := s.AppendMessage(ctx, m, hash("queued"), func() { called++ }); err != nil {
			t.Fatal(err)
		}
		if called != 1 {
			t.Fatalf("queued called %d times, want 1", called)
		}
		// Refused before it could queue, it is released all the same.
		called = 0
		bad := &parley.Message{ConversationID: 99999999, SenderID: a.ID, SenderDeviceID: da.ID, ClientMsgID: "queued-bad", Type: parley.TextMessage, Body: "q", CreatedAt: epoch}
		_, _, err := s.AppendMessage(ctx, bad, hash("queued-bad"), func() { called++ })
		wantCode(t, err, parley.ENOTFOUND)
		if called != 1 {
			t.Fatalf("queued called %d times after a refusal, want 1", called)
		}
	})
}

// mustLastSeqAt asks for one position.
func mustLastSeqAt(t *testing.T, s parley.Store, conv *parley.Conversation, pos parley.LogPosition) int64 {
	t.Helper()
	seqs, err := s.LastSeqsAt(context.Background(), []parley.LogPoint{{ConversationID: conv.ID, Position: pos}})
	if err != nil || len(seqs) != 1 {
		t.Fatalf("LastSeqsAt = %v, %v; want one seq", seqs, err)
	}
	return seqs[0]
}
