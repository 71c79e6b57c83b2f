package main

import (
	"runtime"
	"testing"
	"time"
)

// TestIdleReleaser checks when memory is given back: once the process
// stops allocating, not while it allocates, once per quiet spell, and
// never sooner than a hundred times the last release's duration.
func TestIdleReleaser(t *testing.T) {
	const mib = 1 << 20
	var allocs, live uint64 = 100 * mib, 20 * mib
	clock := time.Unix(1000, 0)
	took := 10 * time.Millisecond // what a release takes
	released := 0
	r := &idleReleaser{
		read:    func() (uint64, uint64) { return allocs, live },
		release: func() { released++; clock = clock.Add(took) },
		now:     func() time.Time { return clock },
	}
	r.allocs = allocs
	step := func(allocated uint64, wait time.Duration, want bool) {
		t.Helper()
		allocs += allocated
		clock = clock.Add(wait)
		if got := r.check(); got != want {
			t.Fatalf("after %d bytes allocated (live %d): released %v, want %v", allocated, live, got, want)
		}
	}
	step(50*mib, 2*time.Second, false) // busy
	step(mib, 2*time.Second, false)    // still busy: over live/32
	step(500<<10, 2*time.Second, true) // quiet: under live/32
	step(0, 2*time.Second, false)      // quiet again, but released already in this spell
	step(5*mib, 2*time.Second, false)
	step(0, 2*time.Second, true) // a busy interval in between: released again
	// A release that took 100 ms: none for the next 10 s, busy or not.
	took = 100 * time.Millisecond
	step(5*mib, 2*time.Second, false)
	step(0, 2*time.Second, true)
	step(5*mib, 2*time.Second, false)
	step(0, 2*time.Second, false) // 4 s after it
	step(0, 2*time.Second, false)
	step(0, 2*time.Second, false)
	step(0, 2*time.Second, true) // 10 s after it ended: no busy interval needed, none released since
	live = 2 * mib
	step(300<<10, 2*time.Second, false) // a small heap: 256 KiB is the floor of busy
	step(200<<10, 20*time.Second, true)
	live = 1024 * mib
	step(5*mib, 2*time.Second, false) // a large heap: 4 MiB is the ceiling of quiet
	step(3*mib, 20*time.Second, true)
	if released != 6 {
		t.Fatalf("released %d times, want 6", released)
	}
}

// TestReadHeap checks that the runtime reports what the releaser reads.
func TestReadHeap(t *testing.T) {
	runtime.GC()
	allocs, live := readHeap()
	if allocs == 0 || live == 0 {
		t.Fatalf("readHeap = allocs %d, live %d: a metric is missing", allocs, live)
	}
	b := make([]byte, 8<<20)
	runtime.KeepAlive(b)
	if after, _ := readHeap(); after < allocs+8<<20 {
		t.Fatalf("allocs went from %d to %d over an 8 MiB allocation", allocs, after)
	}
}
