package workers

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

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

// BenchmarkGo compares a task on a pooled goroutine with one on a new
// goroutine, for a task that needs a grown stack.
func BenchmarkGo(b *testing.B) {
	deep := func(n int) int {
		var buf [1024]byte
		buf[n%len(buf)] = byte(n)
		return int(buf[0])
	}
	task := func(wg *sync.WaitGroup) func() {
		return func() {
			_ = recurse(16, deep)
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
	b.Run("go", func(b *testing.B) {
		var wg sync.WaitGroup
		for b.Loop() {
			wg.Add(1)
			go task(&wg)()
			wg.Wait()
		}
	})
}

func recurse(n int, f func(int) int) int {
	if n == 0 {
		return f(n)
	}
	return recurse(n-1, f) + 1
}
