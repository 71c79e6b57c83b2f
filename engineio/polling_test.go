package engineio

import (
	"strings"
	"testing"
	"time"
)

func TestPollingHandshake(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute, PingTimeout: time.Minute}, newRecorder(false))
	code, body, hdr := do(t, "GET", ts.url+"&transport=polling&t=abc&unknown=1", "")
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	if ct := hdr.Get("Content-Type"); ct != "text/plain; charset=UTF-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	hs := parseOpen(t, body)
	if len(hs.SID) != 20 || len(hs.Upgrades) != 1 || hs.Upgrades[0] != "websocket" ||
		hs.PingInterval != 60000 || hs.PingTimeout != 60000 || hs.MaxPayload != 1_000_000 {
		t.Errorf("handshake = %+v", hs)
	}
	if !strings.Contains(body, `"upgrades":["websocket"]`) {
		t.Errorf("handshake body = %s", body)
	}
}

func TestPollingErrors(t *testing.T) {
	ts := MustServer(t, Config{}, newRecorder(false))
	base := strings.TrimSuffix(ts.url, "?EIO=4")
	tests := []struct {
		name, method, url string
		status            int
		body              string
	}{
		{"ErrNoEIO", "GET", base + "?transport=polling", 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"ErrEIO3", "GET", base + "?EIO=3&transport=polling", 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"ErrNoTransport", "GET", ts.url, 400, `{"code":0,"message":"Transport unknown"}`},
		{"ErrBadTransport", "GET", ts.url + "&transport=abc", 400, `{"code":0,"message":"Transport unknown"}`},
		{"ErrHandshakePOST", "POST", ts.url + "&transport=polling", 400, `{"code":2,"message":"Bad handshake method"}`},
		{"ErrHandshakePUT", "PUT", ts.url + "&transport=polling", 400, `{"code":2,"message":"Bad handshake method"}`},
		{"ErrUnknownSID", "GET", ts.url + "&transport=polling&sid=nope", 400, `{"code":1,"message":"Session ID unknown"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body, _ := do(t, tt.method, tt.url, "")
			if code != tt.status || body != tt.body {
				t.Errorf("got %d %s, want %d %s", code, body, tt.status, tt.body)
			}
		})
	}
}

func TestPollingEcho(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute}, newRecorder(true))
	sid, _ := ts.MustPollingSession(t)
	code, body, _ := do(t, "POST", sid, "4hello\x1ebAQIDBA==\x1e4world")
	if code != 200 || body != "ok" {
		t.Fatalf("POST = %d %q", code, body)
	}
	_, body, _ = do(t, "GET", sid, "")
	if want := "4hello\x1ebAQIDBA==\x1e4world"; body != want {
		t.Errorf("GET = %q, want %q", body, want)
	}
}

func TestPollingHoldsGETUntilData(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute}, newRecorder(false))
	sid, _ := ts.MustPollingSession(t)
	got := make(chan string, 1)
	go func() {
		_, body, _ := do(t, "GET", sid, "")
		got <- body
	}()
	select {
	case b := <-got:
		t.Fatalf("GET answered %q with nothing to send", b)
	case <-time.After(100 * time.Millisecond):
	}
	if err := ts.h.session(t).Send([]byte("late")); err != nil {
		t.Fatal(err)
	}
	if b := <-got; b != "4late" {
		t.Errorf("GET = %q, want 4late", b)
	}
}

func TestPollingDuplicateGET(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute}, newRecorder(false))
	sid, _ := ts.MustPollingSession(t)
	first := make(chan string, 1)
	go func() {
		_, body, _ := do(t, "GET", sid, "")
		first <- body
	}()
	waitFor(t, func() bool {
		s := ts.h.session(t)
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.poll != nil && s.poll.getActive
	})
	if code, _, _ := do(t, "GET", sid, ""); code != 400 {
		t.Errorf("second GET status %d, want 400", code)
	}
	if b := <-first; b != "1" {
		t.Errorf("first GET = %q, want close packet", b)
	}
	if r := ts.h.waitClosed(t); r != ReasonParseError {
		t.Errorf("reason %q", r)
	}
	if code, _, _ := do(t, "GET", sid, ""); code != 400 {
		t.Errorf("GET after close status %d, want 400", code)
	}
}

func TestPollingInvalidPacketCloses(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute}, newRecorder(false))
	sid, _ := ts.MustPollingSession(t)
	if code, _, _ := do(t, "POST", sid, "abc"); code != 400 {
		t.Errorf("POST status %d, want 400", code)
	}
	if r := ts.h.waitClosed(t); r != ReasonParseError {
		t.Errorf("reason %q", r)
	}
	if code, _, _ := do(t, "GET", sid, ""); code != 400 {
		t.Errorf("GET status %d, want 400", code)
	}
}

func TestPollingClientClose(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute}, newRecorder(false))
	sid, _ := ts.MustPollingSession(t)
	got := make(chan string, 1)
	go func() {
		_, body, _ := do(t, "GET", sid, "")
		got <- body
	}()
	waitFor(t, func() bool {
		s := ts.h.session(t)
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.poll != nil && s.poll.getActive
	})
	if code, body, _ := do(t, "POST", sid, "1"); code != 200 || body != "ok" {
		t.Errorf("POST = %d %q", code, body)
	}
	if b := <-got; b != "6" {
		t.Errorf("pending GET = %q, want noop", b)
	}
	if r := ts.h.waitClosed(t); r != ReasonTransportClose {
		t.Errorf("reason %q", r)
	}
}

func TestPollingPayloadLimits(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute, MaxPayload: 100}, newRecorder(false))
	sid, hs := ts.MustPollingSession(t)
	if hs.MaxPayload != 100 {
		t.Errorf("maxPayload = %d", hs.MaxPayload)
	}
	if code, _, _ := do(t, "POST", sid, "4"+strings.Repeat("x", 100)); code != 413 {
		t.Errorf("oversized POST status %d, want 413", code)
	}
	if code, _, _ := do(t, "POST", sid, "4"+strings.Repeat("x", 99)); code != 200 {
		t.Errorf("POST at the limit status %d, want 200", code)
	}
	if code, _, _ := do(t, "POST", sid, "4x", "Content-Type", "application/octet-stream"); code != 400 {
		t.Errorf("binary POST status %d, want 400", code)
	}
}

func TestPollingSlowConsumer(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute, MaxBufferedPackets: 3}, newRecorder(false))
	ts.MustPollingSession(t)
	s := ts.h.session(t)
	for i := 0; i < 3; i++ {
		if err := s.Send([]byte("x")); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if err := s.Send([]byte("x")); err != ErrClosed {
		t.Errorf("send over the bound = %v, want ErrClosed", err)
	}
	if r := ts.h.waitClosed(t); r != ReasonSlowConsumer {
		t.Errorf("reason %q", r)
	}
}

func TestPollingCORS(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute}, newRecorder(false))
	code, _, hdr := do(t, "GET", ts.url+"&transport=polling", "", "Origin", "http://allowed.example")
	if code != 200 || hdr.Get("Access-Control-Allow-Origin") != "http://allowed.example" ||
		hdr.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("allowed origin: %d %v", code, hdr)
	}
	code, _, hdr = do(t, "OPTIONS", ts.url+"&transport=polling", "", "Origin", "http://allowed.example",
		"Access-Control-Request-Headers", "content-type")
	if code != 204 || hdr.Get("Access-Control-Allow-Headers") != "content-type" || hdr.Get("Access-Control-Allow-Methods") == "" {
		t.Errorf("preflight: %d %v", code, hdr)
	}
	code, body, _ := do(t, "GET", ts.url+"&transport=polling", "", "Origin", "http://evil.example")
	if code != 403 || body != `{"code":4,"message":"Forbidden"}` {
		t.Errorf("refused origin: %d %s", code, body)
	}
}

func TestPollingHeartbeat(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: 50 * time.Millisecond, PingTimeout: 2 * time.Second}, newRecorder(false))
	sid, _ := ts.MustPollingSession(t)
	for i := 0; i < 3; i++ {
		if _, body, _ := do(t, "GET", sid, ""); body != "2" {
			t.Fatalf("GET = %q, want ping", body)
		}
		if code, _, _ := do(t, "POST", sid, "3"); code != 200 {
			t.Fatalf("pong status %d", code)
		}
	}
	if r := ts.h.waitClosed(t); r != ReasonPingTimeout {
		t.Errorf("reason %q, want ping timeout", r)
	}
	if code, _, _ := do(t, "GET", sid, ""); code != 400 {
		t.Errorf("GET after timeout status %d", code)
	}
}

func TestPollingClientPingIsProtocolError(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute}, newRecorder(false))
	sid, _ := ts.MustPollingSession(t)
	do(t, "POST", sid, "2")
	if r := ts.h.waitClosed(t); r != ReasonParseError {
		t.Errorf("reason %q", r)
	}
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met")
}

func TestDisabledTransports(t *testing.T) {
	t.Run("OKPollingOnly", func(t *testing.T) {
		ts := MustServer(t, Config{PingInterval: time.Minute, DisableWebSocket: true}, newRecorder(false))
		_, hs := ts.MustPollingSession(t)
		if len(hs.Upgrades) != 0 {
			t.Errorf("upgrades = %v, want none", hs.Upgrades)
		}
		if code, body, _ := do(t, "GET", ts.url+"&transport=websocket", ""); code != 400 || body != `{"code":0,"message":"Transport unknown"}` {
			t.Errorf("websocket request = %d %s", code, body)
		}
	})
	t.Run("OKWebSocketOnly", func(t *testing.T) {
		ts := MustServer(t, Config{PingInterval: time.Minute, DisablePolling: true}, newRecorder(false))
		if code, _, _ := do(t, "GET", ts.url+"&transport=polling", ""); code != 400 {
			t.Errorf("polling handshake = %d", code)
		}
		ts.MustWebSocket(t)
	})
}
