package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/parleyhq/parley"
	parleyclient "github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/internal/testenv"
)

// folded is what a device shows of a conversation once it applied every
// log entry it received: each message's body, whether it is edited or
// forwarded, and who reacted with what.
type folded struct {
	body      map[parley.ID]string
	edited    map[parley.ID]bool
	forwarded map[parley.ID]bool
	reactions map[parley.ID]map[parley.ID]string
}

// fold applies entries in seq order, as a client does; a message that
// arrives after its changes (a sync replay) already carries them.
func fold(ms map[int64]*parley.Message) folded {
	f := folded{body: map[parley.ID]string{}, edited: map[parley.ID]bool{}, forwarded: map[parley.ID]bool{}, reactions: map[parley.ID]map[parley.ID]string{}}
	react := func(msg, user parley.ID, emoji string) {
		if f.reactions[msg] == nil {
			f.reactions[msg] = map[parley.ID]string{}
		}
		if emoji == "" {
			delete(f.reactions[msg], user)
			return
		}
		f.reactions[msg][user] = emoji
	}
	for _, seq := range slices.Sorted(maps.Keys(ms)) {
		m := ms[seq]
		switch m.Type {
		case parley.EditEntry:
			f.body[m.EditOf], f.edited[m.EditOf] = m.Body, true
		case parley.ReactionEntry:
			react(m.ReactionOf, m.SenderID, m.Body)
		default:
			f.body[m.ID], f.edited[m.ID], f.forwarded[m.ID] = m.Body, m.EditedAt != nil, m.Forwarded
			for _, r := range m.Reactions {
				for _, u := range r.UserIDs {
					react(m.ID, u, r.Emoji)
				}
			}
		}
	}
	return f
}

// TestClusterEditReactForward: three nodes on one PostgreSQL and one
// Redis. Two devices of each member, each pair split over the nodes; one
// device of each member is offline while messages are edited (over HTTP
// and over sockets, concurrently, through different nodes), reacted to by
// both members at once, and forwarded from another conversation. Every
// device then shows what the server's history shows: the latest edit by
// seq, every member's reaction, the forward marked.
func TestClusterEditReactForward(t *testing.T) {
	pg, rd := testenv.MustPostgres(t), testenv.MustRedis(t)
	urls := startCluster(t, 3, pg, rd, nil)
	ctx := context.Background()
	login := func(url, handle string) (*parleyclient.Client, *parley.Session) { return mustAccount(t, url, handle) }
	var conv *parley.ConversationView
	// Each collector keeps the entries of conv only (seqs are per
	// conversation).
	dial := func(c *parleyclient.Client, col *collector) *parleyclient.Socket {
		on := func(ev parleyclient.Event) {
			if m, ok := ev.Data.(*parley.Message); ok && m.ConversationID == conv.ID {
				col.on(ev)
			}
		}
		return mustDial(t, c, on)
	}
	alice, as := login(urls[0], "alice")
	bob, bs := login(urls[1], "bob")
	carol, cs := login(urls[2], "carol")
	conv, _, err := alice.CreateConversation(ctx, parley.CreateConversationRequest{MemberIDs: []parley.ID{bs.User.ID}})
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := alice.CreateConversation(ctx, parley.CreateConversationRequest{MemberIDs: []parley.ID{cs.User.ID}})
	if err != nil {
		t.Fatal(err)
	}
	aliceLive, bobLive := &collector{msgs: map[int64]*parley.Message{}}, &collector{msgs: map[int64]*parley.Message{}}
	aliceSock, bobSock := dial(alice, aliceLive), dial(bob, bobLive)

	var sent []*parley.Message
	for i := range 3 {
		m, err := aliceSock.Send(ctx, parley.SendRequest{ConversationID: conv.ID, ClientMsgID: fmt.Sprintf("m%d", i), Type: parley.TextMessage, Body: fmt.Sprintf("draft %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, m)
	}
	elsewhere, _, err := carol.Send(ctx, parley.SendRequest{ConversationID: other.ID, ClientMsgID: "c1", Type: parley.TextMessage, Body: "pass this on"})
	if err != nil {
		t.Fatal(err)
	}

	// Concurrent changes through every node: edits of the same message
	// over HTTP (node 2) and the socket (node 0), both members reacting at
	// once (bob twice, changing his mind), and a forward.
	aliceHTTP2 := parleyclient.New(urls[2], nil).WithToken(alice.Token())
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	run := func(f func() error) {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- f() }()
	}
	for i := range 4 {
		run(func() error {
			_, err := aliceHTTP2.Edit(ctx, conv.ID, sent[0].ID, fmt.Sprintf("http edit %d", i))
			return err
		})
		run(func() error {
			_, err := aliceSock.Edit(ctx, conv.ID, sent[0].ID, fmt.Sprintf("socket edit %d", i))
			return err
		})
	}
	run(func() error { return bobSock.React(ctx, conv.ID, sent[1].ID, "👍") })
	run(func() error { return aliceSock.React(ctx, conv.ID, sent[1].ID, "❤️") })
	run(func() error {
		_, err := aliceHTTP2.Edit(ctx, conv.ID, sent[2].ID, "final words")
		return err
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := bobSock.React(ctx, conv.ID, sent[1].ID, "🎉"); err != nil {
		t.Fatal(err)
	}
	fwd, err := aliceSock.Send(ctx, parley.SendRequest{ConversationID: conv.ID, ClientMsgID: "fwd", ForwardOf: &parley.MessageRef{ConversationID: other.ID, MessageID: elsewhere.ID}})
	if err != nil || !fwd.Forwarded || fwd.Body != "pass this on" {
		t.Fatalf("forward = %+v, %v", fwd, err)
	}

	// The server's view, from the history of a node none of it went
	// through last.
	hist, err := parleyclient.New(urls[1], nil).WithToken(bob.Token()).History(ctx, conv.ID, parley.HistoryQuery{Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	server := map[int64]*parley.Message{}
	var last int64
	for _, m := range hist {
		server[m.Seq] = m
		last = max(last, m.Seq)
	}
	want := fold(server)
	if want.body[sent[2].ID] != "final words" || !want.forwarded[fwd.ID] ||
		fmt.Sprint(want.reactions[sent[1].ID]) != fmt.Sprint(map[parley.ID]string{as.User.ID: "❤️", bs.User.ID: "🎉"}) {
		t.Fatalf("server history folds to %+v", want)
	}

	// The live devices got every entry; the ones that were offline sync
	// through other nodes. All four show the server's view.
	for name, col := range map[string]*collector{"alice live": aliceLive, "bob live": bobLive} {
		waitFor(t, name+" to receive the log up to "+fmt.Sprint(last), func() bool {
			col.mu.Lock()
			defer col.mu.Unlock()
			for seq := int64(1); seq <= last; seq++ {
				if col.msgs[seq] == nil && !ownSend(server[seq], name == "alice live") {
					return false
				}
			}
			return true
		})
	}
	aliceLive.mu.Lock()
	for _, m := range append(sent, fwd) { // a device has its own sends from their acks
		if aliceLive.msgs[m.Seq] == nil {
			aliceLive.msgs[m.Seq] = m
		}
	}
	aliceLive.mu.Unlock()
	late := map[string]*collector{}
	for i, h := range []string{"alice", "bob"} {
		c, _ := login(urls[(i+2)%3], h)
		col := &collector{msgs: map[int64]*parley.Message{}}
		if err := dial(c, col).Sync(ctx, map[parley.ID]int64{}); err != nil {
			t.Fatal(err)
		}
		late[h+" synced late"] = col
	}
	late["alice live"], late["bob live"] = aliceLive, bobLive
	for name, col := range late {
		col.mu.Lock()
		got := fold(col.msgs)
		col.mu.Unlock()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s shows %+v\nthe server %+v", name, got, want)
		}
	}
}

// ownSend reports whether m is one of alice's sends, which her live device
// has from their acks rather than as events.
func ownSend(m *parley.Message, alice bool) bool {
	return alice && m != nil && m.Type.Sent()
}
