package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/client"
)

func TestDialUnauthorized(t *testing.T) {
	n := mustNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for name, token := range map[string]string{"BadToken": "not-a-token", "NoToken": ""} {
		t.Run(name, func(t *testing.T) {
			s, err := client.Dial(ctx, client.SocketConfig{URL: n.URL, Token: token})
			if err == nil {
				s.Close()
				t.Fatal("connected without a valid token")
			}
			var ce *client.ConnectError
			if !errors.As(err, &ce) || ce.Message != parley.EUNAUTHORIZED || parley.ErrorCode(err) != parley.EUNAUTHORIZED {
				t.Fatalf("err = %v, want connect error %q", err, parley.EUNAUTHORIZED)
			}
		})
	}
}

func TestChat(t *testing.T) {
	n := mustNode(t)
	ctx := context.Background()
	a, b := MustUser(t, n), MustUser(t, n)
	conv := MustDirect(t, a, b)
	sa := MustDial(t, a, client.SocketConfig{})
	sb := MustDial(t, b, client.SocketConfig{})
	if sa.ID() == "" || !sa.Connected() {
		t.Fatalf("socket id %q, connected %v", sa.ID(), sa.Connected())
	}

	const count = 50
	sent := make([]*parley.Message, count)
	for i := range count {
		m, err := sa.Send(ctx, parley.SendRequest{ConversationID: conv.ID, ClientMsgID: fmt.Sprint("m", i), Body: fmt.Sprint("hello ", i)})
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		if m.Seq != int64(i+1) || m.ID == 0 || m.SenderID != a.ID || m.ConversationID != conv.ID {
			t.Fatalf("ack %d: %+v", i, m)
		}
		sent[i] = m
	}
	for i := range count {
		m := next(t, sb, parley.EventMessage).Data.(*parley.Message)
		if m.ID != sent[i].ID || m.Seq != sent[i].Seq || m.Body != sent[i].Body || m.ClientMsgID != sent[i].ClientMsgID {
			t.Fatalf("received %+v, want %+v", m, sent[i])
		}
	}
	if cur := sb.Cursors()[conv.ID]; cur != count {
		t.Errorf("receiver cursor %d, want %d", cur, count)
	}
	if cur := sa.Cursors()[conv.ID]; cur != count {
		t.Errorf("sender cursor %d, want %d", cur, count)
	}

	t.Run("Receipts", func(t *testing.T) {
		if err := sb.Delivered(ctx, conv.ID, count); err != nil {
			t.Fatal(err)
		}
		r := next(t, sa, parley.EventReceipt).Data.(*parley.Receipt)
		if r.ConversationID != conv.ID || r.UserID != b.ID || r.DeliveredSeq != count {
			t.Fatalf("receipt %+v", r)
		}
		if err := sb.Read(ctx, conv.ID, count-1); err != nil {
			t.Fatal(err)
		}
		r = next(t, sa, parley.EventReceipt).Data.(*parley.Receipt)
		if r.UserID != b.ID || r.ReadSeq != count-1 || r.DeliveredSeq != count {
			t.Fatalf("receipt %+v", r)
		}
		err := sb.Read(ctx, conv.ID, 10_000)
		wantCode(t, err, parley.EINVALID)
	})
	t.Run("SendRetry", func(t *testing.T) {
		m, err := sa.Send(ctx, parley.SendRequest{ConversationID: conv.ID, ClientMsgID: "m7", Body: "hello 7"})
		if err != nil || m.ID != sent[7].ID || m.Seq != sent[7].Seq {
			t.Fatalf("retry = %+v, %v; want the original %+v", m, err, sent[7])
		}
		_, err = sa.Send(ctx, parley.SendRequest{ConversationID: conv.ID, ClientMsgID: "m7", Body: "something else"})
		wantCode(t, err, parley.ECONFLICT)
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := sa.Send(ctx, parley.SendRequest{ConversationID: 1 << 40, ClientMsgID: "x", Body: "x"})
		wantCode(t, err, parley.ENOTFOUND)
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		_, err := sa.Send(ctx, parley.SendRequest{ConversationID: conv.ID, ClientMsgID: "empty"})
		wantCode(t, err, parley.EINVALID)
	})
	t.Run("Typing", func(t *testing.T) {
		if err := sa.Typing(conv.ID); err != nil {
			t.Fatal(err)
		}
		ty := next(t, sb, parley.EventTyping).Data.(*client.Typing)
		if ty.ConversationID != conv.ID || ty.UserID != a.ID {
			t.Fatalf("typing %+v", ty)
		}
	})
	t.Run("Recall", func(t *testing.T) {
		m, err := sa.Recall(ctx, conv.ID, sent[0].ID)
		if err != nil || m.ID != sent[0].ID || m.RecalledAt == nil {
			t.Fatalf("recall = %+v, %v", m, err)
		}
		// The recall is a log entry of its own, then the recall event.
		entry := next(t, sb, parley.EventMessage).Data.(*parley.Message)
		if entry.Type != parley.RecallEntry || entry.RecallOf != sent[0].ID {
			t.Fatalf("recall entry %+v", entry)
		}
		rc := next(t, sb, parley.EventRecall).Data.(*client.Recall)
		if rc.ConversationID != conv.ID || rc.MessageID != sent[0].ID || rc.Seq != sent[0].Seq {
			t.Fatalf("recall event %+v, want message %s seq %d", rc, sent[0].ID, sent[0].Seq)
		}
	})
}

func TestCreateConversationRealtime(t *testing.T) {
	n := mustNode(t)
	ctx := context.Background()
	a, b := MustUser(t, n), MustUser(t, n)
	sa := MustDial(t, a, client.SocketConfig{})
	sb := MustDial(t, b, client.SocketConfig{})
	v, created, err := sa.CreateConversation(ctx, parley.CreateConversationRequest{MemberIDs: []parley.ID{b.ID}})
	if err != nil || !created || v.Type != parley.Direct {
		t.Fatalf("create = %+v, %v, %v", v, created, err)
	}
	got := next(t, sb, parley.EventConversation).Data.(*parley.ConversationView)
	if got.ID != v.ID {
		t.Fatalf("conversation event %+v", got)
	}
	v2, created, err := sb.CreateConversation(ctx, parley.CreateConversationRequest{MemberIDs: []parley.ID{a.ID}})
	if err != nil || created || v2.ID != v.ID {
		t.Fatalf("create again = %+v, %v, %v", v2, created, err)
	}
	_, _, err = sa.CreateConversation(ctx, parley.CreateConversationRequest{})
	wantCode(t, err, parley.EINVALID)
}

func TestSyncAfterReconnect(t *testing.T) {
	n := mustNode(t)
	ctx := context.Background()
	a, b := MustUser(t, n), MustUser(t, n)
	conv := MustDirect(t, a, b)
	sa := MustDial(t, a, client.SocketConfig{})
	sb := MustDial(t, b, client.SocketConfig{})

	send := func(i int) *parley.Message {
		t.Helper()
		m, err := sa.Send(ctx, parley.SendRequest{ConversationID: conv.ID, ClientMsgID: fmt.Sprint("s", i), Body: fmt.Sprint(i)})
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		return m
	}
	for i := range 3 {
		send(i)
		next(t, sb, parley.EventMessage)
	}
	cursors := sb.Cursors()
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(sb.Err(), client.ErrClosed) {
		t.Fatalf("closed socket's Err = %v", sb.Err())
	}
	var missed []*parley.Message
	for i := 3; i < 10; i++ {
		missed = append(missed, send(i))
	}

	sb = MustDial(t, b, client.SocketConfig{})
	if err := sb.Sync(ctx, cursors); err != nil {
		t.Fatal(err)
	}
	// Sync returns after the replay, so the replayed events are all queued.
	var got []*parley.Message
	for len(sb.Events()) > 0 {
		if ev := <-sb.Events(); ev.Name == parley.EventMessage {
			got = append(got, ev.Data.(*parley.Message))
		}
	}
	if len(got) != len(missed) {
		t.Fatalf("replayed %d messages, want %d", len(got), len(missed))
	}
	for i, m := range got {
		if m.ID != missed[i].ID || m.Seq != missed[i].Seq {
			t.Fatalf("replayed #%d: seq %d, want %d", i, m.Seq, missed[i].Seq)
		}
	}

	t.Run("StoredCursors", func(t *testing.T) {
		// With no cursors the server replays after the device's stored
		// cursor, which delivered moves. A new connection, as the server
		// replays nothing a socket has had already.
		if err := sb.Delivered(ctx, conv.ID, 8); err != nil {
			t.Fatal(err)
		}
		sb.Close()
		sb = MustDial(t, b, client.SocketConfig{})
		if err := sb.Sync(ctx, nil); err != nil {
			t.Fatal(err)
		}
		var seqs []int64
		for len(sb.Events()) > 0 {
			if ev := <-sb.Events(); ev.Name == parley.EventMessage {
				seqs = append(seqs, ev.Data.(*parley.Message).Seq)
			}
		}
		if len(seqs) != 2 || seqs[0] != 9 || seqs[1] != 10 {
			t.Fatalf("replayed seqs %v, want [9 10]", seqs)
		}
	})
}

func TestReconnect(t *testing.T) {
	bin := parleyBin
	dir := t.TempDir()
	n := mustNodeAt(t, bin, dir, "127.0.0.1:0")
	addr := n.URL[len("http://"):]
	ctx := context.Background()
	a, b := MustUser(t, n), MustUser(t, n)
	conv := MustDirect(t, a, b)

	reconnected := make(chan map[parley.ID]int64, 1)
	disconnects := make(chan error, 8)
	sb := MustDial(t, b, client.SocketConfig{
		Reconnect:    true,
		ReconnectMin: 50 * time.Millisecond,
		ReconnectMax: 200 * time.Millisecond,
		OnReconnect: func(s *client.Socket, resume map[parley.ID]int64) {
			if err := s.Sync(ctx, resume); err != nil {
				t.Errorf("sync after reconnect: %v", err)
			}
			reconnected <- resume
		},
		OnDisconnect: func(err error) { disconnects <- err },
	})
	if _, _, err := a.Send(ctx, parley.SendRequest{ConversationID: conv.ID, ClientMsgID: "before", Body: "before"}); err != nil {
		t.Fatal(err)
	}
	if m := next(t, sb, parley.EventMessage).Data.(*parley.Message); m.Seq != 1 {
		t.Fatalf("first message seq %d", m.Seq)
	}

	// A crash and a restart on the same address: the socket reconnects by
	// itself and catches up through OnReconnect's sync.
	n.Kill()
	select {
	case <-disconnects:
	case <-time.After(10 * time.Second):
		t.Fatal("no disconnect after the node died")
	}
	if _, err := sb.Send(ctx, parley.SendRequest{ConversationID: conv.ID, ClientMsgID: "x", Body: "x"}); !errors.Is(err, client.ErrDisconnected) {
		t.Fatalf("send while down: %v, want ErrDisconnected", err)
	}
	n = mustNodeAt(t, bin, dir, addr)
	for i := range 3 {
		if _, _, err := a.Send(ctx, parley.SendRequest{ConversationID: conv.ID, ClientMsgID: fmt.Sprint("after", i), Body: "after"}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case resume := <-reconnected:
		if resume[conv.ID] != 1 {
			t.Fatalf("resume cursors %v, want seq 1", resume)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no reconnect")
	}
	// Whether each arrived live or by the sync, all three come, and
	// duplicates are recognised by seq: live, then replayed, and seq 1
	// again when a live message reaches the new connection before its
	// sync does (the stream then starts at the device's stored cursor,
	// which no delivered receipt has moved).
	seen := map[int64]bool{}
	for len(seen) < 3 {
		m := next(t, sb, parley.EventMessage).Data.(*parley.Message)
		if m.Seq < 1 || m.Seq > 4 {
			t.Fatalf("unexpected seq %d", m.Seq)
		}
		if m.Seq > 1 {
			seen[m.Seq] = true
		}
	}
	if sb.Reconnects() != 1 {
		t.Errorf("reconnects %d, want 1", sb.Reconnects())
	}

	t.Run("ServerDisconnect", func(t *testing.T) {
		// Logging out disconnects the device's sockets for good: no
		// reconnection with a revoked token.
		if err := b.Logout(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case <-sb.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("socket still alive after logout")
		}
		if err := sb.Err(); !errors.Is(err, client.ErrServerDisconnect) {
			t.Fatalf("Err = %v, want ErrServerDisconnect", err)
		}
	})
}

func TestAck(t *testing.T) {
	n := mustNode(t)
	t.Run("ErrTimeout", func(t *testing.T) {
		u := MustUser(t, n)
		s := MustDial(t, u, client.SocketConfig{AckTimeout: time.Microsecond})
		// No round trip answers within a microsecond.
		_, err := s.EmitWithAck(context.Background(), "typing", map[string]int{"conversation_id": 1})
		if !errors.Is(err, client.ErrAckTimeout) {
			t.Fatalf("err = %v, want ErrAckTimeout", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Microsecond)
		defer cancel()
		if _, err = s.EmitWithAck(ctx, "typing", nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want the context's", err)
		}
	})
	t.Run("UnknownEventAnswered", func(t *testing.T) {
		u := MustUser(t, n)
		s := MustDial(t, u, client.SocketConfig{})
		raw, err := s.EmitWithAck(context.Background(), "no-such-event", map[string]int{"x": 1})
		if err != nil || !strings.Contains(string(raw), `"code":"invalid"`) {
			t.Fatalf("ack = %s, %v", raw, err)
		}
	})
	t.Run("ErrorEvent", func(t *testing.T) {
		u := MustUser(t, n)
		s := MustDial(t, u, client.SocketConfig{})
		// typing without an ack, for a conversation that does not exist.
		if err := s.Typing(1 << 40); err != nil {
			t.Fatal(err)
		}
		e := next(t, s, client.EventError).Data.(*client.ErrorEvent)
		if e.Event != "typing" || e.Code != parley.ENOTFOUND {
			t.Fatalf("error event %+v", e)
		}
	})
}

// TestCloseTogether closes two peers' sockets at the same moment, many
// times: each close makes the server announce presence to the other peer,
// whose connection is going away at that very moment. The node must stay
// healthy and stop cleanly afterwards.
func TestCloseTogether(t *testing.T) {
	n := mustNode(t)
	a, b := MustUser(t, n), MustUser(t, n)
	MustDirect(t, a, b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 20 {
		sa, err := a.Dial(ctx, client.SocketConfig{})
		if err != nil {
			t.Fatal(err)
		}
		sb, err := b.Dial(ctx, client.SocketConfig{})
		if err != nil {
			sa.Close()
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { sa.Close(); close(done) }()
		sb.Close()
		<-done
	}
	if _, err := a.Me(ctx); err != nil {
		t.Fatal(err)
	}
}
