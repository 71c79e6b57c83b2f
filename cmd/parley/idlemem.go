package main

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// idleReleaser gives memory back to the operating system when the node
// goes quiet after a burst of work.
//
// The Go runtime keeps a heap up to twice its live size (GOGC=100) and only
// returns the free pages above that goal, slowly. A node holding tens of
// thousands of idle connections has a large live heap of long-lived
// connection state, so after the burst that opened them its resident size
// stays at about twice that state for as long as it idles. The headroom buys
// nothing while nothing allocates; it is what makes collections rare under
// load. SQLite's page caches likewise stay as full as the burst left them.
// So both stay while the node works, and are given back, once, when it
// stops: when less than a 32nd of the live heap (at least 256 KiB, at most
// 4 MiB) was allocated in one interval, the store drops its page caches
// (they refill from the OS's page cache as queries need pages) and the node
// collects and returns every free page (debug.FreeOSMemory). It does so
// again only after a busy interval, and never sooner than a hundred times
// the last release's duration after it, so a load that comes and goes
// spends at most about 1% of its time releasing.
type idleReleaser struct {
	allocs   uint64    // cumulative bytes allocated at the last check
	released bool      // released since the last busy interval
	next     time.Time // no release before this
	// read, release and now are readHeap, the release and time.Now but in
	// tests.
	read    func() (allocs, live uint64)
	release func()
	now     func() time.Time
}

// releaseSpacing is how many times its own duration a release waits
// before the next.
const releaseSpacing = 100

func newIdleReleaser(release func()) *idleReleaser {
	r := &idleReleaser{read: readHeap, release: release, now: time.Now}
	r.allocs, _ = r.read()
	return r
}

// readHeap samples the runtime: bytes allocated so far and the live heap
// at the last collection.
func readHeap() (allocs, live uint64) {
	s := []metrics.Sample{
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/gc/heap/live:bytes"},
	}
	metrics.Read(s)
	for i := range s {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0, 0 // not reported by this runtime: never release
		}
	}
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}

// check runs once per interval and reports whether it released memory.
func (r *idleReleaser) check() bool {
	allocs, live := r.read()
	delta := allocs - r.allocs
	r.allocs = allocs
	if allocs == 0 || delta >= min(max(live/32, 256<<10), 4<<20) {
		r.released = false // busy, or unknown
		return false
	}
	start := r.now()
	if r.released || start.Before(r.next) {
		return false
	}
	r.release()
	end := r.now()
	r.next = end.Add(releaseSpacing * end.Sub(start))
	r.released = true
	// The collection and release allocate a little themselves.
	r.allocs, _ = r.read()
	return true
}

// releaseIdleMemory runs the releaser every interval until ctx ends.
// caches, when set, drops caches that can be refilled (the SQLite store's
// pages) before the heap's free pages are returned.
func releaseIdleMemory(ctx context.Context, every time.Duration, caches func(context.Context)) {
	r := newIdleReleaser(func() {
		if caches != nil {
			caches(ctx)
		}
		debug.FreeOSMemory()
	})
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.check()
		}
	}
}
