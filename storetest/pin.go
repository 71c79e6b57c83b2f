package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley"
)

// listIDs returns the ids of the user's conversations f selects, in order.
func listIDs(t *testing.T, s parley.Store, user parley.ID, f parley.ConversationFilter) []parley.ID {
	t.Helper()
	ucs, err := s.UserConversations(context.Background(), user, f)
	if err != nil {
		t.Fatalf("UserConversations(%+v): %v", f, err)
	}
	ids := make([]parley.ID, len(ucs))
	for i, uc := range ucs {
		ids[i] = uc.Conversation.ID
	}
	return ids
}

func wantIDs(t *testing.T, what string, got []parley.ID, want ...*parley.Conversation) {
	t.Helper()
	ids := make([]parley.ID, len(want))
	for i, c := range want {
		ids[i] = c.ID
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("%s = %v, want %v", what, got, ids)
	}
}

func pinAt(minutes int) *time.Time {
	t := epoch.Add(time.Duration(minutes) * time.Minute)
	return &t
}

func testPinArchive(t *testing.T, open Opener) {
	ctx := context.Background()
	t.Run("PinnedListMostRecentlyPinnedFirst", func(t *testing.T) {
		s := open(t)
		a, b, c, d := MustUser(t, s), MustUser(t, s), MustUser(t, s), MustUser(t, s)
		da := MustDevice(t, s, a)
		ab, ac, ad := MustConversation(t, s, parley.Direct, a, b), MustConversation(t, s, parley.Direct, a, c), MustConversation(t, s, parley.Direct, a, d)
		for i, conv := range []*parley.Conversation{ab, ac, ad} {
			m := &parley.Message{ConversationID: conv.ID, SenderID: a.ID, SenderDeviceID: da.ID, ClientMsgID: fmt.Sprint("p", i), Type: parley.TextMessage, Body: "hi", CreatedAt: *pinAt(i + 1)}
			if _, _, err := s.AppendMessage(ctx, m, hash(m.ClientMsgID), nil); err != nil {
				t.Fatal(err)
			}
		}
		// Activity order: ad, ac, ab. Pin ab, then ac.
		m, err := s.SetPinned(ctx, ab.ID, a.ID, pinAt(10), parley.MaxPinned)
		if err != nil || m.PinnedAt == nil || !m.PinnedAt.Equal(*pinAt(10)) {
			t.Fatalf("SetPinned = %+v, %v", m, err)
		}
		if _, err := s.SetPinned(ctx, ac.ID, a.ID, pinAt(11), parley.MaxPinned); err != nil {
			t.Fatal(err)
		}
		wantIDs(t, "pinned", listIDs(t, s, a.ID, parley.ConversationFilter{OnlyPinned: true}), ac, ab)
		wantIDs(t, "unpinned", listIDs(t, s, a.ID, parley.ConversationFilter{ExcludePinned: true}), ad)
		wantIDs(t, "all", listIDs(t, s, a.ID, parley.ConversationFilter{}), ad, ac, ab)
		wantIDs(t, "pinned page 2", listIDs(t, s, a.ID, parley.ConversationFilter{OnlyPinned: true, Limit: 1, Offset: 1}), ab)
		// Pins are the member's own.
		if ucs, _ := s.UserConversations(ctx, b.ID, parley.ConversationFilter{}); len(ucs) != 1 || ucs[0].Self.PinnedAt != nil {
			t.Fatalf("b's list = %+v", ucs)
		}
		// The list entry carries the pin and the latest message.
		ucs, _ := s.UserConversations(ctx, a.ID, parley.ConversationFilter{OnlyPinned: true})
		if ucs[0].Self.PinnedAt == nil || !ucs[0].Self.PinnedAt.Equal(*pinAt(11)) || ucs[0].LatestMessage == nil || ucs[0].LatestMessage.Body != "hi" {
			t.Fatalf("pinned entry = %+v self=%+v", ucs[0], ucs[0].Self)
		}
		// Pinning again keeps the time; unpinning clears it.
		if m, err := s.SetPinned(ctx, ab.ID, a.ID, pinAt(20), parley.MaxPinned); err != nil || !m.PinnedAt.Equal(*pinAt(10)) {
			t.Fatalf("pin again = %+v, %v", m, err)
		}
		if m, err := s.SetPinned(ctx, ac.ID, a.ID, nil, parley.MaxPinned); err != nil || m.PinnedAt != nil {
			t.Fatalf("unpin = %+v, %v", m, err)
		}
		wantIDs(t, "pinned after unpin", listIDs(t, s, a.ID, parley.ConversationFilter{OnlyPinned: true}), ab)
		if m, _ := s.Member(ctx, ac.ID, a.ID); m.PinnedAt != nil {
			t.Fatalf("stored member after unpin = %+v", m)
		}
	})
	t.Run("ErrTooManyPinned", func(t *testing.T) {
		s := open(t)
		a := MustUser(t, s)
		var convs []*parley.Conversation
		for range parley.MaxPinned + 1 {
			convs = append(convs, MustConversation(t, s, parley.Direct, a, MustUser(t, s)))
		}
		for i, c := range convs[:parley.MaxPinned] {
			if _, err := s.SetPinned(ctx, c.ID, a.ID, pinAt(i), parley.MaxPinned); err != nil {
				t.Fatal(err)
			}
		}
		last := convs[parley.MaxPinned]
		_, err := s.SetPinned(ctx, last.ID, a.ID, pinAt(10), parley.MaxPinned)
		wantCode(t, err, parley.ETOOMANY)
		if m, _ := s.Member(ctx, last.ID, a.ID); m.PinnedAt != nil {
			t.Fatalf("refused pin was stored: %+v", m)
		}
		// A pinned one may be pinned again at the limit; after an unpin
		// there is room.
		if _, err := s.SetPinned(ctx, convs[0].ID, a.ID, pinAt(11), parley.MaxPinned); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetPinned(ctx, convs[0].ID, a.ID, nil, parley.MaxPinned); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetPinned(ctx, last.ID, a.ID, pinAt(12), parley.MaxPinned); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ConcurrentPinsKeepTheLimit", func(t *testing.T) {
		s := open(t)
		a := MustUser(t, s)
		const n = 3 * parley.MaxPinned
		var convs []*parley.Conversation
		for range n {
			convs = append(convs, MustConversation(t, s, parley.Direct, a, MustUser(t, s)))
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i, c := range convs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = s.SetPinned(ctx, c.ID, a.ID, pinAt(i), parley.MaxPinned)
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch parley.ErrorCode(err) {
			case "":
				ok++
			case parley.ETOOMANY:
			default:
				t.Fatalf("pin: %v", err)
			}
		}
		if pinned := listIDs(t, s, a.ID, parley.ConversationFilter{OnlyPinned: true}); ok != parley.MaxPinned || len(pinned) != parley.MaxPinned {
			t.Fatalf("%d pins succeeded, %d pinned; want %d", ok, len(pinned), parley.MaxPinned)
		}
	})
	t.Run("Archive", func(t *testing.T) {
		s := open(t)
		a, b := MustUser(t, s), MustUser(t, s)
		ab, ag := MustConversation(t, s, parley.Direct, a, b), MustConversation(t, s, parley.Group, a, b)
		if _, err := s.SetPinned(ctx, ab.ID, a.ID, pinAt(1), parley.MaxPinned); err != nil {
			t.Fatal(err)
		}
		m, err := s.SetArchived(ctx, ab.ID, a.ID, true)
		if err != nil || !m.Archived || m.PinnedAt != nil {
			t.Fatalf("archive = %+v, %v; want archived and unpinned", m, err)
		}
		wantIDs(t, "without archived", listIDs(t, s, a.ID, parley.ConversationFilter{ExcludeArchived: true}), ag)
		ucs, _ := s.UserConversations(ctx, a.ID, parley.ConversationFilter{})
		if len(ucs) != 2 || !ucs[0].Self.Archived && !ucs[1].Self.Archived {
			t.Fatalf("with archived = %+v", ucs)
		}
		wantIDs(t, "b's list", listIDs(t, s, b.ID, parley.ConversationFilter{ExcludeArchived: true}), ag, ab)
		// Pinning unarchives.
		if m, err := s.SetPinned(ctx, ab.ID, a.ID, pinAt(2), parley.MaxPinned); err != nil || m.Archived {
			t.Fatalf("pin archived = %+v, %v", m, err)
		}
		if m, _ := s.Member(ctx, ab.ID, a.ID); m.Archived || m.PinnedAt == nil {
			t.Fatalf("stored member = %+v", m)
		}
		if m, err := s.SetArchived(ctx, ag.ID, a.ID, true); err != nil || !m.Archived {
			t.Fatalf("archive = %+v, %v", m, err)
		}
		if m, err := s.SetArchived(ctx, ag.ID, a.ID, false); err != nil || m.Archived {
			t.Fatalf("unarchive = %+v, %v", m, err)
		}
	})
	t.Run("MessageUnarchivesUnlessMuted", func(t *testing.T) {
		s := open(t)
		a, b, c, d := MustUser(t, s), MustUser(t, s), MustUser(t, s), MustUser(t, s)
		da := MustDevice(t, s, a)
		g := MustConversation(t, s, parley.Group, a, b, c, d)
		for _, u := range []*parley.User{a, b, c, d} {
			if _, err := s.SetArchived(ctx, g.ID, u.ID, true); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.SetMuted(ctx, g.ID, c.ID, true); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RemoveMember(ctx, g.ID, d.ID, epoch); err != nil {
			t.Fatal(err)
		}
		orig := MustSend(t, s, g, a, da, "u1", "wake up")
		for _, tc := range []struct {
			u        *parley.User
			archived bool
		}{{a, false}, {b, false}, {c, true}, {d, true}} {
			if m, _ := s.Member(ctx, g.ID, tc.u.ID); m.Archived != tc.archived {
				t.Fatalf("after a message, member %+v: archived %v, want %v", m, m.Archived, tc.archived)
			}
		}
		// A recall is no new message.
		if _, err := s.SetArchived(ctx, g.ID, b.ID, true); err != nil {
			t.Fatal(err)
		}
		entry := &parley.Message{ConversationID: g.ID, SenderID: a.ID, SenderDeviceID: da.ID, Type: parley.RecallEntry, RecallOf: orig.ID, CreatedAt: epoch}
		if _, err := s.RecallMessage(ctx, entry); err != nil {
			t.Fatal(err)
		}
		if m, _ := s.Member(ctx, g.ID, b.ID); !m.Archived {
			t.Fatalf("a recall unarchived %+v", m)
		}
		// A retry stores nothing, so unarchives nothing.
		again := &parley.Message{ConversationID: g.ID, SenderID: a.ID, SenderDeviceID: da.ID, ClientMsgID: "u1", Type: parley.TextMessage, Body: "wake up", CreatedAt: epoch}
		if _, created, err := s.AppendMessage(ctx, again, hash("u1", "wake up"), nil); err != nil || created {
			t.Fatalf("retry: created=%v %v", created, err)
		}
		if m, _ := s.Member(ctx, g.ID, b.ID); !m.Archived {
			t.Fatalf("a retry unarchived %+v", m)
		}
	})
	t.Run("HideClearsPinAndArchive", func(t *testing.T) {
		s := open(t)
		a, b, c := MustUser(t, s), MustUser(t, s), MustUser(t, s)
		ab, ac := MustConversation(t, s, parley.Direct, a, b), MustConversation(t, s, parley.Direct, a, c)
		if _, err := s.SetPinned(ctx, ab.ID, a.ID, pinAt(1), parley.MaxPinned); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetArchived(ctx, ac.ID, a.ID, true); err != nil {
			t.Fatal(err)
		}
		for _, conv := range []*parley.Conversation{ab, ac} {
			m, err := s.HideConversation(ctx, conv.ID, a.ID)
			if err != nil || m.PinnedAt != nil || m.Archived {
				t.Fatalf("hide = %+v, %v", m, err)
			}
			if m, _ := s.Member(ctx, conv.ID, a.ID); m.PinnedAt != nil || m.Archived {
				t.Fatalf("stored member after hide = %+v", m)
			}
		}
	})
	t.Run("ErrNotMember", func(t *testing.T) {
		s := open(t)
		a, b, c := MustUser(t, s), MustUser(t, s), MustUser(t, s)
		ab := MustConversation(t, s, parley.Direct, a, b)
		_, err := s.SetPinned(ctx, ab.ID, c.ID, pinAt(1), parley.MaxPinned)
		wantCode(t, err, parley.ENOTFOUND)
		_, err = s.SetPinned(ctx, ab.ID, c.ID, nil, parley.MaxPinned)
		wantCode(t, err, parley.ENOTFOUND)
		_, err = s.SetArchived(ctx, ab.ID, c.ID, true)
		wantCode(t, err, parley.ENOTFOUND)
		_, err = s.SetArchived(ctx, 999999, a.ID, true)
		wantCode(t, err, parley.ENOTFOUND)
	})
}
