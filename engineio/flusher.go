package engineio

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// flusher writes the WebSockets' waiting frames (nbioWS.write) on a
// goroutine of its own. A connection joins its queue when a frame is
// written to it with nothing waiting yet; the flusher takes the whole
// queue at once and writes each connection's frames with one call.
//
// It waits for no timer: under load the frames of a burst (a commit's
// acknowledgements, a message's fan-out) gather while the flusher is busy
// with the previous one, and it lets the goroutines that are ready to run
// go first before it takes the queue; when the node is quiet it writes at
// once.
type flusher struct {
	mu   sync.Mutex
	q    []*nbioWS
	wake chan struct{}
	quit chan struct{}
	done chan struct{}

	writes atomic.Int64 // write calls made, for tests
}

// flusherCount is how many flushers a transport runs: one for every two
// processors, each connection always with the same one (flusherOf), so
// that the node's socket writes are not bound to one core.
var flusherCount = func() int { return max(1, runtime.GOMAXPROCS(0)/2) }

func newFlushers() []*flusher {
	fs := make([]*flusher, flusherCount())
	for i := range fs {
		fs[i] = newFlusher()
	}
	return fs
}

// flusherOf returns w's flusher, picked by a hash of its address (an
// object on the heap does not move).
func (n *nbioTransport) flusherOf(w *nbioWS) *flusher {
	if len(n.flushers) == 1 {
		return n.flushers[0]
	}
	h := uint64(uintptr(unsafe.Pointer(w))) * 0x9e3779b97f4a7c15
	return n.flushers[(h>>32)%uint64(len(n.flushers))]
}

func newFlusher() *flusher {
	f := &flusher{wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go f.loop()
	return f
}

// add queues w, which has frames waiting and is not queued yet.
func (f *flusher) add(w *nbioWS) {
	f.mu.Lock()
	f.q = append(f.q, w)
	first := len(f.q) == 1
	f.mu.Unlock()
	if first {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
}

func (f *flusher) loop() {
	defer close(f.done)
	var batch []*nbioWS
	for {
		select {
		case <-f.wake:
		case <-f.quit:
			f.flushAll(batch)
			return
		}
		// The wake-up makes this goroutine the next to run where the
		// frame's sender ran; the rest of the burst's senders (the
		// goroutines the same commit woke) are queued behind it.
		runtime.Gosched()
		batch = f.flushAll(batch)
	}
}

// flushAll writes what every queued connection has waiting and returns
// batch emptied, for reuse.
func (f *flusher) flushAll(batch []*nbioWS) []*nbioWS {
	f.mu.Lock()
	batch, f.q = f.q, batch[:0]
	f.mu.Unlock()
	for _, w := range batch {
		if w.writePending() {
			f.writes.Add(1)
		}
	}
	if cap(batch) > keptBatch {
		// A burst to many connections (everyone connecting at once)
		// leaves no array a quiet node would keep.
		return nil
	}
	clear(batch)
	return batch[:0]
}

// keptBatch is the largest queue array the flusher reuses.
const keptBatch = 1024

// close writes what waits and stops the flusher.
func (f *flusher) close() {
	close(f.quit)
	<-f.done
}
