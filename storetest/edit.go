package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley"
)

func editEntry(conv *parley.Conversation, u *parley.User, d *parley.Device, of parley.ID, body string, at time.Time) *parley.Message {
	return &parley.Message{ConversationID: conv.ID, SenderID: u.ID, SenderDeviceID: d.ID, Type: parley.EditEntry, EditOf: of, Body: body, CreatedAt: at}
}

func reactionEntry(conv *parley.Conversation, u *parley.User, d *parley.Device, of parley.ID, emoji string, at time.Time) *parley.Message {
	return &parley.Message{ConversationID: conv.ID, SenderID: u.ID, SenderDeviceID: d.ID, Type: parley.ReactionEntry, ReactionOf: of, Body: emoji, CreatedAt: at}
}

func lastSeq(tb testing.TB, s parley.Store, id parley.ID) int64 {
	tb.Helper()
	c, err := s.Conversation(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	return c.LastSeq
}

func testEdit(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	a, b := MustUser(t, s), MustUser(t, s)
	da := MustDevice(t, s, a)
	conv := MustConversation(t, s, parley.Direct, a, b)
	orig := MustSend(t, s, conv, a, da, "e1", "helo")
	at := epoch.Add(time.Minute)
	entry := editEntry(conv, a, da, orig.ID, "hello", at)
	got, created, err := s.EditMessage(ctx, entry)
	if err != nil || !created {
		t.Fatalf("EditMessage = %v, %v", created, err)
	}
	t.Run("OriginalEdited", func(t *testing.T) {
		if got.ID != orig.ID || got.Body != "hello" || got.EditedAt == nil || !got.EditedAt.Equal(at) || got.Seq != orig.Seq {
			t.Fatalf("edited = %+v", got)
		}
		back, _ := s.Message(ctx, orig.ID)
		if back.Body != "hello" || back.EditedAt == nil || !back.EditedAt.Equal(at) {
			t.Fatalf("stored original = %+v", back)
		}
		ms, _ := s.Messages(ctx, conv.ID, parley.MessageFilter{Limit: 10})
		if len(ms) != 2 || ms[0].Body != "hello" || ms[0].EditedAt == nil {
			t.Fatalf("history = %+v", ms)
		}
	})
	t.Run("EntryAppended", func(t *testing.T) {
		if entry.Seq != 2 || entry.ID == 0 {
			t.Fatalf("entry = %+v", entry)
		}
		back, err := s.Message(ctx, entry.ID)
		if err != nil || back.Type != parley.EditEntry || back.EditOf != orig.ID || back.Body != "hello" {
			t.Fatalf("entry = %+v, %v", back, err)
		}
		m, _ := s.Member(ctx, conv.ID, a.ID)
		if m.ReadSeq != 2 {
			t.Fatalf("editor's read watermark = %d, want 2", m.ReadSeq)
		}
	})
	t.Run("SameBodyAppendsNothing", func(t *testing.T) {
		again := editEntry(conv, a, da, orig.ID, "hello", at.Add(time.Second))
		got, created, err := s.EditMessage(ctx, again)
		if err != nil || created || got.Body != "hello" || !got.EditedAt.Equal(at) {
			t.Fatalf("retried edit = %+v, %v, %v", got, created, err)
		}
		if n := lastSeq(t, s, conv.ID); n != 2 {
			t.Fatalf("LastSeq = %d, want 2", n)
		}
	})
	t.Run("ErrNotASentMessage", func(t *testing.T) {
		_, _, err := s.EditMessage(ctx, editEntry(conv, a, da, entry.ID, "x", at))
		wantCode(t, err, parley.EINVALID)
	})
	t.Run("ErrWrongConversation", func(t *testing.T) {
		other := MustConversation(t, s, parley.Group, a, b)
		m := MustSend(t, s, other, a, da, "e2", "x")
		_, _, err := s.EditMessage(ctx, editEntry(conv, a, da, m.ID, "y", at))
		wantCode(t, err, parley.ENOTFOUND)
		_, _, err = s.EditMessage(ctx, editEntry(conv, a, da, 1<<40, "y", at))
		wantCode(t, err, parley.ENOTFOUND)
	})
	t.Run("RecallErasesEdits", func(t *testing.T) {
		rc := &parley.Message{ConversationID: conv.ID, SenderID: a.ID, SenderDeviceID: da.ID, Type: parley.RecallEntry, RecallOf: orig.ID, CreatedAt: at.Add(time.Minute)}
		if _, err := s.RecallMessage(ctx, rc); err != nil {
			t.Fatal(err)
		}
		back, _ := s.Message(ctx, entry.ID)
		if back.Body != "" {
			t.Fatalf("edit entry kept its body after the recall: %q", back.Body)
		}
		before := lastSeq(t, s, conv.ID)
		_, _, err := s.EditMessage(ctx, editEntry(conv, a, da, orig.ID, "again", at.Add(2*time.Minute)))
		wantCode(t, err, parley.EINVALID)
		if n := lastSeq(t, s, conv.ID); n != before {
			t.Fatalf("refused edit appended: LastSeq %d → %d", before, n)
		}
	})
}

// testConcurrentEdits: of edits racing each other, the one with the
// highest seq is the body that stays.
func testConcurrentEdits(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	a, b := MustUser(t, s), MustUser(t, s)
	conv := MustConversation(t, s, parley.Group, a, b)
	da := MustDevice(t, s, a)
	orig := MustSend(t, s, conv, a, da, "c1", "v0")
	const n = 16
	entries := make([]*parley.Message, n)
	var wg sync.WaitGroup
	for i := range n {
		entries[i] = editEntry(conv, a, da, orig.ID, fmt.Sprint("v", i+1), epoch.Add(time.Minute))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := s.EditMessage(ctx, entries[i]); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	last := entries[0]
	for _, e := range entries {
		if e.Seq > last.Seq {
			last = e
		}
	}
	back, _ := s.Message(ctx, orig.ID)
	if back.Body != last.Body {
		t.Fatalf("body = %q, want the edit with the highest seq (%d): %q", back.Body, last.Seq, last.Body)
	}
	if got := lastSeq(t, s, conv.ID); got != n+1 {
		t.Fatalf("LastSeq = %d, want %d", got, n+1)
	}
}

func testReactions(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	a, b, c := MustUser(t, s), MustUser(t, s), MustUser(t, s)
	da, db, dc := MustDevice(t, s, a), MustDevice(t, s, b), MustDevice(t, s, c)
	conv := MustConversation(t, s, parley.Group, a, b, c)
	m1 := MustSend(t, s, conv, a, da, "x1", "one")
	m2 := MustSend(t, s, conv, a, da, "x2", "two")
	at := epoch.Add(time.Minute)
	react := func(u *parley.User, d *parley.Device, of parley.ID, emoji string) (*parley.Message, bool) {
		t.Helper()
		e := reactionEntry(conv, u, d, of, emoji, at)
		created, err := s.ReactMessage(ctx, e)
		if err != nil {
			t.Fatalf("ReactMessage(%q) = %v", emoji, err)
		}
		return e, created
	}
	e1, created := react(b, db, m1.ID, "👍")
	if !created || e1.Seq != 3 || e1.ID == 0 {
		t.Fatalf("first reaction = %+v, %v", e1, created)
	}
	react(c, dc, m1.ID, "❤️")
	react(a, da, m2.ID, "👍")
	t.Run("Current", func(t *testing.T) {
		rs, err := s.Reactions(ctx, []parley.ID{m1.ID, m2.ID})
		if err != nil || len(rs) != 3 {
			t.Fatalf("Reactions = %+v, %v", rs, err)
		}
		want := []parley.UserReaction{
			{MessageID: m1.ID, UserID: b.ID, Emoji: "👍", Seq: 3},
			{MessageID: m1.ID, UserID: c.ID, Emoji: "❤️", Seq: 4},
			{MessageID: m2.ID, UserID: a.ID, Emoji: "👍", Seq: 5},
		}
		for i, r := range rs {
			if r != want[i] {
				t.Fatalf("Reactions[%d] = %+v, want %+v", i, r, want[i])
			}
		}
		back, _ := s.Message(ctx, e1.ID)
		if back.Type != parley.ReactionEntry || back.ReactionOf != m1.ID || back.Body != "👍" {
			t.Fatalf("entry = %+v", back)
		}
	})
	t.Run("SameAppendsNothing", func(t *testing.T) {
		before := lastSeq(t, s, conv.ID)
		if _, created := react(b, db, m1.ID, "👍"); created {
			t.Fatal("the same reaction again appended an entry")
		}
		if _, created := react(b, db, m2.ID, ""); created {
			t.Fatal("removing no reaction appended an entry")
		}
		if n := lastSeq(t, s, conv.ID); n != before {
			t.Fatalf("LastSeq %d → %d", before, n)
		}
	})
	t.Run("ChangeAndRemove", func(t *testing.T) {
		e, created := react(b, db, m1.ID, "😂")
		if !created {
			t.Fatal("changed reaction appended nothing")
		}
		react(c, dc, m1.ID, "")
		rs, _ := s.Reactions(ctx, []parley.ID{m1.ID})
		if len(rs) != 1 || rs[0].UserID != b.ID || rs[0].Emoji != "😂" || rs[0].Seq != e.Seq {
			t.Fatalf("Reactions = %+v", rs)
		}
	})
	t.Run("NotUnread", func(t *testing.T) {
		last := lastSeq(t, s, conv.ID)
		n, err := s.UnreadEntries(ctx, conv.ID, 0, last, at)
		if err != nil || n != last-5 { // all but 👍 ❤️ 👍 😂 and the removal
			t.Fatalf("UnreadEntries = %d, %v; want %d", n, err, last-5)
		}
		if n, _ := s.UnreadEntries(ctx, conv.ID, 0, 2, at); n != 2 {
			t.Fatalf("UnreadEntries over the sends = %d, want 2", n)
		}
		if n, _ := s.UnreadEntries(ctx, conv.ID, 2, last, at); n != last-2-5 {
			t.Fatalf("UnreadEntries after the sends = %d, want %d", n, last-2-5)
		}
	})
	t.Run("ErrNotASentMessage", func(t *testing.T) {
		_, err := s.ReactMessage(ctx, reactionEntry(conv, a, da, e1.ID, "👍", at))
		wantCode(t, err, parley.EINVALID)
	})
	t.Run("RecallRemoves", func(t *testing.T) {
		rc := &parley.Message{ConversationID: conv.ID, SenderID: a.ID, SenderDeviceID: da.ID, Type: parley.RecallEntry, RecallOf: m1.ID, CreatedAt: at}
		if _, err := s.RecallMessage(ctx, rc); err != nil {
			t.Fatal(err)
		}
		if rs, _ := s.Reactions(ctx, []parley.ID{m1.ID}); len(rs) != 0 {
			t.Fatalf("reactions to a recalled message: %+v", rs)
		}
		_, err := s.ReactMessage(ctx, reactionEntry(conv, c, dc, m1.ID, "👍", at))
		wantCode(t, err, parley.EINVALID)
	})
	t.Run("Retention", func(t *testing.T) {
		if _, err := s.DeleteMessagesBefore(ctx, epoch.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if rs, _ := s.Reactions(ctx, []parley.ID{m2.ID}); len(rs) != 0 {
			t.Fatalf("reactions outlived their message: %+v", rs)
		}
	})
}

// testConcurrentReactions: members reacting at once, each to the same
// message, all count.
func testConcurrentReactions(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	const n = 12
	users := make([]*parley.User, n)
	devs := make([]*parley.Device, n)
	for i := range users {
		users[i] = MustUser(t, s)
		devs[i] = MustDevice(t, s, users[i])
	}
	conv := MustConversation(t, s, parley.Group, users...)
	m := MustSend(t, s, conv, users[0], devs[0], "r", "react to me")
	var wg sync.WaitGroup
	for i := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each reacts twice, to end on 👍 or ❤️ by parity.
			for _, e := range []string{"😮", map[bool]string{true: "👍", false: "❤️"}[i%2 == 0]} {
				if _, err := s.ReactMessage(ctx, reactionEntry(conv, users[i], devs[i], m.ID, e, epoch.Add(time.Minute))); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	rs, err := s.Reactions(ctx, []parley.ID{m.ID})
	if err != nil || len(rs) != n {
		t.Fatalf("Reactions = %d, %v; want %d", len(rs), err, n)
	}
	count := map[string]int{}
	for _, r := range rs {
		count[r.Emoji]++
	}
	if count["👍"] != n/2 || count["❤️"] != n/2 {
		t.Fatalf("counts = %v", count)
	}
	if got := lastSeq(t, s, conv.ID); got != 1+2*n {
		t.Fatalf("LastSeq = %d, want %d", got, 1+2*n)
	}
}

func testForwarded(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	a, b := MustUser(t, s), MustUser(t, s)
	da := MustDevice(t, s, a)
	conv := MustConversation(t, s, parley.Direct, a, b)
	m := &parley.Message{ConversationID: conv.ID, SenderID: a.ID, SenderDeviceID: da.ID, ClientMsgID: "f1", Type: parley.TextMessage, Body: "fw", Forwarded: true, CreatedAt: epoch}
	if _, _, err := s.AppendMessage(ctx, m, hash("f1"), nil); err != nil {
		t.Fatal(err)
	}
	plain := MustSend(t, s, conv, a, da, "f2", "plain")
	back, _ := s.Message(ctx, m.ID)
	if !back.Forwarded {
		t.Fatalf("forwarded message read back = %+v", back)
	}
	if back, _ := s.Message(ctx, plain.ID); back.Forwarded {
		t.Fatal("a plain message reads back forwarded")
	}
	ms, _ := s.Messages(ctx, conv.ID, parley.MessageFilter{Limit: 10})
	if len(ms) != 2 || !ms[0].Forwarded || ms[1].Forwarded {
		t.Fatalf("history = %+v", ms)
	}
}
