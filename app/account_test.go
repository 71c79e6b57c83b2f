package app_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/app"
)

func TestRegister(t *testing.T) {
	e := MustApp(t, app.Config{})
	ctx := context.Background()
	if _, err := e.app.Register(ctx, parley.RegisterRequest{Handle: "Alice", Password: "long enough"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		req  parley.RegisterRequest
		code string
	}{
		{"ErrHandleTaken", parley.RegisterRequest{Handle: "alice", Password: "long enough"}, parley.ECONFLICT},
		{"ErrHandleShort", parley.RegisterRequest{Handle: "ab", Password: "long enough"}, parley.EINVALID},
		{"ErrHandleChars", parley.RegisterRequest{Handle: "a b", Password: "long enough"}, parley.EINVALID},
		{"ErrHandleLeadingDot", parley.RegisterRequest{Handle: ".abc", Password: "long enough"}, parley.EINVALID},
		{"ErrHandleLong", parley.RegisterRequest{Handle: strings.Repeat("a", 33), Password: "long enough"}, parley.EINVALID},
		{"ErrPasswordShort", parley.RegisterRequest{Handle: "bob", Password: "short"}, parley.EINVALID},
		{"ErrDisplayNameLong", parley.RegisterRequest{Handle: "carol", Password: "long enough", DisplayName: strings.Repeat("x", 65)}, parley.EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.app.Register(ctx, tc.req)
			wantCode(t, err, tc.code)
		})
	}
}

func TestSessions(t *testing.T) {
	e := MustApp(t, app.Config{})
	ctx := context.Background()
	if _, err := e.app.Register(ctx, parley.RegisterRequest{Handle: "dave", Password: "password-dave"}); err != nil {
		t.Fatal(err)
	}
	s, err := e.app.Login(ctx, parley.LoginRequest{Handle: "DAVE", Password: "password-dave", DeviceName: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("ErrWrongPassword", func(t *testing.T) {
		_, err := e.app.Login(ctx, parley.LoginRequest{Handle: "dave", Password: "password-eve"})
		wantCode(t, err, parley.EUNAUTHORIZED)
	})
	t.Run("ErrUnknownHandle", func(t *testing.T) {
		_, err := e.app.Login(ctx, parley.LoginRequest{Handle: "nobody", Password: "password-eve"})
		wantCode(t, err, parley.EUNAUTHORIZED)
	})
	t.Run("ErrMissingFields", func(t *testing.T) {
		_, err := e.app.Login(ctx, parley.LoginRequest{Handle: "dave"})
		wantCode(t, err, parley.EINVALID)
	})
	t.Run("Authenticate", func(t *testing.T) {
		c, err := e.app.Authenticate(ctx, s.Token)
		if err != nil || c.UserID != s.User.ID || c.DeviceID != s.DeviceID {
			t.Fatalf("Authenticate = %+v, %v", c, err)
		}
		_, err = e.app.Authenticate(ctx, s.Token+"x")
		wantCode(t, err, parley.EUNAUTHORIZED)
		_, err = e.app.Authenticate(ctx, "")
		wantCode(t, err, parley.EUNAUTHORIZED)
	})
	t.Run("LogoutRevokesAndDisconnects", func(t *testing.T) {
		u := &user{User: s.User}
		ev := e.Watch(t, u)
		c := parley.Caller{UserID: s.User.ID, DeviceID: s.DeviceID}
		if err := e.app.Logout(ctx, c); err != nil {
			t.Fatal(err)
		}
		_, err := e.app.Authenticate(ctx, s.Token)
		wantCode(t, err, parley.EUNAUTHORIZED)
		rev := ev.named(parley.EventRevoke)
		if len(rev) != 1 || rev[0].DeviceID != s.DeviceID {
			t.Fatalf("revoke events = %+v", rev)
		}
	})
}

func TestProfile(t *testing.T) {
	e := MustApp(t, app.Config{})
	ctx := context.Background()
	u := e.MustUser(t)
	name, bio, pic := "  Zed  ", "hi", "https://example.com/p.png"
	got, err := e.app.UpdateProfile(ctx, u.c, parley.UserUpdate{DisplayName: &name, Bio: &bio, ProfilePic: &pic})
	if err != nil || got.DisplayName != "Zed" || got.Bio != "hi" || got.ProfilePic != pic {
		t.Fatalf("UpdateProfile = %+v, %v", got, err)
	}
	t.Run("ErrBadPicture", func(t *testing.T) {
		bad := "javascript:alert(1)"
		_, err := e.app.UpdateProfile(ctx, u.c, parley.UserUpdate{ProfilePic: &bad})
		wantCode(t, err, parley.EINVALID)
	})
	t.Run("ErrLongBio", func(t *testing.T) {
		long := strings.Repeat("b", 501)
		_, err := e.app.UpdateProfile(ctx, u.c, parley.UserUpdate{Bio: &long})
		wantCode(t, err, parley.EINVALID)
	})
	t.Run("Search", func(t *testing.T) {
		us, err := e.app.SearchUsers(ctx, u.c, "@USER", 10)
		if err != nil || len(us) != 1 || us[0].ID != u.ID {
			t.Fatalf("SearchUsers = %v, %v", us, err)
		}
		_, err = e.app.SearchUsers(ctx, u.c, " ", 10)
		wantCode(t, err, parley.EINVALID)
	})
	t.Run("ErrUnknownUser", func(t *testing.T) {
		_, err := e.app.User(ctx, u.c, 424242)
		wantCode(t, err, parley.ENOTFOUND)
	})
}

func TestRateLimits(t *testing.T) {
	e := MustApp(t, app.Config{SendRate: app.Rate{PerSecond: 1, Burst: 3}})
	ctx := context.Background()
	a, b := e.MustUser(t), e.MustUser(t)
	conv := e.MustDirect(t, a, b)
	send := func(cmid string) error {
		_, _, err := e.app.Send(ctx, a.c, parley.SendRequest{ConversationID: conv, ClientMsgID: cmid, Body: "x"}, nil)
		return err
	}
	for i := 0; i < 3; i++ {
		if err := send(string(rune('a' + i))); err != nil {
			t.Fatalf("send %d within burst: %v", i, err)
		}
	}
	wantCode(t, send("d"), parley.ETOOMANY)
	if err := e.app.MarkRead(ctx, b.c, conv, 1); err != nil {
		t.Fatalf("receipts are not sends: %v", err)
	}
	e.clock.add(2 * time.Second)
	if err := send("e"); err != nil {
		t.Fatalf("after refill: %v", err)
	}
}

func TestLoginThrottle(t *testing.T) {
	e := MustApp(t, app.Config{LoginRate: app.Rate{PerSecond: 0.01, Burst: 20}, LoginFailures: 3,
		LoginBackoff: time.Second, LoginBackoffMax: time.Minute})
	owner := e.MustUser(t)
	at := func(addr string) context.Context {
		return parley.WithClientAddr(context.Background(), netip.MustParseAddr(addr))
	}
	login := func(ctx context.Context, password string) error {
		_, err := e.app.Login(ctx, parley.LoginRequest{Handle: owner.Handle, Password: password})
		return err
	}
	attacker, home := at("203.0.113.7"), at("198.51.100.1")
	for i := 0; i < 3; i++ {
		wantCode(t, login(attacker, "wrong-password"), parley.EUNAUTHORIZED)
	}
	t.Run("ErrTooManyWithBackoff", func(t *testing.T) {
		wantCode(t, login(attacker, "wrong-password"), parley.EUNAUTHORIZED) // the 4th starts the back-off
		err := login(attacker, "password-"+owner.Handle)
		wantCode(t, err, parley.ETOOMANY)
		if ra := parley.RetryAfterOf(err); ra <= 0 || ra > time.Minute {
			t.Fatalf("RetryAfter = %v", ra)
		}
		e.clock.add(time.Second)
		wantCode(t, login(attacker, "wrong-password"), parley.EUNAUTHORIZED)
		e.clock.add(time.Second) // the back-off doubled
		wantCode(t, login(attacker, "wrong-password"), parley.ETOOMANY)
	})
	t.Run("OwnerElsewhereNotLockedOut", func(t *testing.T) {
		if err := login(home, "password-"+owner.Handle); err != nil {
			t.Fatalf("owner's login from its own address = %v", err)
		}
	})
	t.Run("SuccessStartsOver", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			wantCode(t, login(home, "wrong-password"), parley.EUNAUTHORIZED)
		}
		if err := login(home, "password-"+owner.Handle); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			wantCode(t, login(home, "wrong-password"), parley.EUNAUTHORIZED)
		}
	})
	t.Run("ErrTooManyPerAddress", func(t *testing.T) {
		other := at("192.0.2.55")
		for i := 0; i < 20; i++ {
			_, err := e.app.Login(other, parley.LoginRequest{Handle: fmt.Sprintf("nobody%d", i), Password: "wrong-password"})
			wantCode(t, err, parley.EUNAUTHORIZED)
		}
		_, err := e.app.Login(other, parley.LoginRequest{Handle: "nobody-else", Password: "wrong-password"})
		wantCode(t, err, parley.ETOOMANY)
		if err := login(home, "password-"+owner.Handle); err != nil {
			t.Fatalf("another address is not limited: %v", err)
		}
	})
}

func TestRegisterRate(t *testing.T) {
	e := MustApp(t, app.Config{RegisterRate: app.Rate{PerSecond: 0.1, Burst: 2}})
	ctx := parley.WithClientAddr(context.Background(), netip.MustParseAddr("2001:db8::1"))
	reg := func(ctx context.Context, h string) error {
		_, err := e.app.Register(ctx, parley.RegisterRequest{Handle: h, Password: "password-" + h})
		return err
	}
	for i := 0; i < 2; i++ {
		if err := reg(ctx, fmt.Sprintf("reg%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// Another address in the same /64 shares the allowance.
	sibling := parley.WithClientAddr(context.Background(), netip.MustParseAddr("2001:db8::2"))
	err := reg(sibling, "reg2")
	wantCode(t, err, parley.ETOOMANY)
	if parley.RetryAfterOf(err) <= 0 {
		t.Fatal("too_many without a RetryAfter")
	}
	if err := reg(parley.WithClientAddr(context.Background(), netip.MustParseAddr("2001:db8:1::1")), "reg3"); err != nil {
		t.Fatalf("another network: %v", err)
	}
	e.clock.add(10 * time.Second)
	if err := reg(ctx, "reg4"); err != nil {
		t.Fatalf("after refill: %v", err)
	}
}
