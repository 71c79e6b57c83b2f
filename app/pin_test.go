package app_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/app"
)

func (e *env) listIDs(tb testing.TB, u *user, q parley.ConversationListQuery) []parley.ID {
	tb.Helper()
	vs, err := e.app.Conversations(context.Background(), u.c, q)
	if err != nil {
		tb.Fatal(err)
	}
	ids := make([]parley.ID, len(vs))
	for i, v := range vs {
		ids[i] = v.ID
	}
	return ids
}

// conversationEvents decodes the `conversation` events of one conversation.
func conversationEvents(tb testing.TB, ev *events, id parley.ID) []parley.ConversationView {
	tb.Helper()
	var out []parley.ConversationView
	for _, x := range ev.named(parley.EventConversation) {
		var v parley.ConversationView
		if err := json.Unmarshal(x.Data, &v); err != nil {
			tb.Fatal(err)
		}
		if v.ID == id {
			out = append(out, v)
		}
	}
	return out
}

func TestPinnedFirst(t *testing.T) {
	ctx := context.Background()
	e := MustApp(t, app.Config{})
	a := e.MustUser(t)
	var convs []parley.ID // by activity, oldest first
	for range 5 {
		e.clock.add(1e9)
		id := e.MustDirect(t, a, e.MustUser(t))
		e.MustSend(t, a, id, "hi")
		convs = append(convs, id)
	}
	// Activity order: 4 3 2 1 0. Pin 1, then 3: 3 1, then 4 2 0.
	for _, i := range []int{1, 3} {
		e.clock.add(1e9)
		if err := e.app.SetPinned(ctx, a.c, convs[i], true); err != nil {
			t.Fatal(err)
		}
	}
	want := []parley.ID{convs[3], convs[1], convs[4], convs[2], convs[0]}
	if got := e.listIDs(t, a, parley.ConversationListQuery{}); !slices.Equal(got, want) {
		t.Fatalf("list = %v, want %v", got, want)
	}
	t.Run("Paging", func(t *testing.T) {
		// Every page size cuts the list somewhere else; the pages joined
		// are the whole list, each conversation once.
		for size := 1; size <= 6; size++ {
			var all []parley.ID
			for page := 1; page <= 6; page++ {
				all = append(all, e.listIDs(t, a, parley.ConversationListQuery{PageNumber: page, PageSize: size})...)
			}
			if !slices.Equal(all, want) {
				t.Fatalf("pages of %d = %v, want %v", size, all, want)
			}
		}
	})
	t.Run("PagingWithArchived", func(t *testing.T) {
		if err := e.app.SetArchived(ctx, a.c, convs[2], true); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := e.app.SetArchived(ctx, a.c, convs[2], false); err != nil {
				t.Fatal(err)
			}
		}()
		for _, archived := range []bool{false, true} {
			want := []parley.ID{convs[3], convs[1], convs[4], convs[0]}
			if archived {
				want = []parley.ID{convs[3], convs[1], convs[4], convs[2], convs[0]}
			}
			for size := 1; size <= 5; size++ {
				var all []parley.ID
				for page := 1; page <= 6; page++ {
					all = append(all, e.listIDs(t, a, parley.ConversationListQuery{PageNumber: page, PageSize: size, Archived: archived})...)
				}
				if !slices.Equal(all, want) {
					t.Fatalf("archived=%v: pages of %d = %v, want %v", archived, size, all, want)
				}
			}
		}
	})
	t.Run("Shape", func(t *testing.T) {
		vs, _ := e.app.Conversations(ctx, a.c, parley.ConversationListQuery{})
		if !vs[0].Pinned || vs[0].PinnedAt == nil || !vs[0].PinnedAt.Equal(e.clock.now()) || vs[2].Pinned || vs[2].PinnedAt != nil || vs[0].Archived {
			t.Fatalf("entries = %+v, %+v", vs[0], vs[2])
		}
		// Pins are the caller's own.
		other, _ := e.app.Conversations(ctx, parley.Caller{UserID: vs[0].RecipientID}, parley.ConversationListQuery{})
		if len(other) != 1 || other[0].Pinned {
			t.Fatalf("the other member's entry = %+v", other)
		}
	})
	t.Run("NewActivityKeepsPinnedOrder", func(t *testing.T) {
		e.clock.add(1e9)
		e.MustSend(t, a, convs[1], "again")
		e.MustSend(t, a, convs[0], "again")
		got := e.listIDs(t, a, parley.ConversationListQuery{})
		if want := []parley.ID{convs[3], convs[1], convs[0], convs[4], convs[2]}; !slices.Equal(got, want) {
			t.Fatalf("list = %v, want %v", got, want)
		}
	})
	t.Run("ErrTooMany", func(t *testing.T) {
		for _, i := range []int{0, 2, 4} {
			if err := e.app.SetPinned(ctx, a.c, convs[i], true); err != nil {
				t.Fatal(err)
			}
		}
		sixth := e.MustDirect(t, a, e.MustUser(t))
		wantCode(t, e.app.SetPinned(ctx, a.c, sixth, true), parley.ETOOMANY)
		// Pinning a pinned one again is no new pin.
		if err := e.app.SetPinned(ctx, a.c, convs[0], true); err != nil {
			t.Fatal(err)
		}
		if err := e.app.SetPinned(ctx, a.c, convs[0], false); err != nil {
			t.Fatal(err)
		}
		if err := e.app.SetPinned(ctx, a.c, sixth, true); err != nil {
			t.Fatal(err)
		}
	})
}

func TestArchive(t *testing.T) {
	ctx := context.Background()
	e := MustApp(t, app.Config{})
	a, b, c, d := e.MustUser(t), e.MustUser(t), e.MustUser(t), e.MustUser(t)
	g := e.MustGroup(t, a, b, c)
	ad := e.MustDirect(t, a, d)
	e.clock.add(1e9)
	e.MustSend(t, a, g, "hello")
	wa, wb, wc := e.Watch(t, a), e.Watch(t, b), e.Watch(t, c)

	if err := e.app.SetPinned(ctx, a.c, g, true); err != nil {
		t.Fatal(err)
	}
	if err := e.app.SetArchived(ctx, a.c, g, true); err != nil {
		t.Fatal(err)
	}
	t.Run("CallerDevicesLearn", func(t *testing.T) {
		vs := conversationEvents(t, wa, g)
		if len(vs) != 2 || !vs[0].Pinned || vs[0].Archived || vs[1].Pinned || !vs[1].Archived || len(vs[1].Members) != 3 {
			t.Fatalf("a's conversation events = %+v", vs)
		}
		if n := len(wb.named(parley.EventConversation)); n != 0 {
			t.Fatalf("b got %d conversation events for a's archive", n)
		}
	})
	t.Run("HiddenUnlessAsked", func(t *testing.T) {
		if got := e.listIDs(t, a, parley.ConversationListQuery{}); !slices.Equal(got, []parley.ID{ad}) {
			t.Fatalf("list = %v, want only %s", got, ad)
		}
		vs, err := e.app.Conversations(ctx, a.c, parley.ConversationListQuery{Archived: true})
		if err != nil || len(vs) != 2 || vs[0].ID != g || !vs[0].Archived || vs[0].Pinned || vs[1].Archived {
			t.Fatalf("list with archived = %+v, %v", vs, err)
		}
		if v, _ := e.app.Conversation(ctx, a.c, g); !v.Archived {
			t.Fatalf("conversation = %+v", v)
		}
	})
	t.Run("NewMessageUnarchivesUnlessMuted", func(t *testing.T) {
		for _, u := range []*user{b, c} {
			if err := e.app.SetArchived(ctx, u.c, g, true); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.app.SetMuted(ctx, c.c, g, true); err != nil {
			t.Fatal(err)
		}
		before := map[*events]int{wa: len(conversationEvents(t, wa, g)), wb: len(conversationEvents(t, wb, g)), wc: len(conversationEvents(t, wc, g))}
		e.MustSend(t, b, g, "news")
		for _, tc := range []struct {
			u        *user
			ev       *events
			archived bool
		}{{a, wa, false}, {b, wb, false}, {c, wc, true}} {
			v, err := e.app.Conversation(ctx, tc.u.c, g)
			if err != nil || v.Archived != tc.archived {
				t.Fatalf("%s after a message: %+v, %v; want archived %v", tc.u.Handle, v, err, tc.archived)
			}
			vs := conversationEvents(t, tc.ev, g)
			if tc.archived {
				if len(vs) != before[tc.ev] {
					t.Fatalf("%s (muted, still archived) got a conversation event", tc.u.Handle)
				}
				continue
			}
			// The sender's own send unarchives for it too.
			if len(vs) != before[tc.ev]+1 || vs[len(vs)-1].Archived || vs[len(vs)-1].LatestMessage == nil || vs[len(vs)-1].LatestMessage.Body != "news" {
				t.Fatalf("%s's conversation events = %+v", tc.u.Handle, vs)
			}
		}
		if got := e.listIDs(t, c, parley.ConversationListQuery{}); len(got) != 0 {
			t.Fatalf("muted member's list = %v", got)
		}
		// Later messages announce nothing more: nobody is archived.
		n := len(wa.named(parley.EventConversation))
		e.MustSend(t, b, g, "more")
		if len(wa.named(parley.EventConversation)) != n {
			t.Fatal("a message with nobody archived announced the conversation")
		}
	})
	t.Run("Unarchive", func(t *testing.T) {
		if err := e.app.SetArchived(ctx, c.c, g, false); err != nil {
			t.Fatal(err)
		}
		if got := e.listIDs(t, c, parley.ConversationListQuery{}); !slices.Equal(got, []parley.ID{g}) {
			t.Fatalf("list after unarchive = %v", got)
		}
	})
	t.Run("FormerMemberArrangesItsList", func(t *testing.T) {
		if err := e.app.RemoveMember(ctx, c.c, g, c.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.app.SetArchived(ctx, c.c, g, true); err != nil {
			t.Fatal(err)
		}
		e.MustSend(t, a, g, "after c left")
		if v, err := e.app.Conversation(ctx, c.c, g); err != nil || !v.Archived {
			t.Fatalf("former member's entry after a message = %+v, %v", v, err)
		}
	})
	t.Run("ErrNotMember", func(t *testing.T) {
		wantCode(t, e.app.SetPinned(ctx, d.c, g, true), parley.ENOTFOUND)
		wantCode(t, e.app.SetArchived(ctx, d.c, g, true), parley.ENOTFOUND)
		wantCode(t, e.app.SetPinned(ctx, a.c, 999999, true), parley.ENOTFOUND)
		wantCode(t, e.app.SetArchived(ctx, a.c, 0, false), parley.ENOTFOUND)
	})
}
