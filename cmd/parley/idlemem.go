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
// (they refill from the OS's page cache as queries need pages) and, if the
// heap holds over an eighth more than its live bytes (and 4 MiB more), the
// node collects and releases every free page (debug.FreeOSMemory). It does
// so again only after a busy interval.
type idleReleaser struct {
	allocs   uint64 // cumulative bytes allocated at the last check
	released bool   // released since the last busy interval
	// read is readHeap but in tests; release drops the caches and, when
	// heap is set, returns the heap's free pages.
	read    func() (allocs, live, held uint64)
	release func(heap bool)
}

// Returning the heap's pages pays only above this many bytes held beyond
// the live heap.
const minIdleRelease = 4 << 20

func newIdleReleaser(release func(heap bool)) *idleReleaser {
	r := &idleReleaser{read: readHeap, release: release}
	r.allocs, _, _ = r.read()
	return r
}

// readHeap samples the runtime: bytes allocated so far, the live heap at
// the last collection, and the heap memory held from the OS (objects, dead
// or alive, the unused room of their spans, and free pages not returned).
func readHeap() (allocs, live, held uint64) {
	s := []metrics.Sample{
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
	}
	metrics.Read(s)
	for i := range s {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0, 0, 0 // not reported by this runtime: never release
		}
	}
	return s[0].Value.Uint64(), s[1].Value.Uint64(), s[2].Value.Uint64() + s[3].Value.Uint64() + s[4].Value.Uint64()
}

// check runs once per interval and reports whether it released memory.
func (r *idleReleaser) check() bool {
	allocs, live, held := r.read()
	delta := allocs - r.allocs
	r.allocs = allocs
	if allocs == 0 || delta >= min(max(live/32, 256<<10), 4<<20) {
		r.released = false // busy, or unknown
		return false
	}
	if r.released {
		return false
	}
	r.release(held >= live+max(minIdleRelease, live/8))
	r.released = true
	// The collection and release allocate a little themselves.
	r.allocs, _, _ = r.read()
	return true
}

// releaseIdleMemory runs the releaser every interval until ctx ends.
// caches, when set, drops caches that can be refilled (the SQLite store's
// pages).
func releaseIdleMemory(ctx context.Context, every time.Duration, caches func(context.Context)) {
	r := newIdleReleaser(func(heap bool) {
		if caches != nil {
			caches(ctx)
		}
		if heap {
			debug.FreeOSMemory()
		}
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
