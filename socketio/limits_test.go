package socketio

import (
	"bytes"
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
