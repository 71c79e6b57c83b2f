package socketio

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestBinaryBeforeConnectRefused(t *testing.T) {
	for _, tt := range []struct{ name, header string }{
		{"ErrNoNamespace", `451-["upload",{"_placeholder":true,"num":0}]`},
		{"ErrOtherNamespace", `451-/admin,["upload",{"_placeholder":true,"num":0}]`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, url := MustServer(t, Config{}, func(srv *Server) { srv.Of("/") })
			tc := MustDial(t, url)
			if tt.header[3] == '/' {
				tc.send("40")
				tc.expectPrefix("40{")
			}
			// The header alone closes the connection: nothing waits for
			// the attachments it announces.
			tc.send(tt.header)
			tc.expectClosed()
		})
	}
}

func TestAttachmentBytesBounded(t *testing.T) {
	disc := newReasons()
	got := make(chan int, 1)
	_, url := MustServer(t, Config{MaxAttachmentBytes: 1000}, func(srv *Server) {
		root := srv.Of("/")
		root.OnDisconnect = disc.hook
		root.On("upload", func(s *Socket, ev Event) { got <- len(ev.Attachments) })
	})
	tc := MustDial(t, url)
	tc.send("40")
	tc.expectPrefix("40{")

	t.Run("OKWithinBound", func(t *testing.T) {
		tc.send(`452-["upload",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)
		_ = tc.c.WriteBinary(bytes.Repeat([]byte{1}, 500))
		_ = tc.c.WriteBinary(bytes.Repeat([]byte{2}, 500))
		if n := <-got; n != 2 {
			t.Fatalf("handler got %d attachments", n)
		}
	})
	t.Run("ErrOverBound", func(t *testing.T) {
		tc.send(`453-["upload",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1},{"_placeholder":true,"num":2}]`)
		_ = tc.c.WriteBinary(bytes.Repeat([]byte{1}, 600))
		_ = tc.c.WriteBinary(bytes.Repeat([]byte{2}, 600))
		tc.expectClosed()
		if r := disc.wait(t); r != ReasonParseError {
			t.Errorf("reason %q, want %q", r, ReasonParseError)
		}
		select {
		case n := <-got:
			t.Errorf("handler got an event of %d attachments", n)
		default:
		}
	})
}

func TestAdmit(t *testing.T) {
	handled := make(chan string, 4)
	_, url := MustServer(t, Config{}, func(srv *Server) {
		root := srv.Of("/")
		root.Admit = func(s *Socket, ev Event) bool {
			if ev.InvalidUTF8 {
				_ = ev.Ack(json.RawMessage(`{"ok":false,"error":"invalid"}`))
				return false
			}
			return true
		}
		root.On("echo", func(s *Socket, ev Event) {
			handled <- string(ev.Args[0])
			_ = ev.Ack(ev.Args[0])
		})
	})
	tc := MustDial(t, url)
	tc.send("40")
	tc.expectPrefix("40{")
	t.Run("OKAdmitted", func(t *testing.T) {
		tc.send(`421["echo","fine"]`)
		tc.expect(`431["fine"]`)
		if got := <-handled; got != `"fine"` {
			t.Errorf("handler got %s", got)
		}
	})
	t.Run("ErrInvalidUTF8Refused", func(t *testing.T) {
		tc.send("422[\"echo\",\"a\xff\xfeb\"]")
		tc.expect(`432[{"ok":false,"error":"invalid"}]`)
		// The connection stays: the next event is served.
		tc.send(`423["echo","after"]`)
		tc.expect(`433["after"]`)
		if got := <-handled; got != `"after"` {
			t.Errorf("handler got %s, want only the valid event", got)
		}
	})
}
