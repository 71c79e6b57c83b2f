package engineio

import (
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
