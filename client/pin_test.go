package client_test

import (
	"context"
	"testing"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/client"
)

func nextConversation(tb testing.TB, s *client.Socket) *parley.ConversationView {
	tb.Helper()
	return next(tb, s, parley.EventConversation).Data.(*parley.ConversationView)
}

func listed(tb testing.TB, c *client.Client, q parley.ConversationListQuery, id parley.ID) *parley.ConversationView {
	tb.Helper()
	vs, err := c.ConversationList(context.Background(), q)
	if err != nil {
		tb.Fatal(err)
	}
	for _, v := range vs {
		if v.ID == id {
			return v
		}
	}
	return nil
}

// TestPinArchiveTwoDevices pins and archives on one device of a user while
// the other is offline: the online one follows through `conversation`
// events, the other finds the same state in the list when it comes back,
// and a new message unarchives on both.
func TestPinArchiveTwoDevices(t *testing.T) {
	n := mustNode(t)
	ctx := context.Background()
	a, b := MustUser(t, n), MustUser(t, n)
	conv := MustDirect(t, a, b)
	phone := MustDial(t, a, client.SocketConfig{})
	tablet := client.New(n.URL, nil) // a's second device, offline for now
	if _, err := tablet.Login(ctx, parley.LoginRequest{Handle: a.Handle, Password: password, DeviceName: "tablet"}); err != nil {
		t.Fatal(err)
	}

	if err := a.SetPinned(ctx, conv.ID, true); err != nil {
		t.Fatal(err)
	}
	if v := nextConversation(t, phone); v.ID != conv.ID || !v.Pinned || v.PinnedAt == nil || v.Archived {
		t.Fatalf("phone's event after pin = %+v", v)
	}
	if v := listed(t, tablet, parley.ConversationListQuery{}, conv.ID); v == nil || !v.Pinned {
		t.Fatalf("tablet's list after pin = %+v", v)
	}

	if err := a.SetArchived(ctx, conv.ID, true); err != nil {
		t.Fatal(err)
	}
	if v := nextConversation(t, phone); !v.Archived || v.Pinned {
		t.Fatalf("phone's event after archive = %+v", v)
	}
	if v := listed(t, tablet, parley.ConversationListQuery{}, conv.ID); v != nil {
		t.Fatalf("tablet's list still shows the archived conversation: %+v", v)
	}
	if v := listed(t, tablet, parley.ConversationListQuery{Archived: true}, conv.ID); v == nil || !v.Archived || v.Pinned {
		t.Fatalf("tablet's list with archived = %+v", v)
	}

	// The tablet comes online; b writes: both devices see it unarchived.
	online := MustDial(t, user{Client: tablet, ID: a.ID, Handle: a.Handle}, client.SocketConfig{})
	if _, _, err := b.Send(ctx, parley.SendRequest{ConversationID: conv.ID, ClientMsgID: "wake", Body: "wake up"}); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*client.Socket{"phone": phone, "tablet": online} {
		if v := nextConversation(t, s); v.Archived || v.LatestMessage == nil || v.LatestMessage.Body != "wake up" {
			t.Fatalf("%s's event after a message = %+v", name, v)
		}
	}
	if v := listed(t, tablet, parley.ConversationListQuery{}, conv.ID); v == nil || v.Archived {
		t.Fatalf("tablet's list after a message = %+v", v)
	}

	t.Run("MutedStaysArchived", func(t *testing.T) {
		if err := a.SetMuted(ctx, conv.ID, true); err != nil {
			t.Fatal(err)
		}
		if err := a.SetArchived(ctx, conv.ID, true); err != nil {
			t.Fatal(err)
		}
		if _, _, err := b.Send(ctx, parley.SendRequest{ConversationID: conv.ID, ClientMsgID: "quiet", Body: "shh"}); err != nil {
			t.Fatal(err)
		}
		// The send's answer comes after its commit, which unarchives.
		if v := listed(t, tablet, parley.ConversationListQuery{Archived: true}, conv.ID); v == nil || !v.Archived || v.LatestMessage.Body != "shh" {
			t.Fatalf("muted conversation after a message = %+v", v)
		}
	})
	t.Run("ErrTooMany", func(t *testing.T) {
		for range parley.MaxPinned {
			if err := a.SetPinned(ctx, MustDirect(t, a, MustUser(t, n)).ID, true); err != nil {
				t.Fatal(err)
			}
		}
		wantCode(t, a.SetPinned(ctx, conv.ID, true), parley.ETOOMANY)
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		c := MustUser(t, n)
		wantCode(t, c.SetPinned(ctx, conv.ID, true), parley.ENOTFOUND)
		wantCode(t, c.SetArchived(ctx, conv.ID, true), parley.ENOTFOUND)
	})
}
