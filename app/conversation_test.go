package app_test

import (
	"context"
	"testing"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/app"
)

func TestCreateConversation(t *testing.T) {
	e := MustApp(t, app.Config{MemberCap: 4})
	ctx := context.Background()
	a, b, c, d, x := e.MustUser(t), e.MustUser(t), e.MustUser(t), e.MustUser(t), e.MustUser(t)
	t.Run("DirectReturnsExisting", func(t *testing.T) {
		v1, created, err := e.app.CreateConversation(ctx, a.c, parley.CreateConversationRequest{MemberIDs: []parley.ID{b.ID}})
		if err != nil || !created || v1.Type != parley.Direct || v1.RecipientID != b.ID || v1.RecipientName != b.DisplayName {
			t.Fatalf("first = %+v %v %v", v1, created, err)
		}
		v2, created, err := e.app.CreateConversation(ctx, b.c, parley.CreateConversationRequest{MemberIDs: []parley.ID{a.ID, a.ID, b.ID}})
		if err != nil || created || v2.ID != v1.ID || v2.RecipientID != a.ID {
			t.Fatalf("second = %+v %v %v", v2, created, err)
		}
	})
	t.Run("Group", func(t *testing.T) {
		v, created, err := e.app.CreateConversation(ctx, a.c, parley.CreateConversationRequest{MemberIDs: []parley.ID{b.ID, c.ID}, Title: " Trip "})
		if err != nil || !created || v.Type != parley.Group || v.Title != "Trip" || v.Role != parley.RoleOwner || len(v.Members) != 3 {
			t.Fatalf("group = %+v %v %v", v, created, err)
		}
	})
	t.Run("GroupOfTwoWithTitle", func(t *testing.T) {
		v, _, err := e.app.CreateConversation(ctx, a.c, parley.CreateConversationRequest{MemberIDs: []parley.ID{b.ID}, Title: "Just us"})
		if err != nil || v.Type != parley.Group {
			t.Fatalf("= %+v %v", v, err)
		}
	})
	for _, tc := range []struct {
		name string
		req  parley.CreateConversationRequest
		code string
	}{
		{"ErrNoMembers", parley.CreateConversationRequest{}, parley.EINVALID},
		{"ErrOnlySelf", parley.CreateConversationRequest{MemberIDs: []parley.ID{a.ID}}, parley.EINVALID},
		{"ErrBadID", parley.CreateConversationRequest{MemberIDs: []parley.ID{-3}}, parley.EINVALID},
		{"ErrUnknownUser", parley.CreateConversationRequest{MemberIDs: []parley.ID{999999}}, parley.ENOTFOUND},
		{"ErrGroupNeedsTitle", parley.CreateConversationRequest{MemberIDs: []parley.ID{b.ID, c.ID}}, parley.EINVALID},
		{"ErrOverCap", parley.CreateConversationRequest{MemberIDs: []parley.ID{b.ID, c.ID, d.ID, x.ID}, Title: "big"}, parley.ETOOMANY},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := e.app.CreateConversation(ctx, a.c, tc.req)
			wantCode(t, err, tc.code)
		})
	}
	t.Run("ErrBlocked", func(t *testing.T) {
		if err := e.app.Block(ctx, d.c, x.ID); err != nil {
			t.Fatal(err)
		}
		_, _, err := e.app.CreateConversation(ctx, x.c, parley.CreateConversationRequest{MemberIDs: []parley.ID{d.ID}})
		wantCode(t, err, parley.EFORBIDDEN)
		_, _, err = e.app.CreateConversation(ctx, d.c, parley.CreateConversationRequest{MemberIDs: []parley.ID{x.ID}})
		wantCode(t, err, parley.EFORBIDDEN)
	})
	t.Run("AnnouncedToMembers", func(t *testing.T) {
		ev := e.Watch(t, c)
		if _, _, err := e.app.CreateConversation(ctx, a.c, parley.CreateConversationRequest{MemberIDs: []parley.ID{c.ID}}); err != nil {
			t.Fatal(err)
		}
		if got := ev.named(parley.EventConversation); len(got) != 1 {
			t.Fatalf("conversation events = %d", len(got))
		}
	})
}

func TestMembership(t *testing.T) {
	e := MustApp(t, app.Config{MemberCap: 5})
	ctx := context.Background()
	owner, admin, m1, m2, out := e.MustUser(t), e.MustUser(t), e.MustUser(t), e.MustUser(t), e.MustUser(t)
	g := e.MustGroup(t, owner, admin, m1)
	dm := e.MustDirect(t, owner, out)
	t.Run("ErrRoleRules", func(t *testing.T) {
		wantCode(t, e.app.SetRole(ctx, admin.c, g, m1.ID, parley.RoleAdmin), parley.EFORBIDDEN)
		wantCode(t, e.app.SetRole(ctx, owner.c, g, owner.ID, parley.RoleMember), parley.EINVALID)
		wantCode(t, e.app.SetRole(ctx, owner.c, g, m1.ID, "boss"), parley.EINVALID)
		wantCode(t, e.app.SetRole(ctx, owner.c, g, out.ID, parley.RoleAdmin), parley.ENOTFOUND)
		wantCode(t, e.app.SetRole(ctx, owner.c, dm, out.ID, parley.RoleAdmin), parley.EINVALID)
	})
	if err := e.app.SetRole(ctx, owner.c, g, admin.ID, parley.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	t.Run("Rename", func(t *testing.T) {
		v, err := e.app.Rename(ctx, admin.c, g, "renamed")
		if err != nil || v.Title != "renamed" {
			t.Fatalf("Rename = %+v, %v", v, err)
		}
		_, err = e.app.Rename(ctx, m1.c, g, "nope")
		wantCode(t, err, parley.EFORBIDDEN)
		_, err = e.app.Rename(ctx, owner.c, dm, "nope")
		wantCode(t, err, parley.EINVALID)
		_, err = e.app.Rename(ctx, owner.c, g, " ")
		wantCode(t, err, parley.EINVALID)
	})
	e.MustSend(t, owner, g, "before m2")
	t.Run("ErrMemberCannotAdd", func(t *testing.T) {
		_, err := e.app.AddMembers(ctx, m1.c, g, []parley.ID{m2.ID})
		wantCode(t, err, parley.EFORBIDDEN)
	})
	t.Run("ErrOutsiderSeesNothing", func(t *testing.T) {
		_, err := e.app.AddMembers(ctx, out.c, g, []parley.ID{m2.ID})
		wantCode(t, err, parley.ENOTFOUND)
		_, err = e.app.Conversation(ctx, out.c, g)
		wantCode(t, err, parley.ENOTFOUND)
		_, err = e.app.History(ctx, out.c, g, parley.HistoryQuery{})
		wantCode(t, err, parley.ENOTFOUND)
	})
	t.Run("ErrDirectCannotGrow", func(t *testing.T) {
		_, err := e.app.AddMembers(ctx, owner.c, dm, []parley.ID{m2.ID})
		wantCode(t, err, parley.EINVALID)
		wantCode(t, e.app.RemoveMember(ctx, owner.c, dm, owner.ID), parley.EINVALID)
	})
	t.Run("AdminAddsAndNewMemberSeesOnlyLaterHistory", func(t *testing.T) {
		v, err := e.app.AddMembers(ctx, admin.c, g, []parley.ID{m2.ID})
		if err != nil || len(v.Members) != 4 {
			t.Fatalf("AddMembers = %+v, %v", v, err)
		}
		ms, err := e.app.History(ctx, m2.c, g, parley.HistoryQuery{})
		if err != nil || len(ms) != 0 {
			t.Fatalf("new member history = %v, %v", ms, err)
		}
		e.MustSend(t, owner, g, "after m2")
		ms, _ = e.app.History(ctx, m2.c, g, parley.HistoryQuery{})
		if len(ms) != 1 || ms[0].Body != "after m2" {
			t.Fatalf("new member history = %v", ms)
		}
	})
	t.Run("ErrOverCap", func(t *testing.T) {
		x, y := e.MustUser(t), e.MustUser(t)
		_, err := e.app.AddMembers(ctx, owner.c, g, []parley.ID{x.ID, y.ID})
		wantCode(t, err, parley.ETOOMANY)
	})
	t.Run("ErrRemoveRules", func(t *testing.T) {
		wantCode(t, e.app.RemoveMember(ctx, m1.c, g, m2.ID), parley.EFORBIDDEN)
		wantCode(t, e.app.RemoveMember(ctx, admin.c, g, owner.ID), parley.EFORBIDDEN)
		wantCode(t, e.app.RemoveMember(ctx, owner.c, g, out.ID), parley.ENOTFOUND)
	})
	t.Run("LeftMemberKeepsHistoryUntilLeaving", func(t *testing.T) {
		if err := e.app.RemoveMember(ctx, m1.c, g, m1.ID); err != nil {
			t.Fatal(err)
		}
		e.MustSend(t, owner, g, "after m1 left")
		_, _, err := e.app.Send(ctx, m1.c, parley.SendRequest{ConversationID: g, ClientMsgID: "x", Body: "hi"}, nil)
		wantCode(t, err, parley.EFORBIDDEN)
		ms, err := e.app.History(ctx, m1.c, g, parley.HistoryQuery{})
		if err != nil || len(ms) != 2 || ms[1].Body != "after m2" {
			t.Fatalf("left member history = %v, %v", ms, err)
		}
		v, err := e.app.Conversation(ctx, m1.c, g)
		if err != nil || v.Active || v.LastSeq != 3 || v.LatestMessage == nil || v.LatestMessage.Seq != 2 {
			t.Fatalf("left member view = %+v, %v", v, err)
		}
	})
	t.Run("OwnerLeavingHandsOver", func(t *testing.T) {
		if err := e.app.RemoveMember(ctx, owner.c, g, owner.ID); err != nil {
			t.Fatal(err)
		}
		m, err := e.store.Member(ctx, g, admin.ID)
		if err != nil || m.Role != parley.RoleOwner {
			t.Fatalf("admin after owner left = %+v, %v", m, err)
		}
		if err := e.app.RemoveMember(ctx, admin.c, g, m2.ID); err != nil {
			t.Fatalf("new owner removes a member: %v", err)
		}
	})
}

func TestConversationList(t *testing.T) {
	e := MustApp(t, app.Config{})
	ctx := context.Background()
	a, b, c := e.MustUser(t), e.MustUser(t), e.MustUser(t)
	ab := e.MustDirect(t, a, b)
	g := e.MustGroup(t, a, b, c)
	e.MustSend(t, b, ab, "one")
	e.MustSend(t, b, ab, "two")
	e.clock.add(1e9)
	e.MustSend(t, c, g, "group news")
	e.MustSend(t, a, g, "my reply")
	list, err := e.app.Conversations(ctx, a.c, parley.ConversationListQuery{PageNumber: 1, PageSize: 10})
	if err != nil || len(list) != 2 {
		t.Fatalf("list = %v, %v", list, err)
	}
	t.Run("NewestFirst", func(t *testing.T) {
		if list[0].ID != g || list[1].ID != ab {
			t.Fatalf("order = %s, %s", list[0].ID, list[1].ID)
		}
	})
	t.Run("Shape", func(t *testing.T) {
		if list[1].RecipientName != b.DisplayName || list[1].LatestMessage.Body != "two" || list[1].UnreadCount != 2 || list[1].LastSeq != 2 {
			t.Fatalf("direct entry = %+v", list[1])
		}
		if list[0].RecipientName != "group" || list[0].LatestMessage.Body != "my reply" || list[0].UnreadCount != 0 {
			t.Fatalf("group entry = %+v (own reply reads everything before it)", list[0])
		}
	})
	t.Run("Paging", func(t *testing.T) {
		p2, err := e.app.Conversations(ctx, a.c, parley.ConversationListQuery{PageNumber: 2, PageSize: 1})
		if err != nil || len(p2) != 1 || p2[0].ID != ab {
			t.Fatalf("page 2 = %v, %v", p2, err)
		}
		_, err = e.app.Conversations(ctx, a.c, parley.ConversationListQuery{PageNumber: 1, PageSize: 101})
		wantCode(t, err, parley.EINVALID)
	})
	t.Run("RemoveHidesUntilNewMessage", func(t *testing.T) {
		if err := e.app.RemoveConversation(ctx, a.c, ab); err != nil {
			t.Fatal(err)
		}
		l, _ := e.app.Conversations(ctx, a.c, parley.ConversationListQuery{PageNumber: 1, PageSize: 10})
		if len(l) != 1 {
			t.Fatalf("removed conversation still listed: %d", len(l))
		}
		if l, _ := e.app.Conversations(ctx, b.c, parley.ConversationListQuery{PageNumber: 1, PageSize: 10}); len(l) != 2 {
			t.Fatalf("the other member lost it")
		}
		e.clock.add(1e9)
		e.MustSend(t, b, ab, "three")
		l, _ = e.app.Conversations(ctx, a.c, parley.ConversationListQuery{PageNumber: 1, PageSize: 10})
		if len(l) != 2 || l[0].ID != ab || l[0].UnreadCount != 1 {
			t.Fatalf("after a new message = %+v", l)
		}
		ms, _ := e.app.History(ctx, a.c, ab, parley.HistoryQuery{})
		if len(ms) != 1 || ms[0].Body != "three" {
			t.Fatalf("history after remove = %v", ms)
		}
		wantCode(t, e.app.RemoveConversation(ctx, c.c, ab), parley.ENOTFOUND)
	})
	t.Run("ErrHistoryLimits", func(t *testing.T) {
		_, err := e.app.History(ctx, a.c, g, parley.HistoryQuery{Limit: 201})
		wantCode(t, err, parley.EINVALID)
		_, err = e.app.History(ctx, a.c, g, parley.HistoryQuery{AfterSeq: -1})
		wantCode(t, err, parley.EINVALID)
		ms, err := e.app.History(ctx, a.c, g, parley.HistoryQuery{BeforeSeq: 2, Limit: 5})
		if err != nil || len(ms) != 1 || ms[0].Seq != 1 {
			t.Fatalf("before_seq = %v, %v", ms, err)
		}
	})
}
