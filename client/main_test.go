package client_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/client/clienttest"
	"github.com/parleyhq/parley/internal/testenv"
)

// parleyBin is the parley command built once for the whole test binary.
var parleyBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "parley-client-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if parleyBin, err = clienttest.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// handles makes handles unique within a node.
var handles atomic.Int64

const password = "correct horse battery"

// user is a registered, logged-in account.
type user struct {
	*client.Client
	ID      parley.ID
	Handle  string
	Session *parley.Session
}

// MustUser registers a fresh user on the node and logs it in.
func MustUser(tb testing.TB, n *clienttest.Node) user {
	tb.Helper()
	ctx := context.Background()
	c := client.New(n.URL, nil)
	h := fmt.Sprintf("u%d_%d", time.Now().UnixNano()%1e6, handles.Add(1))
	if _, err := c.Register(ctx, parley.RegisterRequest{Handle: h, Password: password}); err != nil {
		tb.Fatalf("register %s: %v", h, err)
	}
	s, err := c.Login(ctx, parley.LoginRequest{Handle: h, Password: password, DeviceName: "test"})
	if err != nil {
		tb.Fatalf("login %s: %v", h, err)
	}
	return user{Client: c, ID: s.User.ID, Handle: h, Session: s}
}

// MustDirect opens the 1:1 conversation of a and b.
func MustDirect(tb testing.TB, a, b user) *parley.ConversationView {
	tb.Helper()
	v, _, err := a.CreateConversation(context.Background(), parley.CreateConversationRequest{MemberIDs: []parley.ID{b.ID}})
	if err != nil {
		tb.Fatalf("create conversation: %v", err)
	}
	return v
}

// MustDial connects u's realtime socket with events on a channel, closed
// at cleanup.
func MustDial(tb testing.TB, u user, cfg client.SocketConfig) *client.Socket {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := u.Dial(ctx, cfg)
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// next returns the next event called name from s's channel, skipping
// others, or fails the test after a while.
func next(tb testing.TB, s *client.Socket, name string) client.Event {
	tb.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				tb.Fatalf("socket ended waiting for %s: %v", name, s.Err())
			}
			if ev.Err != nil {
				tb.Fatalf("event %s: %v", ev.Name, ev.Err)
			}
			if ev.Name == name {
				return ev
			}
		case <-timeout:
			tb.Fatalf("no %s event", name)
		}
	}
}

func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := parley.ErrorCode(err); got != code || !client.IsServerError(err) {
		tb.Fatalf("error %v: code %q, want %q from the server", err, got, code)
	}
}

// mustNode starts a node of the test's own.
func mustNode(tb testing.TB) *clienttest.Node {
	tb.Helper()
	return clienttest.Start(tb, parleyBin)
}

// mustNodeAt starts a node on addr with its data in dir, stopped at
// cleanup; a restart on the same dir and address stands for a node that
// crashed and came back.
func mustNodeAt(tb testing.TB, bin, dir, addr string) *clienttest.Node {
	tb.Helper()
	var n *clienttest.Node
	err := testenv.RestartOnSamePort(func() (err error) {
		n, err = clienttest.StartNode(bin, dir, "--addr", addr)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := n.Stop(); err != nil {
			tb.Errorf("stop node: %v", err)
		}
	})
	return n
}
