package bustest

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley"
)

// PresenceConfig says how to open the presence implementation under test.
type PresenceConfig struct {
	// NewNode opens a presence node. Every node it opens within one test
	// shares state, as the nodes of one service do. The suite does not close
	// nodes: NewNode registers their cleanup.
	NewNode func(t *testing.T) parley.Presence
	// MultiNode is true when several nodes can share state (Redis); the
	// cross-node cases are run only then.
	MultiNode bool
	// KeepsLastSeen is true when the registry keeps users' last-seen times
	// (Redis); otherwise an offline user has none in its status, and the
	// suite checks that it has none (the app keeps them in the store).
	KeepsLastSeen bool
}

// RunPresence runs the parley.Presence conformance suite.
//
// Last-seen times are compared at millisecond precision, the precision the
// implementations keep.
func RunPresence(t *testing.T, cfg PresenceConfig) {
	cases := []struct {
		name  string
		multi bool
		fn    func(*testing.T, PresenceConfig)
	}{
		{"ConnectDisconnectCounting", false, testPresenceCounting},
		{"AcrossNodes", true, testPresenceAcrossNodes},
		{"LastSeenOnGoingOffline", false, testPresenceLastSeen},
		{"UnknownUserOffline", false, testPresenceUnknownUser},
		{"StatusInRequestOrder", false, testPresenceStatusOrder},
		{"DisconnectWithoutConnect", false, testPresenceUnbalancedDisconnect},
		{"ConcurrentConnections", false, testPresenceConcurrent},
		{"ConcurrentConnectionsAcrossNodes", true, testPresenceConcurrent},
	}
	for _, c := range cases {
		if c.multi && !cfg.MultiNode {
			continue
		}
		ccfg := cfg
		ccfg.MultiNode = c.multi
		t.Run(c.name, func(t *testing.T) { c.fn(t, ccfg) })
	}
}

func newUserID() parley.ID { return parley.ID(rand.Int64N(1<<62) + 1) }

// at returns a distinct millisecond-precision time for last-seen checks.
func at(sec int) time.Time { return time.Date(2030, 1, 2, 3, 4, sec, 5e6, time.UTC) }

func mustConnect(t *testing.T, p parley.Presence, u parley.ID, wantOnline bool) {
	t.Helper()
	came, err := p.Connect(context.Background(), u)
	if err != nil {
		t.Fatalf("Connect %s: %v", u, err)
	}
	if came != wantOnline {
		t.Fatalf("Connect %s: cameOnline = %v, want %v", u, came, wantOnline)
	}
}

func mustDisconnect(t *testing.T, p parley.Presence, u parley.ID, when time.Time, wantOffline bool) {
	t.Helper()
	went, err := p.Disconnect(context.Background(), u, when)
	if err != nil {
		t.Fatalf("Disconnect %s: %v", u, err)
	}
	if went != wantOffline {
		t.Fatalf("Disconnect %s: wentOffline = %v, want %v", u, went, wantOffline)
	}
}

func mustStatus(t *testing.T, p parley.Presence, u parley.ID) parley.PresenceStatus {
	t.Helper()
	st, err := p.Status(context.Background(), []parley.ID{u})
	if err != nil {
		t.Fatalf("Status %s: %v", u, err)
	}
	if len(st) != 1 || st[0].UserID != u {
		t.Fatalf("Status %s: got %+v, want one status for the user", u, st)
	}
	return st[0]
}

// checkOnline checks an online status: online users have no last_seen,
// they are seen now.
func checkOnline(t *testing.T, st parley.PresenceStatus) {
	t.Helper()
	if !st.Online || st.LastSeen != nil {
		t.Fatalf("status %+v, want online with no last_seen", st)
	}
}

// checkOffline checks an offline status: with the time the user went
// offline when the registry keeps last-seen times, with none otherwise.
func (cfg PresenceConfig) checkOffline(t *testing.T, st parley.PresenceStatus, lastSeen time.Time) {
	t.Helper()
	if st.Online {
		t.Fatalf("status %+v, want offline", st)
	}
	if !cfg.KeepsLastSeen {
		if st.LastSeen != nil {
			t.Fatalf("last_seen %v from a registry that keeps none", st.LastSeen)
		}
		return
	}
	if st.LastSeen == nil || !st.LastSeen.Equal(lastSeen) {
		t.Fatalf("last_seen %v, want %v", st.LastSeen, lastSeen)
	}
}

func testPresenceCounting(t *testing.T, cfg PresenceConfig) {
	p := cfg.NewNode(t)
	u := newUserID()
	mustConnect(t, p, u, true)
	mustConnect(t, p, u, false)
	checkOnline(t, mustStatus(t, p, u))
	mustDisconnect(t, p, u, at(1), false)
	checkOnline(t, mustStatus(t, p, u))
	mustDisconnect(t, p, u, at(2), true)
	cfg.checkOffline(t, mustStatus(t, p, u), at(2))
}

func testPresenceAcrossNodes(t *testing.T, cfg PresenceConfig) {
	a, b := cfg.NewNode(t), cfg.NewNode(t)
	u := newUserID()
	mustConnect(t, a, u, true)
	mustConnect(t, b, u, false)
	checkOnline(t, mustStatus(t, b, u))
	mustDisconnect(t, a, u, at(1), false)
	checkOnline(t, mustStatus(t, a, u))
	mustDisconnect(t, b, u, at(2), true)
	cfg.checkOffline(t, mustStatus(t, a, u), at(2))
	cfg.checkOffline(t, mustStatus(t, b, u), at(2))
	mustConnect(t, a, u, true)
	checkOnline(t, mustStatus(t, b, u))
	mustDisconnect(t, a, u, at(3), true)
}

func testPresenceLastSeen(t *testing.T, cfg PresenceConfig) {
	p := cfg.NewNode(t)
	u := newUserID()
	mustConnect(t, p, u, true)
	mustDisconnect(t, p, u, at(1), true)
	cfg.checkOffline(t, mustStatus(t, p, u), at(1))
	mustConnect(t, p, u, true)
	checkOnline(t, mustStatus(t, p, u))
	mustDisconnect(t, p, u, at(7), true)
	cfg.checkOffline(t, mustStatus(t, p, u), at(7))
}

func testPresenceUnknownUser(t *testing.T, cfg PresenceConfig) {
	p := cfg.NewNode(t)
	u := newUserID()
	st := mustStatus(t, p, u)
	if st.Online || st.LastSeen != nil {
		t.Fatalf("unknown user: %+v, want offline with no last_seen", st)
	}
	if st, err := p.Status(context.Background(), nil); err != nil || len(st) != 0 {
		t.Fatalf("Status of no users: %v, %v; want nothing", st, err)
	}
}

func testPresenceStatusOrder(t *testing.T, cfg PresenceConfig) {
	p := cfg.NewNode(t)
	on, off, unknown := newUserID(), newUserID(), newUserID()
	mustConnect(t, p, on, true)
	mustConnect(t, p, off, true)
	mustDisconnect(t, p, off, at(4), true)
	ids := []parley.ID{unknown, on, off, on}
	st, err := p.Status(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != len(ids) {
		t.Fatalf("got %d statuses for %d ids", len(st), len(ids))
	}
	for i, id := range ids {
		if st[i].UserID != id {
			t.Fatalf("status %d is for %s, want %s (request order)", i, st[i].UserID, id)
		}
	}
	if st[0].Online || st[0].LastSeen != nil {
		t.Fatalf("unknown user: %+v", st[0])
	}
	checkOnline(t, st[1])
	cfg.checkOffline(t, st[2], at(4))
	checkOnline(t, st[3])
}

func testPresenceUnbalancedDisconnect(t *testing.T, cfg PresenceConfig) {
	p := cfg.NewNode(t)
	u := newUserID()
	// A disconnect with no connection (a retry after an error, say) is not a
	// transition and must not drive the count below zero.
	mustDisconnect(t, p, u, at(1), false)
	mustConnect(t, p, u, true)
	mustDisconnect(t, p, u, at(2), true)
	mustDisconnect(t, p, u, at(3), false)
	cfg.checkOffline(t, mustStatus(t, p, u), at(2))
	mustConnect(t, p, u, true)
	checkOnline(t, mustStatus(t, p, u))
}

// testPresenceConcurrent connects and disconnects one user from many
// goroutines (on two nodes when the implementation has nodes): every came-
// online is matched by exactly one went-offline, and the user ends offline.
func testPresenceConcurrent(t *testing.T, cfg PresenceConfig) {
	ps := []parley.Presence{cfg.NewNode(t)}
	if cfg.MultiNode {
		ps = append(ps, cfg.NewNode(t))
	}
	u := newUserID()
	var online, offline atomic.Int64
	var wg sync.WaitGroup
	for w := range 16 {
		p := ps[w%len(ps)]
		wg.Go(func() {
			for i := range 50 {
				came, err := p.Connect(context.Background(), u)
				if err != nil {
					t.Errorf("Connect: %v", err)
					return
				}
				if came {
					online.Add(1)
				}
				went, err := p.Disconnect(context.Background(), u, at(i%60))
				if err != nil {
					t.Errorf("Disconnect: %v", err)
					return
				}
				if went {
					offline.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if online.Load() == 0 || online.Load() != offline.Load() {
		t.Fatalf("came online %d times and went offline %d times; want equal and non-zero", online.Load(), offline.Load())
	}
	if st := mustStatus(t, ps[0], u); st.Online || (st.LastSeen == nil) == cfg.KeepsLastSeen {
		t.Fatalf("after all disconnects: %+v, want offline, with a last_seen when the registry keeps them", st)
	}
}
