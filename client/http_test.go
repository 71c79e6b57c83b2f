package client_test

import (
	"context"
	"testing"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/client"
)

func TestAccounts(t *testing.T) {
	n := mustNode(t)
	ctx := context.Background()
	c := client.New(n.URL, nil)

	t.Run("OK", func(t *testing.T) {
		u, err := c.Register(ctx, parley.RegisterRequest{Handle: "ann", Password: password, DisplayName: "Ann"})
		if err != nil {
			t.Fatal(err)
		}
		if u.ID == 0 || u.Handle != "ann" || u.DisplayName != "Ann" {
			t.Fatalf("registered %+v", u)
		}
		s, err := c.Login(ctx, parley.LoginRequest{Handle: "ANN", Password: password})
		if err != nil {
			t.Fatal(err)
		}
		if s.Token == "" || c.Token() != s.Token || s.User.ID != u.ID || s.DeviceID == 0 {
			t.Fatalf("session %+v", s)
		}
		me, err := c.Me(ctx)
		if err != nil || me.ID != u.ID {
			t.Fatalf("me = %+v, %v", me, err)
		}
		bio := "hello"
		if me, err = c.UpdateMe(ctx, parley.UserUpdate{Bio: &bio}); err != nil || me.Bio != bio {
			t.Fatalf("update me = %+v, %v", me, err)
		}
		found, err := c.SearchUsers(ctx, "@an", 10)
		if err != nil || len(found) != 1 || found[0].ID != u.ID {
			t.Fatalf("search = %+v, %v", found, err)
		}
		if got, err := c.User(ctx, u.ID); err != nil || got.Handle != "ann" {
			t.Fatalf("user = %+v, %v", got, err)
		}
		if err := c.Logout(ctx); err != nil {
			t.Fatal(err)
		}
		if c.Token() != "" {
			t.Fatal("token kept after logout")
		}
		_, err = c.WithToken(s.Token).Me(ctx)
		wantCode(t, err, parley.EUNAUTHORIZED)
	})
	t.Run("ErrConflict", func(t *testing.T) {
		_, err := c.Register(ctx, parley.RegisterRequest{Handle: "Ann", Password: password})
		wantCode(t, err, parley.ECONFLICT)
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		_, err := c.Register(ctx, parley.RegisterRequest{Handle: "-x", Password: password})
		wantCode(t, err, parley.EINVALID)
		_, err = c.Register(ctx, parley.RegisterRequest{Handle: "shortpw", Password: "x"})
		wantCode(t, err, parley.EINVALID)
	})
	t.Run("ErrUnauthorized", func(t *testing.T) {
		_, err := c.Login(ctx, parley.LoginRequest{Handle: "ann", Password: "wrong password"})
		wantCode(t, err, parley.EUNAUTHORIZED)
		_, err = client.New(n.URL, nil).Me(ctx)
		wantCode(t, err, parley.EUNAUTHORIZED)
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		u := MustUser(t, n)
		_, err := u.User(ctx, 1<<40)
		wantCode(t, err, parley.ENOTFOUND)
	})
	t.Run("ErrTransport", func(t *testing.T) {
		_, err := client.New("http://127.0.0.1:1", nil).Me(ctx)
		if err == nil || client.IsServerError(err) {
			t.Fatalf("err = %v, want a transport error", err)
		}
	})
}

func TestConversationsHTTP(t *testing.T) {
	n := mustNode(t)
	ctx := context.Background()
	a, b, c := MustUser(t, n), MustUser(t, n), MustUser(t, n)

	conv, created, err := a.CreateConversation(ctx, parley.CreateConversationRequest{MemberIDs: []parley.ID{b.ID}})
	if err != nil || !created || conv.Type != parley.Direct || conv.RecipientID != b.ID {
		t.Fatalf("create = %+v, %v, %v", conv, created, err)
	}
	again, created, err := b.CreateConversation(ctx, parley.CreateConversationRequest{MemberIDs: []parley.ID{a.ID}})
	if err != nil || created || again.ID != conv.ID {
		t.Fatalf("create again = %+v, %v, %v", again, created, err)
	}

	var sent []*parley.Message
	for i, body := range []string{"one", "two", "three"} {
		m, created, err := a.Send(ctx, parley.SendRequest{ConversationID: conv.ID, ClientMsgID: body, Body: body})
		if err != nil || !created || m.Seq != int64(i+1) || m.Body != body || m.SenderID != a.ID {
			t.Fatalf("send %s = %+v, %v, %v", body, m, created, err)
		}
		sent = append(sent, m)
	}
	t.Run("SendRetry", func(t *testing.T) {
		m, created, err := a.Send(ctx, parley.SendRequest{ConversationID: conv.ID, ClientMsgID: "two", Body: "two"})
		if err != nil || created || m.ID != sent[1].ID || m.Seq != 2 {
			t.Fatalf("retry = %+v, %v, %v", m, created, err)
		}
		_, _, err = a.Send(ctx, parley.SendRequest{ConversationID: conv.ID, ClientMsgID: "two", Body: "changed"})
		wantCode(t, err, parley.ECONFLICT)
	})
	t.Run("History", func(t *testing.T) {
		ms, err := b.History(ctx, conv.ID, parley.HistoryQuery{})
		if err != nil || len(ms) != 3 || ms[0].Seq != 1 || ms[2].Seq != 3 {
			t.Fatalf("history = %v, %v", ms, err)
		}
		ms, err = b.History(ctx, conv.ID, parley.HistoryQuery{AfterSeq: 1, Limit: 1})
		if err != nil || len(ms) != 1 || ms[0].Seq != 2 {
			t.Fatalf("after 1 = %v, %v", ms, err)
		}
		ms, err = b.History(ctx, conv.ID, parley.HistoryQuery{Ascending: true, Limit: 2})
		if err != nil || len(ms) != 2 || ms[0].Seq != 1 {
			t.Fatalf("from the start = %v, %v", ms, err)
		}
		ms, err = b.History(ctx, conv.ID, parley.HistoryQuery{BeforeSeq: 3})
		if err != nil || len(ms) != 2 || ms[1].Seq != 2 {
			t.Fatalf("before 3 = %v, %v", ms, err)
		}
	})
	t.Run("Receipts", func(t *testing.T) {
		if err := b.MarkDelivered(ctx, conv.ID, 3); err != nil {
			t.Fatal(err)
		}
		if err := b.MarkRead(ctx, conv.ID, 2); err != nil {
			t.Fatal(err)
		}
		rs, err := a.Receipts(ctx, conv.ID)
		if err != nil {
			t.Fatal(err)
		}
		var got *parley.Receipt
		for i := range rs {
			if rs[i].UserID == b.ID {
				got = &rs[i]
			}
		}
		if got == nil || got.DeliveredSeq != 3 || got.ReadSeq != 2 {
			t.Fatalf("receipts = %+v", rs)
		}
		err = b.MarkRead(ctx, conv.ID, 99)
		wantCode(t, err, parley.EINVALID)
	})
	t.Run("List", func(t *testing.T) {
		vs, err := b.Conversations(ctx, 1, 10)
		if err != nil || len(vs) != 1 || vs[0].ID != conv.ID || vs[0].UnreadCount != 1 || vs[0].LatestMessage == nil {
			t.Fatalf("list = %+v, %v", vs, err)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := c.History(ctx, conv.ID, parley.HistoryQuery{})
		wantCode(t, err, parley.ENOTFOUND)
		_, _, err = c.Send(ctx, parley.SendRequest{ConversationID: conv.ID, ClientMsgID: "x", Body: "x"})
		wantCode(t, err, parley.ENOTFOUND)
		_, err = c.Conversation(ctx, conv.ID)
		wantCode(t, err, parley.ENOTFOUND)
	})
	t.Run("Recall", func(t *testing.T) {
		m, err := a.Recall(ctx, conv.ID, sent[0].ID)
		if err != nil || m.RecalledAt == nil || m.Body != "" {
			t.Fatalf("recall = %+v, %v", m, err)
		}
		_, err = b.Recall(ctx, conv.ID, sent[1].ID)
		wantCode(t, err, parley.EFORBIDDEN)
	})
	t.Run("Group", func(t *testing.T) {
		g, created, err := a.CreateConversation(ctx, parley.CreateConversationRequest{MemberIDs: []parley.ID{b.ID}, Title: "team"})
		if err != nil || !created || g.Type != parley.Group {
			t.Fatalf("group = %+v, %v", g, err)
		}
		if g, err = a.AddMembers(ctx, g.ID, c.ID); err != nil || len(g.Members) != 3 {
			t.Fatalf("add = %+v, %v", g, err)
		}
		if _, err := a.RenameConversation(ctx, g.ID, "crew"); err != nil {
			t.Fatal(err)
		}
		if err := a.SetRole(ctx, g.ID, b.ID, parley.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		err = c.RemoveMember(ctx, g.ID, b.ID)
		wantCode(t, err, parley.EFORBIDDEN)
		if err := a.RemoveMember(ctx, g.ID, c.ID); err != nil {
			t.Fatal(err)
		}
		if err := b.SetMuted(ctx, g.ID, true); err != nil {
			t.Fatal(err)
		}
		if err := b.RemoveConversation(ctx, g.ID); err != nil {
			t.Fatal(err)
		}
	})
}

func TestFriendsHTTP(t *testing.T) {
	n := mustNode(t)
	ctx := context.Background()
	a, b := MustUser(t, n), MustUser(t, n)

	f, err := a.RequestFriend(ctx, b.ID)
	if err != nil || f.State != parley.FriendOutgoing {
		t.Fatalf("request = %+v, %v", f, err)
	}
	if f, err = b.AcceptFriend(ctx, a.ID); err != nil || f.State != parley.FriendAccepted {
		t.Fatalf("accept = %+v, %v", f, err)
	}
	fs, err := a.Friends(ctx)
	if err != nil || len(fs) != 1 || fs[0].UserID != b.ID || fs[0].State != parley.FriendAccepted {
		t.Fatalf("friends = %+v, %v", fs, err)
	}
	ps, err := a.Presence(ctx, b.ID)
	if err != nil || len(ps) != 1 || ps[0].UserID != b.ID {
		t.Fatalf("presence = %+v, %v", ps, err)
	}
	_, err = a.AcceptFriend(ctx, MustUser(t, n).ID) // no request from that user
	wantCode(t, err, parley.ENOTFOUND)
	if err := a.Block(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if ids, err := a.Blocks(ctx); err != nil || len(ids) != 1 || ids[0] != b.ID {
		t.Fatalf("blocks = %v, %v", ids, err)
	}
	_, _, err = b.CreateConversation(ctx, parley.CreateConversationRequest{MemberIDs: []parley.ID{a.ID}})
	wantCode(t, err, parley.EFORBIDDEN)
	if err := a.Unblock(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	err = a.RemoveFriend(ctx, b.ID)
	wantCode(t, err, parley.ENOTFOUND) // the block ended the friendship
}
