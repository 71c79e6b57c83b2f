package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/app"
)

// mustAccount registers handle (password "password-"+handle) and logs it
// in on n devices.
func mustAccount(tb testing.TB, e *env, handle string, n int) []*parley.Session {
	tb.Helper()
	ctx := context.Background()
	if _, err := e.app.Register(ctx, parley.RegisterRequest{Handle: handle, Password: "password-" + handle}); err != nil {
		tb.Fatal(err)
	}
	var ss []*parley.Session
	for i := 0; i < n; i++ {
		s, err := e.app.Login(ctx, parley.LoginRequest{Handle: handle, Password: "password-" + handle, DeviceName: "device"})
		if err != nil {
			tb.Fatal(err)
		}
		ss = append(ss, s)
	}
	return ss
}

func callerOf(s *parley.Session) parley.Caller {
	return parley.Caller{UserID: s.User.ID, DeviceID: s.DeviceID}
}

func wantMessage(tb testing.TB, err error, code, msg string) {
	tb.Helper()
	if parley.ErrorCode(err) != code || parley.ErrorMessage(err) != msg {
		tb.Fatalf("error = %v, want %s %q", err, code, msg)
	}
}

func TestSessionList(t *testing.T) {
	e := MustApp(t, app.Config{})
	ctx := context.Background()
	ss := mustAccount(t, e, "erin", 3)
	other := mustAccount(t, e, "frank", 1)
	me := callerOf(ss[0])

	list, err := e.app.Sessions(ctx, me)
	if err != nil || len(list) != 3 || !list[0].Current || list[1].Current || list[2].Current {
		t.Fatalf("Sessions = %+v, %v", list, err)
	}
	t.Run("ErrNotMine", func(t *testing.T) {
		wantCode(t, e.app.RevokeSession(ctx, me, other[0].DeviceID), parley.ENOTFOUND)
		if _, err := e.app.Authenticate(ctx, other[0].Token); err != nil {
			t.Fatalf("another user's session was ended: %v", err)
		}
	})
	t.Run("RevokeOne", func(t *testing.T) {
		ev := e.Watch(t, &user{User: ss[0].User})
		if err := e.app.RevokeSession(ctx, me, ss[1].DeviceID); err != nil {
			t.Fatal(err)
		}
		wantMessage(t, func() error { _, err := e.app.Authenticate(ctx, ss[1].Token); return err }(), parley.EUNAUTHORIZED, "session is not valid")
		if got := ev.named(parley.EventRevoke); len(got) != 1 || got[0].DeviceID != ss[1].DeviceID {
			t.Fatalf("revoke notices = %+v", got)
		}
		wantCode(t, e.app.RevokeSession(ctx, me, ss[1].DeviceID), parley.ENOTFOUND)
		ends, _, err := e.app.EndedSessions(ctx, time.Time{})
		if err != nil || len(ends) != 1 || ends[0].DeviceID != ss[1].DeviceID || ends[0].Reason != parley.EndRevoked {
			t.Fatalf("EndedSessions = %+v, %v", ends, err)
		}
	})
	t.Run("RevokeOthers", func(t *testing.T) {
		n, err := e.app.RevokeOtherSessions(ctx, me)
		if err != nil || n != 1 {
			t.Fatalf("RevokeOtherSessions = %d, %v", n, err)
		}
		if _, err := e.app.Authenticate(ctx, ss[2].Token); parley.ErrorCode(err) != parley.EUNAUTHORIZED {
			t.Fatalf("revoked session authenticates: %v", err)
		}
		if _, err := e.app.Authenticate(ctx, ss[0].Token); err != nil {
			t.Fatalf("current session ended: %v", err)
		}
		list, _ := e.app.Sessions(ctx, me)
		if len(list) != 1 || list[0].ID != ss[0].DeviceID {
			t.Fatalf("Sessions after = %+v", list)
		}
	})
}

func TestChangePassword(t *testing.T) {
	e := MustApp(t, app.Config{})
	ctx := context.Background()
	ss := mustAccount(t, e, "gina", 2)
	me := callerOf(ss[0])
	t.Run("ErrWrongOld", func(t *testing.T) {
		err := e.app.ChangePassword(ctx, me, parley.ChangePasswordRequest{OldPassword: "not-the-password", NewPassword: "a new password"})
		wantCode(t, err, parley.EUNAUTHORIZED)
	})
	t.Run("ErrNewTooShort", func(t *testing.T) {
		err := e.app.ChangePassword(ctx, me, parley.ChangePasswordRequest{OldPassword: "password-gina", NewPassword: "short"})
		wantCode(t, err, parley.EINVALID)
	})
	t.Run("OK", func(t *testing.T) {
		if err := e.app.ChangePassword(ctx, me, parley.ChangePasswordRequest{OldPassword: "password-gina", NewPassword: "a new password"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.app.Authenticate(ctx, ss[0].Token); err != nil {
			t.Fatalf("the session that changed the password ended: %v", err)
		}
		_, err := e.app.Authenticate(ctx, ss[1].Token)
		wantCode(t, err, parley.EUNAUTHORIZED)
		_, err = e.app.Login(ctx, parley.LoginRequest{Handle: "gina", Password: "password-gina"})
		wantCode(t, err, parley.EUNAUTHORIZED)
		if _, err := e.app.Login(ctx, parley.LoginRequest{Handle: "gina", Password: "a new password"}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSessionExpiry(t *testing.T) {
	ctx := context.Background()
	t.Run("Idle", func(t *testing.T) {
		e := MustApp(t, app.Config{SessionIdleTimeout: time.Hour})
		ss := mustAccount(t, e, "hank", 2)
		for i := 0; i < 5; i++ { // used every 50 minutes: stays alive
			e.clock.add(50 * time.Minute)
			if _, err := e.app.Authenticate(ctx, ss[0].Token); err != nil {
				t.Fatalf("session in use, after %d uses: %v", i, err)
			}
		}
		// ss[1] was idle all along; the sweep ends it.
		n, err := e.app.ExpireSessions(ctx)
		if err != nil || n != 1 {
			t.Fatalf("ExpireSessions = %d, %v", n, err)
		}
		_, err = e.app.Authenticate(ctx, ss[1].Token)
		wantMessage(t, err, parley.EUNAUTHORIZED, "session expired")
		// Without the sweep, a request itself finds the session expired.
		e.clock.add(time.Hour + time.Second)
		_, err = e.app.Authenticate(ctx, ss[0].Token)
		wantMessage(t, err, parley.EUNAUTHORIZED, "session expired")
		ends, _, err := e.app.EndedSessions(ctx, time.Time{})
		if err != nil || len(ends) != 1 || ends[0].DeviceID != ss[0].DeviceID || ends[0].Reason != parley.EndExpired {
			t.Fatalf("EndedSessions = %+v, %v", ends, err)
		}
	})
	t.Run("MaxAge", func(t *testing.T) {
		e := MustApp(t, app.Config{SessionIdleTimeout: time.Hour, SessionMaxAge: 3 * time.Hour})
		ss := mustAccount(t, e, "iris", 1)
		for i := 0; i < 6; i++ {
			e.clock.add(30 * time.Minute)
			if _, err := e.app.Authenticate(ctx, ss[0].Token); err != nil {
				t.Fatalf("after %v: %v", time.Duration(i+1)*30*time.Minute, err)
			}
		}
		e.clock.add(time.Minute)
		_, err := e.app.Authenticate(ctx, ss[0].Token)
		wantMessage(t, err, parley.EUNAUTHORIZED, "session expired")
		if list, _ := e.app.Sessions(ctx, callerOf(ss[0])); len(list) != 0 {
			t.Fatalf("expired session listed: %+v", list)
		}
	})
	t.Run("LastSeenCoalesced", func(t *testing.T) {
		e := MustApp(t, app.Config{})
		ss := mustAccount(t, e, "jack", 1)
		created := e.clock.now()
		e.clock.add(30 * time.Second)
		if _, err := e.app.Authenticate(ctx, ss[0].Token); err != nil {
			t.Fatal(err)
		}
		list, _ := e.app.Sessions(ctx, callerOf(ss[0]))
		if !list[0].LastSeenAt.Equal(created) {
			t.Fatalf("last seen moved within a minute: %v", list[0].LastSeenAt)
		}
		e.clock.add(time.Minute)
		if _, err := e.app.Authenticate(ctx, ss[0].Token); err != nil {
			t.Fatal(err)
		}
		list, _ = e.app.Sessions(ctx, callerOf(ss[0]))
		if !list[0].LastSeenAt.Equal(e.clock.now()) {
			t.Fatalf("last seen = %v, want %v", list[0].LastSeenAt, e.clock.now())
		}
	})
}

func TestRegistration(t *testing.T) {
	ctx := context.Background()
	req := func(h, invite string) parley.RegisterRequest {
		return parley.RegisterRequest{Handle: h, Password: "password-" + h, Invite: invite}
	}
	t.Run("Closed", func(t *testing.T) {
		e := MustApp(t, app.Config{Registration: parley.RegistrationClosed})
		_, err := e.app.Register(ctx, req("kate", ""))
		wantCode(t, err, parley.EFORBIDDEN)
		if _, err := e.app.CreateUser(ctx, req("kate", "")); err != nil {
			t.Fatalf("an operator cannot create a user: %v", err)
		}
	})
	t.Run("Invite", func(t *testing.T) {
		e := MustApp(t, app.Config{Registration: parley.RegistrationInvite})
		_, err := e.app.Register(ctx, req("liam", ""))
		wantCode(t, err, parley.EFORBIDDEN)
		_, err = e.app.Register(ctx, req("liam", "NOPE-NOPE"))
		wantCode(t, err, parley.EFORBIDDEN)
		single, err := e.app.CreateInvite(ctx, 1, time.Hour, "for liam")
		if err != nil {
			t.Fatal(err)
		}
		// A failed sign-up does not spend the invite.
		_, err = e.app.Register(ctx, req("x", single.Code))
		wantCode(t, err, parley.EINVALID)
		if _, err := e.app.Register(ctx, req("liam", single.Code)); err != nil {
			t.Fatal(err)
		}
		_, err = e.app.Register(ctx, req("mona", single.Code))
		wantCode(t, err, parley.EFORBIDDEN)

		multi, err := e.app.CreateInvite(ctx, 2, 0, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range []string{"nina", "omar"} {
			// Codes are accepted however they are typed.
			if _, err := e.app.Register(ctx, req(h, " "+string([]rune(multi.Code))+" ")); err != nil {
				t.Fatal(err)
			}
		}
		_, err = e.app.Register(ctx, req("pete", multi.Code))
		wantCode(t, err, parley.EFORBIDDEN)

		expiring, _ := e.app.CreateInvite(ctx, 5, time.Hour, "")
		e.clock.add(time.Hour)
		_, err = e.app.Register(ctx, req("pete", expiring.Code))
		wantCode(t, err, parley.EFORBIDDEN)

		revoked, _ := e.app.CreateInvite(ctx, 5, 0, "")
		if err := e.app.RevokeInvite(ctx, revoked.ID); err != nil {
			t.Fatal(err)
		}
		_, err = e.app.Register(ctx, req("pete", revoked.Code))
		wantCode(t, err, parley.EFORBIDDEN)

		invs, err := e.app.Invites(ctx)
		if err != nil || len(invs) != 4 || invs[3].Uses != 1 || invs[2].Uses != 2 || invs[0].RevokedAt == nil {
			t.Fatalf("Invites = %+v, %v", invs, err)
		}
	})
	t.Run("Open", func(t *testing.T) {
		e := MustApp(t, app.Config{})
		if _, err := e.app.Register(ctx, req("quin", "")); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDisableUser(t *testing.T) {
	e := MustApp(t, app.Config{})
	ctx := context.Background()
	ss := mustAccount(t, e, "rosa", 2)
	if err := e.app.DisableUser(ctx, ss[0].User.ID); err != nil {
		t.Fatal(err)
	}
	for _, s := range ss {
		_, err := e.app.Authenticate(ctx, s.Token)
		wantCode(t, err, parley.EUNAUTHORIZED)
	}
	_, err := e.app.Login(ctx, parley.LoginRequest{Handle: "rosa", Password: "password-rosa"})
	wantCode(t, err, parley.EFORBIDDEN)
	ends, _, err := e.app.EndedSessions(ctx, time.Time{})
	if err != nil || len(ends) != 2 || ends[0].Reason != parley.EndDisabled {
		t.Fatalf("EndedSessions = %+v, %v", ends, err)
	}
	if err := e.app.EnableUser(ctx, ss[0].User.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.app.Login(ctx, parley.LoginRequest{Handle: "rosa", Password: "password-rosa"}); err != nil {
		t.Fatal(err)
	}
}

func TestDeleteAccount(t *testing.T) {
	e := MustApp(t, app.Config{})
	ctx := context.Background()
	alice, bob, carol := e.MustUser(t), e.MustUser(t), e.MustUser(t)
	direct := e.MustDirect(t, alice, bob)
	group := e.MustGroup(t, alice, bob, carol)
	sent := e.MustSend(t, alice, direct, "hello bob")
	e.MustSend(t, alice, group, "hello all")
	if _, err := e.app.RequestFriend(ctx, alice.c, bob.ID); err != nil {
		t.Fatal(err)
	}

	wantCode(t, e.app.DeleteAccount(ctx, alice.c, "wrong password"), parley.EUNAUTHORIZED)
	if err := e.app.DeleteAccount(ctx, alice.c, "password-"+alice.Handle); err != nil {
		t.Fatal(err)
	}
	t.Run("SessionsEnded", func(t *testing.T) {
		_, err := e.app.Login(ctx, parley.LoginRequest{Handle: alice.Handle, Password: "password-" + alice.Handle})
		wantCode(t, err, parley.EUNAUTHORIZED)
		if list, _ := e.app.Sessions(ctx, alice.c); len(list) != 0 {
			t.Fatalf("sessions left: %+v", list)
		}
	})
	t.Run("OthersHistoryKept", func(t *testing.T) {
		h, err := e.app.History(ctx, bob.c, direct, parley.HistoryQuery{Limit: 50})
		if err != nil || len(h) != 1 || h[0].ID != sent.ID || h[0].SenderID != alice.ID || h[0].Body != "hello bob" {
			t.Fatalf("bob's history = %+v, %v", h, err)
		}
		u, err := e.app.User(ctx, bob.c, alice.ID)
		if err != nil || !u.Deleted || u.DisplayName != parley.DeletedName || u.Handle != "" || u.Bio != "" {
			t.Fatalf("deleted sender = %+v, %v", u, err)
		}
		v, err := e.app.Conversation(ctx, bob.c, direct)
		if err != nil || v.RecipientName != parley.DeletedName {
			t.Fatalf("bob's direct conversation = %+v, %v", v, err)
		}
	})
	t.Run("GroupsLeftOwnershipHandedOver", func(t *testing.T) {
		v, err := e.app.Conversation(ctx, bob.c, group)
		if err != nil {
			t.Fatal(err)
		}
		owners := 0
		for _, m := range v.Members {
			if m.UserID == alice.ID {
				t.Fatalf("the deleted account is still a member: %+v", v.Members)
			}
			if m.Role == parley.RoleOwner {
				owners++
			}
		}
		if owners != 1 {
			t.Fatalf("group has %d owners: %+v", owners, v.Members)
		}
		h, err := e.app.History(ctx, carol.c, group, parley.HistoryQuery{Limit: 50})
		if err != nil || len(h) == 0 {
			t.Fatalf("carol's group history = %+v, %v", h, err)
		}
	})
	t.Run("FriendshipsGone", func(t *testing.T) {
		fs, err := e.app.Friends(ctx, bob.c)
		if err != nil || len(fs) != 0 {
			t.Fatalf("bob's friends = %+v, %v", fs, err)
		}
	})
	t.Run("HandleReusable", func(t *testing.T) {
		u, err := e.app.Register(ctx, parley.RegisterRequest{Handle: alice.Handle, Password: "another password"})
		if err != nil || u.ID == alice.ID {
			t.Fatalf("register the released handle = %+v, %v", u, err)
		}
		h, _ := e.app.History(ctx, bob.c, direct, parley.HistoryQuery{Limit: 50})
		if h[0].SenderID != alice.ID {
			t.Fatal("the old messages moved to the new account")
		}
	})
	t.Run("ErrAlreadyDeleted", func(t *testing.T) {
		wantCode(t, e.app.DeleteUser(ctx, alice.ID), parley.ENOTFOUND)
	})
}

func TestDeleteAccountMedia(t *testing.T) {
	e := mustMediaApp(t, app.Config{})
	ctx := context.Background()
	alice, bob := e.MustUser(t), e.MustUser(t)
	conv := e.MustDirect(t, alice, bob)
	sentPic, draftPic := MustPNG(t, 40, 30), MustPNG(t, 50, 20)
	sent := e.MustUpload(t, alice, sentPic, "sent.png")
	draft := e.MustUpload(t, alice, draftPic, "draft.png")
	if _, err := sendMedia(e, alice, conv, parley.ImageMessage, sent.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.app.DeleteAccount(ctx, alice.c, "password-"+alice.Handle); err != nil {
		t.Fatal(err)
	}
	_, err := e.store.Media(ctx, draft.ID)
	wantCode(t, err, parley.ENOTFOUND)
	if e.blobExists(t, draftPic) {
		t.Error("the blob of media no message carries was kept")
	}
	e.wantReadable(t, bob, sent.ID, sentPic)
	if !e.blobExists(t, sentPic) {
		t.Error("the blob of media a message carries was deleted")
	}
}
