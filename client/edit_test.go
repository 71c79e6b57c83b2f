package client_test

import (
	"context"
	"maps"
	"slices"
	"testing"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/client/clienttest"
)

// device is one device's copy of a conversation, folded from the log
// entries it received, each once by seq.
type device struct {
	name      string
	seen      map[int64]bool
	body      map[parley.ID]string
	edited    map[parley.ID]bool
	forwarded map[parley.ID]bool
	reactions map[parley.ID]map[parley.ID]string // message → user → emoji
	last      int64
}

func newDevice(name string) *device {
	return &device{name: name, seen: map[int64]bool{}, body: map[parley.ID]string{}, edited: map[parley.ID]bool{},
		forwarded: map[parley.ID]bool{}, reactions: map[parley.ID]map[parley.ID]string{}}
}

func (d *device) apply(m *parley.Message) {
	if d.seen[m.Seq] {
		return
	}
	d.seen[m.Seq] = true
	d.last = max(d.last, m.Seq)
	switch m.Type {
	case parley.EditEntry:
		d.body[m.EditOf], d.edited[m.EditOf] = m.Body, true
	case parley.ReactionEntry:
		if d.reactions[m.ReactionOf] == nil {
			d.reactions[m.ReactionOf] = map[parley.ID]string{}
		}
		if m.Body == "" {
			delete(d.reactions[m.ReactionOf], m.SenderID)
		} else {
			d.reactions[m.ReactionOf][m.SenderID] = m.Body
		}
	default:
		// An entry replayed later already shows the latest state.
		d.body[m.ID], d.edited[m.ID], d.forwarded[m.ID] = m.Body, m.EditedAt != nil, m.Forwarded
		if m.Reactions != nil {
			d.reactions[m.ID] = map[parley.ID]string{}
			for _, r := range m.Reactions {
				for _, u := range r.UserIDs {
					d.reactions[m.ID][u] = r.Emoji
				}
			}
		}
	}
}

// receive folds s's message events of conv until the device has every
// entry up to seq.
func (d *device) receive(tb testing.TB, s *client.Socket, conv parley.ID, seq int64) {
	tb.Helper()
	for !d.has(seq) {
		m := next(tb, s, parley.EventMessage).Data.(*parley.Message)
		if m.ConversationID == conv {
			d.apply(m)
		}
	}
}

func (d *device) has(seq int64) bool {
	for s := int64(1); s <= seq; s++ {
		if !d.seen[s] {
			return false
		}
	}
	return true
}

// TestEditReactForwardConverge: two devices of each member; one of each
// is offline while messages are edited, reacted to and forwarded, over
// the socket and over HTTP, and syncs later. Every device ends with the
// history the server shows.
func TestEditReactForwardConverge(t *testing.T) {
	n := mustNode(t)
	ctx := context.Background()
	a, b := MustUser(t, n), MustUser(t, n)
	a2, b2 := secondDevice(t, n, a), secondDevice(t, n, b)
	conv := MustDirect(t, a, b).ID
	sa1, sb1 := MustDial(t, a, client.SocketConfig{}), MustDial(t, b, client.SocketConfig{})
	sa2, sb2 := MustDial(t, a2, client.SocketConfig{}), MustDial(t, b2, client.SocketConfig{})
	da1, da2, db1, db2 := newDevice("a1"), newDevice("a2"), newDevice("b1"), newDevice("b2")

	m1, err := sa1.Send(ctx, parley.SendRequest{ConversationID: conv, ClientMsgID: "m1", Body: "helo"})
	if err != nil {
		t.Fatal(err)
	}
	da1.apply(m1)
	da2.receive(t, sa2, conv, 1)
	db1.receive(t, sb1, conv, 1)
	db2.receive(t, sb2, conv, 1)
	// The second devices go offline.
	curA2, curB2 := sa2.Cursors(), sb2.Cursors()
	sa2.Close()
	sb2.Close()

	// Changes over the socket and over HTTP (a's HTTP client is the same
	// device as sa1: its own change still reaches sa1 as a message).
	if got, err := sa1.Edit(ctx, conv, m1.ID, "hello"); err != nil || got.Body != "hello" || got.EditedAt == nil {
		t.Fatalf("socket edit = %+v, %v", got, err)
	}
	if err := sb1.React(ctx, conv, m1.ID, "👍"); err != nil {
		t.Fatal(err)
	}
	if err := sa1.React(ctx, conv, m1.ID, "❤️"); err != nil {
		t.Fatal(err)
	}
	fw, err := sb1.Send(ctx, parley.SendRequest{ConversationID: conv, ClientMsgID: "f1", ForwardOf: &parley.MessageRef{ConversationID: conv, MessageID: m1.ID}})
	if err != nil || !fw.Forwarded || fw.Body != "hello" {
		t.Fatalf("forward = %+v, %v", fw, err)
	}
	db1.apply(fw)
	if err := sb1.React(ctx, conv, m1.ID, "😂"); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Edit(ctx, conv, m1.ID, "hello!"); err != nil || got.Body != "hello!" {
		t.Fatalf("HTTP edit = %+v, %v", got, err)
	}
	if err := a.React(ctx, conv, m1.ID, ""); err != nil {
		t.Fatal(err)
	}
	if err := b.React(ctx, conv, fw.ID, "👍"); err != nil {
		t.Fatal(err)
	}
	const last = 9
	t.Run("ErrorsFromTheServer", func(t *testing.T) {
		_, err := sb1.Edit(ctx, conv, m1.ID, "not mine")
		wantCode(t, err, parley.EFORBIDDEN)
		wantCode(t, sb1.React(ctx, conv, m1.ID, "not an emoji"), parley.EINVALID)
		wantCode(t, b.React(ctx, conv, 1<<40, "👍"), parley.ENOTFOUND)
	})
	da1.receive(t, sa1, conv, last)
	db1.receive(t, sb1, conv, last)

	// The offline devices come back and sync from where they stopped.
	sa2, sb2 = MustDial(t, a2, client.SocketConfig{}), MustDial(t, b2, client.SocketConfig{})
	for _, x := range []struct {
		s   *client.Socket
		cur map[parley.ID]int64
		d   *device
	}{{sa2, curA2, da2}, {sb2, curB2, db2}} {
		if err := x.s.Sync(ctx, x.cur); err != nil {
			t.Fatal(err)
		}
		x.d.receive(t, x.s, conv, last)
	}

	// What the server shows: the latest bodies and the current reactions.
	hist, err := b.History(ctx, conv, parley.HistoryQuery{Limit: 50})
	if err != nil || len(hist) != last {
		t.Fatalf("history = %d entries, %v", len(hist), err)
	}
	want := newDevice("server")
	for _, m := range hist {
		if m.Type.Sent() {
			want.apply(m)
		}
	}
	if want.body[m1.ID] != "hello!" || !want.edited[m1.ID] || !want.forwarded[fw.ID] ||
		!maps.Equal(want.reactions[m1.ID], map[parley.ID]string{b.ID: "😂"}) || !maps.Equal(want.reactions[fw.ID], map[parley.ID]string{b.ID: "👍"}) {
		t.Fatalf("server shows bodies %v, reactions %v", want.body, want.reactions)
	}
	for _, d := range []*device{da1, da2, db1, db2} {
		if !maps.Equal(d.body, want.body) || !maps.Equal(d.edited, want.edited) || !maps.Equal(d.forwarded, want.forwarded) {
			t.Errorf("%s: bodies %v edited %v forwarded %v; server %v %v %v", d.name, d.body, d.edited, d.forwarded, want.body, want.edited, want.forwarded)
		}
		for _, id := range slices.Collect(maps.Keys(want.body)) {
			if !maps.Equal(d.reactions[id], want.reactions[id]) {
				t.Errorf("%s: reactions to %s = %v, server %v", d.name, id, d.reactions[id], want.reactions[id])
			}
		}
	}
}

// secondDevice logs u in again: another device of the same account.
func secondDevice(tb testing.TB, n *clienttest.Node, u user) user {
	tb.Helper()
	c := client.New(n.URL, nil)
	s, err := c.Login(context.Background(), parley.LoginRequest{Handle: u.Handle, Password: password, DeviceName: "second"})
	if err != nil {
		tb.Fatalf("login %s again: %v", u.Handle, err)
	}
	return user{Client: c, ID: u.ID, Handle: u.Handle, Session: s}
}
