package workers

import (
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitFor polls cond, yielding, until it holds or five seconds have passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

func TestIdleGoroutineTakesTheNextTask(t *testing.T) {
	p := New(time.Minute)
	defer p.Stop()
	const tasks = 50
	for range tasks {
		done := make(chan struct{})
		p.Go(func() { close(done) })
		<-done
		waitFor(t, "every goroutine idle", func() bool { alive, idle := p.Goroutines(); return idle == alive })
	}
	// A goroutine is counted idle just before it waits for a task, so a
	// task handed over in that instant starts another: a few may be
	// alive, never one per task (the idle time is a minute).
	if alive, _ := p.Goroutines(); alive > 3 {
		t.Fatalf("%d goroutines after %d tasks run one after the other, want them reused", alive, tasks)
	}
}

func TestBusyPoolStartsGoroutines(t *testing.T) {
	p := New(time.Minute)
	defer p.Stop()
	const n = 20
	release := make(chan struct{})
	var started, finished sync.WaitGroup
	started.Add(n)
	finished.Add(n)
	for range n {
		// No task waits for another: each blocks until all have started.
		p.Go(func() {
			started.Done()
			<-release
			finished.Done()
		})
	}
	started.Wait()
	if alive, _ := p.Goroutines(); alive != n {
		t.Fatalf("%d goroutines for %d blocked tasks", alive, n)
	}
	close(release)
	finished.Wait()
	waitFor(t, "all goroutines idle", func() bool { _, idle := p.Goroutines(); return idle == n })
}

func TestIdleGoroutinesEnd(t *testing.T) {
	p := New(10 * time.Millisecond)
	done := make(chan struct{})
	p.Go(func() { close(done) })
	<-done
	waitFor(t, "the idle goroutine to end", func() bool { alive, _ := p.Goroutines(); return alive == 0 })

	q := New(time.Hour)
	var wg sync.WaitGroup
	wg.Add(3)
	for range 3 {
		q.Go(wg.Done)
	}
	wg.Wait()
	q.Stop()
	waitFor(t, "Stop to end the goroutines", func() bool { alive, _ := q.Goroutines(); return alive == 0 })
	ran := make(chan struct{})
	q.Go(func() { close(ran) })
	<-ran // after Stop a task still runs
}

// TestStopEndsEveryGoroutine: after Stop the idle goroutines end at once
// and the busy ones after their task, a task given after Stop still runs,
// and nothing of the pool is left (TestMain checks for goroutines left
// behind).
func TestStopEndsEveryGoroutine(t *testing.T) {
	p := New(time.Hour)
	const busy, idle = 10, 10
	release, releaseIdle := make(chan struct{}), make(chan struct{})
	var started sync.WaitGroup
	started.Add(busy + idle)
	for i := range busy + idle {
		// Every task blocks until all have started, so each has a
		// goroutine of its own.
		p.Go(func() {
			started.Done()
			if i < busy {
				<-release
			} else {
				<-releaseIdle
			}
		})
	}
	started.Wait()
	close(releaseIdle)
	waitFor(t, "the idle goroutines", func() bool { _, n := p.Goroutines(); return n == idle })
	p.Stop()
	waitFor(t, "the idle goroutines to end", func() bool { alive, _ := p.Goroutines(); return alive == busy })
	close(release)
	waitFor(t, "the busy goroutines to end", func() bool { alive, _ := p.Goroutines(); return alive == 0 })
	ran := make(chan struct{})
	p.Go(func() { close(ran) })
	<-ran
	waitFor(t, "the last goroutine to end", func() bool { alive, _ := p.Goroutines(); return alive == 0 })
}

// TestSweepEndsOnlyUnneededGoroutines: with three goroutines idle and one
// of them needed every few milliseconds, the sweeps end the two others and
// keep the one in use.
func TestSweepEndsOnlyUnneededGoroutines(t *testing.T) {
	p := New(30 * time.Millisecond)
	defer p.Stop()
	release := make(chan struct{})
	var started sync.WaitGroup
	started.Add(3)
	for range 3 {
		p.Go(func() {
			started.Done()
			<-release
		})
	}
	started.Wait()
	close(release)
	task := func() {
		done := make(chan struct{})
		p.Go(func() { close(done) })
		<-done
		time.Sleep(5 * time.Millisecond) // the load's pace
	}
	deadline := time.Now().Add(5 * time.Second)
	for alive, _ := p.Goroutines(); alive > 1; alive, _ = p.Goroutines() {
		if time.Now().After(deadline) {
			t.Fatalf("still %d goroutines after 5 s of one task at a time", alive)
		}
		task()
	}
	// About ten sweeps more: the goroutine in use is never ended (and
	// another started for the next task).
	before := p.started.Load()
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
		task()
	}
	if n := p.started.Load() - before; n != 0 {
		t.Fatalf("%d goroutines started while one was enough: the sweep ended the one in use", n)
	}
}

// TestIdleGoroutineKeepsItsStack checks that collections while the pool's
// goroutine idles leave it the stack its tasks need: a task that must grow
// the stack has it copied elsewhere, so a local variable of the task's
// frame is at another address after the task's deep calls than before.
func TestIdleGoroutineKeepsItsStack(t *testing.T) {
	p := New(time.Hour)
	defer p.Stop()
	// moved runs a task that needs about 11 KiB of stack and reports
	// whether the stack grew (moved) while it ran.
	moved := func() bool {
		where := make(chan bool)
		p.Go(func() {
			var local byte
			before := uintptr(unsafe.Pointer(&local))
			_ = grow(taskDepth)
			where <- uintptr(unsafe.Pointer(&local)) != before
		})
		return <-where
	}
	idle := func() {
		waitFor(t, "the goroutine to idle", func() bool { _, idle := p.Goroutines(); return idle == 1 })
	}
	collect := func() {
		for range 3 {
			runtime.GC()
		}
	}
	// The first task grows the stack, and a goroutine that started with
	// more than it keeps (the runtime sizes new stacks by the average in
	// use) gives the rest back at the first collections.
	moved()
	idle()
	collect()
	moved()
	idle()
	collect()
	if moved() {
		t.Error("the task had to grow the stack again: collections shrank the idle goroutine's stack")
	}
	if alive, _ := p.Goroutines(); alive != 1 {
		t.Fatalf("%d goroutines, want the one that ran every task", alive)
	}
}

// BenchmarkGo compares a task on a pooled goroutine with one on a new
// goroutine, for a task that needs a grown stack.
//
//	go test ./internal/workers -run '^$' -bench Go -benchtime 5000x -count 3
func BenchmarkGo(b *testing.B) {
	task := func(wg *sync.WaitGroup) func() {
		return func() {
			_ = grow(taskDepth)
			wg.Done()
		}
	}
	b.Run("pool", func(b *testing.B) {
		p := New(time.Minute)
		defer p.Stop()
		var wg sync.WaitGroup
		for b.Loop() {
			wg.Add(1)
			p.Go(task(&wg))
			wg.Wait()
		}
	})
	// A collection before each task, as a busy node has several a second:
	// the idle goroutine must still have its grown stack for the task.
	b.Run("pool-collected", func(b *testing.B) {
		p := New(time.Minute)
		defer p.Stop()
		var wg sync.WaitGroup
		for b.Loop() {
			b.StopTimer()
			runtime.GC()
			b.StartTimer()
			wg.Add(1)
			p.Go(task(&wg))
			wg.Wait()
		}
	})
	b.Run("go", func(b *testing.B) {
		var wg sync.WaitGroup
		for b.Loop() {
			wg.Add(1)
			go task(&wg)()
			wg.Wait()
		}
	})
}

// grow recurses n levels deep with a KiB of stack each.
func grow(n int) byte {
	var buf [1024]byte
	buf[n%len(buf)] = byte(n)
	if n == 0 {
		return buf[0]
	}
	return grow(n-1) + buf[1] // buf stays live across the call
}

// taskDepth is how deep the tests' tasks recurse, a KiB a level: about
// what a send needs, more than a fresh goroutine's stack and less than the
// 16 KiB an idle goroutine keeps.
const taskDepth = 10
