package socketio

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parleyhq/parley/engineio"
	"github.com/parleyhq/parley/engineio/wstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// MustServer starts srv's endpoint on loopback and returns the WebSocket URL.
func MustServer(t testing.TB, cfg Config, setup func(*Server)) (*Server, string) {
	t.Helper()
	if cfg.Engine.PingInterval == 0 {
		cfg.Engine.PingInterval = time.Minute
	}
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	setup(srv)
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
	})
	return srv, "ws" + strings.TrimPrefix(hs.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
}

// mustDialB connects a benchmark client to "/" and returns the raw
// connection, past the CONNECT reply.
func mustDialB(b *testing.B, url string) *wstest.Conn {
	b.Helper()
	c, err := wstest.Dial(url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	if _, _, err := c.Read(); err != nil {
		b.Fatal(err)
	}
	if err := c.WriteText("40"); err != nil {
		b.Fatal(err)
	}
	if _, _, err := c.Read(); err != nil {
		b.Fatal(err)
	}
	return c
}

type testClient struct {
	t *testing.T
	c *wstest.Conn
}

// MustDial opens a WebSocket and reads the Engine.IO handshake.
func MustDial(t *testing.T, url string) *testClient {
	t.Helper()
	c, err := wstest.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	tc := &testClient{t, c}
	if open := tc.read(); !strings.HasPrefix(open, "0{") {
		t.Fatalf("open packet %q", open)
	}
	return tc
}

func (tc *testClient) send(s string) {
	tc.t.Helper()
	if err := tc.c.WriteText(s); err != nil {
		tc.t.Fatal(err)
	}
}

// read returns the next text frame, skipping pings.
func (tc *testClient) read() string {
	tc.t.Helper()
	for {
		_ = tc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		bin, data, err := tc.c.Read()
		if err != nil {
			tc.t.Fatalf("read: %v", err)
		}
		if bin {
			return "<binary " + string(data) + ">"
		}
		if string(data) != "2" {
			return string(data)
		}
	}
}

func (tc *testClient) expect(want string) {
	tc.t.Helper()
	if got := tc.read(); got != want {
		tc.t.Fatalf("got %q, want %q", got, want)
	}
}

func (tc *testClient) expectPrefix(prefix string) string {
	tc.t.Helper()
	got := tc.read()
	if !strings.HasPrefix(got, prefix) {
		tc.t.Fatalf("got %q, want prefix %q", got, prefix)
	}
	return got
}

func (tc *testClient) expectClosed() {
	tc.t.Helper()
	_ = tc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := tc.c.Read(); err != nil {
			if strings.Contains(err.Error(), "timeout") {
				tc.t.Fatal("connection not closed")
			}
			return
		}
	}
}

// reasons collects OnDisconnect calls.
type reasons struct {
	ch chan Reason
}

func newReasons() *reasons { return &reasons{ch: make(chan Reason, 8)} }

func (r *reasons) hook(s *Socket, reason Reason) { r.ch <- reason }

func (r *reasons) wait(t *testing.T) Reason {
	t.Helper()
	select {
	case x := <-r.ch:
		return x
	case <-time.After(5 * time.Second):
		t.Fatal("no disconnect")
		return ""
	}
}

func TestConnect(t *testing.T) {
	var gotAuth sync.Map
	_, url := MustServer(t, Config{}, func(srv *Server) {
		for _, name := range []string{"/", "/custom"} {
			srv.Of(name).OnConnect = func(s *Socket, auth json.RawMessage) error {
				gotAuth.Store(s.Namespace().Name(), string(auth))
				return s.Emit("auth", auth)
			}
		}
	})
	t.Run("OK", func(t *testing.T) {
		tc := MustDial(t, url)
		tc.send("40")
		reply := tc.expectPrefix("40{")
		var hs map[string]string
		if err := json.Unmarshal([]byte(reply[2:]), &hs); err != nil || len(hs) != 1 || len(hs["sid"]) != 20 {
			t.Errorf("CONNECT reply %s", reply)
		}
		tc.expect(`42["auth",null]`)
	})
	t.Run("OKWithAuth", func(t *testing.T) {
		tc := MustDial(t, url)
		tc.send(`40{"token":"123"}`)
		tc.expectPrefix("40{")
		tc.expect(`42["auth",{"token":"123"}]`)
	})
	t.Run("OKCustomNamespace", func(t *testing.T) {
		tc := MustDial(t, url)
		tc.send(`40/custom,{"token":"abc"}`)
		tc.expectPrefix(`40/custom,{"sid":"`)
		tc.expect(`42/custom,["auth",{"token":"abc"}]`)
		if v, _ := gotAuth.Load("/custom"); v != `{"token":"abc"}` {
			t.Errorf("auth = %v", v)
		}
	})
	t.Run("ErrInvalidNamespace", func(t *testing.T) {
		tc := MustDial(t, url)
		tc.send("40/random")
		tc.expect(`44/random,{"message":"Invalid namespace"}`)
		tc.send("40")
		tc.expectPrefix("40{")
	})
	t.Run("ErrNotConnectFirst", func(t *testing.T) {
		tc := MustDial(t, url)
		tc.send(`42["x"]`)
		tc.expectClosed()
	})
	t.Run("ErrConnectTwice", func(t *testing.T) {
		tc := MustDial(t, url)
		tc.send("40")
		tc.expectPrefix("40{")
		tc.read()
		tc.send("40")
		tc.expectClosed()
	})
}

func TestConnectRefused(t *testing.T) {
	disc := newReasons()
	_, url := MustServer(t, Config{}, func(srv *Server) {
		root := srv.Of("/")
		root.OnConnect = func(s *Socket, auth json.RawMessage) error {
			if string(auth) == `{"token":"good"}` {
				return nil
			}
			if auth == nil {
				return errors.New("unauthorized")
			}
			return &ConnectError{Message: "unauthorized", Data: map[string]string{"code": "bad_token"}}
		}
		root.OnDisconnect = disc.hook
	})
	tc := MustDial(t, url)
	tc.send("40")
	tc.expect(`44{"message":"unauthorized"}`)
	tc.send(`40{"token":"bad"}`)
	tc.expect(`44{"message":"unauthorized","data":{"code":"bad_token"}}`)
	tc.send(`40{"token":"good"}`)
	tc.expectPrefix("40{")
	select {
	case r := <-disc.ch:
		t.Errorf("refused sockets got OnDisconnect(%q)", r)
	default:
	}
}

func TestConnectTimeout(t *testing.T) {
	_, url := MustServer(t, Config{ConnectTimeout: 50 * time.Millisecond}, func(srv *Server) { srv.Of("/") })
	tc := MustDial(t, url)
	tc.expectClosed()
}

func TestEvents(t *testing.T) {
	disc := newReasons()
	var mu sync.Mutex
	var sock *Socket
	_, url := MustServer(t, Config{}, func(srv *Server) {
		root := srv.Of("/")
		root.OnConnect = func(s *Socket, _ json.RawMessage) error {
			mu.Lock()
			sock = s
			mu.Unlock()
			return nil
		}
		root.OnDisconnect = disc.hook
		root.On("message", func(s *Socket, ev Event) {
			args := make([]any, len(ev.Args))
			for i, a := range ev.Args {
				args[i] = a
				if n, ok := Placeholder(a); ok {
					args[i] = ev.Attachments[n]
				}
			}
			_ = s.Emit("message-back", args...)
		})
		root.On("with-ack", func(s *Socket, ev Event) {
			if ev.Ack == nil {
				_ = s.EmitRaw("no-ack", nil)
				return
			}
			_ = ev.Ack(ev.Args[0], json.RawMessage(`{"ok":true}`))
			if err := ev.Ack(); err != ErrAckUsed {
				t.Errorf("second ack = %v", err)
			}
		})
	})
	tc := MustDial(t, url)
	tc.send("40")
	tc.expectPrefix("40{")

	t.Run("Event", func(t *testing.T) {
		tc.send(`42["message",1,"2",{"3":[true]}]`)
		tc.expect(`42["message-back",1,"2",{"3":[true]}]`)
	})
	t.Run("UnknownEventIgnored", func(t *testing.T) {
		tc.send(`42["nobody-listens",1]`)
		tc.send(`42["message","after"]`)
		tc.expect(`42["message-back","after"]`)
	})
	t.Run("Ack", func(t *testing.T) {
		tc.send(`42456["with-ack","x"]`)
		tc.expect(`43456["x",{"ok":true}]`)
		tc.send(`42["with-ack","x"]`)
		tc.expect(`42["no-ack"]`)
	})
	t.Run("BinaryEvent", func(t *testing.T) {
		tc.send(`452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)
		_ = tc.c.WriteBinary([]byte("AB"))
		_ = tc.c.WriteBinary([]byte("CD"))
		tc.expect(`452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)
		tc.expect("<binary AB>")
		tc.expect("<binary CD>")
	})
	t.Run("EmitRawAndPrepared", func(t *testing.T) {
		mu.Lock()
		s := sock
		mu.Unlock()
		if err := s.EmitRaw("message", []byte(`{"id":"1","seq":2}`)); err != nil {
			t.Fatal(err)
		}
		tc.expect(`42["message",{"id":"1","seq":2}]`)
		p := s.Namespace().PrepareEvent("typing", []byte(`{"conversation_id":"9"}`))
		if err := s.EmitPrepared(p); err != nil {
			t.Fatal(err)
		}
		tc.expect(`42["typing",{"conversation_id":"9"}]`)
	})
	t.Run("EmitWithAck", func(t *testing.T) {
		mu.Lock()
		s := sock
		mu.Unlock()
		got := make(chan string, 2)
		cb := func(args []json.RawMessage, err error) {
			if err != nil {
				got <- err.Error()
				return
			}
			got <- string(args[0])
		}
		if err := s.EmitWithAck("question", time.Minute, cb, "q"); err != nil {
			t.Fatal(err)
		}
		pkt := tc.expectPrefix(`42`)
		id := strings.TrimSuffix(strings.TrimPrefix(pkt, "42"), `["question","q"]`)
		tc.send("43" + id + `["answer"]`)
		if a := <-got; a != `"answer"` {
			t.Errorf("ack = %s", a)
		}
		if err := s.EmitWithAck("question", 20*time.Millisecond, cb); err != nil {
			t.Fatal(err)
		}
		tc.read()
		if a := <-got; a != ErrAckTimeout.Error() {
			t.Errorf("ack = %s, want timeout", a)
		}
	})
	t.Run("ServerDisconnect", func(t *testing.T) {
		mu.Lock()
		s := sock
		mu.Unlock()
		s.Disconnect()
		tc.expect("41")
		if r := disc.wait(t); r != ReasonServerDisconnect || r.ShouldReconnect() {
			t.Errorf("reason %q", r)
		}
		if err := s.EmitRaw("x", nil); err != ErrDisconnected {
			t.Errorf("emit after disconnect = %v", err)
		}
	})
}

func TestDisconnectReasons(t *testing.T) {
	disc := newReasons()
	var mu sync.Mutex
	var sock *Socket
	_, url := MustServer(t, Config{}, func(srv *Server) {
		for _, name := range []string{"/", "/custom"} {
			srv.Of(name).OnDisconnect = disc.hook
		}
		srv.Of("/").OnConnect = func(s *Socket, _ json.RawMessage) error {
			mu.Lock()
			sock = s
			mu.Unlock()
			return nil
		}
	})
	t.Run("ClientNamespaceDisconnect", func(t *testing.T) {
		tc := MustDial(t, url)
		tc.send("40")
		tc.expectPrefix("40")
		tc.send("40/custom,")
		tc.expectPrefix("40/custom,")
		tc.send("41/custom,")
		if r := disc.wait(t); r != ReasonClientDisconnect {
			t.Errorf("reason %q", r)
		}
		tc.send(`42["still-here"]`) // "/" is still connected: no close
		tc.c.Close()
		if r := disc.wait(t); r != ReasonTransportClose || !r.ShouldReconnect() {
			t.Errorf("reason %q", r)
		}
	})
	t.Run("InvalidPacket", func(t *testing.T) {
		for _, bad := range []string{"4abc", "42{}", `42abc["x"]`, `42["connect"]`, `41/nope,`} {
			tc := MustDial(t, url)
			tc.send("40")
			tc.expectPrefix("40")
			tc.send(bad)
			tc.expectClosed()
			if r := disc.wait(t); r != ReasonParseError {
				t.Errorf("%s: reason %q", bad, r)
			}
		}
	})
	t.Run("CloseConnection", func(t *testing.T) {
		tc := MustDial(t, url)
		tc.send("40")
		tc.expectPrefix("40")
		mu.Lock()
		s := sock
		mu.Unlock()
		s.CloseConnection()
		tc.expectClosed()
		if r := disc.wait(t); r != ReasonForcedClose || !r.ShouldReconnect() {
			t.Errorf("reason %q", r)
		}
	})
}

func TestEmitDuringConnectFollowsReply(t *testing.T) {
	_, url := MustServer(t, Config{}, func(srv *Server) {
		srv.Of("/").OnConnect = func(s *Socket, _ json.RawMessage) error {
			for i := 0; i < 3; i++ {
				if err := s.EmitRaw("early", []byte{'0' + byte(i)}); err != nil {
					return err
				}
			}
			return nil
		}
	})
	tc := MustDial(t, url)
	tc.send("40")
	tc.expectPrefix("40{")
	for i := 0; i < 3; i++ {
		tc.expect(`42["early",` + string(rune('0'+i)) + `]`)
	}
}

func TestSlowConsumer(t *testing.T) {
	disc := newReasons()
	var mu sync.Mutex
	var sock *Socket
	_, url := MustServer(t, Config{Engine: engineio.Config{MaxWriteBuffer: 32 << 10}}, func(srv *Server) {
		root := srv.Of("/")
		root.OnConnect = func(s *Socket, _ json.RawMessage) error {
			mu.Lock()
			sock = s
			mu.Unlock()
			return nil
		}
		root.OnDisconnect = disc.hook
	})
	tc := MustDial(t, url)
	tc.send("40")
	tc.expectPrefix("40")
	mu.Lock()
	s := sock
	mu.Unlock()
	p := s.Namespace().PrepareEvent("message", []byte(`"`+strings.Repeat("x", 8<<10)+`"`))
	var err error
	for i := 0; i < 100000 && err == nil; i++ {
		err = s.EmitPrepared(p)
	}
	if err != ErrDisconnected {
		t.Fatalf("emits to a client that never reads did not fail: %v", err)
	}
	if r := disc.wait(t); r != ReasonSlowConsumer {
		t.Errorf("reason %q", r)
	}
}
