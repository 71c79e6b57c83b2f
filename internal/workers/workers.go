// Package workers runs short tasks on goroutines that outlive them.
//
// A node starts a goroutine for every burst of a connection's frames and
// for every send it has in flight. A fresh goroutine starts with a small
// stack and grows it (copying it each time) on its way through JSON, the
// store and the socket: at tens of thousands of sends a second that
// growth was a measurable share of the node's CPU. A Pool hands each task
// to a goroutine that is idle and already grown, and starts one only when
// none is; a goroutine idle for the pool's idle time ends, so a quiet node
// keeps none.
package workers

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Pool runs tasks on reusable goroutines. The zero value is not usable;
// call New. Its methods are safe for concurrent use.
type Pool struct {
	// work has no buffer: a task is handed over only to a goroutine that
	// is waiting for one, never queued behind another task.
	work chan func()
	idle time.Duration

	stopOnce sync.Once
	stop     chan struct{}

	// alive counts the pool's goroutines, waiting those idle.
	alive, waiting atomic.Int64
}

// New returns a pool whose goroutines end after idle without a task.
func New(idle time.Duration) *Pool {
	return &Pool{work: make(chan func()), idle: idle, stop: make(chan struct{})}
}

// Go runs fn on an idle goroutine of the pool, or on a new one when none
// is idle; it never waits for another task to finish. After Stop it still
// runs fn, on a goroutine of its own.
func (p *Pool) Go(fn func()) {
	select {
	case p.work <- fn:
	default:
		p.alive.Add(1)
		go p.loop(fn)
	}
}

func (p *Pool) loop(fn func()) {
	defer p.alive.Add(-1)
	var t *time.Timer
	for {
		fn()
		fn = nil // let the task's closure go while idle
		if t == nil {
			t = time.NewTimer(p.idle)
		} else {
			t.Reset(p.idle)
		}
		if fn = p.wait(t); fn == nil {
			return
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

// wait returns the next task, or nil once the goroutine should end (idle
// for the pool's idle time, or the pool stopped). It waits with keepStack
// bytes of its frame in use.
//
//go:noinline
func (p *Pool) wait(t *time.Timer) func() {
	var keep [keepStack]byte
	p.waiting.Add(1)
	defer p.waiting.Add(-1)
	select {
	case fn := <-p.work:
		return fn
	case <-t.C:
	case <-p.stop:
		t.Stop()
	}
	// The frame must hold the array; nothing reads it.
	runtime.KeepAlive(&keep)
	return nil
}

// Goroutines returns how many goroutines the pool has, and how many of
// them are idle.
func (p *Pool) Goroutines() (alive, idle int) {
	return int(p.alive.Load()), int(p.waiting.Load())
}

// Stop ends the idle goroutines; tasks running finish first, and their
// goroutines end then.
func (p *Pool) Stop() { p.stopOnce.Do(func() { close(p.stop) }) }
