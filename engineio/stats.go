package engineio

// Counts are what a Server holds at one moment, for gauges.
type Counts struct {
	Polling   int // sessions on long-polling (upgrading ones included)
	WebSocket int // sessions on WebSocket
	// QueuedBytes are the payload bytes of packets waiting for a polling
	// GET or for an upgrade to end. Bytes a WebSocket has handed to its
	// connection's write buffer are not counted.
	QueuedBytes int64
}

// Counts walks the open sessions; it costs a pass over them, so call it at
// scrape time, not per message.
func (srv *Server) Counts() Counts {
	var c Counts
	for _, s := range srv.sched.sessions() {
		s.mu.Lock()
		if s.ws != nil {
			c.WebSocket++
		} else {
			c.Polling++
		}
		if p := s.poll; p != nil {
			for _, o := range p.queue {
				c.QueuedBytes += int64(len(o.data))
			}
		}
		s.mu.Unlock()
	}
	return c
}
