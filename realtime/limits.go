package realtime

// QueuedBytes returns the outbound bytes every socket of this node holds
// now (polling queues and WebSocket write buffers), for a metrics gauge.
func (g *Gateway) QueuedBytes() int64 { return g.io.Engine().QueuedBytes() }
