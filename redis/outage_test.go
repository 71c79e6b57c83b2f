package redis

import (
	"bytes"
	"context"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/testenv"
)

// hangGuard bounds waits that only a bug would make long.
const hangGuard = 30 * time.Second

// inbox collects payloads from a subscription.
type inbox struct {
	mu  sync.Mutex
	got [][]byte
	ch  chan struct{}
}

func newInbox() *inbox { return &inbox{ch: make(chan struct{}, 1)} }

func (in *inbox) fn(p []byte) {
	in.mu.Lock()
	in.got = append(in.got, p)
	in.mu.Unlock()
	select {
	case in.ch <- struct{}{}:
	default:
	}
}

// waitFor waits until want arrived.
func (in *inbox) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(hangGuard)
	for {
		in.mu.Lock()
		for _, p := range in.got {
			if bytes.Equal(p, []byte(want)) {
				in.mu.Unlock()
				return
			}
		}
		in.mu.Unlock()
		select {
		case <-in.ch:
		case <-deadline:
			t.Fatalf("%q never arrived", want)
		}
	}
}

// publishUntilOK publishes until Redis takes it: the publishing connection
// comes back on demand, a little after the server.
func publishUntilOK(t *testing.T, b *Bus, topic, payload string) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for {
		err := b.Publish(context.Background(), topic, []byte(payload))
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Publish still failing: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkUnavailable checks that Publish fails with the retryable
// EUNAVAILABLE within the hang guard.
func checkUnavailable(t *testing.T, b *Bus, topic string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	start := time.Now()
	var err error
	// The first publishes may still go out on a connection the kernel has
	// not reported closed yet.
	for range 100 {
		if err = b.Publish(ctx, topic, []byte("lost")); err != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if parley.ErrorCode(err) != parley.EUNAVAILABLE || !parley.IsRetryable(err) {
		t.Fatalf("Publish with Redis down: %v (code %q), want retryable %s", err, parley.ErrorCode(err), parley.EUNAVAILABLE)
	}
	t.Logf("Publish failed after %v: %v", time.Since(start), err)
}

func TestBusOutage(t *testing.T) {
	for _, kill := range []struct {
		name string
		stop func(*testenv.Redis)
	}{
		{"Crash", (*testenv.Redis).Kill},
		{"Shutdown", (*testenv.Redis).Stop},
	} {
		t.Run(kill.name, func(t *testing.T) {
			srv := testenv.MustRedis(t)
			reconnects := make(chan struct{}, 10)
			cfg := Config{Addrs: []string{srv.Addr()}}
			node := mustBus(t, Config{Addrs: cfg.Addrs, OnReconnect: func() { reconnects <- struct{}{} }})
			other := mustBus(t, cfg)

			before, during := newInbox(), newInbox()
			if _, err := node.Subscribe(context.Background(), "u:1", before.fn); err != nil {
				t.Fatal(err)
			}
			publishUntilOK(t, other, "u:1", "before")
			before.waitFor(t, "before")

			// Take Redis away under traffic.
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					other.Publish(context.Background(), "u:1", []byte("traffic"))
				}
			})
			kill.stop(srv)
			close(stop)
			wg.Wait()
			checkUnavailable(t, other, "u:1")
			checkUnavailable(t, node, "u:1")

			// Subscribing while Redis is away succeeds and takes effect on
			// reconnection.
			if _, err := node.Subscribe(context.Background(), "u:2", during.fn); err != nil {
				t.Fatalf("Subscribe during the outage: %v", err)
			}

			srv.Restart()
			select {
			case <-reconnects:
			case <-time.After(hangGuard):
				t.Fatal("OnReconnect not called after Redis came back")
			}
			publishUntilOK(t, other, "u:1", "after")
			publishUntilOK(t, other, "u:2", "during")
			before.waitFor(t, "after")
			during.waitFor(t, "during")
		})
	}
}

// TestPublishUnresponsiveRedis checks that Publish fails within the
// configured timeout when Redis keeps the connection open but stops
// answering, instead of hanging.
func TestPublishUnresponsiveRedis(t *testing.T) {
	srv := testenv.MustRedis(t)
	b := mustBus(t, Config{Addrs: []string{srv.Addr()}, Timeout: 300 * time.Millisecond})
	publishUntilOK(t, b, "u:1", "before")

	if err := syscall.Kill(srv.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	checkUnavailable(t, b, "u:1")
	if err := syscall.Kill(srv.Pid(), syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	publishUntilOK(t, b, "u:1", "after")
}

func TestBusClusterNodeRestart(t *testing.T) {
	c := testenv.MustRedisCluster(t, 3)
	reconnects := make(chan struct{}, 10)
	node := mustBus(t, Config{Addrs: c.Addrs(), Cluster: true, OnReconnect: func() { reconnects <- struct{}{} }})
	other := mustBus(t, Config{Addrs: c.Addrs(), Cluster: true})

	// Topics on every master.
	in := newInbox()
	var topics []string
	for i := 0; len(topics) < 30; i++ {
		topic := "u:" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		topics = append(topics, topic)
		if _, err := node.Subscribe(context.Background(), topic, in.fn); err != nil {
			t.Fatal(err)
		}
	}
	for _, topic := range topics {
		publishUntilOK(t, other, topic, "before "+topic)
		in.waitFor(t, "before "+topic)
	}

	victim := c.Nodes()[1]
	victim.Kill()
	victim.Restart()
	select {
	case <-reconnects:
	case <-time.After(hangGuard):
		t.Fatal("OnReconnect not called after the node came back")
	}
	for _, topic := range topics {
		publishUntilOK(t, other, topic, "after "+topic)
		in.waitFor(t, "after "+topic)
	}
}

func TestNewBusUnreachable(t *testing.T) {
	srv := testenv.MustRedis(t)
	addr := srv.Addr()
	srv.Stop()
	_, err := NewBus(context.Background(), Config{Addrs: []string{addr}})
	if parley.ErrorCode(err) != parley.EUNAVAILABLE {
		t.Fatalf("NewBus with Redis down: %v, want %s", err, parley.EUNAVAILABLE)
	}
}
