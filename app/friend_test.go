package app_test

import (
	"context"
	"testing"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/app"
)

func TestFriends(t *testing.T) {
	e := MustApp(t, app.Config{})
	ctx := context.Background()
	a, b, c := e.MustUser(t), e.MustUser(t), e.MustUser(t)
	evB := e.Watch(t, b)
	f, err := e.app.RequestFriend(ctx, a.c, b.ID)
	if err != nil || f.State != parley.FriendOutgoing || f.User == nil || f.User.ID != b.ID {
		t.Fatalf("request = %+v, %v", f, err)
	}
	t.Run("RequestIsListedAndAnnounced", func(t *testing.T) {
		fs, _ := e.app.Friends(ctx, b.c)
		if len(fs) != 1 || fs[0].State != parley.FriendIncoming || fs[0].UserID != a.ID {
			t.Fatalf("b's list = %+v", fs)
		}
		if n := len(evB.named(app.EventFriend)); n != 1 {
			t.Fatalf("friend events = %d", n)
		}
	})
	t.Run("RepeatIsIdempotent", func(t *testing.T) {
		f, err := e.app.RequestFriend(ctx, a.c, b.ID)
		if err != nil || f.State != parley.FriendOutgoing {
			t.Fatalf("= %+v, %v", f, err)
		}
	})
	t.Run("ErrAcceptOwnRequest", func(t *testing.T) {
		_, err := e.app.AcceptFriend(ctx, a.c, b.ID)
		wantCode(t, err, parley.ENOTFOUND)
	})
	t.Run("Accept", func(t *testing.T) {
		f, err := e.app.AcceptFriend(ctx, b.c, a.ID)
		if err != nil || f.State != parley.FriendAccepted {
			t.Fatalf("accept = %+v, %v", f, err)
		}
		fs, _ := e.app.Friends(ctx, a.c)
		if len(fs) != 1 || fs[0].State != parley.FriendAccepted {
			t.Fatalf("a's list = %+v", fs)
		}
	})
	t.Run("CrossedRequestsBecomeFriends", func(t *testing.T) {
		if _, err := e.app.RequestFriend(ctx, c.c, a.ID); err != nil {
			t.Fatal(err)
		}
		f, err := e.app.RequestFriend(ctx, a.c, c.ID)
		if err != nil || f.State != parley.FriendAccepted {
			t.Fatalf("= %+v, %v", f, err)
		}
	})
	t.Run("Remove", func(t *testing.T) {
		if err := e.app.RemoveFriend(ctx, b.c, a.ID); err != nil {
			t.Fatal(err)
		}
		wantCode(t, e.app.RemoveFriend(ctx, b.c, a.ID), parley.ENOTFOUND)
		if st, _ := e.store.FriendState(ctx, a.ID, b.ID); st != "" {
			t.Fatalf("edge left: %q", st)
		}
	})
	t.Run("Decline", func(t *testing.T) {
		if _, err := e.app.RequestFriend(ctx, b.c, a.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.app.RemoveFriend(ctx, a.c, b.ID); err != nil {
			t.Fatal(err)
		}
		if fs, _ := e.app.Friends(ctx, b.c); len(fs) != 0 {
			t.Fatalf("declined request still listed: %+v", fs)
		}
	})
	t.Run("BlockEndsFriendshipAndRequests", func(t *testing.T) {
		if err := e.app.Block(ctx, a.c, c.ID); err != nil {
			t.Fatal(err)
		}
		if fs, _ := e.app.Friends(ctx, c.c); len(fs) != 0 {
			t.Fatalf("friendship survived the block: %+v", fs)
		}
		_, err := e.app.RequestFriend(ctx, c.c, a.ID)
		wantCode(t, err, parley.EFORBIDDEN)
		ids, _ := e.app.BlockedUsers(ctx, a.c)
		if len(ids) != 1 || ids[0] != c.ID {
			t.Fatalf("blocked = %v", ids)
		}
		if err := e.app.Unblock(ctx, a.c, c.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.app.RequestFriend(ctx, c.c, a.ID); err != nil {
			t.Fatalf("after unblock: %v", err)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		_, err := e.app.RequestFriend(ctx, a.c, a.ID)
		wantCode(t, err, parley.EINVALID)
		_, err = e.app.RequestFriend(ctx, a.c, 999999)
		wantCode(t, err, parley.ENOTFOUND)
		wantCode(t, e.app.Block(ctx, a.c, 999999), parley.ENOTFOUND)
	})
}

func TestPresence(t *testing.T) {
	e := MustApp(t, app.Config{})
	ctx := context.Background()
	a, b, stranger := e.MustUser(t), e.MustUser(t), e.MustUser(t)
	e.MustDirect(t, a, b)
	evB, evS := e.Watch(t, b), e.Watch(t, stranger)
	if err := e.app.Connected(ctx, a.c); err != nil {
		t.Fatal(err)
	}
	if err := e.app.Connected(ctx, a.c); err != nil {
		t.Fatal(err)
	}
	if n := len(evB.named(parley.EventPresence)); n != 1 {
		t.Fatalf("presence events at b = %d, want 1 (second connection is no news)", n)
	}
	if n := len(evS.named(parley.EventPresence)); n != 0 {
		t.Fatalf("a stranger learned a's presence")
	}
	st, err := e.app.Presence(ctx, b.c, []parley.ID{a.ID, stranger.ID})
	if err != nil || !st[0].Online || st[1].Online {
		t.Fatalf("Presence = %+v, %v", st, err)
	}
	if hidden, _ := e.app.Presence(ctx, stranger.c, []parley.ID{a.ID}); hidden[0].Online {
		t.Fatal("a stranger sees a online")
	}
	e.app.Disconnected(ctx, a.c)
	e.app.Disconnected(ctx, a.c)
	got := evB.named(parley.EventPresence)
	if len(got) != 2 {
		t.Fatalf("presence events = %d", len(got))
	}
	st, _ = e.app.Presence(ctx, b.c, []parley.ID{a.ID})
	if st[0].Online || st[0].LastSeen == nil {
		t.Fatalf("after disconnect = %+v", st[0])
	}
}
