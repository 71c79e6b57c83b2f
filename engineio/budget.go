package engineio

import (
	"slices"
	"sync/atomic"
)

// Outbound bytes are counted per session and for the whole server: what
// waits in polling queues and what a WebSocket's kernel buffer would not take
// yet. Each session is bounded by MaxWriteBuffer; the server by
// MaxNodeBuffer, so that many slow sessions, each under its own bound, cannot
// add up to more than the node can hold.

// outBudget is the server-wide count and the goroutine that enforces it.
type outBudget struct {
	srv   *Server
	kick  chan struct{}
	quit  chan struct{}
	done  chan struct{}
	total atomic.Int64
}

func newOutBudget(srv *Server) *outBudget {
	b := &outBudget{srv: srv, kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go b.run()
	return b
}

// add changes the count by n and wakes the sweeper when the server is over
// its budget. It never blocks.
func (b *outBudget) add(n int64) {
	if n == 0 {
		return
	}
	if b.total.Add(n) > int64(b.srv.cfg.MaxNodeBuffer) {
		select {
		case b.kick <- struct{}{}:
		default:
		}
	}
}

func (b *outBudget) load() int64 { return b.total.Load() }

func (b *outBudget) close() {
	close(b.quit)
	<-b.done
}

func (b *outBudget) run() {
	defer close(b.done)
	for {
		select {
		case <-b.quit:
			return
		case <-b.kick:
			b.sweep()
		}
	}
}

// sweep closes the sessions holding the most, as slow consumers, until what
// remains is under seven eighths of the budget: the biggest backlogs are the
// clients furthest behind, and each closed one frees the most.
func (b *outBudget) sweep() {
	limit := int64(b.srv.cfg.MaxNodeBuffer)
	total := b.load()
	if total <= limit {
		return
	}
	type held struct {
		s *Session
		n int64
	}
	var all []held
	for _, s := range b.srv.sched.sessions() {
		if n := s.queuedBytes(); n > 0 {
			all = append(all, held{s, n})
		}
	}
	slices.SortFunc(all, func(a, b held) int {
		switch {
		case a.n > b.n:
			return -1
		case a.n < b.n:
			return 1
		}
		return 0
	})
	target := limit - limit/8
	for _, h := range all {
		if total <= target {
			break
		}
		// close releases the session's bytes before it returns.
		h.s.close(ReasonSlowConsumer, false)
		total -= h.n
	}
}

// QueuedBytes returns the outbound bytes all sessions hold now: polling
// queues and WebSocket write buffers. It is a gauge for metrics.
func (srv *Server) QueuedBytes() int64 { return srv.out.load() }

// queuedBytes returns the outbound bytes the session holds.
func (s *Session) queuedBytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.ws != nil:
		return s.ws.queued()
	case s.poll != nil:
		return int64(s.poll.bytes)
	}
	return 0
}
