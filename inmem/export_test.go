package inmem

// Users returns how many users the registry holds.
func (p *Presence) Users() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}
