package engineio

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// blockingHandler is a recorder whose Message waits for release, as a slow
// application handler would.
type blockingHandler struct {
	*recorder
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func newBlockingHandler() *blockingHandler {
	return &blockingHandler{recorder: newRecorder(false), entered: make(chan struct{}), release: make(chan struct{})}
}

func (h *blockingHandler) Message(s *Session, data []byte, binary bool) {
	h.once.Do(func() { close(h.entered) })
	<-h.release
	h.recorder.Message(s, data, binary)
}

func (h *blockingHandler) handled() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.recorder.messages)
}

func TestWebSocketInputBounded(t *testing.T) {
	big := "4" + strings.Repeat("x", 100_000)
	t.Run("OKWithinBudget", func(t *testing.T) {
		h := newBlockingHandler()
		ts := mustServerWith(t, Config{PingInterval: time.Minute, MaxInputBuffer: 350_000}, h, h.recorder)
		c, _ := ts.MustWebSocket(t)
		for range 3 {
			if err := c.WriteText(big); err != nil {
				t.Fatal(err)
			}
		}
		<-h.entered
		if err := c.WriteText("4last"); err != nil {
			t.Fatal(err)
		}
		close(h.release)
		// The echo-less recorder answers nothing: a ping round trip would
		// need the heartbeat, so wait for the four messages to be handled.
		for deadline := time.Now().Add(5 * time.Second); h.handled() < 4; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d messages handled, want 4", h.handled())
			}
		}
		select {
		case r := <-h.closed:
			t.Fatalf("session closed: %q", r)
		default:
		}
	})
	t.Run("ErrOverBudget", func(t *testing.T) {
		h := newBlockingHandler()
		ts := mustServerWith(t, Config{PingInterval: time.Minute, MaxInputBuffer: 250_000}, h, h.recorder)
		c, _ := ts.MustWebSocket(t)
		if err := c.WriteText(big); err != nil {
			t.Fatal(err)
		}
		<-h.entered
		// The handler is stuck on the first message; the next ones wait,
		// until the third would take the waiting bytes over the budget.
		for range 10 {
			if err := c.WriteText(big); err != nil {
				break
			}
		}
		readUntilClosed(t, c)
		if c.CloseCode != closePolicy {
			t.Errorf("close code %d, want %d", c.CloseCode, closePolicy)
		}
		close(h.release)
		if r := h.waitClosed(t); r != ReasonInputOverflow {
			t.Errorf("reason %q, want %q", r, ReasonInputOverflow)
		}
		if n := h.handled(); n > 3 {
			t.Errorf("%d messages handled; at most 3 fit the budget", n)
		}
	})
}

func TestPollingQueueBoundedInBytes(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute, MaxWriteBuffer: 10_000}, newRecorder(false))
	ts.MustPollingSession(t)
	s := ts.h.session(t)
	msg := []byte(strings.Repeat("x", 4000))
	for i := range 2 {
		if err := s.Send(msg); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if got := ts.QueuedBytes(); got != 8000 {
		t.Errorf("QueuedBytes = %d, want 8000", got)
	}
	if err := s.Send(msg); err != ErrClosed {
		t.Errorf("send over the bound = %v, want ErrClosed", err)
	}
	if r := ts.h.waitClosed(t); r != ReasonSlowConsumer {
		t.Errorf("reason %q, want %q", r, ReasonSlowConsumer)
	}
	if got := ts.QueuedBytes(); got != 0 {
		t.Errorf("QueuedBytes after close = %d, want 0", got)
	}
}

func TestPollingQueueDrainedByGet(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute}, newRecorder(false))
	sid, _ := ts.MustPollingSession(t)
	s := ts.h.session(t)
	_ = s.Send([]byte("hello"))
	if got := ts.QueuedBytes(); got != 5 {
		t.Errorf("QueuedBytes = %d, want 5", got)
	}
	if code, body, _ := do(t, "GET", sid, ""); code != 200 || body != "4hello" {
		t.Fatalf("GET = %d %q", code, body)
	}
	if got := ts.QueuedBytes(); got != 0 {
		t.Errorf("QueuedBytes after GET = %d, want 0", got)
	}
}

// The node's budget closes the sessions holding the most, each of them under
// its own bound, and keeps the others.
func TestNodeBudgetClosesLargestFirst(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute, MaxWriteBuffer: 40_000, MaxNodeBuffer: 50_000}, newRecorder(false))
	var ss []*Session
	for range 3 {
		ts.MustPollingSession(t)
		ts.h.mu.Lock()
		ss = append(ss, ts.h.sessions[len(ts.h.sessions)-1])
		ts.h.mu.Unlock()
	}
	chunk := []byte(strings.Repeat("x", 5000))
	for i, n := range []int{2, 6, 3} { // 10,000, 30,000 and 15,000 bytes
		for range n {
			if err := ss[i].Send(chunk); err != nil {
				t.Fatalf("session %d: %v", i, err)
			}
		}
	}
	if r := ts.h.waitClosed(t); r != ReasonSlowConsumer {
		t.Fatalf("reason %q, want %q", r, ReasonSlowConsumer)
	}
	if err := ss[1].Send(chunk); err != ErrClosed {
		t.Errorf("largest session still open: %v", err)
	}
	for _, i := range []int{0, 2} {
		if err := ss[i].Send([]byte("y")); err != nil {
			t.Errorf("session %d closed: %v", i, err)
		}
	}
	if got := ts.QueuedBytes(); got != 25_002 {
		t.Errorf("QueuedBytes = %d, want 25002", got)
	}
}

func TestNodeBudgetCountsWebSocketBacklog(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute, MaxWriteBuffer: 64 << 20, MaxNodeBuffer: 1 << 20}, newRecorder(false))
	c, _ := ts.MustWebSocket(t) // never reads
	_ = c
	s := ts.h.session(t)
	chunk := []byte(strings.Repeat("x", 100_000))
	for range 200 { // 20 MB: more than loopback's socket buffers take
		if s.Send(chunk) != nil {
			break
		}
	}
	if r := ts.h.waitClosed(t); r != ReasonSlowConsumer {
		t.Fatalf("reason %q, want %q", r, ReasonSlowConsumer)
	}
	if got := ts.QueuedBytes(); got != 0 {
		t.Errorf("QueuedBytes after close = %d, want 0", got)
	}
}

// Text that is not valid UTF-8 reaches the Handler unchanged on both
// transports, and the session stays open: the layer above decides.
func TestInvalidUTF8Delivered(t *testing.T) {
	bad := "4a\xff\xfeb"
	t.Run("OKWebSocket", func(t *testing.T) {
		ts := MustServer(t, Config{PingInterval: time.Minute}, newRecorder(true))
		c, _ := ts.MustWebSocket(t)
		if err := c.WriteText(bad); err != nil {
			t.Fatal(err)
		}
		if _, data := mustRead(t, c); data != bad {
			t.Errorf("echo %q, want %q", data, bad)
		}
	})
	t.Run("OKPolling", func(t *testing.T) {
		ts := MustServer(t, Config{PingInterval: time.Minute}, newRecorder(true))
		sid, _ := ts.MustPollingSession(t)
		if code, _, _ := do(t, "POST", sid, bad); code != 200 {
			t.Fatalf("POST status %d", code)
		}
		if code, body, _ := do(t, "GET", sid, ""); code != 200 || body != bad {
			t.Errorf("GET = %d %q, want %q", code, body, bad)
		}
	})
}

func TestClientAddr(t *testing.T) {
	cfg := Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	for _, tt := range []struct {
		name, peer, xff, want string
	}{
		{"OKUntrustedPeerIgnoresHeader", "192.0.2.7:4000", "198.51.100.1", "192.0.2.7"},
		{"OKTrustedPeer", "10.1.2.3:4000", "198.51.100.1", "198.51.100.1"},
		{"OKRightMostUntrusted", "10.1.2.3:4000", "203.0.113.9, 198.51.100.1, 10.9.9.9", "198.51.100.1"},
		{"OKIPv6Peer", "[::1]:4000", "203.0.113.9", "203.0.113.9"},
		{"OKAllTrusted", "10.1.2.3:4000", "10.2.2.2", "10.2.2.2"},
		{"OKNoHeader", "10.1.2.3:4000", "", "10.1.2.3"},
		{"OKGarbageStops", "10.1.2.3:4000", "203.0.113.9, junk", "10.1.2.3"},
		{"OKMappedIPv4", "[::ffff:192.0.2.7]:4000", "", "192.0.2.7"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.peer
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			if got := cfg.clientAddr(r).String(); got != tt.want {
				t.Errorf("clientAddr = %s, want %s", got, tt.want)
			}
		})
	}
}

// Polling's inbound bound: one POST at a time, handed to the Handler before
// it is answered, so at most one body waits; a second concurrent POST is a
// protocol error.
func TestPollingOnePostAtATime(t *testing.T) {
	h := newBlockingHandler()
	ts := mustServerWith(t, Config{PingInterval: time.Minute}, h, h.recorder)
	sid, _ := ts.MustPollingSession(t)
	first := make(chan int, 1)
	go func() {
		resp, err := http.Post(sid, "text/plain;charset=UTF-8", strings.NewReader("4first"))
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	<-h.entered
	if code, _, _ := do(t, "POST", sid, "4second"); code != 400 {
		t.Errorf("concurrent POST status %d, want 400", code)
	}
	close(h.release)
	if code := <-first; code != 200 {
		t.Errorf("first POST status %d, want 200", code)
	}
	if r := h.waitClosed(t); r != ReasonParseError {
		t.Errorf("reason %q, want %q", r, ReasonParseError)
	}
	if n := h.handled(); n != 1 {
		t.Errorf("%d messages handled, want the first only", n)
	}
}
