// Package workers runs short tasks on goroutines that outlive them.
//
// A node starts a goroutine for every burst of a connection's frames and
// for every send it has in flight. A fresh goroutine starts with a small
// stack and grows it (copying it each time) on its way through JSON, the
// store and the socket: at tens of thousands of sends a second that
// growth was a measurable share of the node's CPU. A Pool hands each task
// to a goroutine that is idle and already grown, and starts one only when
// none is; goroutines the pool did not need for its idle time end, so a
// quiet node keeps none.
package workers

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Pool runs tasks on reusable goroutines. The zero value is not usable;
// call New. Its methods are safe for concurrent use.
//
// An idle goroutine waits on the work channel alone: a task is handed over
// with one channel operation, no timer to reset and no other channel to
// watch (a wait that also watched a timer and the pool's end cost a third
// more a task, BenchmarkGo). Idle goroutines end by being handed nil: every
// idle period a sweeper hands it to as many of them as stayed idle through
// the whole period (the fewest idle at any moment of it), and after Stop to
// every one until none is left.
type Pool struct {
	// work has no buffer: a task is handed over only to a goroutine that
	// is waiting for one, never queued behind another task. nil ends the
	// goroutine that takes it.
	work chan func()
	idle time.Duration

	stopOnce sync.Once
	stop     chan struct{} // closed by Stop

	// alive counts the pool's goroutines, waiting those idle; leastIdle is
	// the fewest idle at once since the sweeper last looked. sweeping is
	// set while a sweeper runs: from the first goroutine until none is
	// left.
	alive, waiting, leastIdle atomic.Int64
	sweeping                  atomic.Bool
	// started counts the goroutines the pool started.
	started atomic.Int64
}

// New returns a pool whose goroutines end once the pool did not need them
// for idle (within twice that).
func New(idle time.Duration) *Pool {
	return &Pool{work: make(chan func()), idle: idle, stop: make(chan struct{})}
}

// Go runs fn on an idle goroutine of the pool, or on a new one when none
// is idle; it never waits for another task to finish. After Stop it still
// runs fn, on a goroutine that ends after it.
func (p *Pool) Go(fn func()) {
	select {
	case p.work <- fn:
	default:
		p.alive.Add(1)
		p.started.Add(1)
		go p.loop(fn)
		p.sweep()
	}
}

func (p *Pool) loop(fn func()) {
	defer p.alive.Add(-1)
	for {
		fn()
		if p.stopping() {
			return
		}
		p.waiting.Add(1)
		fn = p.wait()
		idle := p.waiting.Add(-1)
		if fn == nil {
			return
		}
		for least := p.leastIdle.Load(); idle < least && !p.leastIdle.CompareAndSwap(least, idle); least = p.leastIdle.Load() {
		}
	}
}

// keepStack is how much stack an idle goroutine keeps in use while it
// waits. The garbage collector halves the stack of a goroutine that uses
// less than a quarter of it, and an idle goroutine's wait, at the bottom of
// its stack, uses a few hundred bytes: every collection took back the stack
// the pool is there to keep, and the next task grew it again (copying it;
// 3.5 % of a node's CPU at 10,000 sends a second, BENCHMARKS.md). Waiting
// with 4 KiB in use, a goroutine keeps at least 16 KiB, what a send's way
// through the gateway, the bus and the socket needs.
const keepStack = 4 << 10

// wait returns the next task, or nil when the goroutine should end. It
// waits with keepStack bytes of its frame in use.
//
//go:noinline
func (p *Pool) wait() func() {
	var keep [keepStack]byte
	fn := <-p.work
	// The frame must hold the array; nothing reads it.
	runtime.KeepAlive(&keep)
	return fn
}

// sweep starts the pool's sweeper unless one runs.
func (p *Pool) sweep() {
	if p.sweeping.CompareAndSwap(false, true) {
		go p.sweeper()
	}
}

// sweeper ends, every idle period, as many goroutines as stayed idle
// through it, and after Stop every goroutine; it ends when the pool has
// none left.
func (p *Pool) sweeper() {
	t := time.NewTicker(p.idle)
	defer t.Stop()
	p.leastIdle.Store(p.waiting.Load())
	for {
		select {
		case <-t.C:
		case <-p.stop:
			p.drain()
		}
		// A goroutine may take a task between the two loads; ending one
		// too many only means the next burst starts one.
		for n := p.leastIdle.Swap(p.waiting.Load()); n > 0; n-- {
			select {
			case p.work <- nil:
			default:
				n = 0
			}
		}
		if p.alive.Load() > 0 {
			continue
		}
		p.sweeping.Store(false)
		// Go may have started a goroutine after the load and found a
		// sweeper still running.
		if p.alive.Load() == 0 || !p.sweeping.CompareAndSwap(false, true) {
			return
		}
	}
}

// drain hands nil to the goroutines until none is left; a busy one ends
// after its task without waiting.
func (p *Pool) drain() {
	for p.alive.Load() > 0 {
		select {
		case p.work <- nil:
		case <-time.After(time.Millisecond):
		}
	}
}

// Goroutines returns how many goroutines the pool has, and how many of
// them are idle.
func (p *Pool) Goroutines() (alive, idle int) {
	return int(p.alive.Load()), int(p.waiting.Load())
}

// Stop ends the pool's goroutines: the idle ones now, the busy ones after
// their task.
func (p *Pool) Stop() { p.stopOnce.Do(func() { close(p.stop) }) }

func (p *Pool) stopping() bool {
	select {
	case <-p.stop:
		return true
	default:
		return false
	}
}
