package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/parleyhq/parley/internal/testenv"
)

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestBusOutageLoggedOnce stops Redis under a node that keeps taking
// sends: the outage is logged once when it starts and once, with the
// number of failed publishes, when it ends, not once per send.
func TestBusOutageLoggedOnce(t *testing.T) {
	rd := testenv.MustRedis(t)
	cfg := testConfig(t)
	cfg.Bus, cfg.RedisAddrs, cfg.LogLevel = "redis", rd.Addr(), "info"
	var logs syncBuffer
	m := NewMain()
	m.Config = cfg
	m.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })

	anon := newClient(t, m.Addr())
	alice, _ := anon.mustSignUp("alice")
	_, bs := anon.mustSignUp("bob")
	conv := directConversation(t, alice, bs.User.ID)
	n := 0
	send := func() {
		n++
		body := map[string]string{"client_msg_id": fmt.Sprint("m", n), "type": "text", "body": "hi"}
		if s := alice.do("POST", "/v1/conversation/"+conv+"/messages", body, nil); s != 201 {
			t.Fatalf("send %d: %d", n, s)
		}
	}
	send()
	rd.Stop()
	for range 20 {
		send()
	}
	rd.Restart()
	waitFor(t, "the bus to recover", func() bool {
		send()
		return strings.Contains(logs.String(), "bus publish recovered")
	})
	out := logs.String()
	if c := strings.Count(out, "bus publish failing"); c != 1 {
		t.Errorf("outage logged %d times, want once:\n%s", c, out)
	}
	m1 := regexp.MustCompile(`bus publish recovered" failed=(\d+)`).FindStringSubmatch(out)
	if m1 == nil {
		t.Fatalf("no recovery line:\n%s", out)
	}
	if failed, _ := strconv.Atoi(m1[1]); failed < 20 {
		t.Errorf("recovery counts %d failed publishes, want at least 20", failed)
	}
}
