package engineio

import (
	"strings"
	"testing"
	"time"
)

// TestSIDPrefix checks that a server with a SIDPrefix hands out sids that
// start with it, finds its sessions by them, and knows no sid without it.
func TestSIDPrefix(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute, SIDPrefix: "node2."}, newRecorder(true))
	sidURL, hs := ts.MustPollingSession(t)
	if !strings.HasPrefix(hs.SID, "node2.") || len(hs.SID) != len("node2.")+20 {
		t.Fatalf("sid = %q", hs.SID)
	}
	if code, body, _ := do(t, "POST", sidURL, "4hello"); code != 200 || body != "ok" {
		t.Fatalf("POST = %d %q", code, body)
	}
	if _, body, _ := do(t, "GET", sidURL, ""); body != "4hello" {
		t.Errorf("GET = %q", body)
	}
	if got := ts.h.session(t).ID(); got != hs.SID {
		t.Errorf("Session.ID() = %q, want %q", got, hs.SID)
	}
	bare := ts.url + "&transport=polling&sid=" + strings.TrimPrefix(hs.SID, "node2.")
	if code, body, _ := do(t, "GET", bare, ""); code != 400 || !strings.Contains(body, "Session ID unknown") {
		t.Errorf("sid without the prefix: %d %s", code, body)
	}
}

func TestSIDPrefixInvalid(t *testing.T) {
	for _, p := range []string{"a b", "x/y", strings.Repeat("n", 33), "é"} {
		if _, err := NewServer(Config{SIDPrefix: p}, HandlerFuncs{}); err == nil {
			t.Errorf("SIDPrefix %q accepted", p)
		}
	}
}

func TestCounts(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute}, newRecorder(false))
	ts.MustPollingSession(t)
	if err := ts.h.session(t).Send([]byte("queued")); err != nil {
		t.Fatal(err)
	}
	ts.MustWebSocket(t)
	// The server counts the WebSocket session, and lets go of its open
	// packet's bytes, just after the client has read that packet.
	waitFor(t, func() bool {
		c := ts.Counts()
		return c.WebSocket == 1 && ts.QueuedBytes() == int64(len("queued"))
	})
	c := ts.Counts()
	if c.Polling != 1 || c.WebSocket != 1 {
		t.Errorf("counts = %+v", c)
	}
	if q := ts.QueuedBytes(); q != int64(len("queued")) {
		t.Errorf("queued bytes = %d, want %d", q, len("queued"))
	}
}
