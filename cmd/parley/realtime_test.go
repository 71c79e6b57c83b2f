package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// jsClient runs a scenario of internal/jstest/chat.mjs (the official
// socket.io-client) against a node and decodes its RESULT line into out.
func jsClient(t *testing.T, addr, scenario, mode string, setup any, out any) {
	t.Helper()
	jsClientAt(t, "http://"+addr, nil, scenario, mode, setup, out)
}

// mustJSTest returns node and the internal/jstest directory, failing the
// test when either, or the named package of its node_modules, is missing.
func mustJSTest(t *testing.T, pkg string) (node, dir string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed; install Node.js ≥ 18 and run: npm ci --prefix internal/jstest")
	}
	if dir, err = filepath.Abs(filepath.Join("..", "..", "internal", "jstest")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg)); err != nil {
		t.Fatal("internal/jstest/node_modules is missing; run: npm ci --prefix internal/jstest")
	}
	return node, dir
}

// jsClientAt is jsClient against a base URL, with extra environment
// variables for node (NODE_EXTRA_CA_CERTS for a test certificate).
func jsClientAt(t *testing.T, url string, env []string, scenario, mode string, setup any, out any) {
	t.Helper()
	node, dir := mustJSTest(t, "socket.io-client")
	js, _ := json.Marshal(setup)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "chat.mjs", scenario, url, mode)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), env...), "PARLEY_SETUP="+string(js))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	for _, line := range strings.Split(string(stdout), "\n") {
		if strings.HasPrefix(line, "ok ") {
			t.Log(line)
		}
	}
	if err != nil {
		t.Fatalf("%s/%s: %v\n%s%s", scenario, mode, err, stdout, stderr.String())
	}
	sc := bufio.NewScanner(bytes.NewReader(stdout))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if r, ok := strings.CutPrefix(sc.Text(), "RESULT "); ok {
			if err := json.Unmarshal([]byte(r), out); err != nil {
				t.Fatalf("decode result %q: %v", r, err)
			}
			return
		}
	}
	t.Fatalf("%s/%s printed no RESULT:\n%s", scenario, mode, stdout)
}

func directConversation(t *testing.T, c *client, other string) string {
	t.Helper()
	var conv conversation
	if s := c.do("POST", "/v1/conversation", map[string]any{"member_ids": []string{other}}, &conv); s != 201 && s != 200 {
		t.Fatalf("create conversation: %d", s)
	}
	return conv.ID
}

func login(t *testing.T, anon *client, handle string) string {
	t.Helper()
	var sess session
	if s := anon.do("POST", "/v1/sessions", map[string]string{"handle": handle, "password": "pw-" + handle + "-long", "device_name": "second"}, &sess); s != 201 {
		t.Fatalf("login %s: %d", handle, s)
	}
	return sess.Token
}

func TestRealtimeChat(t *testing.T) {
	for _, mode := range []string{"default", "websocket", "polling"} {
		t.Run(mode, func(t *testing.T) {
			m := MustRunMain(t, testConfig(t))
			runChat(t, m.Addr(), mode)
		})
	}
}

// runChat runs the chat scenario of the official client against addr (a
// node, or a load balancer in front of several).
func runChat(t *testing.T, addr, mode string) {
	runChatAt(t, addr, "http://"+addr, nil, mode)
}

// runChatAt runs the chat scenario with its users made through the HTTP
// API at addr and the official client connecting to url.
func runChatAt(t *testing.T, addr, url string, env []string, mode string) {
	{
		{
			anon := newClient(t, addr)
			alice, as := anon.mustSignUp("alice_" + mode)
			_, bs := anon.mustSignUp("bob_" + mode)
			carol, _ := anon.mustSignUp("carol_" + mode)
			_, ds := anon.mustSignUp("dave_" + mode)
			setup := map[string]any{
				"alice1": alice.token, "alice2": login(t, anon, "alice_"+mode), "bob": "",
				"conv": directConversation(t, alice, bs.User.ID), "carolConv": directConversation(t, carol, ds.User.ID),
				"aliceID": as.User.ID, "bobID": bs.User.ID,
			}
			setup["bob"] = login(t, anon, "bob_"+mode)
			var res struct {
				Acks           []int64  `json:"acks"`
				Bob            []int64  `json:"bob"`
				Alice2         []int64  `json:"alice2"`
				Alice1Messages int      `json:"alice1Messages"`
				Errors         []string `json:"errors"`
				Transport      string   `json:"transport"`
				Recall         struct {
					MessageID string `json:"message_id"`
					Seq       int64  `json:"seq"`
				} `json:"recall"`
				LastBob message `json:"lastBob"`
			}
			jsClientAt(t, url, env, "chat", mode, setup, &res)
			want := fmt.Sprint(seqRange(1, 20))
			if fmt.Sprint(res.Acks) != want {
				t.Errorf("ack seqs = %v, want %s", res.Acks, want)
			}
			if fmt.Sprint(res.Bob[:20]) != want || len(res.Bob) != 21 || res.Bob[20] != 21 {
				t.Errorf("recipient's message events = %v, want 1..21 in order", res.Bob)
			}
			if fmt.Sprint(res.Alice2[:20]) != want {
				t.Errorf("sender's other device = %v, want 1..20 in order", res.Alice2)
			}
			if res.Alice1Messages != 1 {
				t.Errorf("the sending device got %d message events, want only the recall entry", res.Alice1Messages)
			}
			if res.Recall.Seq != 20 || res.LastBob.Type != "recall" || res.LastBob.Seq != 21 {
				t.Errorf("recall = %+v, entry %+v", res.Recall, res.LastBob)
			}
			if got := strings.Join(res.Errors, ","); got != "not_found,invalid,invalid,invalid,invalid" {
				t.Errorf("error acks = %s", got)
			}
			wantTransport := "websocket"
			if mode == "polling" {
				wantTransport = "polling"
			}
			if res.Transport != wantTransport {
				t.Errorf("transport = %s, want %s", res.Transport, wantTransport)
			}
		}
	}
}

func seqRange(from, to int64) []int64 {
	var s []int64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func TestRealtimeResync(t *testing.T) {
	for _, mode := range []string{"default", "websocket"} {
		t.Run(mode, func(t *testing.T) {
			m := MustRunMain(t, testConfig(t))
			anon := newClient(t, m.Addr())
			alice, _ := anon.mustSignUp("alice")
			_, bs := anon.mustSignUp("bob")
			setup := map[string]any{"alice": alice.token, "bob": login(t, anon, "bob"), "conv": directConversation(t, alice, bs.User.ID)}
			var res struct {
				Count, First, Last, Dups, Reconnected int
				Dense, RetrySame                      bool
			}
			jsClient(t, m.Addr(), "resync", mode, setup, &res)
			if res.Count != 501 || res.First != 1 || res.Last != 501 || !res.Dense {
				t.Errorf("recipient ended with %d messages %d..%d dense=%v, want exactly 1..501", res.Count, res.First, res.Last, res.Dense)
			}
			if res.Reconnected < 1 || !res.RetrySame {
				t.Errorf("reconnected=%d retrySame=%v", res.Reconnected, res.RetrySame)
			}
			t.Logf("duplicate deliveries seen by the client across the reconnect: %d", res.Dups)
		})
	}
}

func TestRealtimeGroupOrder(t *testing.T) {
	m := MustRunMain(t, testConfig(t))
	anon := newClient(t, m.Addr())
	owner, _ := anon.mustSignUp("owner")
	var ids, tokens []string
	tokens = append(tokens, owner.token)
	for i := 0; i < 19; i++ {
		c, s := anon.mustSignUp(fmt.Sprintf("member%d", i))
		ids = append(ids, s.User.ID)
		tokens = append(tokens, c.token)
	}
	var g conversation
	if s := owner.do("POST", "/v1/conversation", map[string]any{"member_ids": ids, "title": "twenty"}, &g); s != 201 {
		t.Fatalf("create group: %d", s)
	}
	var res struct {
		Total       int
		Sizes       []int
		Same, Dense bool
	}
	jsClient(t, m.Addr(), "group", "websocket", map[string]any{"tokens": tokens, "conv": g.ID}, &res)
	if res.Total != 500 || !res.Same || !res.Dense {
		t.Fatalf("group order: %+v", res)
	}
}

func TestRealtimeBadInput(t *testing.T) {
	cfg := testConfig(t)
	m := MustRunMain(t, cfg)
	anon := newClient(t, m.Addr())
	alice, _ := anon.mustSignUp("alice")
	_, bs := anon.mustSignUp("bob")
	setup := map[string]any{"alice": alice.token, "bob": login(t, anon, "bob"), "conv": directConversation(t, alice, bs.User.ID)}
	var res struct {
		Errs    []string `json:"errs"`
		Reason  string   `json:"reason"`
		OtherOK bool     `json:"otherOK"`
	}
	jsClient(t, m.Addr(), "badinput", "websocket", setup, &res)
	if strings.Join(res.Errs, ",") != "unauthorized,unauthorized" {
		t.Errorf("connect errors = %v", res.Errs)
	}
	if res.Reason != "transport close" && res.Reason != "transport error" {
		t.Errorf("oversized packet: disconnect reason %q", res.Reason)
	}
	if !res.OtherOK {
		t.Error("another client could not send after the bad one was dropped")
	}
}

// TestRealtimeBigSync: a backlog of 1,200 messages replays in several sync
// calls on a polling connection (bounded queue), in one on WebSocket.
func TestRealtimeBigSync(t *testing.T) {
	m := MustRunMain(t, testConfig(t))
	anon := newClient(t, m.Addr())
	alice, _ := anon.mustSignUp("alice")
	_, bs := anon.mustSignUp("bob")
	conv := directConversation(t, alice, bs.User.ID)
	for i := 0; i < 1200; i++ {
		if s, b := alice.raw("POST", "/v1/conversation/"+conv+"/messages", []byte(fmt.Sprintf(`{"client_msg_id":"b%d","body":"backlog"}`, i))); s != 201 {
			t.Fatalf("send %d: %d %s", i, s, b)
		}
	}
	for _, tc := range []struct {
		mode      string
		wantCalls int
	}{{"polling", 3}, {"websocket", 1}} {
		t.Run(tc.mode, func(t *testing.T) {
			var res struct {
				Calls, Count int
				InOrder      bool
			}
			jsClient(t, m.Addr(), "bigsync", tc.mode, map[string]any{"bob": login(t, anon, "bob"), "conv": conv}, &res)
			if res.Count != 1200 || !res.InOrder || res.Calls != tc.wantCalls {
				t.Fatalf("bigsync = %+v, want 1200 in order in %d calls", res, tc.wantCalls)
			}
		})
	}
}
