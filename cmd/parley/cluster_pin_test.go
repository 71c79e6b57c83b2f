package main

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	parleyclient "github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/internal/testenv"
)

// nextConversationOf returns the next `conversation` event of conversation
// id on s, skipping other events, or fails the test after a while.
func nextConversationOf(t *testing.T, s *parleyclient.Socket, id parley.ID) *parley.ConversationView {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				t.Fatalf("socket ended: %v", s.Err())
			}
			if v, _ := ev.Data.(*parley.ConversationView); v != nil && v.ID == id {
				return v
			}
		case <-timeout:
			t.Fatal("no conversation event")
		}
	}
}

func listEntryOf(t *testing.T, c *parleyclient.Client, archived bool, id parley.ID) *parley.ConversationView {
	t.Helper()
	vs, err := c.ConversationList(context.Background(), parley.ConversationListQuery{Archived: archived})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if v.ID == id {
			return v
		}
	}
	return nil
}

// TestClusterPinArchive: three nodes on one PostgreSQL and one Redis. A
// user's phone is connected to node 0 and its tablet, offline, logs in
// through node 2; pin and archive are made through nodes 0 and 1, and the
// other member writes through node 2. The phone follows through events
// relayed by Redis, the tablet finds the same state in its list, and
// concurrent pins through every node never pass the limit.
func TestClusterPinArchive(t *testing.T) {
	pg, rd := testenv.MustPostgres(t), testenv.MustRedis(t)
	var nodes []*Main
	for range 3 {
		nodes = append(nodes, MustRunMain(t, clusterConfig(t, pg, rd)))
	}
	urls := urlsOf(nodes)
	ctx := context.Background()
	a0, b := newDevice(t, urls[0], "alice"), newDevice(t, urls[2], "bob")
	a1 := parleyclient.New(urls[1], nil).WithToken(a0.http.Token())
	tablet := newDevice(t, urls[2], "alice").http
	conv, _, err := a0.http.CreateConversation(ctx, parley.CreateConversationRequest{MemberIDs: []parley.ID{b.user}})
	if err != nil {
		t.Fatal(err)
	}
	phone, err := a0.http.Dial(ctx, parleyclient.SocketConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { phone.Close() })

	if err := a0.http.SetPinned(ctx, conv.ID, true); err != nil {
		t.Fatal(err)
	}
	if v := nextConversationOf(t, phone, conv.ID); !v.Pinned {
		t.Fatalf("phone after pin = %+v", v)
	}
	// Archived through another node: the event crosses Redis, and every
	// node's cached memberships learn it.
	if err := a1.SetArchived(ctx, conv.ID, true); err != nil {
		t.Fatal(err)
	}
	if v := nextConversationOf(t, phone, conv.ID); !v.Archived || v.Pinned {
		t.Fatalf("phone after archive = %+v", v)
	}
	if v := listEntryOf(t, tablet, false, conv.ID); v != nil {
		t.Fatalf("tablet's list shows the archived conversation: %+v", v)
	}
	if v := listEntryOf(t, tablet, true, conv.ID); v == nil || !v.Archived {
		t.Fatalf("tablet's list with archived = %+v", v)
	}
	// Bob writes through node 2: alice's phone on node 0 hears it is
	// unarchived, and so does her tablet's list.
	if _, _, err := b.http.Send(ctx, parley.SendRequest{ConversationID: conv.ID, ClientMsgID: "wake-up", Body: "wake up"}); err != nil {
		t.Fatal(err)
	}
	if v := nextConversationOf(t, phone, conv.ID); v.Archived {
		t.Fatalf("phone after a message = %+v", v)
	}
	if v := listEntryOf(t, tablet, false, conv.ID); v == nil || v.Archived {
		t.Fatalf("tablet's list after a message = %+v", v)
	}

	t.Run("ConcurrentPinsAcrossNodes", func(t *testing.T) {
		const n = 12
		var convs []parley.ID
		for i := range n {
			other := newDevice(t, urls[i%3], "peer"+string(rune('a'+i)))
			v, _, err := a0.http.CreateConversation(ctx, parley.CreateConversationRequest{MemberIDs: []parley.ID{other.user}})
			if err != nil {
				t.Fatal(err)
			}
			convs = append(convs, v.ID)
		}
		if err := a0.http.SetPinned(ctx, conv.ID, false); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i, id := range convs {
			c := parleyclient.New(urls[i%3], nil).WithToken(a0.http.Token())
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = c.SetPinned(ctx, id, true)
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch parley.ErrorCode(err) {
			case "":
				ok++
			case parley.ETOOMANY:
			default:
				t.Fatalf("pin: %v", err)
			}
		}
		vs, err := tablet.Conversations(ctx, 1, 100)
		if err != nil {
			t.Fatal(err)
		}
		pinned := 0
		for _, v := range vs {
			if v.Pinned {
				pinned++
			}
		}
		if ok != parley.MaxPinned || pinned != parley.MaxPinned {
			t.Fatalf("%d pins succeeded and %d are pinned, want %d", ok, pinned, parley.MaxPinned)
		}
	})
}
