package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	parleyclient "github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/engineio/wstest"
)

// rawSocket opens a WebSocket Engine.IO session and joins "/" with token,
// speaking the protocol by hand.
func rawSocket(t *testing.T, addr, token string) *wstest.Conn {
	t.Helper()
	ws, err := wstest.Dial("ws://" + addr + "/socket.io/?EIO=4&transport=websocket")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, open, err := ws.Read(); err != nil || !strings.HasPrefix(string(open), "0{") {
		t.Fatalf("open packet = %q, %v", open, err)
	}
	if err := ws.WriteText(`40{"token":"` + token + `"}`); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := ws.Read(); err != nil || !strings.HasPrefix(string(ok), `40{"sid":"`) {
		t.Fatalf("connect reply = %q, %v", ok, err)
	}
	return ws
}

// readUntilClosed reads until the server closes the connection, answering
// pings, and reports whether it did within the deadline.
func readUntilClosed(ws *wstest.Conn, d time.Duration) bool {
	ws.SetReadDeadline(time.Now().Add(d))
	for {
		_, data, err := ws.Read()
		if err != nil {
			return !strings.Contains(err.Error(), "timeout")
		}
		if string(data) == "2" {
			ws.WriteText("3")
		}
	}
}

func dialClient(t *testing.T, addr, token string) *parleyclient.Socket {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := parleyclient.New("http://"+addr, nil).WithToken(token).Dial(ctx, parleyclient.SocketConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestRealtimeMalformedPackets sends broken packets, each on its own
// session: the server closes that session only and keeps serving others.
func TestRealtimeMalformedPackets(t *testing.T) {
	m := MustRunMain(t, testConfig(t))
	anon := newClient(t, m.Addr())
	alice, _ := anon.mustSignUp("alice")
	_, bs := anon.mustSignUp("bob")
	conv := directConversation(t, alice, bs.User.ID)
	healthy := dialClient(t, m.Addr(), alice.token)
	for i, bad := range []string{
		`42[`,           // truncated JSON
		`42{"a":1}`,     // event payload not an array
		`42["connect"]`, // reserved event name
		`2x["send"]`,    // non-numeric ack id
		`9`,             // unknown packet type
		`4` + strings.Repeat("[", 100) + strings.Repeat("]", 100), // nesting too deep
		`451-["send",{"_placeholder":true,"num":0}]4`,             // text where an attachment must come
	} {
		t.Run(bad[:min(len(bad), 12)], func(t *testing.T) {
			ws := rawSocket(t, m.Addr(), alice.token)
			if err := ws.WriteText("4" + bad); err != nil {
				t.Fatal(err)
			}
			if !readUntilClosed(ws, 5*time.Second) {
				t.Fatalf("session still open after %q", bad)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := healthy.Send(ctx, parley.SendRequest{ConversationID: mustID(t, conv), ClientMsgID: fmt.Sprint("after-", i), Type: parley.TextMessage, Body: "still here"}); err != nil {
				t.Fatalf("another client after the bad packet: %v", err)
			}
		})
	}
}

func mustID(t testing.TB, s string) parley.ID {
	id, err := parley.ParseID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestRealtimeSlowConsumer: a client that stops reading is dropped once its
// buffer overflows, while another device of the same user keeps receiving.
func TestRealtimeSlowConsumer(t *testing.T) {
	cfg := testConfig(t)
	cfg.SocketBuffer = 64 << 10
	m := MustRunMain(t, cfg)
	anon := newClient(t, m.Addr())
	alice, _ := anon.mustSignUp("alice")
	_, bs := anon.mustSignUp("bob")
	conv := mustID(t, directConversation(t, alice, bs.User.ID))
	stuck := rawSocket(t, m.Addr(), login(t, anon, "bob")) // never reads again
	_ = stuck
	reader := dialClient(t, m.Addr(), login(t, anon, "bob"))
	sender := dialClient(t, m.Addr(), alice.token)
	body := strings.Repeat("x", 4000)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var got atomic.Int64
	go func() {
		for ev := range reader.Events() {
			if ev.Name == parley.EventMessage {
				got.Add(1)
			}
		}
	}()
	sent := 0
	for sent < 5000 && slowConsumers(t, m) == 0 {
		if _, err := sender.Send(ctx, parley.SendRequest{ConversationID: conv, ClientMsgID: fmt.Sprint("f", sent), Type: parley.TextMessage, Body: body}); err != nil {
			t.Fatalf("send %d: %v", sent, err)
		}
		sent++
	}
	if slowConsumers(t, m) == 0 {
		t.Fatalf("the stuck client was not dropped after %d messages", sent)
	}
	// The other device keeps its stream.
	for i := 0; i < 20; i++ {
		if _, err := sender.Send(ctx, parley.SendRequest{ConversationID: conv, ClientMsgID: fmt.Sprint("after", i), Type: parley.TextMessage, Body: "after"}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the healthy device's messages", func() bool { return got.Load() >= int64(sent+20) })
	t.Logf("stuck client dropped after %d messages of 4 KB; the other device received %d", sent, got.Load())
}

func slowConsumers(t *testing.T, m *Main) int {
	var b strings.Builder
	m.Metrics.WriteText(&b)
	for _, line := range strings.Split(b.String(), "\n") {
		if v, ok := strings.CutPrefix(line, "parley_realtime_slow_consumers_total "); ok {
			var n int
			json.Unmarshal([]byte(v), &n)
			return n
		}
	}
	t.Fatal("no slow consumer metric")
	return 0
}

// TestRealtimeHTTPSendReachesSockets: a message sent over the HTTP API
// goes through the same pipeline and reaches the members' sockets live.
func TestRealtimeHTTPSendReachesSockets(t *testing.T) {
	m := MustRunMain(t, testConfig(t))
	anon := newClient(t, m.Addr())
	alice, _ := anon.mustSignUp("alice")
	_, bs := anon.mustSignUp("bob")
	conv := directConversation(t, alice, bs.User.ID)
	bob := dialClient(t, m.Addr(), login(t, anon, "bob"))
	other := dialClient(t, m.Addr(), login(t, anon, "alice")) // alice's other device
	if s, b := alice.raw("POST", "/v1/conversation/"+conv+"/messages", []byte(`{"client_msg_id":"h1","body":"over http"}`)); s != 201 {
		t.Fatalf("send: %d %s", s, b)
	}
	for _, s := range []*parleyclient.Socket{bob, other} {
		for got := false; !got; {
			select {
			case ev := <-s.Events():
				if ev.Name != parley.EventMessage {
					continue // presence and the like
				}
				msg, ok := ev.Data.(*parley.Message)
				if !ok || msg.Body != "over http" || msg.Seq != 1 {
					t.Fatalf("message event %+v", ev.Data)
				}
				got = true
			case <-time.After(10 * time.Second):
				t.Fatal("no message event")
			}
		}
	}
}
