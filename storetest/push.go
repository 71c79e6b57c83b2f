package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/parleyhq/parley"
)

// testPush runs the push registration cases.
func testPush(t *testing.T, open Opener) {
	t.Run("Registrations", func(t *testing.T) { testPushRegistrations(t, open(t)) })
	t.Run("PushPreviews", func(t *testing.T) { testPushPreviews(t, open(t)) })
}

func webSub(u *parley.User, d *parley.Device, endpoint string) *parley.PushRegistration {
	return &parley.PushRegistration{UserID: u.ID, DeviceID: d.ID, Kind: parley.PushWeb, Endpoint: endpoint, P256dh: "key", Auth: "auth", CreatedAt: epoch}
}

func testPushRegistrations(t *testing.T, s parley.Store) {
	ctx := context.Background()
	a, b := MustUser(t, s), MustUser(t, s)
	phone, laptop, bd := MustDevice(t, s, a), MustDevice(t, s, a), MustDevice(t, s, b)
	reg := webSub(a, phone, "https://push.example/1")
	created, err := s.SavePushRegistration(ctx, reg)
	if err != nil || !created || reg.ID == 0 {
		t.Fatalf("save = %v, %v, id %d", created, err, reg.ID)
	}
	apns := &parley.PushRegistration{UserID: a.ID, DeviceID: phone.ID, Kind: parley.PushAPNs, Endpoint: "https://push.example/1", CreatedAt: epoch}
	if created, err := s.SavePushRegistration(ctx, apns); err != nil || !created || apns.ID == reg.ID {
		t.Fatalf("same endpoint of another kind = %v, %v", created, err)
	}
	list := func(u *parley.User) []*parley.PushRegistration {
		t.Helper()
		rs, err := s.PushRegistrations(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	t.Run("RoundTrip", func(t *testing.T) {
		rs := list(a)
		if len(rs) != 2 || rs[0].ID != reg.ID || rs[1].ID != apns.ID {
			t.Fatalf("registrations = %+v", rs)
		}
		r := rs[0]
		if r.UserID != a.ID || r.DeviceID != phone.ID || r.Kind != parley.PushWeb || r.Endpoint != "https://push.example/1" ||
			r.P256dh != "key" || r.Auth != "auth" || !r.CreatedAt.Equal(epoch) {
			t.Fatalf("registration = %+v", r)
		}
	})
	t.Run("SameAddressReplaces", func(t *testing.T) {
		again := webSub(a, laptop, "https://push.example/1")
		again.P256dh, again.CreatedAt = "key2", epoch.Add(time.Hour)
		created, err := s.SavePushRegistration(ctx, again)
		if err != nil || created || again.ID != reg.ID {
			t.Fatalf("re-register = %v, %v, id %d want %d", created, err, again.ID, reg.ID)
		}
		rs := list(a)
		if len(rs) != 2 || rs[0].DeviceID != laptop.ID || rs[0].P256dh != "key2" || !rs[0].CreatedAt.Equal(epoch.Add(time.Hour)) {
			t.Fatalf("registrations = %+v", rs)
		}
	})
	t.Run("ErrConflictForAnotherUser", func(t *testing.T) {
		taken := webSub(b, bd, "https://push.example/1")
		_, err := s.SavePushRegistration(ctx, taken)
		wantCode(t, err, parley.ECONFLICT)
		if rs := list(a); len(rs) != 2 || rs[0].ID != reg.ID || rs[0].DeviceID != laptop.ID {
			t.Fatalf("a's registration moved: %+v", rs)
		}
		if rs := list(b); len(rs) != 0 {
			t.Fatalf("b has %+v", rs)
		}
		// Once a lets it go (logs out), b may register the address.
		if err := s.DeletePushRegistration(ctx, reg.ID); err != nil {
			t.Fatal(err)
		}
		if created, err := s.SavePushRegistration(ctx, taken); err != nil || !created {
			t.Fatalf("register a freed address = %v, %v", created, err)
		}
	})
	t.Run("ErrUnknownDevice", func(t *testing.T) {
		_, err := s.SavePushRegistration(ctx, webSub(a, &parley.Device{ID: 999999}, "https://push.example/x"))
		wantCode(t, err, parley.ENOTFOUND)
		_, err = s.SavePushRegistration(ctx, webSub(a, bd, "https://push.example/y")) // not a's device
		wantCode(t, err, parley.ENOTFOUND)
		gone := MustDevice(t, s, a)
		if err := s.RevokeDevice(ctx, gone.ID, epoch, ""); err != nil {
			t.Fatal(err)
		}
		_, err = s.SavePushRegistration(ctx, webSub(a, gone, "https://push.example/z"))
		wantCode(t, err, parley.ENOTFOUND)
	})
	t.Run("Delete", func(t *testing.T) {
		if err := s.DeletePushRegistration(ctx, apns.ID); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.DeletePushRegistration(ctx, apns.ID), parley.ENOTFOUND)
		if rs := list(a); len(rs) != 0 {
			t.Fatalf("left %+v", rs)
		}
	})
	t.Run("DeleteByDevice", func(t *testing.T) {
		for _, e := range []string{"https://push.example/2", "https://push.example/3"} {
			if _, err := s.SavePushRegistration(ctx, webSub(a, phone, e)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.SavePushRegistration(ctx, webSub(a, laptop, "https://push.example/4")); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteDevicePushRegistrations(ctx, phone.ID); err != nil {
			t.Fatal(err)
		}
		if rs := list(a); len(rs) != 1 || rs[0].DeviceID != laptop.ID {
			t.Fatalf("left %+v", rs)
		}
		if err := s.DeleteDevicePushRegistrations(ctx, phone.ID); err != nil {
			t.Fatalf("deleting nothing: %v", err)
		}
	})
}

func testPushPreviews(t *testing.T, s parley.Store) {
	ctx := context.Background()
	u := &parley.User{Handle: "previewer", CreatedAt: epoch, PushPreviews: true}
	if err := s.CreateUser(ctx, u, "h"); err != nil {
		t.Fatal(err)
	}
	off := &parley.User{Handle: "quiet", CreatedAt: epoch}
	if err := s.CreateUser(ctx, off, "h"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.User(ctx, u.ID); err != nil || !got.PushPreviews {
		t.Fatalf("User = %+v, %v", got, err)
	}
	if got, err := s.User(ctx, off.ID); err != nil || got.PushPreviews {
		t.Fatalf("User = %+v, %v", got, err)
	}
	no := false
	got, err := s.UpdateUser(ctx, u.ID, parley.UserUpdate{PushPreviews: &no})
	if err != nil || got.PushPreviews {
		t.Fatalf("UpdateUser = %+v, %v", got, err)
	}
	if got, _, err := s.UserCredentials(ctx, "previewer"); err != nil || got.PushPreviews {
		t.Fatalf("UserCredentials = %+v, %v", got, err)
	}
	bio := "unrelated"
	if got, err := s.UpdateUser(ctx, u.ID, parley.UserUpdate{Bio: &bio}); err != nil || got.PushPreviews {
		t.Fatalf("an update without the setting changed it: %+v, %v", got, err)
	}
}
