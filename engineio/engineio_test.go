package engineio

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parleyhq/parley/engineio/wstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recorder is a Handler that echoes messages when asked and records events.
type recorder struct {
	echo     bool
	mu       sync.Mutex
	sessions []*Session
	messages []string
	closed   chan Reason
}

func newRecorder(echo bool) *recorder { return &recorder{echo: echo, closed: make(chan Reason, 16)} }

func (h *recorder) Open(s *Session, r *http.Request) {
	h.mu.Lock()
	h.sessions = append(h.sessions, s)
	h.mu.Unlock()
}

func (h *recorder) Message(s *Session, data []byte, binary bool) {
	h.mu.Lock()
	h.messages = append(h.messages, string(data))
	h.mu.Unlock()
	if h.echo {
		if binary {
			_ = s.SendBinary(data)
		} else {
			_ = s.Send(data)
		}
	}
}

func (h *recorder) Close(s *Session, reason Reason) { h.closed <- reason }

// session returns the latest session, waiting for Open: on WebSocket the
// client can read the open packet before Open has run.
func (h *recorder) session(t testing.TB) *Session {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		h.mu.Lock()
		n := len(h.sessions)
		h.mu.Unlock()
		if n > 0 {
			h.mu.Lock()
			defer h.mu.Unlock()
			return h.sessions[n-1]
		}
	}
	t.Fatal("no session opened")
	return nil
}

func (h *recorder) waitClosed(t testing.TB) Reason {
	t.Helper()
	select {
	case r := <-h.closed:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("session did not close")
		return ""
	}
}

// testServer is a Server mounted at /engine.io/ on a loopback httptest server.
type testServer struct {
	*Server
	h     *recorder
	url   string // http://127.0.0.1:port/engine.io/
	wsURL string
}

func MustServer(t testing.TB, cfg Config, h *recorder) *testServer {
	t.Helper()
	return mustServerWith(t, cfg, h, h)
}

// mustServerWith serves handler, which reports its events to h.
func mustServerWith(t testing.TB, cfg Config, handler Handler, h *recorder) *testServer {
	t.Helper()
	if cfg.AllowOrigin == nil {
		cfg.AllowOrigin = func(o string) bool { return o == "http://allowed.example" }
	}
	srv, err := NewServer(cfg, handler)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", srv)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
	})
	u := hs.URL + "/engine.io/?EIO=4"
	return &testServer{Server: srv, h: h, url: u, wsURL: "ws" + strings.TrimPrefix(u, "http")}
}

type handshake struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int      `json:"pingInterval"`
	PingTimeout  int      `json:"pingTimeout"`
	MaxPayload   int      `json:"maxPayload"`
}

func parseOpen(t testing.TB, body string) handshake {
	t.Helper()
	if !strings.HasPrefix(body, "0") {
		t.Fatalf("open packet = %q", body)
	}
	var hs handshake
	if err := json.Unmarshal([]byte(body[1:]), &hs); err != nil {
		t.Fatalf("open packet %q: %v", body, err)
	}
	return hs
}

func do(t testing.TB, method, url, body string, hdr ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// MustPollingSession opens a polling session and returns its URL with sid.
func (ts *testServer) MustPollingSession(t testing.TB) (string, handshake) {
	t.Helper()
	code, body, _ := do(t, "GET", ts.url+"&transport=polling", "")
	if code != 200 {
		t.Fatalf("handshake status %d", code)
	}
	hs := parseOpen(t, body)
	return ts.url + "&transport=polling&sid=" + hs.SID, hs
}

// MustWebSocket opens a WebSocket session and reads its open packet.
func (ts *testServer) MustWebSocket(t testing.TB) (*wstest.Conn, handshake) {
	t.Helper()
	c, err := wstest.Dial(ts.wsURL + "&transport=websocket")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_, open := mustRead(t, c)
	return c, parseOpen(t, open)
}

func mustRead(t testing.TB, c *wstest.Conn) (bool, string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	bin, data, err := c.Read()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return bin, string(data)
}

// readUntilClosed reads until the server closes the WebSocket.
func readUntilClosed(t testing.TB, c *wstest.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := c.Read(); err != nil {
			if strings.Contains(err.Error(), "timeout") {
				t.Fatal("websocket not closed")
			}
			return
		}
	}
}

// blockingCloser is a recorder whose Close waits for release.
type blockingCloser struct {
	*recorder
	entered chan struct{}
	release chan struct{}
}

func (h *blockingCloser) Close(s *Session, reason Reason) {
	close(h.entered)
	<-h.release
	h.recorder.Close(s, reason)
}

// A session its client closed may still be in the Handler's Close when the
// server shuts down; Server.Close returns only once that Close returned, so
// whatever the Handler started there is accounted for by then.
func TestServerCloseWaitsForClosingHandlers(t *testing.T) {
	h := &blockingCloser{recorder: newRecorder(false), entered: make(chan struct{}), release: make(chan struct{})}
	ts := mustServerWith(t, Config{PingInterval: time.Minute}, h, h.recorder)
	c, _ := ts.MustWebSocket(t)
	h.session(t)
	_ = c.WriteText("1")
	readUntilClosed(t, c)
	select {
	case <-h.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("Close was not called")
	}
	done := make(chan struct{})
	go func() {
		ts.Close()
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("Server.Close returned while the Handler was still in Close")
	case <-time.After(100 * time.Millisecond):
	}
	close(h.release)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Server.Close did not return after the Handler's Close did")
	}
	if r := h.waitClosed(t); r != ReasonTransportClose {
		t.Errorf("reason %q", r)
	}
}
