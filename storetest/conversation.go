package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/parleyhq/parley"
)

func testConversations(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	a, b, c := MustUser(t, s), MustUser(t, s), MustUser(t, s)
	t.Run("DirectIsUniquePerPair", func(t *testing.T) {
		first := MustConversation(t, s, parley.Direct, a, b)
		again, created, err := s.CreateConversation(ctx, &parley.Conversation{Type: parley.Direct, CreatedBy: b.ID, CreatedAt: epoch},
			[]parley.Member{{UserID: b.ID, Role: parley.RoleMember}, {UserID: a.ID, Role: parley.RoleMember}}, parley.DirectKey(b.ID, a.ID))
		if err != nil || created || again.ID != first.ID {
			t.Fatalf("second direct = %+v created=%v err=%v, want existing %s", again, created, err, first.ID)
		}
		got, err := s.DirectConversation(ctx, parley.DirectKey(a.ID, b.ID))
		if err != nil || got.ID != first.ID {
			t.Fatalf("DirectConversation = %+v, %v", got, err)
		}
	})
	t.Run("Group", func(t *testing.T) {
		g := &parley.Conversation{Type: parley.Group, Title: "trip", CreatedBy: a.ID, CreatedAt: epoch}
		conv, created, err := s.CreateConversation(ctx, g, []parley.Member{{UserID: a.ID, Role: parley.RoleOwner}, {UserID: b.ID, Role: parley.RoleMember}, {UserID: c.ID, Role: parley.RoleMember}}, "")
		if err != nil || !created || conv.ID == 0 {
			t.Fatalf("create group: %+v %v %v", conv, created, err)
		}
		got, err := s.Conversation(ctx, conv.ID)
		if err != nil || got.Title != "trip" || got.Type != parley.Group || got.LastSeq != 0 || got.CreatedBy != a.ID {
			t.Fatalf("Conversation = %+v, %v", got, err)
		}
		ms, err := s.Members(ctx, conv.ID)
		if err != nil || len(ms) != 3 {
			t.Fatalf("Members = %v, %v", ms, err)
		}
		for _, m := range ms {
			if !m.Active() || m.JoinedSeq != 0 {
				t.Fatalf("member %+v", m)
			}
		}
		renamed, err := s.SetTitle(ctx, conv.ID, "trip 2", epoch.Add(time.Minute))
		if err != nil || renamed.Title != "trip 2" {
			t.Fatalf("SetTitle = %+v, %v", renamed, err)
		}
		if err := s.SetRole(ctx, conv.ID, b.ID, parley.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		m, err := s.Member(ctx, conv.ID, b.ID)
		if err != nil || m.Role != parley.RoleAdmin {
			t.Fatalf("Member after SetRole = %+v, %v", m, err)
		}
	})
	t.Run("ErrUnknownMember", func(t *testing.T) {
		_, _, err := s.CreateConversation(ctx, &parley.Conversation{Type: parley.Group, CreatedBy: a.ID, CreatedAt: epoch},
			[]parley.Member{{UserID: a.ID, Role: parley.RoleOwner}, {UserID: 999999, Role: parley.RoleMember}}, "")
		wantCode(t, err, parley.ENOTFOUND)
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := s.Conversation(ctx, 999999)
		wantCode(t, err, parley.ENOTFOUND)
		_, err = s.Member(ctx, 999999, a.ID)
		wantCode(t, err, parley.ENOTFOUND)
	})
	t.Run("ListNewestActivityFirstWithLatestMessage", func(t *testing.T) {
		s := open(t)
		a, b, c := MustUser(t, s), MustUser(t, s), MustUser(t, s)
		da := MustDevice(t, s, a)
		ab := MustConversation(t, s, parley.Direct, a, b)
		ac := MustConversation(t, s, parley.Direct, a, c)
		m1 := &parley.Message{ConversationID: ab.ID, SenderID: a.ID, SenderDeviceID: da.ID, ClientMsgID: "1", Type: parley.TextMessage, Body: "old", CreatedAt: epoch.Add(time.Minute)}
		m2 := &parley.Message{ConversationID: ac.ID, SenderID: a.ID, SenderDeviceID: da.ID, ClientMsgID: "2", Type: parley.TextMessage, Body: "new", CreatedAt: epoch.Add(2 * time.Minute)}
		for _, m := range []*parley.Message{m1, m2} {
			if _, _, err := s.AppendMessage(ctx, m, hash(m.Body), nil); err != nil {
				t.Fatal(err)
			}
		}
		list, err := s.UserConversations(ctx, a.ID, parley.ConversationFilter{})
		if err != nil || len(list) != 2 {
			t.Fatalf("UserConversations = %v, %v", list, err)
		}
		if list[0].Conversation.ID != ac.ID || list[0].LatestMessage == nil || list[0].LatestMessage.Body != "new" || list[0].Self.UserID != a.ID {
			t.Fatalf("first entry = %+v", list[0])
		}
		page, _ := s.UserConversations(ctx, a.ID, parley.ConversationFilter{Limit: 1, Offset: 1})
		if len(page) != 1 || page[0].Conversation.ID != ab.ID {
			t.Fatalf("page 2 = %+v", page)
		}
	})
}

func testMembership(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	a, b, c := MustUser(t, s), MustUser(t, s), MustUser(t, s)
	da := MustDevice(t, s, a)
	g := MustConversation(t, s, parley.Group, a, b)
	MustSend(t, s, g, a, da, "m1", "before c joined")
	MustSend(t, s, g, a, da, "m2", "also before")

	t.Run("JoinSeesOnlyLaterHistory", func(t *testing.T) {
		_, added, err := s.AddMembers(ctx, g.ID, []parley.Member{{UserID: c.ID, Role: parley.RoleMember}}, epoch)
		if err != nil || len(added) != 1 || added[0].JoinedSeq != 2 {
			t.Fatalf("AddMembers = %+v, %v", added, err)
		}
		m, err := s.Member(ctx, g.ID, c.ID)
		if err != nil || m.JoinedSeq != 2 || m.Floor() != 2 || m.Visible(2) || !m.Visible(3) {
			t.Fatalf("member = %+v, %v", m, err)
		}
		if m.DeliveredSeq != 2 || m.ReadSeq != 2 || m.Unread(2) != 0 {
			t.Fatalf("new member watermarks %+v", m)
		}
		// Adding an active member again changes nothing.
		_, added, err = s.AddMembers(ctx, g.ID, []parley.Member{{UserID: c.ID, Role: parley.RoleAdmin}}, epoch)
		if err != nil || len(added) != 0 {
			t.Fatalf("re-add = %+v, %v", added, err)
		}
	})
	MustSend(t, s, g, a, da, "m3", "c can see this")
	t.Run("LeaveFreezesCeiling", func(t *testing.T) {
		if _, err := s.SetTitle(ctx, g.ID, "as c knew it", epoch); err != nil {
			t.Fatal(err)
		}
		m, err := s.RemoveMember(ctx, g.ID, c.ID, epoch.Add(time.Minute))
		if err != nil || m.LeftSeq == nil || *m.LeftSeq != 3 || m.LeftTitle != "as c knew it" || !m.LeftAt.Equal(epoch.Add(time.Minute)) {
			t.Fatalf("RemoveMember = %+v, %v", m, err)
		}
		MustSend(t, s, g, a, da, "m4", "c cannot see this")
		if _, err := s.SetTitle(ctx, g.ID, "renamed after c left", epoch); err != nil {
			t.Fatal(err)
		}
		m, _ = s.Member(ctx, g.ID, c.ID)
		if m.Active() || !m.Visible(3) || m.Visible(4) || m.Ceiling(4) != 3 || m.LeftTitle != "as c knew it" || !m.LeftAt.Equal(epoch.Add(time.Minute)) {
			t.Fatalf("left member = %+v", m)
		}
		if ucs, _ := s.UserConversations(ctx, c.ID, parley.ConversationFilter{IncludeLeft: true}); len(ucs) != 1 || ucs[0].Self.LeftTitle != "as c knew it" {
			t.Fatalf("left member's list entry = %+v", ucs)
		}
		_, err = s.RemoveMember(ctx, g.ID, c.ID, epoch)
		wantCode(t, err, parley.ENOTFOUND)
		list, _ := s.UserConversations(ctx, c.ID, parley.ConversationFilter{})
		if len(list) != 0 {
			t.Fatalf("left conversation listed without IncludeLeft: %d", len(list))
		}
		list, _ = s.UserConversations(ctx, c.ID, parley.ConversationFilter{IncludeLeft: true})
		if len(list) != 1 || list[0].LatestMessage == nil || list[0].LatestMessage.Seq != 3 {
			t.Fatalf("left member's latest message = %+v", list)
		}
	})
	t.Run("Rejoin", func(t *testing.T) {
		_, added, err := s.AddMembers(ctx, g.ID, []parley.Member{{UserID: c.ID, Role: parley.RoleMember}}, epoch)
		if err != nil || len(added) != 1 || added[0].JoinedSeq != 4 {
			t.Fatalf("rejoin = %+v, %v", added, err)
		}
		m, _ := s.Member(ctx, g.ID, c.ID)
		if !m.Active() || m.Visible(4) || !m.Visible(5) || m.LeftTitle != "" || !m.LeftAt.IsZero() {
			t.Fatalf("rejoined member = %+v", m)
		}
	})
	t.Run("RemoveConversationHidesHistoryUntilNewMessage", func(t *testing.T) {
		m, err := s.HideConversation(ctx, g.ID, b.ID)
		if err != nil || !m.Hidden || m.ClearedSeq != 4 {
			t.Fatalf("HideConversation = %+v, %v", m, err)
		}
		list, _ := s.UserConversations(ctx, b.ID, parley.ConversationFilter{})
		if len(list) != 0 {
			t.Fatalf("hidden conversation still listed")
		}
		list, _ = s.UserConversations(ctx, b.ID, parley.ConversationFilter{IncludeHidden: true})
		if len(list) != 1 || list[0].LatestMessage != nil {
			t.Fatalf("hidden conversation with IncludeHidden = %+v", list)
		}
		// Others keep theirs.
		if list, _ := s.UserConversations(ctx, a.ID, parley.ConversationFilter{}); len(list) != 1 {
			t.Fatalf("other member lost the conversation")
		}
		MustSend(t, s, g, a, da, "m5", "brings it back")
		list, _ = s.UserConversations(ctx, b.ID, parley.ConversationFilter{})
		if len(list) != 1 || list[0].LatestMessage == nil || list[0].LatestMessage.Seq != 5 {
			t.Fatalf("conversation did not come back with the new message: %+v", list)
		}
		m, _ = s.Member(ctx, g.ID, b.ID)
		if m.Visible(4) || !m.Visible(5) || m.Unread(5) != 1 {
			t.Fatalf("after hide, member = %+v unread=%d", m, m.Unread(5))
		}
		ms, err := s.Messages(ctx, g.ID, parley.MessageFilter{Floor: m.Floor(), Ceiling: m.Ceiling(5), Limit: 50})
		if err != nil || len(ms) != 1 || ms[0].Seq != 5 {
			t.Fatalf("history after hide = %v, %v", ms, err)
		}
	})
	t.Run("Mute", func(t *testing.T) {
		if err := s.SetMuted(ctx, g.ID, a.ID, true); err != nil {
			t.Fatal(err)
		}
		m, _ := s.Member(ctx, g.ID, a.ID)
		if !m.Muted {
			t.Fatal("not muted")
		}
		wantCode(t, s.SetMuted(ctx, g.ID, 999999, true), parley.ENOTFOUND)
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, _, err := s.AddMembers(ctx, 999999, []parley.Member{{UserID: a.ID, Role: parley.RoleMember}}, epoch)
		wantCode(t, err, parley.ENOTFOUND)
		_, _, err = s.AddMembers(ctx, g.ID, []parley.Member{{UserID: 999999, Role: parley.RoleMember}}, epoch)
		wantCode(t, err, parley.ENOTFOUND)
		_, err = s.HideConversation(ctx, g.ID, 999999)
		wantCode(t, err, parley.ENOTFOUND)
	})
}
