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
		// A continuation whose announced length wraps around when added
		// to the fragment held so far is too big, not a frame to wait for.
		{"ErrTooBigContinuationLengthWraps", append(wstest.Frame(false, wstest.OpText, []byte("4")), hugeContinuationHeader...), 1009},
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

// hugeContinuationHeader starts a continuation frame that announces
// 2^64-1 payload bytes.
var hugeContinuationHeader = []byte{0x80, 0x80 | 127, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4}

func TestNextFrame(t *testing.T) {
	const maxPayload = 100
	for _, tt := range []struct {
		name    string
		b       []byte
		fragLen int
		used    int
		code    int
	}{
		{"OK", wstest.Frame(true, wstest.OpText, []byte("4hi")), 0, 9, 0},
		{"OKIncompleteHeader", []byte{0x81}, 0, 0, 0},
		{"OKIncompletePayload", wstest.Frame(true, wstest.OpText, []byte("4hi"))[:8], 0, 0, 0},
		{"OKAtLimit", wstest.Frame(true, wstest.OpBinary, make([]byte, 60)), 40, 66, 0},
		{"ErrTooBig", wstest.Frame(true, wstest.OpBinary, make([]byte, 61)), 40, 0, closeTooBig},
		{"ErrTooBigBeforePayload", wstest.Frame(true, wstest.OpBinary, make([]byte, 200))[:8], 0, 0, closeTooBig},
		{"ErrTooBigLengthWraps", hugeContinuationHeader, 1, 0, closeTooBig},
		{"ErrTooBigLengthWrapsNoFragment", hugeContinuationHeader, 0, 0, closeTooBig},
		{"ErrControlTooLong", wstest.Frame(true, wstest.OpPing, make([]byte, 126)), 0, 0, closeProtocolError},
		{"ErrControlFragmented", wstest.Frame(false, wstest.OpPing, nil), 0, 0, closeProtocolError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, used, code := nextFrame(tt.b, tt.fragLen, maxPayload)
			if used != tt.used || code != tt.code {
				t.Errorf("nextFrame = used %d, code %d; want used %d, code %d", used, code, tt.used, tt.code)
			}
		})
	}
}
