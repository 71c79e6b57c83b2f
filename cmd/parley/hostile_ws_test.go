package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/engineio/wstest"
)

// The hostile-client suite for the realtime endpoint (issue: one client
// cannot exhaust a node). Each case runs its own node in a child process,
// with a witness pair chatting through the official socket.io-client all
// along (internal/jstest/witness.mjs). Every case checks:
//
//   - the hostile client gets the documented answer (docs/api.md §Limits);
//   - the witness loses no message and does not reconnect, and its p99
//     send-to-delivery latency stays under witnessP99;
//   - the node's peak RSS (VmHWM: one node per case) stays within the case's
//     bound above its RSS before the attack.
//
// The peak RSS and the witness's p99 of each case are logged ("hostile:")
// and recorded in BENCHMARKS.md:
//
//	go test ./cmd/parley -run TestHostileWebSocket -count=1 -v
const witnessP99 = 1500 * time.Millisecond

// witnessWindow is the shortest time the witness chats for in a case.
const witnessWindow = 3 * time.Second

// hostileNode is a node under attack and its witness pair.
type hostileNode struct {
	srv       *child
	anon      *client
	alice     *client
	bobToken  string
	witnessTo string // the conversation the witness chats in
	baseKB    int64
}

func startHostileNode(t *testing.T, extra ...string) *hostileNode {
	t.Helper()
	srv := startChild(t, t.TempDir(), extra...)
	anon := newClient(t, srv.addr)
	alice, _ := anon.mustSignUp("witnessa")
	_, bs := anon.mustSignUp("witnessb")
	return &hostileNode{srv: srv, anon: anon, alice: alice, bobToken: bs.Token,
		witnessTo: directConversation(t, alice, bs.User.ID)}
}

// witness is a running witness.mjs.
type witness struct {
	start  time.Time
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	result chan string
}

type witnessResult struct {
	Sent, Acked, Received, Lost, Reconnects int
	P50, P99, Max                           int // milliseconds
}

// startWitness starts the pair chatting and returns once both are connected;
// it also records the node's RSS from then, the case's baseline.
func (n *hostileNode) startWitness(t *testing.T) *witness {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed; install Node.js ≥ 18 and run: npm ci --prefix internal/jstest")
	}
	dir, _ := filepath.Abs(filepath.Join("..", "..", "internal", "jstest"))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "socket.io-client")); err != nil {
		t.Fatal("internal/jstest/node_modules is missing; run: npm ci --prefix internal/jstest")
	}
	setup, _ := json.Marshal(map[string]any{"alice": n.alice.token, "bob": n.bobToken, "conv": n.witnessTo, "intervalMs": 50})
	cmd := exec.Command(node, "witness.mjs", "http://"+n.srv.addr)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PARLEY_SETUP="+string(setup))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &witness{start: time.Now(), cmd: cmd, stdin: stdin, result: make(chan string, 1)}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			switch line := sc.Text(); {
			case line == "READY":
				close(ready)
			case strings.HasPrefix(line, "RESULT "):
				w.result <- strings.TrimPrefix(line, "RESULT ")
			}
		}
		close(w.result)
	}()
	t.Cleanup(func() {
		stdin.Close()
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		t.Fatal("witness did not connect")
	}
	n.baseKB = rssKB(t, n.srv.cmd.Process.Pid)
	return w
}

// finish stops the witness, checks it and the node's peak RSS against
// maxGrowthMiB, and logs both.
func (n *hostileNode) finish(t *testing.T, w *witness, name string, maxGrowthMiB int64) {
	t.Helper()
	// A case that ends at once still gives the witness a window of some
	// 60 messages, so its p99 means something.
	if d := time.Until(w.start.Add(witnessWindow)); d > 0 {
		time.Sleep(d)
	}
	w.stdin.Close()
	var res witnessResult
	select {
	case r, ok := <-w.result:
		if !ok {
			t.Fatal("witness printed no RESULT")
		}
		if err := json.Unmarshal([]byte(r), &res); err != nil {
			t.Fatalf("witness result %q: %v", r, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("witness did not finish")
	}
	w.cmd.Wait()
	peakKB := peakRSSKB(t, n.srv.cmd.Process.Pid)
	if raceEnabled {
		// The race detector's shadow memory grows with the heap (about
		// twice the growth measured); the bound still catches the hundreds
		// of MiB an unbounded queue takes.
		maxGrowthMiB *= 3
	}
	t.Logf("hostile: %s: node RSS %d MiB before, peak %d MiB (+%d MiB, bound +%d); witness %d sent, %d received, p50 %d ms, p99 %d ms, max %d ms",
		name, n.baseKB>>10, peakKB>>10, (peakKB-n.baseKB)>>10, maxGrowthMiB, res.Sent, res.Received, res.P50, res.P99, res.Max)
	if res.Acked == 0 || res.Acked != res.Sent || res.Lost != 0 || res.Received != res.Acked {
		t.Errorf("witness lost messages: %+v", res)
	}
	if res.Reconnects != 0 {
		t.Errorf("witness reconnected %d times", res.Reconnects)
	}
	if time.Duration(res.P99)*time.Millisecond > witnessP99 {
		t.Errorf("witness p99 %d ms, bound %v", res.P99, witnessP99)
	}
	if growth := (peakKB - n.baseKB) >> 10; growth > maxGrowthMiB {
		t.Errorf("node RSS grew %d MiB, bound %d MiB", growth, maxGrowthMiB)
	}
}

// metric reads one unlabelled value from the node's /metrics.
func metric(t *testing.T, c *client, name string) float64 {
	t.Helper()
	f, err := tryMetric(c, name)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// tryMetric is metric for goroutines other than the test's.
func tryMetric(c *client, name string) (float64, error) {
	_, b, err := c.try("GET", "/metrics", nil)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("metric %s not found", name)
}

// hostileDial opens a raw WebSocket session past its open packet.
func hostileDial(addr string) (*wstest.Conn, error) {
	ws, err := (&wstest.Dialer{Timeout: 10 * time.Second}).Dial("ws://" + addr + "/socket.io/?EIO=4&transport=websocket")
	if err != nil {
		return nil, err
	}
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, open, err := ws.Read(); err != nil || !strings.HasPrefix(string(open), "0{") {
		ws.Close()
		return nil, fmt.Errorf("open packet %q: %v", open, err)
	}
	return ws, nil
}

// mustJoin opens a raw WebSocket session and joins "/" with token.
func mustJoin(t *testing.T, addr, token string) *wstest.Conn {
	t.Helper()
	ws, err := hostileDial(addr)
	if err != nil {
		t.Fatal(err)
	}
	if ans, err := connectAnswer(ws, token); err != nil || !strings.HasPrefix(ans, "40{") {
		ws.Close()
		t.Fatalf("connect: %q %v", ans, err)
	}
	return ws
}

// connectAnswer joins "/" with token and returns the answer.
func connectAnswer(ws *wstest.Conn, token string) (string, error) {
	if err := ws.WriteText(`40{"token":"` + token + `"}`); err != nil {
		return "", err
	}
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, b, err := ws.Read()
	return string(b), err
}

// closeCode reads (answering pings) until the server closes ws and returns
// the close code, or 0 if it did not close within d.
func closeCode(ws *wstest.Conn, d time.Duration) int {
	if !readUntilClosed(ws, d) {
		return 0
	}
	return ws.CloseCode
}

func TestHostileWebSocket(t *testing.T) {
	if testing.Short() {
		t.Skip("hostile suite runs whole nodes")
	}
	t.Run("BigFramesAtSlowHandler", hostileBigFrames)
	t.Run("UnauthenticatedAttachments", hostileUnauthenticatedAttachments)
	t.Run("PollingNeverPolls", hostilePollingNeverPolls)
	t.Run("SocketsThatNeverRead", hostileSocketsThatNeverRead)
	t.Run("TwoThousandSockets", hostileTwoThousandSockets)
	t.Run("BigSyncRepeated", hostileBigSyncRepeated)
}

// A sync naming 10,000 conversations, repeated: each is answered (ok, or
// too_many past the event rate), and the connection keeps state only for
// the caller's own conversations, so the node holds nothing per key.
func hostileBigSyncRepeated(t *testing.T) {
	n := startHostileNode(t)
	mallory, _ := n.anon.mustSignUp("mallory")
	w := n.startWitness(t)

	ws := mustJoin(t, n.srv.addr, mallory.token)
	defer ws.Close()
	// One after the other, as fast as they are answered (sent all at once
	// they would trip --socket-input-buffer, a limit of its own).
	const rounds = 100
	answers := map[string]int{}
	for r := range rounds {
		var b strings.Builder
		fmt.Fprintf(&b, `42%d["sync",{"cursors":{`, r)
		for k := range 10_000 {
			if k > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"%d":%d`, 1_000_000+r*10_000+k, k)
		}
		b.WriteString("}}]")
		if err := ws.WriteText(b.String()); err != nil {
			t.Fatalf("round %d: %v", r, err)
		}
		ws.SetReadDeadline(time.Now().Add(30 * time.Second))
		for answered := false; !answered; {
			_, data, err := ws.Read()
			if err != nil {
				t.Fatalf("round %d: %v", r, err)
			}
			switch m := string(data); {
			case m == "2":
				ws.WriteText("3")
			case strings.HasPrefix(m, "43"):
				answered = true
				switch {
				case strings.Contains(m, `"caught_up":true`):
					answers["ok"]++
				case strings.Contains(m, `"code":"too_many"`):
					answers["too_many"]++
				default:
					t.Errorf("sync answered %.200q", m)
				}
			}
		}
	}
	if answers["ok"] == 0 {
		t.Errorf("no sync answered: %v", answers)
	}
	t.Logf("hostile: 10,000-key syncs: %v", answers)
	n.finish(t, w, "10,000-key sync repeated", 48)
}

// 1 MB frames streamed at one socket faster than its events are handled:
// the session is closed with input overflow (1008) once more than
// --socket-input-buffer waits, and the node holds no more. Decoding and
// refusing a 1 MB event takes milliseconds, the next frame arrives sooner;
// whether 4 MiB (the default) pile up first depends on how the two cores
// are shared at the moment, so this node takes the smallest budget allowed,
// one --max-payload, and any handler slower than the wire trips it.
func hostileBigFrames(t *testing.T) {
	n := startHostileNode(t, "--socket-input-buffer", "1000000")
	mallory, _ := n.anon.mustSignUp("mallory")
	w := n.startWitness(t)

	ws := mustJoin(t, n.srv.addr, mallory.token)
	defer ws.Close()
	// Encoded once, so frames leave at loopback speed: faster than the
	// node can decode and refuse a 1 MB event.
	frame := wstest.Frame(true, wstest.OpText, []byte(`42["typing",{"conversation_id":"1","pad":"`+strings.Repeat("x", 999_000)+`"}]`))
	go func() {
		for range 200 { // 200 MB, unless the server closes first
			if ws.WriteRaw(frame) != nil {
				return
			}
		}
	}()
	if code := closeCode(ws, 20*time.Second); code != 1008 {
		t.Errorf("close code %d, want 1008 (input overflow)", code)
	}
	n.finish(t, w, "1 MB frames at a slow handler", 48)
}

// 40 WebSocket sessions without a token, each announcing a binary event of
// 10 attachments and then sending 999 KB frames: the header alone closes
// each (parse error, 1008) at once; nothing is held until a connect timeout.
func hostileUnauthenticatedAttachments(t *testing.T) {
	n := startHostileNode(t)
	w := n.startWitness(t)

	var header strings.Builder
	header.WriteString(`4510-["upload"`)
	for i := range 10 {
		fmt.Fprintf(&header, `,{"_placeholder":true,"num":%d}`, i)
	}
	header.WriteString("]")
	att := make([]byte, 999_000)
	var wg sync.WaitGroup
	codes := make([]int, 40)
	start := time.Now()
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws, err := hostileDial(n.srv.addr)
			if err != nil {
				codes[i] = -1
				return
			}
			defer ws.Close()
			if ws.WriteText(header.String()) == nil {
				for range 9 {
					if ws.WriteBinary(att) != nil {
						break
					}
				}
			}
			codes[i] = closeCode(ws, 9*time.Second)
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != 1008 {
			t.Errorf("session %d: close code %d, want 1008 (parse error)", i, c)
		}
	}
	// Well before the 10 s connect timeout: the header is refused.
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("sessions closed after %v", d)
	}
	n.finish(t, w, "40 unauthenticated sessions announcing 10 attachments", 48)
}

// A polling session joins a group and never polls while another member
// floods the group with 60 KiB messages: its queue reaches --socket-buffer
// (4 MiB) and it is closed as a slow consumer; its sid is then unknown.
func hostilePollingNeverPolls(t *testing.T) {
	n := startHostileNode(t)
	grace, _ := n.anon.mustSignUp("grace")
	eve, es := n.anon.mustSignUp("eve")
	var g conversation
	if s := grace.do("POST", "/v1/conversation", map[string]any{"member_ids": []string{es.User.ID}, "title": "flood"}, &g); s != 201 {
		t.Fatalf("create group: %d", s)
	}
	w := n.startWitness(t)

	base := "http://" + n.srv.addr + "/socket.io/?EIO=4&transport=polling"
	_, body := n.anon.raw("GET", strings.TrimPrefix(base, "http://"+n.srv.addr), nil)
	var open struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal(body[1:], &open); err != nil {
		t.Fatalf("handshake %q: %v", body, err)
	}
	sidURL := base + "&sid=" + open.SID
	resp, err := http.Post(sidURL, "text/plain;charset=UTF-8", strings.NewReader(`40{"token":"`+eve.token+`"}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("connect POST: %v %v", resp, err)
	}
	resp.Body.Close()

	pad := strings.Repeat("f", 60<<10-64)
	for i := range 100 { // 6 MB for a session that may queue 4 MiB
		b, _ := json.Marshal(map[string]string{"client_msg_id": fmt.Sprintf("f%d", i), "body": pad})
		if s, out := grace.raw("POST", "/v1/conversation/"+g.ID+"/messages", b); s != 201 {
			t.Fatalf("flood %d: %d %s", i, s, out)
		}
	}
	waitFor(t, "the silent polling session to be dropped", func() bool {
		return metric(t, n.anon, "parley_realtime_slow_consumers_total") >= 1
	})
	resp, err = http.Get(sidURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("GET after the drop: %d, want 400 (session unknown)", resp.StatusCode)
	}
	n.finish(t, w, "polling session that never polls, group flood", 48)
}

// One user opens 300 WebSockets that never read while a peer sends it 60 KiB
// messages: 20 are accepted (--max-sockets-per-user), 280 refused with
// connect_error too_many; the accepted ones are closed as slow consumers,
// the largest first once the node's --node-buffer (here 16 MiB) is reached,
// and what the node holds for them never exceeds that budget by more than a
// message per socket.
func hostileSocketsThatNeverRead(t *testing.T) {
	const nodeBuffer = 16 << 20
	n := startHostileNode(t, "--node-buffer", strconv.Itoa(nodeBuffer), "--max-sockets-per-address", "200")
	sink, ss := n.anon.mustSignUp("sink")
	flooder, _ := n.anon.mustSignUp("flooder")
	conv := directConversation(t, flooder, ss.User.ID)
	w := n.startWitness(t)

	var accepted []*wstest.Conn
	refused := 0
	for range 300 {
		ws, err := hostileDial(n.srv.addr)
		if err != nil {
			t.Fatal(err)
		}
		ans, err := connectAnswer(ws, sink.token)
		switch {
		case err == nil && strings.HasPrefix(ans, "40{"):
			accepted = append(accepted, ws)
		case ans == `44{"message":"too_many"}`:
			refused++
			ws.Close()
		default:
			t.Fatalf("connect answer %q %v", ans, err)
		}
	}
	defer func() {
		for _, ws := range accepted {
			ws.Close()
		}
	}()
	if len(accepted) != 20 || refused != 280 {
		t.Errorf("%d accepted, %d refused; want 20 and 280", len(accepted), refused)
	}

	var peakQueued atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if q, err := tryMetric(n.anon, "parley_realtime_queued_bytes"); err == nil && int64(q) > peakQueued.Load() {
				peakQueued.Store(int64(q))
			}
		}
	}()
	pad := strings.Repeat("s", 60<<10-64)
	for i := range 200 { // 12 MB to each socket
		b, _ := json.Marshal(map[string]string{"client_msg_id": fmt.Sprintf("s%d", i), "body": pad})
		if s, out := flooder.raw("POST", "/v1/conversation/"+conv+"/messages", b); s != 201 {
			t.Fatalf("flood %d: %d %s", i, s, out)
		}
	}
	close(stop)
	<-sampled
	waitFor(t, "every silent socket to be dropped", func() bool {
		return metric(t, n.anon, "parley_realtime_slow_consumers_total") >= float64(len(accepted))
	})
	// A socket is closed once over; each can overshoot by the message that
	// took it over, escaped (~62 KiB).
	if q := peakQueued.Load(); q > nodeBuffer+int64(len(accepted))*64<<10 {
		t.Errorf("node held %d queued bytes at peak, budget %d", q, nodeBuffer)
	}
	t.Logf("peak queued bytes %d MiB of a %d MiB node budget", peakQueued.Load()>>20, nodeBuffer>>20)
	n.finish(t, w, "300 never-reading sockets of one user, 60 KiB messages", 96)
}

// One user asks for 2,000 sockets: 20 are accepted, 1,980 refused with
// connect_error too_many.
func hostileTwoThousandSockets(t *testing.T) {
	n := startHostileNode(t, "--max-sockets-per-address", "200")
	many, _ := n.anon.mustSignUp("many")
	w := n.startWitness(t)

	var mu sync.Mutex
	var accepted []*wstest.Conn
	var refused, failed atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= 2000 && ctx.Err() == nil {
				ws, err := hostileDial(n.srv.addr)
				if err != nil {
					failed.Add(1)
					continue
				}
				ans, err := connectAnswer(ws, many.token)
				switch {
				case err == nil && strings.HasPrefix(ans, "40{"):
					mu.Lock()
					accepted = append(accepted, ws)
					mu.Unlock()
				case ans == `44{"message":"too_many"}`:
					refused.Add(1)
					ws.Close()
				default:
					failed.Add(1)
					ws.Close()
				}
			}
		}()
	}
	wg.Wait()
	defer func() {
		for _, ws := range accepted {
			ws.Close()
		}
	}()
	if len(accepted) != 20 || refused.Load() != 1980 || failed.Load() != 0 {
		t.Errorf("%d accepted, %d refused too_many, %d failed; want 20, 1980, 0", len(accepted), refused.Load(), failed.Load())
	}
	n.finish(t, w, "2,000 sockets for one user", 48)
}
