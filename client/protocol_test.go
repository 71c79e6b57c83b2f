package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// scripted serves one WebSocket connection with script, which plays the
// server's side of the protocol frame by frame: the protocol corners a real
// node never shows on demand (binary packets, missing heartbeats).
func scripted(t *testing.T, script func(ctx context.Context, ws *websocket.Conn)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/socket.io/" || r.URL.Query().Get("EIO") != "4" || r.URL.Query().Get("transport") != "websocket" {
			http.Error(w, "bad endpoint", http.StatusBadRequest)
			return
		}
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		script(r.Context(), ws)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func write(ctx context.Context, t *testing.T, ws *websocket.Conn, typ websocket.MessageType, s string) {
	if err := ws.Write(ctx, typ, []byte(s)); err != nil {
		t.Errorf("server write %q: %v", s, err)
	}
}

func expect(ctx context.Context, t *testing.T, ws *websocket.Conn, want string) {
	_, b, err := ws.Read(ctx)
	if err != nil || string(b) != want {
		t.Errorf("server read %q, %v; want %q", b, err, want)
	}
}

// handshake plays the open packet and accepts the CONNECT.
func handshake(ctx context.Context, t *testing.T, ws *websocket.Conn, pingMS string) {
	write(ctx, t, ws, websocket.MessageText, `0{"sid":"s1","upgrades":[],"pingInterval":`+pingMS+`,"pingTimeout":`+pingMS+`,"maxPayload":1000000}`)
	expect(ctx, t, ws, `40{"token":"tok"}`)
	write(ctx, t, ws, websocket.MessageText, `40{"sid":"sock1"}`)
}

func TestProtocol(t *testing.T) {
	t.Run("PingBinaryAndServerDisconnect", func(t *testing.T) {
		idRead := make(chan struct{})
		url := scripted(t, func(ctx context.Context, ws *websocket.Conn) {
			handshake(ctx, t, ws, "25000")
			// The disconnect below clears the id; the test reads it first.
			select {
			case <-idRead:
			case <-ctx.Done():
				return
			}
			write(ctx, t, ws, websocket.MessageText, "2")
			expect(ctx, t, ws, "3")
			// A binary event and its attachment, then an ordinary one.
			write(ctx, t, ws, websocket.MessageText, `451-["upload",{"_placeholder":true,"num":0}]`)
			write(ctx, t, ws, websocket.MessageBinary, "\x01\x02")
			write(ctx, t, ws, websocket.MessageText, `42["custom",{"n":1}]`)
			write(ctx, t, ws, websocket.MessageText, `41`)
			ws.Read(ctx) // until the client goes
		})
		s, err := Dial(context.Background(), SocketConfig{URL: url, Token: "tok", Reconnect: true})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if s.ID() != "sock1" {
			t.Errorf("socket id %q", s.ID())
		}
		close(idRead)
		var got []Event
		for ev := range s.Events() {
			got = append(got, ev)
		}
		if len(got) != 2 || got[0].Name != "upload" || !errors.Is(got[0].Err, ErrBinary) ||
			got[1].Name != "custom" || string(got[1].Raw) != `{"n":1}` || got[1].Data != nil {
			t.Fatalf("events %+v", got)
		}
		// No reconnection after an explicit disconnect by the server.
		if !errors.Is(s.Err(), ErrServerDisconnect) || s.Reconnects() != 0 {
			t.Fatalf("Err = %v, reconnects %d", s.Err(), s.Reconnects())
		}
	})
	t.Run("PendingAcksFailOnClose", func(t *testing.T) {
		url := scripted(t, func(ctx context.Context, ws *websocket.Conn) {
			handshake(ctx, t, ws, "25000")
			for {
				if _, _, err := ws.Read(ctx); err != nil {
					return // the event is never answered
				}
			}
		})
		s, err := Dial(context.Background(), SocketConfig{URL: url, Token: "tok"})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		if err := s.EmitAsync("anything", nil, 0, func(_ json.RawMessage, err error) { done <- err }); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Fatalf("pending ack: %v, want ErrClosed", err)
		}
		if err := s.Emit("typing", nil); !errors.Is(err, ErrClosed) {
			t.Fatalf("emit after close: %v", err)
		}
		if _, ok := <-s.Events(); ok {
			t.Fatal("events channel still open")
		}
		s.Close() // twice is fine
	})
	t.Run("ErrPingTimeout", func(t *testing.T) {
		url := scripted(t, func(ctx context.Context, ws *websocket.Conn) {
			handshake(ctx, t, ws, "100")
			ws.Read(ctx) // never pings
		})
		s, err := Dial(context.Background(), SocketConfig{URL: url, Token: "tok"})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		select {
		case <-s.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("socket alive without pings")
		}
		if !errors.Is(s.Err(), errPingTimeout) {
			t.Fatalf("Err = %v", s.Err())
		}
	})
	t.Run("ErrBinaryAck", func(t *testing.T) {
		url := scripted(t, func(ctx context.Context, ws *websocket.Conn) {
			handshake(ctx, t, ws, "25000")
			expect(ctx, t, ws, `421["up",{"a":1}]`)
			write(ctx, t, ws, websocket.MessageText, `461-1[{"_placeholder":true,"num":0}]`)
			write(ctx, t, ws, websocket.MessageBinary, "\x00")
			ws.Read(ctx)
		})
		s, err := Dial(context.Background(), SocketConfig{URL: url, Token: "tok"})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.EmitWithAck(context.Background(), "up", map[string]int{"a": 1}); !errors.Is(err, ErrBinary) {
			t.Fatalf("err = %v, want ErrBinary", err)
		}
	})
	t.Run("ErrParse", func(t *testing.T) {
		url := scripted(t, func(ctx context.Context, ws *websocket.Conn) {
			handshake(ctx, t, ws, "25000")
			write(ctx, t, ws, websocket.MessageText, `9nonsense`)
			ws.Read(ctx)
		})
		s, err := Dial(context.Background(), SocketConfig{URL: url, Token: "tok"})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		<-s.Done()
		if !errors.Is(s.Err(), errBadPacket) {
			t.Fatalf("Err = %v", s.Err())
		}
	})
}
