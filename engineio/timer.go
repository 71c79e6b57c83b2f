package engineio

import (
	"container/heap"
	"sync"
	"time"
)

// scheduler runs every session's heartbeat deadline from one goroutine and one
// runtime timer. A session has at most one deadline at a time (next ping, or
// pong due), so a heap of sessions is all the state: a few words per session
// instead of a timer object, and no goroutine, per idle connection.
type scheduler struct {
	mu    sync.Mutex
	items timerHeap
	base  time.Time
	wake  chan struct{}
	stop  chan struct{}
	done  chan struct{}
	fire  func(ss *Session, when int64)
}

type dueItem struct {
	ss   *Session
	when int64
}

func newScheduler(fire func(ss *Session, when int64)) *scheduler {
	s := &scheduler{
		base: time.Now(),
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
		fire: fire,
	}
	go s.run()
	return s
}

// now is monotonic nanoseconds since the scheduler started.
func (s *scheduler) now() int64 { return int64(time.Since(s.base)) }

// set (re)arms the session's deadline d from now and returns it. A deadline
// popped just before it was re-armed still fires once; the session compares
// the fired value with deadline and ignores the stale one.
func (s *scheduler) set(ss *Session, d time.Duration) int64 {
	return s.setAt(ss, s.now()+int64(d))
}

// setAt is set with an absolute deadline on the scheduler's clock.
func (s *scheduler) setAt(ss *Session, when int64) int64 {
	s.mu.Lock()
	ss.timerWhen = when
	if ss.timerIdx >= 0 {
		heap.Fix(&s.items, int(ss.timerIdx))
	} else {
		heap.Push(&s.items, ss)
	}
	first := s.items[0] == ss
	s.mu.Unlock()
	if first {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return when
}

// deadline returns the session's current deadline.
func (s *scheduler) deadline(ss *Session) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ss.timerWhen
}

// cancel removes the session's deadline, if any.
func (s *scheduler) cancel(ss *Session) {
	s.mu.Lock()
	if ss.timerIdx >= 0 {
		heap.Remove(&s.items, int(ss.timerIdx))
	}
	s.mu.Unlock()
}

// sessions returns every session that has a deadline.
func (s *scheduler) sessions() []*Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Session(nil), s.items...)
}

func (s *scheduler) close() {
	close(s.stop)
	<-s.done
}

func (s *scheduler) run() {
	defer close(s.done)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	var due []dueItem
	for {
		now := s.now()
		next := int64(time.Hour)
		s.mu.Lock()
		for len(s.items) > 0 && s.items[0].timerWhen <= now {
			ss := heap.Pop(&s.items).(*Session)
			due = append(due, dueItem{ss, ss.timerWhen})
		}
		if len(s.items) > 0 {
			next = s.items[0].timerWhen - now
		}
		s.mu.Unlock()
		for i, d := range due {
			s.fire(d.ss, d.when)
			due[i] = dueItem{}
		}
		due = due[:0]
		t.Reset(time.Duration(next))
		select {
		case <-t.C:
		case <-s.wake:
		case <-s.stop:
			return
		}
	}
}

type timerHeap []*Session

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].timerWhen < h[j].timerWhen }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].timerIdx = int32(i)
	h[j].timerIdx = int32(j)
}
func (h *timerHeap) Push(x any) {
	ss := x.(*Session)
	ss.timerIdx = int32(len(*h))
	*h = append(*h, ss)
}
func (h *timerHeap) Pop() any {
	old := *h
	ss := old[len(old)-1]
	old[len(old)-1] = nil
	ss.timerIdx = -1
	*h = old[:len(old)-1]
	return ss
}
