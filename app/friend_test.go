package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/app"
	"github.com/parleyhq/parley/argon2id"
	"github.com/parleyhq/parley/inmem"
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
	say := func(u *user, conv parley.ID, cmid string) {
		t.Helper()
		if _, _, err := e.app.Send(ctx, u.c, parley.SendRequest{ConversationID: conv, ClientMsgID: cmid, Body: "hi"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	ab := e.MustDirect(t, a, b)
	say(a, ab, "ab1")
	say(b, ab, "ab2")
	// The stranger opens a chat with a and writes; a never answers.
	say(stranger, e.MustDirect(t, stranger, a), "s1")
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
		t.Fatalf("a stranger with a one-sided chat learned a's presence")
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
	wentAt := e.clock.now()
	st, _ = e.app.Presence(ctx, b.c, []parley.ID{a.ID})
	if st[0].Online || st[0].LastSeen == nil || !st[0].LastSeen.Equal(wentAt) {
		t.Fatalf("after disconnect = %+v, want offline, last seen %v", st[0], wentAt)
	}
	t.Run("LastSeenOutlivesTheNode", func(t *testing.T) {
		// Another node on the same store (or this one restarted): its
		// presence registry never saw a, the store did.
		other, err := app.New(ctx, app.Config{}, app.Deps{Store: e.store, Bus: inmem.NewBus(), Presence: inmem.NewPresence(), Clock: e.clock.now,
			Hasher: argon2id.New(argon2id.Params{MemoryKiB: 64, Time: 1, Threads: 1})})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		st, err := other.Presence(ctx, b.c, []parley.ID{a.ID})
		if err != nil || st[0].Online || st[0].LastSeen == nil || !st[0].LastSeen.Equal(wentAt) {
			t.Fatalf("Presence on another node = %+v, %v; want last seen %v", st, err, wentAt)
		}
	})
	t.Run("BlockedNever", func(t *testing.T) {
		if err := e.app.Block(ctx, a.c, b.ID); err != nil {
			t.Fatal(err)
		}
		before := len(evB.named(parley.EventPresence))
		e.app.Connected(ctx, a.c)
		if st, _ := e.app.Presence(ctx, b.c, []parley.ID{a.ID}); st[0].Online || st[0].LastSeen != nil {
			t.Fatalf("a blocked peer sees a: %+v", st[0])
		}
		if n := len(evB.named(parley.EventPresence)); n != before {
			t.Fatal("a blocked peer was told a came online")
		}
	})
}

func TestBlocksApplyToGroups(t *testing.T) {
	e := MustApp(t, app.Config{})
	ctx := context.Background()
	owner, blocker, blocked, friend := e.MustUser(t), e.MustUser(t), e.MustUser(t), e.MustUser(t)
	if err := e.app.Block(ctx, blocker.c, owner.c.UserID); err != nil {
		t.Fatal(err)
	}
	if err := e.app.Block(ctx, owner.c, blocked.ID); err != nil {
		t.Fatal(err)
	}
	create := func(ids ...parley.ID) error {
		_, _, err := e.app.CreateConversation(ctx, owner.c, parley.CreateConversationRequest{Title: "g", MemberIDs: ids})
		return err
	}
	var texts []string
	t.Run("ErrForbiddenOnCreate", func(t *testing.T) {
		for _, u := range []*user{blocker, blocked} {
			err := create(friend.ID, u.ID)
			wantCode(t, err, parley.EFORBIDDEN)
			texts = append(texts, parley.ErrorMessage(err))
		}
	})
	t.Run("ErrForbiddenOnAdd", func(t *testing.T) {
		v, _, err := e.app.CreateConversation(ctx, owner.c, parley.CreateConversationRequest{Title: "g", MemberIDs: []parley.ID{friend.ID}})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range []*user{blocker, blocked} {
			_, err := e.app.AddMembers(ctx, owner.c, v.ID, []parley.ID{u.ID})
			wantCode(t, err, parley.EFORBIDDEN)
			texts = append(texts, parley.ErrorMessage(err))
		}
		if ms, _ := e.store.Members(ctx, v.ID); len(ms) != 2 {
			t.Fatalf("members = %d, want 2", len(ms))
		}
	})
	t.Run("OneNeutralText", func(t *testing.T) {
		for _, s := range texts[1:] {
			if s != texts[0] || strings.Contains(s, "block") {
				t.Fatalf("refusal texts %q differ or name a block", texts)
			}
		}
		_, err := e.app.RequestFriend(ctx, blocked.c, owner.ID)
		_, err2 := e.app.RequestFriend(ctx, owner.c, blocked.ID)
		if parley.ErrorMessage(err) != parley.ErrorMessage(err2) || strings.Contains(parley.ErrorMessage(err), "block") {
			t.Fatalf("friend refusals %q / %q", parley.ErrorMessage(err), parley.ErrorMessage(err2))
		}
	})
}
