package engineio

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/engineio/wstest"
)

func TestWebSocketHandshake(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute}, newRecorder(false))
	_, hs := ts.MustWebSocket(t)
	if len(hs.SID) != 20 || len(hs.Upgrades) != 0 || hs.PingInterval != 60000 {
		t.Errorf("handshake = %+v", hs)
	}
	if got := ts.h.session(t).Transport(); got != "websocket" {
		t.Errorf("transport = %q", got)
	}
}

func TestWebSocketEcho(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute}, newRecorder(true))
	c, _ := ts.MustWebSocket(t)
	if err := c.WriteText("4hello"); err != nil {
		t.Fatal(err)
	}
	if bin, data := mustRead(t, c); bin || data != "4hello" {
		t.Errorf("echo = %v %q", bin, data)
	}
	if err := c.WriteBinary([]byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if bin, data := mustRead(t, c); !bin || !bytes.Equal([]byte(data), []byte{1, 2, 3}) {
		t.Errorf("binary echo = %v %v", bin, []byte(data))
	}
}

func TestWebSocketInvalidPacketCloses(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute}, newRecorder(false))
	c, _ := ts.MustWebSocket(t)
	_ = c.WriteText("abc")
	readUntilClosed(t, c)
	if r := ts.h.waitClosed(t); r != ReasonParseError {
		t.Errorf("reason %q", r)
	}
}

func TestWebSocketMaxPayload(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute, MaxPayload: 100}, newRecorder(true))
	c, _ := ts.MustWebSocket(t)
	_ = c.WriteText("4" + strings.Repeat("x", 99))
	if _, data := mustRead(t, c); len(data) != 100 {
		t.Fatalf("echo of a message at the limit has %d bytes", len(data))
	}
	_ = c.WriteText("4" + strings.Repeat("x", 100))
	readUntilClosed(t, c)
	if c.CloseCode != 1009 {
		t.Errorf("close code %d, want 1009", c.CloseCode)
	}
	ts.h.waitClosed(t)
}

func TestWebSocketClientClose(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute}, newRecorder(false))
	c, _ := ts.MustWebSocket(t)
	_ = c.WriteText("1")
	readUntilClosed(t, c)
	if r := ts.h.waitClosed(t); r != ReasonTransportClose {
		t.Errorf("reason %q", r)
	}
}

func TestWebSocketServerClose(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute}, newRecorder(false))
	c, _ := ts.MustWebSocket(t)
	ts.h.session(t).Close()
	if _, data := mustRead(t, c); data != "1" {
		t.Errorf("got %q, want close packet", data)
	}
	readUntilClosed(t, c)
	if r := ts.h.waitClosed(t); r != ReasonForcedClose {
		t.Errorf("reason %q", r)
	}
	if err := ts.h.session(t).Send([]byte("x")); err != ErrClosed {
		t.Errorf("send after close = %v", err)
	}
}

func TestWebSocketHeartbeat(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: 30 * time.Millisecond, PingTimeout: 2 * time.Second}, newRecorder(false))
	c, _ := ts.MustWebSocket(t)
	for i := 0; i < 3; i++ {
		if _, data := mustRead(t, c); data != "2" {
			t.Fatalf("got %q, want ping", data)
		}
		_ = c.WriteText("3")
	}
	if _, data := mustRead(t, c); data != "2" {
		t.Fatalf("got %q, want ping", data)
	}
	if r := ts.h.waitClosed(t); r != ReasonPingTimeout {
		t.Errorf("reason %q", r)
	}
	readUntilClosed(t, c)
}

func TestWebSocketOrigin(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute}, newRecorder(false))
	d := wstest.Dialer{Header: map[string][]string{"Origin": {"http://evil.example"}}}
	_, err := d.Dial(ts.wsURL + "&transport=websocket")
	var he *wstest.ErrHandshake
	if !errors.As(err, &he) || he.Status != 403 {
		t.Errorf("dial with a refused origin: %v, want HTTP 403", err)
	}
	d.Header.Set("Origin", "http://allowed.example")
	c, err := d.Dial(ts.wsURL + "&transport=websocket")
	if err != nil {
		t.Fatalf("dial with an allowed origin: %v", err)
	}
	c.Close()
}

func TestWebSocketSlowConsumer(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute, MaxWriteBuffer: 64 << 10}, newRecorder(false))
	_, _ = ts.MustWebSocket(t) // never read from again
	s := ts.h.session(t)
	msg := bytes.Repeat([]byte("x"), 16<<10)
	var err error
	for i := 0; i < 10000 && err == nil; i++ {
		err = s.Send(msg)
	}
	if err != ErrClosed {
		t.Fatalf("send to a stuck client never failed: %v", err)
	}
	if r := ts.h.waitClosed(t); r != ReasonSlowConsumer {
		t.Errorf("reason %q", r)
	}
}

// A client that vanishes with a reset is a broken connection, not one
// that closed.
func TestWebSocketResetIsTransportError(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute}, newRecorder(false))
	c, _ := ts.MustWebSocket(t)
	ts.h.session(t)
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	if r := ts.h.waitClosed(t); r != ReasonTransportError {
		t.Errorf("reason %q, want %q", r, ReasonTransportError)
	}
}

// A burst of packets to one WebSocket leaves in one write call, in order;
// with one processor the flusher cannot run before the burst is over.
func TestWebSocketBurstSharesWrites(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute}, newRecorder(false))
	c, _ := ts.MustWebSocket(t)
	s := ts.h.session(t)
	tr := ts.ws.(*nbioTransport)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	before := totalWrites(tr)
	const n = 200
	for i := range n {
		if err := s.Send([]byte(fmt.Sprint("m", i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if _, data := mustRead(t, c); data != fmt.Sprint("4m", i) {
			t.Fatalf("packet %d = %q", i, data)
		}
	}
	if w := totalWrites(tr) - before; w < 1 || w > 3 {
		t.Errorf("%d packets took %d writes, want 1 (at most 3)", n, w)
	}
}

func totalWrites(tr *nbioTransport) int64 {
	var n int64
	for _, f := range tr.flushers {
		n += f.writes.Load()
	}
	return n
}

// With several flushers each connection keeps to one, so its packets stay
// in order while bursts to many connections are written side by side.
func TestWebSocketFlushersShareConnections(t *testing.T) {
	defer func(f func() int) { flusherCount = f }(flusherCount)
	flusherCount = func() int { return 4 }
	ts := MustServer(t, Config{PingInterval: time.Minute}, newRecorder(false))
	tr := ts.ws.(*nbioTransport)
	if len(tr.flushers) != 4 {
		t.Fatalf("%d flushers, want 4", len(tr.flushers))
	}
	const conns, n = 8, 100
	var cs []*wstest.Conn
	mapped := map[*flusher]bool{}
	var ss []*Session
	for i := range conns {
		c, _ := ts.MustWebSocket(t)
		cs = append(cs, c)
		// The client can read the open packet before Open has run.
		waitFor(t, func() bool { ts.h.mu.Lock(); defer ts.h.mu.Unlock(); return len(ts.h.sessions) == i+1 })
		ts.h.mu.Lock()
		s := ts.h.sessions[i]
		ts.h.mu.Unlock()
		ss = append(ss, s)
		s.mu.Lock()
		mapped[tr.flusherOf(s.ws.(*nbioWS))] = true
		s.mu.Unlock()
	}
	before := make(map[*flusher]int64)
	for _, f := range tr.flushers {
		before[f] = f.writes.Load()
	}
	var wg sync.WaitGroup
	for _, s := range ss {
		wg.Go(func() {
			for i := range n {
				if err := s.Send([]byte(fmt.Sprint("m", i))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for k, c := range cs {
		for i := range n {
			if _, data := mustRead(t, c); data != fmt.Sprint("4m", i) {
				t.Fatalf("connection %d, packet %d = %q", k, i, data)
			}
		}
	}
	for _, f := range tr.flushers {
		if wrote := f.writes.Load() > before[f]; wrote != mapped[f] {
			t.Errorf("a flusher wrote: %v; one of the connections is its: %v", wrote, mapped[f])
		}
	}
}

// Frames waiting for the flusher count against the session's bound: a
// burst past MaxWriteBuffer closes it as a slow consumer before anything
// was written.
func TestWebSocketBurstPastWriteBuffer(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute, MaxWriteBuffer: 64 << 10}, newRecorder(false))
	ts.MustWebSocket(t)
	s := ts.h.session(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	msg := bytes.Repeat([]byte("x"), 1000)
	sent := 0
	for ; sent < 100; sent++ {
		if s.Send(msg) != nil {
			break
		}
	}
	if sent != 65 {
		t.Errorf("%d packets of 1,003 bytes sent within 64 KiB, want 65", sent)
	}
	if r := ts.h.waitClosed(t); r != ReasonSlowConsumer {
		t.Errorf("reason %q, want %q", r, ReasonSlowConsumer)
	}
	if got := ts.QueuedBytes(); got != 0 {
		t.Errorf("QueuedBytes after close = %d, want 0", got)
	}
}

// upgradeTo opens the probe WebSocket of a polling session.
func upgradeTo(t *testing.T, ts *testServer, sid string) *wstest.Conn {
	t.Helper()
	c, err := wstest.Dial(ts.wsURL + "&transport=websocket&sid=" + sid)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestUpgrade(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute}, newRecorder(true))
	sidURL, hs := ts.MustPollingSession(t)
	s := ts.h.session(t)

	// A GET is pending when the probe starts, as with a real client.
	pending := make(chan string, 1)
	go func() {
		_, body, _ := do(t, "GET", sidURL, "")
		pending <- body
	}()
	waitFor(t, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.poll != nil && s.poll.getActive })

	c := upgradeTo(t, ts, hs.SID)
	_ = c.WriteText("2probe")
	if _, data := mustRead(t, c); data != "3probe" {
		t.Fatalf("probe answer %q", data)
	}
	if b := <-pending; b != "6" {
		t.Errorf("pending GET = %q, want noop", b)
	}
	// Sent during the upgrade: held, then flushed over the WebSocket.
	_ = s.Send([]byte("during"))
	_ = c.WriteText("5")
	if _, data := mustRead(t, c); data != "4during" {
		t.Errorf("first frame after upgrade = %q", data)
	}
	if got := s.Transport(); got != "websocket" {
		t.Errorf("transport = %q", got)
	}
	_ = c.WriteText("4hello")
	if _, data := mustRead(t, c); data != "4hello" {
		t.Errorf("echo = %q", data)
	}
	if code, body, _ := do(t, "GET", sidURL, ""); code != 400 || body != `{"code":3,"message":"Bad request"}` {
		t.Errorf("GET after upgrade = %d %s", code, body)
	}
	if code, _, _ := do(t, "POST", sidURL, "4x"); code != 400 {
		t.Errorf("POST after upgrade = %d", code)
	}
	second := upgradeTo(t, ts, hs.SID)
	readUntilClosed(t, second)
	_ = c.WriteText("4still")
	if _, data := mustRead(t, c); data != "4still" {
		t.Errorf("echo after second websocket = %q", data)
	}
}

func TestUpgradeBadProbeKeepsPolling(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute}, newRecorder(true))
	sidURL, hs := ts.MustPollingSession(t)
	c := upgradeTo(t, ts, hs.SID)
	_ = c.WriteText("4nonsense")
	readUntilClosed(t, c)
	if code, body, _ := do(t, "POST", sidURL, "4poll"); code != 200 || body != "ok" {
		t.Fatalf("POST after failed upgrade = %d %q", code, body)
	}
	if _, body, _ := do(t, "GET", sidURL, ""); body != "4poll" {
		t.Errorf("GET after failed upgrade = %q", body)
	}
}

func TestUpgradeTimeout(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute, UpgradeTimeout: 50 * time.Millisecond}, newRecorder(true))
	sidURL, hs := ts.MustPollingSession(t)
	c := upgradeTo(t, ts, hs.SID)
	_ = c.WriteText("2probe")
	// The "3probe" answer comes first unless the timeout passed before the
	// probe was read (a slow machine); either way the WebSocket closes.
	readUntilClosed(t, c)
	if code, _, _ := do(t, "POST", sidURL, "4poll"); code != 200 {
		t.Errorf("POST after upgrade timeout = %d", code)
	}
}

func TestServerCloseEndsSessions(t *testing.T) {
	ts := MustServer(t, Config{PingInterval: time.Minute}, newRecorder(false))
	c, _ := ts.MustWebSocket(t)
	ts.Close()
	if r := ts.h.waitClosed(t); r != ReasonServerShutdown {
		t.Errorf("reason %q", r)
	}
	readUntilClosed(t, c)
}
