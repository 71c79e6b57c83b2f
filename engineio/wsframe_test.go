package engineio

import (
	"testing"
	"time"

	"github.com/parleyhq/parley/engineio/wstest"
)

func TestWebSocketFraming(t *testing.T) {
	t.Run("OKSplitAcrossReads", func(t *testing.T) {
		ts := MustServer(t, Config{PingInterval: time.Minute}, newRecorder(true))
		c, _ := ts.MustWebSocket(t)
		f := append(wstest.Frame(true, wstest.OpText, []byte("4split")), wstest.Frame(true, wstest.OpText, []byte("4two"))...)
		for _, part := range [][]byte{f[:1], f[1:3], f[3:9], f[9:]} {
			if err := c.WriteRaw(part); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if _, data := mustRead(t, c); data != "4split" {
			t.Errorf("got %q", data)
		}
		if _, data := mustRead(t, c); data != "4two" {
			t.Errorf("got %q", data)
		}
	})
	t.Run("OKFragmented", func(t *testing.T) {
		ts := MustServer(t, Config{PingInterval: time.Minute}, newRecorder(true))
		c, _ := ts.MustWebSocket(t)
		_ = c.WriteRaw(wstest.Frame(false, wstest.OpText, []byte("4frag")))
		_ = c.WriteRaw(wstest.Frame(true, wstest.OpPing, []byte("hi"))) // control frames may interleave
		_ = c.WriteRaw(wstest.Frame(false, 0, []byte("men")))
		_ = c.WriteRaw(wstest.Frame(true, 0, []byte("ted")))
		if _, data := mustRead(t, c); data != "4fragmented" {
			t.Errorf("got %q", data)
		}
	})
	for _, tt := range []struct {
		name  string
		frame []byte
		code  int
	}{
		{"ErrUnmasked", []byte{0x81, 0x02, '4', 'x'}, 1002},
		{"ErrReservedBits", append([]byte{0xc1}, wstest.Frame(true, wstest.OpText, []byte("4x"))[1:]...), 1002},
		{"ErrContinuationFirst", wstest.Frame(true, 0, []byte("4x")), 1002},
		{"ErrUnknownOpcode", wstest.Frame(true, 0x3, []byte("4x")), 1002},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := MustServer(t, Config{PingInterval: time.Minute}, newRecorder(true))
			c, _ := ts.MustWebSocket(t)
			_ = c.WriteRaw(tt.frame)
			readUntilClosed(t, c)
			if c.CloseCode != tt.code {
				t.Errorf("close code %d, want %d", c.CloseCode, tt.code)
			}
			ts.h.waitClosed(t)
		})
	}
}
