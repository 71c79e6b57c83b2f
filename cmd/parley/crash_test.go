package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// child is a parley server running in another process (this test binary,
// see TestMain), so it can be killed with SIGKILL.
type child struct {
	cmd  *exec.Cmd
	addr string
}

var servingRE = regexp.MustCompile(`parley is serving"? addr=(\S+)`)

func startChild(tb testing.TB, dataDir string, extra ...string) *child {
	tb.Helper()
	return startChildOf(tb, os.Args[0], dataDir, extra...)
}

// startChildOf is startChild with another test binary of this package (an
// older build, for a comparison) as the server.
func startChildOf(tb testing.TB, bin, dataDir string, extra ...string) *child {
	tb.Helper()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir,
		"--argon2-memory-kib", "64", "--argon2-time", "1", "--send-rate", "0", "--login-rate", "0", "--event-rate", "0",
		"--user-event-rate", "0", "--max-sockets-per-address", "1000000", "--register-rate", "0"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "PARLEY_TEST_CHILD=serve")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := servingRE.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	c := &child{cmd: cmd}
	tb.Cleanup(func() { c.kill() })
	select {
	case c.addr = <-addr:
	case <-time.After(20 * time.Second):
		tb.Fatal("child did not start serving")
	}
	return c
}

func (c *child) kill() {
	if c.cmd.ProcessState == nil {
		c.cmd.Process.Signal(syscall.SIGKILL)
		c.cmd.Wait()
	}
}

// TestCrash kills a server with SIGKILL while 16 clients send messages,
// restarts it on the same data, and checks that every acknowledged message
// is stored exactly once, with dense seqs, and that retrying the
// unacknowledged sends does not duplicate anything either.
func TestCrash(t *testing.T) {
	dir := t.TempDir()
	srv := startChild(t, dir)
	base := newClient(t, srv.addr)
	alice, _ := base.mustSignUp("alice")
	_, bs := base.mustSignUp("bob")
	var conv conversation
	if s := alice.do("POST", "/v1/conversation", map[string]any{"member_ids": []string{bs.User.ID}}, &conv); s != 201 {
		t.Fatalf("create conversation: %d", s)
	}

	type ack struct {
		seq int64
		id  string
	}
	var (
		mu      sync.Mutex
		acked   = map[string]ack{}
		unacked []string
		total   atomic.Int64
		wg      sync.WaitGroup
	)
	const senders = 16
	stop := make(chan struct{})
	for i := 0; i < senders; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				cmid := fmt.Sprintf("s%d-%d", i, j)
				m, err := postMessage(srv.addr, alice.token, conv.ID, cmid)
				mu.Lock()
				if err != nil {
					unacked = append(unacked, cmid)
					mu.Unlock()
					return // the server is gone
				}
				acked[cmid] = ack{m.Seq, m.ID}
				mu.Unlock()
				total.Add(1)
			}
		}(i)
	}
	waitFor(t, "400 acknowledged sends", func() bool { return total.Load() >= 400 })
	srv.kill()
	close(stop)
	wg.Wait()
	t.Logf("killed the server after %d acknowledged sends, %d in flight", len(acked), len(unacked))

	srv = startChild(t, dir)
	alice = newClient(t, srv.addr).with(alice.token)
	stored := history(t, alice, conv.ID)
	checkDense(t, stored)
	byCmid := map[string]message{}
	for _, m := range stored {
		if _, dup := byCmid[m.ClientMsgID]; dup {
			t.Fatalf("client_msg_id %s stored twice", m.ClientMsgID)
		}
		byCmid[m.ClientMsgID] = m
	}
	for cmid, a := range acked {
		m, ok := byCmid[cmid]
		if !ok {
			t.Fatalf("acknowledged message %s (seq %d) was lost", cmid, a.seq)
		}
		if m.Seq != a.seq || m.ID != a.id {
			t.Fatalf("acknowledged message %s: stored as seq %d id %s, acked as seq %d id %s", cmid, m.Seq, m.ID, a.seq, a.id)
		}
	}
	// Clients retry what was never acknowledged: each lands exactly once.
	for _, cmid := range unacked {
		m, err := postMessage(srv.addr, alice.token, conv.ID, cmid)
		if err != nil {
			t.Fatalf("retry %s: %v", cmid, err)
		}
		if prior, ok := byCmid[cmid]; ok && prior.Seq != m.Seq {
			t.Fatalf("retry of committed %s got seq %d, stored as %d", cmid, m.Seq, prior.Seq)
		}
	}
	after := history(t, alice, conv.ID)
	checkDense(t, after)
	if want := len(acked) + len(unacked); len(after) != want {
		t.Fatalf("after retries: %d messages stored, want %d", len(after), want)
	}
}

// postMessage sends one message and returns the acknowledged message.
func postMessage(addr, token, conv, cmid string) (message, error) {
	var m message
	c := &client{tb: nopTB{}, base: "http://" + addr, token: token}
	status, body, err := c.try("POST", "/v1/conversation/"+conv+"/messages",
		[]byte(`{"client_msg_id":"`+cmid+`","type":"text","body":"crash test `+cmid+`"}`))
	if err != nil {
		return m, err
	}
	if status != 201 && status != 200 {
		return m, fmt.Errorf("status %d: %s", status, body)
	}
	return m, jsonUnmarshal(body, &m)
}

// history pages through a whole conversation.
func history(t *testing.T, c *client, conv string) []message {
	var all []message
	after := int64(0)
	for {
		var page struct {
			Messages []message `json:"messages"`
		}
		if s := c.do("GET", fmt.Sprintf("/v1/conversation/%s/details?after_seq=%d&limit=200", conv, after), nil, &page); s != 200 {
			t.Fatalf("history: %d", s)
		}
		if len(page.Messages) == 0 {
			return all
		}
		all = append(all, page.Messages...)
		after = page.Messages[len(page.Messages)-1].Seq
	}
}

func checkDense(t *testing.T, ms []message) {
	t.Helper()
	for i, m := range ms {
		if m.Seq != int64(i+1) {
			t.Fatalf("seqs not dense: position %d holds seq %d", i, m.Seq)
		}
	}
}
