package realtime

import (
	"context"
	"sync"

	"github.com/parleyhq/parley"
)

// starts reads where conversations' streams start for the gateway's
// connections, one store read for all of them: a group's message reaches
// every connected member at once, and each of those connections that had
// no stream of the group yet needs its start (the last seq committed at its
// own position). The connections that ask while a read of the conversation
// is under way wait for the next, which answers all of them together, so a
// thousand members cost two reads, not a thousand. Its zero value is ready.
type starts struct {
	mu sync.Mutex
	// waiting holds, per conversation, the connections the next read
	// answers; a conversation is in it while a read of it runs.
	waiting map[parley.ID][]*conn
}

// maxStartsPerRead bounds the positions one read answers.
const maxStartsPerRead = 1024

// requestStart has c's stream of conv started: c.started is called once with
// the answer.
func (g *Gateway) requestStart(conv parley.ID, c *conn) {
	s := &g.starts
	s.mu.Lock()
	if s.waiting == nil {
		s.waiting = make(map[parley.ID][]*conn)
	}
	cs, running := s.waiting[conv]
	s.waiting[conv] = append(cs, c)
	s.mu.Unlock()
	if !running {
		go g.readStarts(conv)
	}
}

// readStarts answers the connections waiting for conv's start, a read at a
// time, until none waits.
func (g *Gateway) readStarts(conv parley.ID) {
	s := &g.starts
	for {
		s.mu.Lock()
		cs := s.waiting[conv]
		if len(cs) > maxStartsPerRead {
			s.waiting[conv] = cs[maxStartsPerRead:]
			cs = cs[:maxStartsPerRead]
		} else if len(cs) > 0 {
			s.waiting[conv] = nil // still running: later ones wait
		} else {
			delete(s.waiting, conv)
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()

		// Connections that took their position together share it.
		index := make(map[parley.LogPosition]int, len(cs))
		var positions []parley.LogPosition
		for _, c := range cs {
			if _, ok := index[c.pos]; !ok {
				index[c.pos] = len(positions)
				positions = append(positions, c.pos)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), g.cfg.CallTimeout)
		seqs, err := g.svc.Messages.StreamStarts(ctx, conv, positions)
		cancel()
		if err == nil && len(seqs) != len(positions) {
			err = parley.Errorf(parley.EUNAVAILABLE, "stream starts: %d answers for %d positions", len(seqs), len(positions))
		}
		for _, c := range cs {
			var start int64
			if err == nil {
				start = seqs[index[c.pos]]
			}
			c.started(conv, start, err)
		}
	}
}
