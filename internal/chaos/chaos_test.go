package chaos_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/client/clienttest"
	"github.com/parleyhq/parley/internal/faultnet"
	"github.com/parleyhq/parley/internal/testenv"
)

// fault is one kind of trouble the nemesis can cause: apply starts it and
// returns what ends it (nil when it ends by itself).
type fault struct {
	name   string
	weight int
	apply  func(rng *rand.Rand) (heal func())
	// node marks a fault whose healing starts a node: it is healed after
	// the others, since a node may need its store and bus to start.
	node bool
}

// between returns a random duration in [lo, hi).
func between(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}

func randomDir(rng *rand.Rand) faultnet.Direction {
	return []faultnet.Direction{faultnet.Up, faultnet.Down, faultnet.Both}[rng.IntN(3)]
}

// proxyFaults are the network faults of one proxy: latency, a pause, a
// cut with or without refusing new connections for a while.
func proxyFaults(w *world, what string, p *faultnet.Proxy, weight int) []fault {
	return []fault{
		{name: "delay " + what, weight: weight, apply: func(rng *rand.Rand) func() {
			d := between(rng, 5*time.Millisecond, 150*time.Millisecond)
			dir := randomDir(rng)
			p.Delay(dir, d)
			w.t.Logf("[%s] fault: delay %s %s by %v", w.since(), what, dir, d)
			return func() { p.Delay(faultnet.Both, 0) }
		}},
		{name: "pause " + what, weight: weight, apply: func(rng *rand.Rand) func() {
			dir := randomDir(rng)
			p.Pause(dir)
			w.t.Logf("[%s] fault: pause %s %s", w.since(), what, dir)
			return func() { p.Resume(faultnet.Both) }
		}},
		{name: "cut " + what, weight: weight, apply: func(rng *rand.Rand) func() {
			refuse := rng.IntN(2) == 0
			p.Refuse(refuse)
			n := p.Cut()
			w.t.Logf("[%s] fault: cut %d connections of %s (refusing new ones: %v)", w.since(), n, what, refuse)
			return func() { p.Refuse(false) }
		}},
	}
}

// killFault kills a node with SIGKILL; healing starts it again on its
// data (the same SQLite files, or the shared PostgreSQL).
func killFault(w *world, n *node, weight int) fault {
	return fault{name: "kill " + n.name, weight: weight, node: true, apply: func(rng *rand.Rand) func() {
		n.kill()
		w.kills.Add(1)
		w.t.Logf("[%s] fault: kill -9 %s", w.since(), n.name)
		return func() { w.restart(n) }
	}}
}

// restart starts a killed node again, trying until it serves.
func (w *world) restart(n *node) {
	if n.running() {
		return
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := n.start()
		if err == nil {
			w.t.Logf("[%s] %s serves again", w.since(), n.name)
			return
		}
		if time.Now().After(deadline) {
			w.violate(kindStuck, "%s does not start again: %v", n.name, err)
			return
		}
		time.Sleep(200 * time.Millisecond) // retry pace
	}
}

func (w *world) since() time.Duration { return time.Since(w.start).Round(time.Millisecond) }

// nemesis causes faults until ctx ends: one (sometimes two) at a time,
// lasting a random while, then healed, then a calm spell. Few faults at
// once keep every failure explainable by the log of faults.
func (w *world) nemesis(ctx context.Context, faults []fault) {
	rng := w.rng(1)
	total := 0
	for _, f := range faults {
		total += f.weight
	}
	wait := func(d time.Duration) {
		select {
		case <-ctx.Done():
		case <-time.After(d): // the fault's (or the calm's) length
		}
	}
	for ctx.Err() == nil {
		wait(between(rng, 100*time.Millisecond, 800*time.Millisecond))
		if ctx.Err() != nil {
			return
		}
		// Mostly one fault at a time; sometimes two at once (a node
		// killed while Redis is away, a cut during a pause).
		n := 1
		if rng.IntN(4) == 0 {
			n = 2
		}
		var heals, nodeHeals []func()
		for range n {
			pick := rng.IntN(total)
			var f fault
			for _, f = range faults {
				if pick < f.weight {
					break
				}
				pick -= f.weight
			}
			w.faults.Add(1)
			if heal := f.apply(rng); heal != nil && f.node {
				nodeHeals = append(nodeHeals, heal)
			} else if heal != nil {
				heals = append(heals, heal)
			}
		}
		wait(between(rng, 100*time.Millisecond, 1500*time.Millisecond))
		for _, heal := range append(heals, nodeHeals...) {
			heal()
		}
	}
}

// run drives the workload under the faults for d, then recovers
// everything (heal), lets the system settle and checks it.
func (w *world) run(d time.Duration, faults []fault, heal func()) {
	t := w.t
	w.start = time.Now()
	w.sendsUntil.Store(time.Now().Add(d + 10*time.Minute).UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	for _, dv := range w.devs {
		wg.Add(1)
		go func(dv *device) {
			defer wg.Done()
			dv.work(ctx)
		}(dv)
	}
	// The nemesis runs on the test's goroutine: healing may restart
	// Redis or PostgreSQL, whose helpers fail the test from there.
	w.nemesis(ctx, faults)

	// Recovery: no more faults, every process up, every proxy healed;
	// what is still being sent or recalled gets a minute to be
	// acknowledged, as a client would keep retrying.
	t.Logf("[%s] workload over; healing", w.since())
	heal()
	w.sendsUntil.Store(time.Now().Add(60 * time.Second).UnixNano())
	wg.Wait()
	w.inflight.Wait()

	// One more message in every conversation: a socket whose stream had
	// a hole the bus left behind notices it and fills it.
	var tails sync.WaitGroup
	for i, conv := range w.convs {
		dv := w.devicesIn(conv)[0]
		tails.Add(1)
		go func(i int) {
			defer tails.Done()
			dv.send(conv, 1_000_000+i)
		}(i)
	}
	tails.Wait()
	for _, dv := range w.devs {
		waitFor(t, dv.name+" to be connected", 30*time.Second, func() bool {
			s := dv.socket()
			return s != nil && s.Connected()
		})
	}
	logs := w.checkLogs()

	// Sockets of devices that never sync get what they must by
	// themselves; give them the time a loaded machine needs.
	deadline := time.Now().Add(15 * time.Second)
	for _, dv := range w.devs {
		for dv.requiredPending(logs) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
		}
	}
	for _, dv := range w.devs {
		dv.mu.Lock()
		dv.frozen = true
		dv.mu.Unlock()
		w.checkSockets(dv, logs)
	}
	// Every device, syncing or not, catches up once more; then its
	// history must be the log.
	for _, dv := range w.devs {
		if err := dv.finalSync(); err != nil {
			w.violate(kindStuck, "%s: its final sync did not complete after recovery: %v", dv.name, err)
			continue
		}
		w.checkHistory(dv, logs)
	}
	for _, dv := range w.devs {
		dv.close()
	}
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// report logs the summary and fails the test on any violation, with the
// seed.
func (w *world) report(d time.Duration) {
	t := w.t
	t.Logf("%s", w.summary())
	w.mu.Lock()
	vs := append([]string(nil), w.violations...)
	w.mu.Unlock()
	for _, v := range vs {
		t.Errorf("seed %d: %s", w.seed, v)
	}
	if len(vs) > 0 {
		t.Errorf("seed %d: %d violations; replay with: %s", w.seed, len(vs), replay(t, w.seed, d))
	}
}

// begin prints the seed at the start and, if the test fails, at the end.
func begin(t *testing.T) (*world, time.Duration) {
	seed, d := chaosSeed(t), chaosDuration(t)
	t.Logf("chaos seed %d, workload %v; replay with: %s", seed, d, replay(t, seed, d))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chaos seed %d; replay with: %s", seed, replay(t, seed, d))
		}
	})
	return newWorld(t, seed), d
}

func mustBuild(t *testing.T) string {
	t.Helper()
	bin, err := clienttest.Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestChaosSQLite: one node on embedded SQLite behind two front proxies
// (so a fault can cut some clients and not others); the nemesis delays,
// pauses and cuts client connections and kills the node with SIGKILL,
// which comes back on the same files.
func TestChaosSQLite(t *testing.T) {
	w, d := begin(t)
	n := mustNode(t, "node0", mustBuild(t), 2)
	w.nodes = []*node{n}
	// Six users, the first three with two devices; every second device
	// of a user, and the last user's only one, never sync.
	w.setup(6, 3, func(u, d int) bool { return d == 1 || u == 5 })
	var faults []fault
	for i, f := range n.fronts {
		faults = append(faults, proxyFaults(w, fmt.Sprintf("client front %d", i), f, 3)...)
	}
	faults = append(faults, killFault(w, n, 5))
	w.run(d, faults, func() {
		for _, f := range n.fronts {
			f.Heal()
		}
		w.restart(n)
	})
	w.report(d)
}

// TestChaosCluster: three nodes sharing PostgreSQL and Redis, each behind
// a front proxy for its clients and reaching PostgreSQL and Redis through
// proxies of its own, so one node can lose its bus or its database while
// the others keep theirs. The nemesis delays, pauses and cuts all of those
// links, kills nodes with SIGKILL, and stops and restarts Redis and
// PostgreSQL.
func TestChaosCluster(t *testing.T) {
	w, d := begin(t)
	bin := mustBuild(t)
	pg, rd := testenv.MustPostgresServer(t), testenv.MustRedis(t)
	var faults []fault
	var links []*faultnet.Proxy
	for i := 0; i < 3; i++ {
		pgp, err := faultnet.Listen(pg.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pgp.Close() })
		rdp, err := faultnet.Listen(rd.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rdp.Close() })
		name := fmt.Sprintf("node%d", i)
		n := mustNode(t, name, bin, 1,
			"--store", "postgres", "--postgres-dsn", fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", pgp.Addr(), pg.Database()),
			"--bus", "redis", "--redis-addrs", rdp.Addr())
		w.nodes = append(w.nodes, n)
		links = append(links, pgp, rdp, n.fronts[0])
		faults = append(faults, proxyFaults(w, name+"'s clients", n.fronts[0], 2)...)
		faults = append(faults, proxyFaults(w, name+"'s PostgreSQL link", pgp, 1)...)
		faults = append(faults, proxyFaults(w, name+"'s Redis link", rdp, 1)...)
		faults = append(faults, killFault(w, n, 3))
	}
	faults = append(faults,
		fault{name: "restart Redis", weight: 2, apply: func(rng *rand.Rand) func() {
			rd.Stop()
			t.Logf("[%s] fault: Redis stopped", w.since())
			return func() { rd.Restart() }
		}},
		fault{name: "restart PostgreSQL", weight: 2, apply: func(rng *rand.Rand) func() {
			pg.Stop()
			t.Logf("[%s] fault: PostgreSQL stopped", w.since())
			return func() { pg.Restart() }
		}},
		fault{name: "crash Redis", weight: 1, apply: func(rng *rand.Rand) func() {
			rd.Kill()
			t.Logf("[%s] fault: Redis killed", w.since())
			return func() { rd.Restart() }
		}},
		fault{name: "crash PostgreSQL", weight: 1, apply: func(rng *rand.Rand) func() {
			pg.Kill()
			t.Logf("[%s] fault: PostgreSQL killed (immediate shutdown: the restart replays its WAL)", w.since())
			return func() { pg.Restart() }
		}},
	)
	// Eight users, the first four with two devices; every second device
	// of a user, and the last user's only one, never sync.
	w.setup(8, 4, func(u, d int) bool { return d == 1 || u == 7 })
	w.run(d, faults, func() {
		for _, p := range links {
			p.Heal()
		}
		if rd.Pid() == 0 {
			rd.Restart()
		}
		if pg.Pid() == 0 {
			pg.Restart()
		}
		for _, n := range w.nodes {
			w.restart(n)
		}
	})
	w.report(d)
}
