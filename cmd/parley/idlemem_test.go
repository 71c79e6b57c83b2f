package main

import (
	"runtime"
	"testing"
)

// TestIdleReleaser checks when free heap pages are given back: once the
// process stops allocating, not while it allocates nor when the heap holds
// little beyond its live bytes, and once per quiet spell.
func TestIdleReleaser(t *testing.T) {
	const mib = 1 << 20
	var allocs, live, held uint64 = 100 * mib, 20 * mib, 40 * mib
	freed := 0
	r := &idleReleaser{
		read: func() (uint64, uint64, uint64) { return allocs, live, held },
		free: func() { freed++; held = live },
	}
	r.allocs = allocs
	step := func(allocated uint64, want bool) {
		t.Helper()
		allocs += allocated
		if got := r.check(); got != want {
			t.Fatalf("after %d bytes allocated (live %d, held %d): released %v, want %v", allocated, live, held, got, want)
		}
	}
	step(50*mib, false) // busy
	step(mib, false)    // still busy: over live/32
	step(500<<10, true) // quiet: under live/32
	if freed != 1 || held != live {
		t.Fatalf("freed %d times, want 1", freed)
	}
	held = 40 * mib
	step(0, false) // quiet again, but released already in this spell
	step(5*mib, false)
	step(0, true) // a busy interval in between: released again
	held = live + 3*mib
	step(5*mib, false)
	step(0, false) // too little held beyond live to be worth it
	live, held = 64*mib, 70*mib
	step(0, false) // still too little against live/8
	live, held = 2*mib, 40*mib
	step(300<<10, false) // a small heap: 256 KiB is the floor of busy
	step(200<<10, true)
	live, held = 1024*mib, 2048*mib
	step(5*mib, false) // a large heap: 4 MiB is the ceiling of quiet
	step(3*mib, true)
	if freed != 4 {
		t.Fatalf("freed %d times, want 4", freed)
	}
}

// TestReadHeap checks that the runtime reports what the releaser reads.
func TestReadHeap(t *testing.T) {
	runtime.GC()
	allocs, live, held := readHeap()
	if allocs == 0 || live == 0 || held < live {
		t.Fatalf("readHeap = allocs %d, live %d, held %d: a metric is missing", allocs, live, held)
	}
	b := make([]byte, 8<<20)
	runtime.KeepAlive(b)
	if after, _, _ := readHeap(); after < allocs+8<<20 {
		t.Fatalf("allocs went from %d to %d over an 8 MiB allocation", allocs, after)
	}
}
