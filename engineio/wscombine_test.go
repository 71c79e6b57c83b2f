package engineio

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/parleyhq/parley/engineio/wstest"
)

// holdWriter makes the test the session's WebSocket writer, as if a write
// were under way: whatever is sent until release is queued behind it.
func holdWriter(t *testing.T, s *Session) (w *nbioWS, release func() error) {
	t.Helper()
	s.mu.Lock()
	w = s.ws.(*nbioWS)
	lead, err := w.queuePacket(typeMessage, false, []byte("held"))
	s.mu.Unlock()
	if err != nil || !lead {
		t.Fatalf("queue: lead %v, err %v", lead, err)
	}
	return w, w.flush
}

func readN(t *testing.T, c *wstest.Conn, n int) []string {
	t.Helper()
	out := make([]string, 0, n)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for len(out) < n {
		bin, data, err := c.Read()
		if err != nil {
			t.Fatalf("read after %d messages: %v", len(out), err)
		}
		if bin {
			out = append(out, "bin:"+string(data))
		} else {
			out = append(out, string(data))
		}
	}
	return out
}

// Packets sent while a write is under way are queued, not written, and the
// writer hands them all to nbio in one write once its own returns.
func TestWebSocketSendsCombine(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute}, newRecorder(false))
	c, _ := ts.MustWebSocket(t)
	s := ts.h.session(t)
	tr := ts.ws.(*nbioTransport)
	_, release := holdWriter(t, s)
	const n = 200
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n / 4 {
				if err := s.Send(fmt.Appendf(nil, "%d:%d", g, i)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait() // no Send waited for the held write
	w0 := tr.writes.Load()
	if err := release(); err != nil {
		t.Fatal(err)
	}
	if got := tr.writes.Load() - w0; got != 1 {
		t.Errorf("%d packets took %d writes, want 1", n+1, got)
	}
	msgs := readN(t, c, n+1)
	if msgs[0] != "4held" {
		t.Errorf("first message %q", msgs[0])
	}
	checkPerSenderOrder(t, msgs[1:], 4, n/4)

	// Once idle, a send is written at once by its sender.
	w0 = tr.writes.Load()
	if err := s.Send([]byte("alone")); err != nil {
		t.Fatal(err)
	}
	if got := tr.writes.Load() - w0; got != 1 {
		t.Errorf("an idle send took %d writes", got)
	}
	if m := readN(t, c, 1); m[0] != "4alone" {
		t.Errorf("got %q", m[0])
	}
	w := s.ws.(*nbioWS)
	w.wmu.Lock()
	if w.pending != nil || w.writing {
		t.Error("an idle connection keeps a pending queue or a writer")
	}
	w.wmu.Unlock()
}

// checkPerSenderOrder checks that msgs ("4<g>:<i>") hold each of senders'
// n messages exactly once, each sender's in order.
func checkPerSenderOrder(t *testing.T, msgs []string, senders, n int) {
	t.Helper()
	next := make([]int, senders)
	for _, m := range msgs {
		var g, i int
		if _, err := fmt.Sscanf(m, "4%d:%d", &g, &i); err != nil || g < 0 || g >= senders {
			t.Fatalf("unexpected message %q", m)
		}
		if i != next[g] {
			t.Fatalf("sender %d: got message %d, want %d", g, i, next[g])
		}
		next[g]++
	}
	for g, k := range next {
		if k != n {
			t.Errorf("sender %d: %d messages arrived, want %d", g, k, n)
		}
	}
}

// Many goroutines sending to one session over a real WebSocket, some with
// binary attachments: every packet arrives once, each goroutine's in its
// order, attachments right behind their packet.
func TestWebSocketConcurrentSendOrder(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute, MaxWriteBuffer: 64 << 20}, newRecorder(false))
	c, _ := ts.MustWebSocket(t)
	s := ts.h.session(t)
	tr := ts.ws.(*nbioTransport)
	const senders, n = 16, 300
	w0 := tr.writes.Load()
	var wg sync.WaitGroup
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				msg := fmt.Appendf(nil, "%d:%d", g, i)
				var err error
				if i%3 == 0 {
					var a, b [8]byte
					binary.BigEndian.PutUint32(a[:], uint32(g))
					binary.BigEndian.PutUint32(a[4:], uint32(i))
					binary.BigEndian.PutUint32(b[:], uint32(i))
					binary.BigEndian.PutUint32(b[4:], uint32(g))
					err = s.SendWithBinary(msg, [][]byte{a[:], bytes.Repeat(b[:], 200)})
				} else {
					err = s.Send(msg)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	perSender := n + 2*((n+2)/3)
	msgs := readN(t, c, senders*perSender)
	wg.Wait()
	var text []string
	for k := 0; k < len(msgs); k++ {
		m := msgs[k]
		if strings.HasPrefix(m, "bin:") {
			t.Fatalf("message %d: an attachment not behind its packet", k)
		}
		text = append(text, m)
		var g, i int
		if _, err := fmt.Sscanf(m, "4%d:%d", &g, &i); err != nil {
			t.Fatalf("unexpected message %q", m)
		}
		if i%3 != 0 {
			continue
		}
		if k+2 >= len(msgs) {
			t.Fatalf("packet %q lacks its attachments", m)
		}
		a, b := []byte(strings.TrimPrefix(msgs[k+1], "bin:")), []byte(strings.TrimPrefix(msgs[k+2], "bin:"))
		if len(a) != 8 || binary.BigEndian.Uint32(a) != uint32(g) || binary.BigEndian.Uint32(a[4:]) != uint32(i) ||
			len(b) != 1600 || binary.BigEndian.Uint32(b) != uint32(i) || binary.BigEndian.Uint32(b[1596:]) != uint32(g) {
			t.Fatalf("packet %q: attachments %q %q are not its own", m, msgs[k+1], msgs[k+2][:min(len(msgs[k+2]), 20)])
		}
		k += 2
	}
	checkPerSenderOrder(t, text, senders, n)
	t.Logf("%d frames in %d writes", len(msgs), tr.writes.Load()-w0)
}

// A close sent while a write is under way goes after what was queued
// before it: the packets, the close packet, then the close frame.
func TestWebSocketCloseAfterQueued(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute}, newRecorder(false))
	c, _ := ts.MustWebSocket(t)
	s := ts.h.session(t)
	_, release := holdWriter(t, s)
	for i := range 3 {
		if err := s.Send(fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	if err := s.Send([]byte("late")); err != ErrClosed {
		t.Errorf("send after close = %v, want ErrClosed", err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	got := readN(t, c, 5)
	if want := []string{"4held", "4m0", "4m1", "4m2", "1"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("got %q, want %q", got, want)
	}
	readUntilClosed(t, c)
	if c.CloseCode != closeNormal {
		t.Errorf("close code %d, want %d", c.CloseCode, closeNormal)
	}
	if r := ts.h.waitClosed(t); r != ReasonForcedClose {
		t.Errorf("reason %q", r)
	}
}

// A combined write stops at maxBatch bytes; a larger frame goes alone.
func TestWebSocketBatchBound(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute, MaxWriteBuffer: 64 << 20}, newRecorder(false))
	c, _ := ts.MustWebSocket(t)
	s := ts.h.session(t)
	tr := ts.ws.(*nbioTransport)
	_, release := holdWriter(t, s)
	msg := bytes.Repeat([]byte("x"), 999) // 1,004-byte frames: 65 fit a batch
	for range 100 {
		if err := s.Send(msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Send(bytes.Repeat([]byte("y"), 100<<10)); err != nil {
		t.Fatal(err)
	}
	if err := s.Send([]byte("after")); err != nil {
		t.Fatal(err)
	}
	w0 := tr.writes.Load()
	if err := release(); err != nil {
		t.Fatal(err)
	}
	// "held" and 64 frames; 36 frames; the large frame; "after".
	if got := tr.writes.Load() - w0; got != 4 {
		t.Errorf("writes = %d, want 4", got)
	}
	got := readN(t, c, 103)
	if len(got[101]) != 1+100<<10 || got[102] != "4after" {
		t.Errorf("last messages: %d bytes, %q", len(got[101]), got[102])
	}
}

// Frames waiting for a held-up writer are bounded by MaxWriteBuffer like
// nbio's buffer: past it the session closes as a slow consumer.
func TestWebSocketQueuedBounded(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute, MaxWriteBuffer: 10_000}, newRecorder(false))
	ts.MustWebSocket(t)
	s := ts.h.session(t)
	_, release := holdWriter(t, s)
	msg := bytes.Repeat([]byte("x"), 3000)
	var err error
	sent := 0
	for ; sent < 10 && err == nil; sent++ {
		err = s.Send(msg)
	}
	if err != ErrClosed || sent != 4 {
		t.Errorf("send %d = %v, want ErrClosed on the 4th", sent, err)
	}
	if r := ts.h.waitClosed(t); r != ReasonSlowConsumer {
		t.Errorf("reason %q", r)
	}
	_ = release()
	if q := ts.QueuedBytes(); q != 0 {
		t.Errorf("QueuedBytes after close = %d", q)
	}
}

// The combining state is two bytes in padding, a mutex and a pointer: an
// idle WebSocket's cost is watched.
func TestNBIOWSSize(t *testing.T) {
	if n := unsafe.Sizeof(nbioWS{}); n > 96 {
		t.Errorf("nbioWS is %d bytes, was 96", n)
	}
}
