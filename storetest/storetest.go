// Package storetest is the conformance suite every parley.Store passes,
// unchanged: the SQLite store and the PostgreSQL store run the same tests.
package storetest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley"
)

// Opener returns a new, empty store for one test; it registers its own
// cleanup with t.
type Opener func(t *testing.T) parley.Store

// Run runs the whole suite against the stores open returns.
func Run(t *testing.T, open Opener) {
	t.Run("Users", func(t *testing.T) { testUsers(t, open) })
	t.Run("Devices", func(t *testing.T) { testDevices(t, open) })
	t.Run("Sessions", func(t *testing.T) { testSessions(t, open) })
	t.Run("Accounts", func(t *testing.T) { testAccounts(t, open) })
	t.Run("Invites", func(t *testing.T) { testInvites(t, open) })
	t.Run("Conversations", func(t *testing.T) { testConversations(t, open) })
	t.Run("Membership", func(t *testing.T) { testMembership(t, open) })
	t.Run("PinArchive", func(t *testing.T) { testPinArchive(t, open) })
	t.Run("Messages", func(t *testing.T) { testMessages(t, open) })
	t.Run("ConcurrentSeq", func(t *testing.T) { testConcurrentSeq(t, open) })
	t.Run("Recall", func(t *testing.T) { testRecall(t, open) })
	t.Run("Disappearing", func(t *testing.T) { testDisappearing(t, open) })
	t.Run("Edit", func(t *testing.T) { testEdit(t, open) })
	t.Run("ConcurrentEdits", func(t *testing.T) { testConcurrentEdits(t, open) })
	t.Run("Reactions", func(t *testing.T) { testReactions(t, open) })
	t.Run("ConcurrentReactions", func(t *testing.T) { testConcurrentReactions(t, open) })
	t.Run("Forwarded", func(t *testing.T) { testForwarded(t, open) })
	t.Run("Search", func(t *testing.T) { testSearch(t, open) })
	t.Run("FeaturesTogether", func(t *testing.T) { testFeaturesTogether(t, open) })
	t.Run("LogPosition", func(t *testing.T) { testLogPosition(t, open) })
	t.Run("Receipts", func(t *testing.T) { testReceipts(t, open) })
	t.Run("Friends", func(t *testing.T) { testFriends(t, open) })
	t.Run("Retention", func(t *testing.T) { testRetention(t, open) })
	t.Run("Media", func(t *testing.T) { testMedia(t, open) })
	t.Run("Push", func(t *testing.T) { testPush(t, open) })
}

var epoch = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

var handleSeq atomic.Int64

// MustUser creates a user with a fresh handle.
func MustUser(tb testing.TB, s parley.Store) *parley.User {
	tb.Helper()
	u := &parley.User{Handle: fmt.Sprintf("user%d", handleSeq.Add(1)), DisplayName: "User", CreatedAt: epoch}
	if err := s.CreateUser(context.Background(), u, "hash"); err != nil {
		tb.Fatalf("create user: %v", err)
	}
	return u
}

// MustDevice creates a device of the user.
func MustDevice(tb testing.TB, s parley.Store, u *parley.User) *parley.Device {
	tb.Helper()
	d := &parley.Device{UserID: u.ID, Name: "phone", CreatedAt: epoch}
	tok := sha256.Sum256([]byte(fmt.Sprintf("token-%d-%d", u.ID, handleSeq.Add(1))))
	if err := s.CreateDevice(context.Background(), d, tok[:]); err != nil {
		tb.Fatalf("create device: %v", err)
	}
	return d
}

// MustConversation creates a conversation of the given users (a group
// unless exactly two users and direct is true).
func MustConversation(tb testing.TB, s parley.Store, typ parley.ConversationType, users ...*parley.User) *parley.Conversation {
	tb.Helper()
	c := &parley.Conversation{Type: typ, CreatedBy: users[0].ID, CreatedAt: epoch}
	ms := make([]parley.Member, len(users))
	for i, u := range users {
		ms[i] = parley.Member{UserID: u.ID, Role: parley.RoleMember}
	}
	ms[0].Role = parley.RoleOwner
	key := ""
	if typ == parley.Direct {
		key = parley.DirectKey(users[0].ID, users[1].ID)
	}
	conv, _, err := s.CreateConversation(context.Background(), c, ms, key)
	if err != nil {
		tb.Fatalf("create conversation: %v", err)
	}
	return conv
}

// hash is the content hash the app computes; any stable function works.
func hash(parts ...string) []byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum(nil)
}

// MustSend appends a text message.
func MustSend(tb testing.TB, s parley.Store, conv *parley.Conversation, u *parley.User, d *parley.Device, cmid, body string) *parley.Message {
	tb.Helper()
	m := &parley.Message{ConversationID: conv.ID, SenderID: u.ID, SenderDeviceID: d.ID, ClientMsgID: cmid, Type: parley.TextMessage, Body: body, CreatedAt: epoch}
	got, _, err := s.AppendMessage(context.Background(), m, hash(cmid, body), nil)
	if err != nil {
		tb.Fatalf("append message: %v", err)
	}
	return got
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := parley.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func testUsers(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	u := &parley.User{Handle: "Alice.W", DisplayName: "Alice", CreatedAt: epoch}
	if err := s.CreateUser(ctx, u, "h1"); err != nil {
		t.Fatal(err)
	}
	if u.ID == 0 {
		t.Fatal("CreateUser did not set the id")
	}
	t.Run("ErrHandleTakenWithoutCase", func(t *testing.T) {
		wantCode(t, s.CreateUser(ctx, &parley.User{Handle: "alice.w", CreatedAt: epoch}, "h2"), parley.ECONFLICT)
	})
	t.Run("ByID", func(t *testing.T) {
		got, err := s.User(ctx, u.ID)
		if err != nil || got.Handle != "Alice.W" || got.DisplayName != "Alice" || !got.CreatedAt.Equal(epoch) {
			t.Fatalf("User = %+v, %v", got, err)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := s.User(ctx, 999999)
		wantCode(t, err, parley.ENOTFOUND)
		_, _, err = s.UserCredentials(ctx, "nobody")
		wantCode(t, err, parley.ENOTFOUND)
		_, err = s.UpdateUser(ctx, 999999, parley.UserUpdate{})
		wantCode(t, err, parley.ENOTFOUND)
	})
	t.Run("Credentials", func(t *testing.T) {
		got, h, err := s.UserCredentials(ctx, "ALICE.w")
		if err != nil || got.ID != u.ID || h != "h1" {
			t.Fatalf("UserCredentials = %+v, %q, %v", got, h, err)
		}
	})
	t.Run("Search", func(t *testing.T) {
		for _, h := range []string{"alpha", "alps", "bob"} {
			if err := s.CreateUser(ctx, &parley.User{Handle: h, CreatedAt: epoch}, "x"); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.SearchUsers(ctx, "AL", 10)
		if err != nil {
			t.Fatal(err)
		}
		var hs []string
		for _, u := range got {
			hs = append(hs, u.Handle)
		}
		if fmt.Sprint(hs) != "[Alice.W alpha alps]" {
			t.Fatalf("search = %v", hs)
		}
		got, _ = s.SearchUsers(ctx, "al", 1)
		if len(got) != 1 {
			t.Fatalf("limit not applied: %d", len(got))
		}
	})
	t.Run("Update", func(t *testing.T) {
		bio := "hello"
		got, err := s.UpdateUser(ctx, u.ID, parley.UserUpdate{Bio: &bio})
		if err != nil || got.Bio != "hello" || got.DisplayName != "Alice" {
			t.Fatalf("UpdateUser = %+v, %v", got, err)
		}
	})
	t.Run("Users", func(t *testing.T) {
		got, err := s.Users(ctx, []parley.ID{u.ID, 999999})
		if err != nil || len(got) != 1 || got[0].ID != u.ID {
			t.Fatalf("Users = %v, %v", got, err)
		}
		// More ids than a statement may have parameters.
		many := []parley.ID{u.ID}
		for i := range 40000 {
			many = append(many, parley.ID(1_000_000+i))
		}
		if got, err := s.Users(ctx, many); err != nil || len(got) != 1 || got[0].ID != u.ID {
			t.Fatalf("Users of %d ids = %v, %v", len(many), got, err)
		}
	})
}

func testDevices(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	u := MustUser(t, s)
	d := &parley.Device{UserID: u.ID, Name: "laptop", CreatedAt: epoch}
	if err := s.CreateDevice(ctx, d, []byte("hash-1")); err != nil {
		t.Fatal(err)
	}
	t.Run("ByToken", func(t *testing.T) {
		got, err := s.DeviceByTokenHash(ctx, []byte("hash-1"))
		if err != nil || got.ID != d.ID || got.UserID != u.ID || got.Name != "laptop" {
			t.Fatalf("DeviceByTokenHash = %+v, %v", got, err)
		}
		_, err = s.DeviceByTokenHash(ctx, []byte("other"))
		wantCode(t, err, parley.ENOTFOUND)
	})
	t.Run("ErrUnknownUser", func(t *testing.T) {
		wantCode(t, s.CreateDevice(ctx, &parley.Device{UserID: 999999, CreatedAt: epoch}, []byte("h")), parley.ENOTFOUND)
	})
	t.Run("Revoke", func(t *testing.T) {
		d2 := &parley.Device{UserID: u.ID, Name: "phone", CreatedAt: epoch}
		if err := s.CreateDevice(ctx, d2, []byte("hash-2")); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeDevice(ctx, d.ID, epoch.Add(time.Hour), ""); err != nil {
			t.Fatal(err)
		}
		got, err := s.DeviceByTokenHash(ctx, []byte("hash-1"))
		if err != nil || got.RevokedAt == nil || !got.RevokedAt.Equal(epoch.Add(time.Hour)) || got.EndReason != parley.EndRevoked {
			t.Fatalf("revoked DeviceByTokenHash = %+v, %v", got, err)
		}
		wantCode(t, s.RevokeDevice(ctx, d.ID, epoch, ""), parley.ENOTFOUND)
		ds, err := s.Devices(ctx, u.ID)
		if err != nil || len(ds) != 1 || ds[0].ID != d2.ID {
			t.Fatalf("Devices = %v, %v", ds, err)
		}
	})
}
