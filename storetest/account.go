package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/parleyhq/parley"
)

func endedIDs(ends []parley.SessionEnd) []parley.ID {
	var ids []parley.ID
	for _, e := range ends {
		ids = append(ids, e.DeviceID)
	}
	slices.Sort(ids)
	return ids
}

func testSessions(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	u, other := MustUser(t, s), MustUser(t, s)
	a, b, c := MustDevice(t, s, u), MustDevice(t, s, u), MustDevice(t, s, u)
	o := MustDevice(t, s, other)

	t.Run("LastSeen", func(t *testing.T) {
		if !a.LastSeenAt.Equal(epoch) {
			t.Fatalf("new device LastSeenAt = %v, want %v", a.LastSeenAt, epoch)
		}
		if err := s.TouchDevices(ctx, []parley.ID{a.ID, b.ID}, epoch.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		// Never backwards.
		if err := s.TouchDevices(ctx, []parley.ID{a.ID}, epoch.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		d, err := s.Device(ctx, a.ID)
		if err != nil || !d.LastSeenAt.Equal(epoch.Add(time.Minute)) || d.RevokedAt != nil {
			t.Fatalf("Device = %+v, %v", d, err)
		}
		d, err = s.Device(ctx, c.ID)
		if err != nil || !d.LastSeenAt.Equal(epoch) {
			t.Fatalf("untouched Device = %+v, %v", d, err)
		}
		_, err = s.Device(ctx, 999999)
		wantCode(t, err, parley.ENOTFOUND)
	})
	t.Run("RevokeOthers", func(t *testing.T) {
		at := epoch.Add(2 * time.Hour)
		ends, err := s.RevokeDevices(ctx, u.ID, a.ID, at, parley.EndPasswordChanged)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := endedIDs(ends), []parley.ID{b.ID, c.ID}; !slices.Equal(got, want) {
			t.Fatalf("RevokeDevices ended %v, want %v", got, want)
		}
		ds, err := s.Devices(ctx, u.ID)
		if err != nil || len(ds) != 1 || ds[0].ID != a.ID {
			t.Fatalf("Devices = %v, %v", ds, err)
		}
		d, _ := s.Device(ctx, b.ID)
		if d.EndReason != parley.EndPasswordChanged || !d.RevokedAt.Equal(at) {
			t.Fatalf("revoked device = %+v", d)
		}
		if ds, _ := s.Devices(ctx, other.ID); len(ds) != 1 {
			t.Fatalf("another user's devices were revoked: %v", ds)
		}
		again, err := s.RevokeDevices(ctx, u.ID, a.ID, at, parley.EndRevoked)
		if err != nil || len(again) != 0 {
			t.Fatalf("second RevokeDevices = %v, %v", again, err)
		}
	})
	t.Run("Feed", func(t *testing.T) {
		ends, err := s.EndedSessions(ctx, epoch.Add(2*time.Hour), 100)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := endedIDs(ends), []parley.ID{b.ID, c.ID}; !slices.Equal(got, want) {
			t.Fatalf("EndedSessions = %v, want %v", got, want)
		}
		if ends[0].UserID != u.ID || ends[0].Reason != parley.EndPasswordChanged {
			t.Fatalf("EndedSessions[0] = %+v", ends[0])
		}
		ends, err = s.EndedSessions(ctx, epoch.Add(2*time.Hour+time.Microsecond), 100)
		if err != nil || len(ends) != 0 {
			t.Fatalf("EndedSessions after = %v, %v", ends, err)
		}
		ends, err = s.EndedSessions(ctx, epoch, 1)
		if err != nil || len(ends) != 1 {
			t.Fatalf("EndedSessions limit 1 = %v, %v", ends, err)
		}
	})
	t.Run("Expire", func(t *testing.T) {
		u2 := MustUser(t, s)
		fresh, stale := MustDevice(t, s, u2), MustDevice(t, s, u2)
		if err := s.TouchDevices(ctx, []parley.ID{fresh.ID}, epoch.Add(10*time.Hour)); err != nil {
			t.Fatal(err)
		}
		at := epoch.Add(11 * time.Hour)
		ends, err := s.ExpireDevices(ctx, epoch.Add(5*time.Hour), time.Time{}, at)
		if err != nil {
			t.Fatal(err)
		}
		// a (of the first user) and o were last seen long ago too.
		if got, want := endedIDs(ends), []parley.ID{a.ID, o.ID, stale.ID}; !slices.Equal(got, want) {
			t.Fatalf("idle ExpireDevices = %v, want %v", got, want)
		}
		d, _ := s.Device(ctx, stale.ID)
		if d.EndReason != parley.EndExpired {
			t.Fatalf("expired device = %+v", d)
		}
		ends, err = s.ExpireDevices(ctx, time.Time{}, epoch.Add(time.Second), at)
		if err != nil || len(ends) != 1 || ends[0].DeviceID != fresh.ID {
			t.Fatalf("age ExpireDevices = %v, %v", ends, err)
		}
		ends, err = s.ExpireDevices(ctx, time.Time{}, time.Time{}, at)
		if err != nil || len(ends) != 0 {
			t.Fatalf("unbounded ExpireDevices = %v, %v", ends, err)
		}
	})
}

func testAccounts(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	u := MustUser(t, s)
	t.Run("Password", func(t *testing.T) {
		if err := s.SetPasswordHash(ctx, u.ID, "new-hash"); err != nil {
			t.Fatal(err)
		}
		h, err := s.UserPasswordHash(ctx, u.ID)
		if err != nil || h != "new-hash" {
			t.Fatalf("UserPasswordHash = %q, %v", h, err)
		}
		wantCode(t, s.SetPasswordHash(ctx, 999999, "x"), parley.ENOTFOUND)
	})
	t.Run("Disable", func(t *testing.T) {
		at := epoch.Add(time.Hour)
		if err := s.SetUserDisabled(ctx, u.ID, &at); err != nil {
			t.Fatal(err)
		}
		got, _, err := s.UserCredentials(ctx, u.Handle)
		if err != nil || got.DisabledAt == nil || !got.DisabledAt.Equal(at) {
			t.Fatalf("disabled user = %+v, %v", got, err)
		}
		if err := s.SetUserDisabled(ctx, u.ID, nil); err != nil {
			t.Fatal(err)
		}
		got, err = s.User(ctx, u.ID)
		if err != nil || got.DisabledAt != nil {
			t.Fatalf("enabled user = %+v, %v", got, err)
		}
	})
	t.Run("List", func(t *testing.T) {
		v := MustUser(t, s)
		us, err := s.ListUsers(ctx, 0, 100)
		if err != nil || len(us) < 2 {
			t.Fatalf("ListUsers = %v, %v", us, err)
		}
		us, err = s.ListUsers(ctx, u.ID, 100)
		if err != nil || len(us) != 1 || us[0].ID != v.ID {
			t.Fatalf("ListUsers after = %v, %v", us, err)
		}
	})
	t.Run("Erase", func(t *testing.T) {
		v := MustUser(t, s)
		bio, pic := "about me", "https://example.com/p.png"
		if _, err := s.UpdateUser(ctx, v.ID, parley.UserUpdate{Bio: &bio, ProfilePic: &pic}); err != nil {
			t.Fatal(err)
		}
		if err := s.EraseUser(ctx, v.ID, epoch.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		got, err := s.User(ctx, v.ID)
		if err != nil || !got.Deleted || got.Handle != "" || got.Bio != "" || got.ProfilePic != "" || got.DisplayName != parley.DeletedName {
			t.Fatalf("erased user = %+v, %v", got, err)
		}
		_, _, err = s.UserCredentials(ctx, v.Handle)
		wantCode(t, err, parley.ENOTFOUND)
		if us, _ := s.SearchUsers(ctx, v.Handle, 10); len(us) != 0 {
			t.Fatalf("SearchUsers finds an erased user: %v", us)
		}
		wantCode(t, s.EraseUser(ctx, v.ID, epoch), parley.ENOTFOUND)
		// The handle is free again.
		again := &parley.User{Handle: v.Handle, CreatedAt: epoch}
		if err := s.CreateUser(ctx, again, "hash"); err != nil {
			t.Fatalf("reusing an erased user's handle: %v", err)
		}
		if again.ID == v.ID {
			t.Fatal("the new account reused the erased one's id")
		}
	})
	t.Run("LastOnline", func(t *testing.T) {
		v, w, x := MustUser(t, s), MustUser(t, s), MustUser(t, s)
		seen := func(ids ...parley.ID) map[parley.ID]time.Time {
			t.Helper()
			got, err := s.LastSeen(ctx, ids)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		if got := seen(v.ID, w.ID); len(got) != 0 {
			t.Fatalf("LastSeen before any = %v", got)
		}
		t1 := epoch.Add(time.Hour + 1234567*time.Nanosecond) // kept to the microsecond
		for _, id := range []parley.ID{v.ID, w.ID} {
			if err := s.SetLastSeen(ctx, id, t1); err != nil {
				t.Fatal(err)
			}
		}
		// A later time replaces it; an earlier one (a node that reports
		// late) does not.
		t2 := t1.Add(time.Minute)
		if err := s.SetLastSeen(ctx, w.ID, t2); err != nil {
			t.Fatal(err)
		}
		if err := s.SetLastSeen(ctx, v.ID, t1.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		got := seen(v.ID, w.ID, x.ID, 999999)
		want := map[parley.ID]time.Time{v.ID: t1.Truncate(time.Microsecond), w.ID: t2.Truncate(time.Microsecond)}
		if len(got) != len(want) || !got[v.ID].Equal(want[v.ID]) || !got[w.ID].Equal(want[w.ID]) {
			t.Fatalf("LastSeen = %v, want %v", got, want)
		}
		if err := s.SetLastSeen(ctx, 999999, t2); err != nil {
			t.Fatalf("SetLastSeen of no user: %v", err)
		}
		if got := seen(); len(got) != 0 {
			t.Fatalf("LastSeen of nobody = %v", got)
		}
		// Erasing the user forgets it, and it is not recorded again.
		if err := s.EraseUser(ctx, w.ID, t2); err != nil {
			t.Fatal(err)
		}
		if err := s.SetLastSeen(ctx, w.ID, t2.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got := seen(w.ID); len(got) != 0 {
			t.Fatalf("LastSeen of an erased user = %v", got)
		}
	})
	t.Run("UploadedMedia", func(t *testing.T) {
		v, w := MustUser(t, s), MustUser(t, s)
		a := MustMedia(t, s, v, "one", epoch, true) // with a thumbnail, which is not listed
		b := MustMedia(t, s, v, "two", epoch, false)
		MustMedia(t, s, w, "three", epoch, false)
		ids, err := s.UploadedMedia(ctx, v.ID)
		if err != nil || !slices.Equal(ids, []parley.ID{a.ID, b.ID}) {
			t.Fatalf("UploadedMedia = %v, %v; want %v", ids, err, []parley.ID{a.ID, b.ID})
		}
	})
}

func testInvites(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	exp := epoch.Add(time.Hour)
	single := &parley.Invite{MaxUses: 1, Note: "for ann", CreatedAt: epoch, ExpiresAt: &exp}
	multi := &parley.Invite{MaxUses: 2, CreatedAt: epoch}
	if err := s.CreateInvite(ctx, single, []byte("code-1")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateInvite(ctx, multi, []byte("code-2")); err != nil {
		t.Fatal(err)
	}
	t.Run("List", func(t *testing.T) {
		invs, err := s.Invites(ctx)
		if err != nil || len(invs) != 2 || invs[0].ID != multi.ID || invs[1].Note != "for ann" || !invs[1].ExpiresAt.Equal(exp) {
			t.Fatalf("Invites = %+v, %v", invs, err)
		}
	})
	t.Run("Use", func(t *testing.T) {
		_, err := s.UseInvite(ctx, []byte("code-1"), exp)
		wantCode(t, err, parley.EFORBIDDEN) // expired
		inv, err := s.UseInvite(ctx, []byte("code-1"), epoch)
		if err != nil || inv.ID != single.ID || inv.Uses != 1 {
			t.Fatalf("UseInvite = %+v, %v", inv, err)
		}
		_, err = s.UseInvite(ctx, []byte("code-1"), epoch)
		wantCode(t, err, parley.EFORBIDDEN) // used up
		if err := s.ReturnInvite(ctx, single.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UseInvite(ctx, []byte("code-1"), epoch); err != nil {
			t.Fatalf("UseInvite after ReturnInvite: %v", err)
		}
		for i := 0; i < 2; i++ {
			if _, err := s.UseInvite(ctx, []byte("code-2"), epoch.Add(1000*time.Hour)); err != nil {
				t.Fatalf("multi-use invite, use %d: %v", i+1, err)
			}
		}
		_, err = s.UseInvite(ctx, []byte("code-2"), epoch)
		wantCode(t, err, parley.EFORBIDDEN)
		_, err = s.UseInvite(ctx, []byte("nope"), epoch)
		wantCode(t, err, parley.ENOTFOUND)
	})
	t.Run("Revoke", func(t *testing.T) {
		inv := &parley.Invite{MaxUses: 5, CreatedAt: epoch}
		if err := s.CreateInvite(ctx, inv, []byte("code-3")); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeInvite(ctx, inv.ID, epoch); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.RevokeInvite(ctx, inv.ID, epoch), parley.ENOTFOUND)
		_, err := s.UseInvite(ctx, []byte("code-3"), epoch)
		wantCode(t, err, parley.EFORBIDDEN)
	})
}
