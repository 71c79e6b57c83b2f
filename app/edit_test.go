package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/app"
)

func TestEdit(t *testing.T) {
	e := MustApp(t, app.Config{EditWindow: 15 * time.Minute, MaxBodyBytes: 100})
	ctx := context.Background()
	a, b, out := e.MustUser(t), e.MustUser(t), e.MustUser(t)
	conv := e.MustDirect(t, a, b)
	m := e.MustSend(t, a, conv, "helo")
	evA, evB := e.Watch(t, a), e.Watch(t, b)
	t.Run("OK", func(t *testing.T) {
		got, entry, err := e.app.Edit(ctx, a.c, conv, m.ID, "hello")
		if err != nil || got.ID != m.ID || got.Body != "hello" || got.EditedAt == nil || entry == nil || entry.Seq != 2 {
			t.Fatalf("Edit = %+v, %+v, %v", got, entry, err)
		}
		hist, _ := e.app.History(ctx, b.c, conv, parley.HistoryQuery{})
		if len(hist) != 2 || hist[0].Body != "hello" || hist[0].EditedAt == nil ||
			hist[1].Type != parley.EditEntry || hist[1].EditOf != m.ID || hist[1].Body != "hello" {
			t.Fatalf("history = %+v", hist)
		}
		// Every device gets the entry, the editing one's included.
		for _, ev := range []*events{evA, evB} {
			msgs := ev.named(parley.EventMessage)
			if len(msgs) != 1 || msgs[0].Seq != 2 || msgs[0].ExceptDevice != 0 {
				t.Fatalf("message events = %+v", msgs)
			}
			var back parley.Message
			if err := json.Unmarshal(msgs[0].Data, &back); err != nil || back.Type != parley.EditEntry || back.EditOf != m.ID {
				t.Fatalf("event data = %s", msgs[0].Data)
			}
		}
	})
	t.Run("SameBodyAppendsNothing", func(t *testing.T) {
		got, entry, err := e.app.Edit(ctx, a.c, conv, m.ID, "hello")
		if err != nil || entry != nil || got.Body != "hello" {
			t.Fatalf("retried edit = %+v, %+v, %v", got, entry, err)
		}
		if n := len(evB.named(parley.EventMessage)); n != 1 {
			t.Fatalf("a retried edit was fanned out: %d events", n)
		}
	})
	entryID := func() parley.ID {
		hist, _ := e.app.History(ctx, a.c, conv, parley.HistoryQuery{})
		return hist[len(hist)-1].ID
	}()
	for _, tc := range []struct {
		name string
		who  parley.Caller
		id   parley.ID
		body string
		code string
	}{
		{"ErrNotSender", b.c, m.ID, "mine now", parley.EFORBIDDEN},
		{"ErrNotMember", out.c, m.ID, "x", parley.ENOTFOUND},
		{"ErrNoMessage", a.c, 1 << 40, "x", parley.ENOTFOUND},
		{"ErrEditOfEntry", a.c, entryID, "x", parley.EINVALID},
		{"ErrEmptyText", a.c, m.ID, "", parley.EINVALID},
		{"ErrTooLarge", a.c, m.ID, string(make([]byte, 101)), parley.ETOOLARGE},
		{"ErrBadUTF8", a.c, m.ID, "\xff", parley.EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := e.app.Edit(ctx, tc.who, conv, tc.id, tc.body)
			wantCode(t, err, tc.code)
		})
	}
	t.Run("ErrRecalled", func(t *testing.T) {
		r := e.MustSend(t, a, conv, "gone soon")
		if _, err := e.app.Recall(ctx, a.c, conv, r.ID); err != nil {
			t.Fatal(err)
		}
		_, _, err := e.app.Edit(ctx, a.c, conv, r.ID, "back")
		wantCode(t, err, parley.EINVALID)
	})
	t.Run("ErrWindowPassed", func(t *testing.T) {
		old := e.MustSend(t, a, conv, "too late")
		e.clock.add(15*time.Minute + time.Second)
		_, _, err := e.app.Edit(ctx, a.c, conv, old.ID, "changed")
		wantCode(t, err, parley.EFORBIDDEN)
	})
}

// TestChangesRefusedLikeSends: a former member and a blocked peer can
// neither edit nor react, as they cannot send.
func TestChangesRefusedLikeSends(t *testing.T) {
	e := MustApp(t, app.Config{})
	ctx := context.Background()
	owner, left, a, b := e.MustUser(t), e.MustUser(t), e.MustUser(t), e.MustUser(t)
	g := e.MustGroup(t, owner, left)
	lm := e.MustSend(t, left, g, "before leaving")
	if err := e.app.RemoveMember(ctx, left.c, g, left.ID); err != nil {
		t.Fatal(err)
	}
	dm := e.MustDirect(t, a, b)
	am := e.MustSend(t, a, dm, "hi")
	bm := e.MustSend(t, b, dm, "hi back")
	if err := e.app.Block(ctx, b.c, a.ID); err != nil {
		t.Fatal(err)
	}
	t.Run("FormerMember", func(t *testing.T) {
		_, _, err := e.app.Edit(ctx, left.c, g, lm.ID, "edited")
		wantCode(t, err, parley.EFORBIDDEN)
		_, err = e.app.React(ctx, left.c, g, lm.ID, "👍")
		wantCode(t, err, parley.EFORBIDDEN)
	})
	t.Run("Blocked", func(t *testing.T) {
		// Both sides of the block, as for sends.
		_, _, err := e.app.Edit(ctx, a.c, dm, am.ID, "edited")
		wantCode(t, err, parley.EFORBIDDEN)
		_, _, err = e.app.Edit(ctx, b.c, dm, bm.ID, "edited")
		wantCode(t, err, parley.EFORBIDDEN)
		for _, u := range []*user{a, b} {
			_, err = e.app.React(ctx, u.c, dm, bm.ID, "👍")
			wantCode(t, err, parley.EFORBIDDEN)
		}
		_, _, err = e.app.Send(ctx, a.c, parley.SendRequest{ConversationID: dm, ClientMsgID: "fw", ForwardOf: &parley.MessageRef{ConversationID: dm, MessageID: am.ID}}, nil)
		wantCode(t, err, parley.EFORBIDDEN)
	})
}

func TestReact(t *testing.T) {
	e := MustApp(t, app.Config{})
	ctx := context.Background()
	a, b, c, out := e.MustUser(t), e.MustUser(t), e.MustUser(t), e.MustUser(t)
	g := e.MustGroup(t, a, b, c)
	m := e.MustSend(t, a, g, "react to me")
	evB := e.Watch(t, b)
	unread := func(u *user) int64 {
		t.Helper()
		v, err := e.app.Conversation(ctx, u.c, g)
		if err != nil {
			t.Fatal(err)
		}
		return v.UnreadCount
	}
	listUnread := func(u *user) int64 {
		t.Helper()
		vs, err := e.app.Conversations(ctx, u.c, parley.ConversationListQuery{PageNumber: 1, PageSize: 20})
		if err != nil || len(vs) != 1 {
			t.Fatalf("Conversations = %+v, %v", vs, err)
		}
		return vs[0].UnreadCount
	}
	t.Run("OK", func(t *testing.T) {
		if _, err := e.app.React(ctx, b.c, g, m.ID, "👍"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.app.React(ctx, c.c, g, m.ID, "👍"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.app.React(ctx, a.c, g, m.ID, "❤️"); err != nil {
			t.Fatal(err)
		}
		hist, _ := e.app.History(ctx, b.c, g, parley.HistoryQuery{})
		if len(hist) != 4 || hist[1].Type != parley.ReactionEntry || hist[1].ReactionOf != m.ID || hist[1].Body != "👍" {
			t.Fatalf("history = %+v", hist)
		}
		rs := hist[0].Reactions
		if len(rs) != 2 || rs[0].Emoji != "👍" || rs[0].Count != 2 || len(rs[0].UserIDs) != 2 || rs[0].UserIDs[0] != b.ID ||
			rs[1].Emoji != "❤️" || rs[1].Count != 1 || rs[1].UserIDs[0] != a.ID {
			t.Fatalf("reactions = %+v", rs)
		}
		if msgs := evB.named(parley.EventMessage); len(msgs) != 3 || msgs[0].ExceptDevice != 0 {
			t.Fatalf("message events = %+v", msgs)
		}
	})
	t.Run("UnreadUnmoved", func(t *testing.T) {
		// c read up to its own reaction; a's reaction after it is not news.
		if got := unread(c); got != 0 {
			t.Fatalf("c's unread = %d, want 0", got)
		}
		if got := listUnread(c); got != 0 {
			t.Fatalf("c's unread in the list = %d, want 0", got)
		}
		// b read up to its own reaction: c's and a's reactions do not count,
		// a new message does.
		e.MustSend(t, a, g, "news")
		if got := listUnread(b); got != 1 {
			t.Fatalf("b's unread in the list = %d, want 1", got)
		}
	})
	t.Run("ChangeAndRemove", func(t *testing.T) {
		if _, err := e.app.React(ctx, b.c, g, m.ID, "😂"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.app.React(ctx, c.c, g, m.ID, ""); err != nil {
			t.Fatal(err)
		}
		entry, err := e.app.React(ctx, c.c, g, m.ID, "")
		if err != nil || entry != nil {
			t.Fatalf("removing no reaction = %+v, %v", entry, err)
		}
		hist, _ := e.app.History(ctx, a.c, g, parley.HistoryQuery{})
		rs := hist[0].Reactions
		if len(rs) != 2 || rs[0].Count != 1 || rs[1].Count != 1 || rs[0].Emoji != "❤️" || rs[1].Emoji != "😂" {
			t.Fatalf("reactions = %+v", rs)
		}
	})
	for _, tc := range []struct {
		name, emoji, code string
		who               parley.Caller
	}{
		{"ErrNotEmoji", "ok", parley.EINVALID, b.c},
		{"ErrTwoEmoji", "👍👍", parley.EINVALID, b.c},
		{"ErrNotMember", "👍", parley.ENOTFOUND, out.c},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.app.React(ctx, tc.who, g, m.ID, tc.emoji)
			wantCode(t, err, tc.code)
		})
	}
	t.Run("ErrRecalled", func(t *testing.T) {
		if _, err := e.app.Recall(ctx, a.c, g, m.ID); err != nil {
			t.Fatal(err)
		}
		_, err := e.app.React(ctx, b.c, g, m.ID, "👍")
		wantCode(t, err, parley.EINVALID)
		hist, _ := e.app.History(ctx, b.c, g, parley.HistoryQuery{})
		if hist[0].Reactions != nil {
			t.Fatalf("a recalled message shows reactions: %+v", hist[0].Reactions)
		}
	})
}

// TestConcurrentChanges: several members edit their own messages and
// react to each other's at once; every member's view converges: each
// message shows its edit with the highest seq, and counts are exact.
func TestConcurrentChanges(t *testing.T) {
	e := MustApp(t, app.Config{})
	ctx := context.Background()
	const n = 6
	us := make([]*user, n)
	for i := range us {
		us[i] = e.MustUser(t)
	}
	g := e.MustGroup(t, us[0], us[1:]...)
	ms := make([]*parley.Message, n)
	for i, u := range us {
		ms[i] = e.MustSend(t, u, g, "v0")
	}
	var wg sync.WaitGroup
	for i, u := range us {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 1; k <= 3; k++ {
				if _, _, err := e.app.Edit(ctx, u.c, g, ms[i].ID, fmt.Sprint("v", k)); err != nil {
					t.Error(err)
				}
				for _, m := range ms {
					if _, err := e.app.React(ctx, u.c, g, m.ID, []string{"👍", "❤️", "😂"}[k-1]); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	var first []*parley.Message
	for i, u := range us {
		hist, err := e.app.History(ctx, u.c, g, parley.HistoryQuery{Limit: 200, Ascending: true})
		if err != nil {
			t.Fatal(err)
		}
		// The body is the latest edit by seq in the log itself.
		latest := map[parley.ID]string{}
		for _, h := range hist {
			if h.Type == parley.EditEntry {
				latest[h.EditOf] = h.Body
			}
		}
		for _, h := range hist[:n] {
			if h.Body != "v3" || latest[h.ID] != h.Body {
				t.Fatalf("message %s shows %q, latest edit %q", h.ID, h.Body, latest[h.ID])
			}
			if len(h.Reactions) != 1 || h.Reactions[0].Emoji != "😂" || h.Reactions[0].Count != n || len(h.Reactions[0].UserIDs) != n {
				t.Fatalf("reactions = %+v", h.Reactions)
			}
		}
		if i == 0 {
			first = hist
		} else if len(hist) != len(first) {
			t.Fatalf("members see %d and %d entries", len(first), len(hist))
		}
	}
}

func TestForward(t *testing.T) {
	e := mustMediaApp(t, app.Config{})
	ctx := context.Background()
	a, b, c, late := e.MustUser(t), e.MustUser(t), e.MustUser(t), e.MustUser(t)
	g := e.MustGroup(t, a, b)
	dm := e.MustDirect(t, b, c)
	media, err := e.app.Upload(ctx, a.c, bytes.NewReader(MustPNG(t, 8, 8)), "p.png")
	if err != nil {
		t.Fatal(err)
	}
	img, _, err := e.app.Send(ctx, a.c, parley.SendRequest{ConversationID: g, ClientMsgID: "img", Type: parley.ImageMessage, Body: "caption", MediaID: media.ID}, nil)
	if err != nil {
		t.Fatal(err)
	}
	text := e.MustSend(t, a, g, "original")
	if _, _, err := e.app.Edit(ctx, a.c, g, text.ID, "edited"); err != nil {
		t.Fatal(err)
	}
	fwd := func(who parley.Caller, to parley.ID, cmid string, src parley.MessageRef) (*parley.Message, bool, error) {
		return e.app.Send(ctx, who, parley.SendRequest{ConversationID: to, ClientMsgID: cmid, ForwardOf: &src}, nil)
	}
	t.Run("Text", func(t *testing.T) {
		m, created, err := fwd(b.c, dm, "f1", parley.MessageRef{ConversationID: g, MessageID: text.ID})
		if err != nil || !created || !m.Forwarded || m.Body != "edited" || m.Type != parley.TextMessage || m.SenderID != b.ID || m.EditedAt != nil {
			t.Fatalf("forward = %+v, %v", m, err)
		}
		again, created, err := fwd(b.c, dm, "f1", parley.MessageRef{ConversationID: g, MessageID: text.ID})
		if err != nil || created || again.ID != m.ID {
			t.Fatalf("retried forward = %+v, %v, %v", again, created, err)
		}
	})
	t.Run("MediaShared", func(t *testing.T) {
		m, _, err := fwd(b.c, dm, "f2", parley.MessageRef{ConversationID: g, MessageID: img.ID})
		if err != nil || !m.Forwarded || m.MediaID != media.ID || m.Media == nil || m.Body != "caption" || m.Type != parley.ImageMessage {
			t.Fatalf("forward = %+v, %v", m, err)
		}
		// c was never in the group: the forward is what lets it read the media.
		_, read, err := e.app.OpenMedia(ctx, c.c, media.ID)
		if err != nil {
			t.Fatalf("recipient of the forward cannot open the media: %v", err)
		}
		rc, err := read(ctx, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if got, _ := io.ReadAll(rc); len(got) == 0 {
			t.Fatal("empty media")
		}
	})
	t.Run("ErrNotVisible", func(t *testing.T) {
		// c is not in the group.
		_, _, err := fwd(c.c, dm, "f3", parley.MessageRef{ConversationID: g, MessageID: text.ID})
		wantCode(t, err, parley.ENOTFOUND)
		// late joins the group after the message: it cannot see it.
		if _, err := e.app.AddMembers(ctx, a.c, g, []parley.ID{late.ID}); err != nil {
			t.Fatal(err)
		}
		lc := e.MustDirect(t, late, c)
		_, _, err = fwd(late.c, lc, "f4", parley.MessageRef{ConversationID: g, MessageID: text.ID})
		wantCode(t, err, parley.ENOTFOUND)
		// A message of another conversation under this one's id.
		_, _, err = fwd(b.c, dm, "f5", parley.MessageRef{ConversationID: dm, MessageID: text.ID})
		wantCode(t, err, parley.ENOTFOUND)
	})
	t.Run("FormerMemberForwardsWhatItSaw", func(t *testing.T) {
		if err := e.app.RemoveMember(ctx, b.c, g, b.ID); err != nil {
			t.Fatal(err)
		}
		after := e.MustSend(t, a, g, "after b left")
		if _, _, err := fwd(b.c, dm, "f6", parley.MessageRef{ConversationID: g, MessageID: text.ID}); err != nil {
			t.Fatalf("forward of a message seen while a member: %v", err)
		}
		_, _, err := fwd(b.c, dm, "f7", parley.MessageRef{ConversationID: g, MessageID: after.ID})
		wantCode(t, err, parley.ENOTFOUND)
	})
	t.Run("ErrRecalled", func(t *testing.T) {
		r := e.MustSend(t, b, dm, "recall me")
		if _, err := e.app.Recall(ctx, b.c, dm, r.ID); err != nil {
			t.Fatal(err)
		}
		_, _, err := fwd(c.c, dm, "f8", parley.MessageRef{ConversationID: dm, MessageID: r.ID})
		wantCode(t, err, parley.EINVALID)
	})
	t.Run("ErrOwnContent", func(t *testing.T) {
		_, _, err := e.app.Send(ctx, b.c, parley.SendRequest{ConversationID: dm, ClientMsgID: "f9", Body: "mine",
			ForwardOf: &parley.MessageRef{ConversationID: g, MessageID: text.ID}}, nil)
		wantCode(t, err, parley.EINVALID)
	})
}

// TestChangesPush: reactions and edits push nothing, and a later
// message's push counts neither as unread; an edit made before the push
// goes out is what it previews.
func TestChangesPush(t *testing.T) {
	e := mustPushApp(t, app.Config{})
	ctx := context.Background()
	a, b := e.MustUser(t), e.MustUser(t)
	conv := e.MustDirect(t, a, b)
	e.MustRegister(t, a.c, "https://push.example/a")
	reg := e.MustRegister(t, b.c, "https://push.example/b")
	bm := e.MustSend(t, b, conv, "from b")
	if got := e.settle(); len(to(got, reg.DeviceID)) != 0 {
		t.Fatalf("b pushed its own message: %+v", got)
	}
	if _, err := e.app.React(ctx, a.c, conv, bm.ID, "👍"); err != nil {
		t.Fatal(err)
	}
	if got := e.settle(); len(got) != 0 {
		t.Fatalf("a reaction was pushed: %+v", got)
	}
	am := e.MustSend(t, a, conv, "typo")
	if _, _, err := e.app.Edit(ctx, a.c, conv, am.ID, "fixed"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.app.React(ctx, a.c, conv, bm.ID, "❤️"); err != nil {
		t.Fatal(err)
	}
	got := to(e.settle(), reg.DeviceID)
	// b has read its own message (seq 1); after it come a's reaction, a's
	// message, the edit and the second reaction: one of them is news.
	if len(got) != 1 || got[0].n.Seq != am.Seq || got[0].n.Unread != 1 || got[0].n.Preview != "fixed" {
		t.Fatalf("pushes = %+v", got)
	}
}
