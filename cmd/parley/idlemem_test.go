package main

import (
	"runtime"
	"testing"
)

// TestIdleReleaser checks when memory is given back: once the process
// stops allocating, not while it allocates, once per quiet spell, and the
// heap's pages only when it holds enough beyond its live bytes.
func TestIdleReleaser(t *testing.T) {
	const mib = 1 << 20
	var allocs, live, held uint64 = 100 * mib, 20 * mib, 40 * mib
	caches, heaps := 0, 0
	r := &idleReleaser{
		read: func() (uint64, uint64, uint64) { return allocs, live, held },
		release: func(heap bool) {
			caches++
			if heap {
				heaps++
				held = live
			}
		},
	}
	r.allocs = allocs
	step := func(allocated uint64, want bool, wantHeaps int) {
		t.Helper()
		allocs += allocated
		if got := r.check(); got != want || heaps != wantHeaps {
			t.Fatalf("after %d bytes allocated (live %d, held %d): released %v, want %v; heap released %d times, want %d",
				allocated, live, held, got, want, heaps, wantHeaps)
		}
	}
	step(50*mib, false, 0) // busy
	step(mib, false, 0)    // still busy: over live/32
	step(500<<10, true, 1) // quiet: under live/32
	held = 40 * mib
	step(0, false, 1) // quiet again, but released already in this spell
	step(5*mib, false, 1)
	step(0, true, 2) // a busy interval in between: released again
	held = live + 3*mib
	step(5*mib, false, 2)
	step(0, true, 2) // the caches only: too little held beyond live
	live, held = 64*mib, 70*mib
	step(5*mib, false, 2)
	step(0, true, 2) // the caches only: too little against live/8
	live, held = 2*mib, 40*mib
	step(300<<10, false, 2) // a small heap: 256 KiB is the floor of busy
	step(200<<10, true, 3)
	live, held = 1024*mib, 2048*mib
	step(5*mib, false, 3) // a large heap: 4 MiB is the ceiling of quiet
	step(3*mib, true, 4)
	if caches != 6 {
		t.Fatalf("caches dropped %d times, want 6", caches)
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
