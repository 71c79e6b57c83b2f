package engineio

// Counts are what a Server holds at one moment, for gauges.
type Counts struct {
	Polling   int // sessions on long-polling (upgrading ones included)
	WebSocket int // sessions on WebSocket
}

// Counts walks the open sessions; it costs a pass over them, so call it at
// scrape time, not per message. (Queued bytes are counted as they come and
// go: QueuedBytes.)
func (srv *Server) Counts() Counts {
	var c Counts
	for _, s := range srv.sched.sessions() {
		s.mu.Lock()
		if s.ws != nil {
			c.WebSocket++
		} else {
			c.Polling++
		}
		s.mu.Unlock()
	}
	return c
}
