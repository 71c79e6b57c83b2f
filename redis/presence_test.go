package redis

import (
	"context"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/bustest"
	"github.com/parleyhq/parley/internal/testenv"
)

// mustPresence opens a presence node and closes it when the test ends.
func mustPresence(t testing.TB, cfg Config) *Presence {
	t.Helper()
	p, err := NewPresence(context.Background(), cfg)
	if err != nil {
		t.Fatalf("NewPresence: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestPresence(t *testing.T) {
	srv := testenv.MustRedis(t)
	bustest.RunPresence(t, bustest.PresenceConfig{
		MultiNode: true, KeepsLastSeen: true,
		NewNode: func(t *testing.T) parley.Presence {
			return mustPresence(t, Config{Addrs: []string{srv.Addr()}})
		},
	})
}

func TestPresenceCluster(t *testing.T) {
	c := testenv.MustRedisCluster(t, 3)
	bustest.RunPresence(t, bustest.PresenceConfig{
		MultiNode: true, KeepsLastSeen: true,
		NewNode: func(t *testing.T) parley.Presence {
			return mustPresence(t, Config{Addrs: c.Addrs(), Cluster: true})
		},
	})
}

// waitStatus polls the status of u on p until ok accepts it.
func waitStatus(t *testing.T, p *Presence, u parley.ID, ok func(parley.PresenceStatus) bool) parley.PresenceStatus {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for {
		st, err := p.Status(context.Background(), []parley.ID{u})
		if err == nil && ok(st[0]) {
			return st[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("status of %s: %+v, %v; condition never met", u, st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func online(st parley.PresenceStatus) bool  { return st.Online }
func offline(st parley.PresenceStatus) bool { return !st.Online }

func TestPresenceNodeCrash(t *testing.T) {
	srv := testenv.MustRedis(t)
	cfg := Config{Addrs: []string{srv.Addr()}, PresenceTTL: 600 * time.Millisecond, Logger: testLogger(t)}
	crashing := mustPresence(t, cfg)
	survivor := mustPresence(t, cfg)
	const u, v = parley.ID(1001), parley.ID(1002)
	ctx := context.Background()
	if came, err := crashing.Connect(ctx, u); err != nil || !came {
		t.Fatalf("Connect: %v, %v", came, err)
	}
	if _, err := crashing.Connect(ctx, v); err != nil {
		t.Fatal(err)
	}
	if _, err := survivor.Connect(ctx, v); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, survivor, u, online)

	before := time.Now()
	crashing.crash()
	st := waitStatus(t, survivor, u, offline)
	if st.LastSeen == nil || st.LastSeen.Before(before.Add(-time.Second)) {
		t.Fatalf("after the node crashed: %+v, want last_seen about when its entry expired", st)
	}
	// v still has a connection on the survivor. (Waited for, not read
	// once: a heartbeat the loaded machine delayed past the short test TTL
	// lets the entry lapse until the next one writes it back.)
	waitStatus(t, survivor, v, online)
	// The crashed node's count no longer holds u online.
	if came, err := survivor.Connect(ctx, u); err != nil || !came {
		t.Fatalf("Connect after the crash: cameOnline %v, %v; want true", came, err)
	}
	if went, err := survivor.Disconnect(ctx, u, time.Now()); err != nil || !went {
		t.Fatalf("Disconnect after the crash: wentOffline %v, %v; want true", went, err)
	}
}

func TestPresenceRedisRestart(t *testing.T) {
	srv := testenv.MustRedis(t)
	cfg := Config{Addrs: []string{srv.Addr()}, PresenceTTL: 600 * time.Millisecond, Logger: testLogger(t)}
	a := mustPresence(t, cfg)
	b := mustPresence(t, cfg)
	const u = parley.ID(2001)
	if _, err := a.Connect(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, b, u, online)

	// Redis keeps nothing across the restart; a's heartbeat writes its
	// counts back.
	srv.Kill()
	srv.Restart()
	waitStatus(t, b, u, online)
	// The first command on a connection broken by the restart may fail;
	// a failed update is written back by the next heartbeat.
	if _, err := a.Disconnect(context.Background(), u, time.Now()); err != nil && parley.ErrorCode(err) != parley.EUNAVAILABLE {
		t.Fatal(err)
	}
	waitStatus(t, b, u, offline)
}

func TestPresenceDisconnectDuringOutage(t *testing.T) {
	srv := testenv.MustRedis(t)
	cfg := Config{Addrs: []string{srv.Addr()}, PresenceTTL: 600 * time.Millisecond, Logger: testLogger(t)}
	a := mustPresence(t, cfg)
	const u = parley.ID(3001)
	if _, err := a.Connect(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	_, err := a.Disconnect(context.Background(), u, time.Now())
	if parley.ErrorCode(err) != parley.EUNAVAILABLE {
		t.Fatalf("Disconnect with Redis down: %v, want %s", err, parley.EUNAVAILABLE)
	}
	srv.Restart()
	b := mustPresence(t, cfg)
	// The failed update is written at a's next heartbeat: u is offline
	// with a last-seen time.
	st := waitStatus(t, b, u, func(st parley.PresenceStatus) bool { return !st.Online && st.LastSeen != nil })
	if st.Online {
		t.Fatalf("%+v", st)
	}
}
