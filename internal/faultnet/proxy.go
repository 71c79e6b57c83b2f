// Package faultnet is a loopback TCP proxy that tests put between two
// programs (a client and a node, a node and Redis or PostgreSQL) to make
// the network between them misbehave on command: added latency, a pause
// that keeps connections open but moves no bytes, connections cut at once,
// and new connections refused for a while. Latency and pauses act on each
// direction separately; a cut, like a reset, ends both directions of every
// connection.
package faultnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Direction selects which way through the proxy a fault acts on.
type Direction int

const (
	// Up is from the side that connects (the client) to the target.
	Up Direction = 1 << iota
	// Down is from the target back to the client.
	Down
	// Both is Up and Down.
	Both = Up | Down
)

func (d Direction) String() string {
	switch d {
	case Up:
		return "up"
	case Down:
		return "down"
	case Both:
		return "both"
	}
	return fmt.Sprintf("Direction(%d)", int(d))
}

// dirs lists the single directions in d, as indexes 0 (up) and 1 (down).
func (d Direction) dirs() []int {
	var out []int
	if d&Up != 0 {
		out = append(out, 0)
	}
	if d&Down != 0 {
		out = append(out, 1)
	}
	return out
}

// chunkQueue is how many chunks read from one side may wait for their
// delivery time; beyond it the reader stops and TCP pushes back.
const chunkQueue = 64

// Proxy forwards every connection accepted on its address to a target
// address, through whatever faults are set. It is safe for concurrent use.
type Proxy struct {
	ln     net.Listener
	wg     sync.WaitGroup
	ctx    context.Context // cancelled by Close: ends dials in progress
	cancel context.CancelFunc

	mu      sync.Mutex
	target  string
	delay   [2]time.Duration
	paused  [2]chan struct{} // non-nil while paused; closed on resume
	refuse  bool
	closed  bool
	links   map[*link]struct{}
	stats   Stats
	dialTTL time.Duration
}

// Stats counts what a proxy has done.
type Stats struct {
	Accepted int // connections accepted
	Refused  int // connections closed at once: refusing, or the target was down
	Cut      int // connections ended by Cut
}

// Listen starts a proxy on 127.0.0.1 on a free port, forwarding to target.
func Listen(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultnet: listen: %w", err)
	}
	p := &Proxy{ln: ln, target: target, links: map[*link]struct{}{}, dialTTL: 5 * time.Second}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr returns the host:port clients connect to.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target returns the address connections are forwarded to.
func (p *Proxy) Target() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.target
}

// SetTarget forwards new connections to addr (a node restarted on another
// port); connections already open keep their target.
func (p *Proxy) SetTarget(addr string) {
	p.mu.Lock()
	p.target = addr
	p.mu.Unlock()
}

// Delay adds d of latency to every chunk of bytes going in dir, from the
// moment it is read until it is written on; 0 removes it. Order within a
// connection is kept.
func (p *Proxy) Delay(dir Direction, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, i := range dir.dirs() {
		p.delay[i] = d
	}
}

// Pause stops bytes moving in dir on every connection, current and new,
// until Resume; connections stay open and what was sent meanwhile is
// delivered after it (as far as TCP buffers hold it; the sender blocks
// beyond that).
func (p *Proxy) Pause(dir Direction) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, i := range dir.dirs() {
		if p.paused[i] == nil {
			p.paused[i] = make(chan struct{})
		}
	}
}

// Resume ends a Pause in dir.
func (p *Proxy) Resume(dir Direction) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, i := range dir.dirs() {
		if p.paused[i] != nil {
			close(p.paused[i])
			p.paused[i] = nil
		}
	}
}

// Refuse makes the proxy close new connections as soon as it accepts them
// (with a reset), as a host whose port is closed would; Refuse(false)
// accepts them again.
func (p *Proxy) Refuse(on bool) {
	p.mu.Lock()
	p.refuse = on
	p.mu.Unlock()
}

// Cut ends every open connection at once, both directions, with a reset,
// and returns how many it ended. New connections are accepted unless
// Refuse is on.
func (p *Proxy) Cut() int {
	p.mu.Lock()
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.stats.Cut += len(links)
	p.mu.Unlock()
	for _, l := range links {
		l.close(true)
	}
	return len(links)
}

// Heal removes every fault: no delay, no pause, no refusal.
func (p *Proxy) Heal() {
	p.Delay(Both, 0)
	p.Resume(Both)
	p.Refuse(false)
}

// Conns returns how many connections are open through the proxy.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// Stats returns the proxy's counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Close stops accepting, ends every connection and waits for the proxy's
// goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.cancel()
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	err := p.ln.Close()
	// The links end before the pauses are lifted: a pipe waiting on a
	// pause must see its link done, never an open gate, or it would
	// forward what was held back while Close is under way.
	for _, l := range links {
		l.close(true)
	}
	p.Resume(Both)
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		p.mu.Lock()
		p.stats.Accepted++
		refuse, target, closed := p.refuse, p.target, p.closed
		if refuse {
			p.stats.Refused++
		}
		p.mu.Unlock()
		if refuse || closed {
			reset(c)
			continue
		}
		p.wg.Add(1)
		go p.serve(c, target)
	}
}

// serve connects to the target and forwards both ways until either side
// ends or the connection is cut.
func (p *Proxy) serve(client net.Conn, target string) {
	defer p.wg.Done()
	d := net.Dialer{Timeout: p.dialTTL}
	server, err := d.DialContext(p.ctx, "tcp", target)
	if err != nil {
		p.mu.Lock()
		p.stats.Refused++
		p.mu.Unlock()
		reset(client)
		return
	}
	l := &link{client: client, server: server, done: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		reset(client)
		reset(server)
		return
	}
	p.links[l] = struct{}{}
	p.mu.Unlock()

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(l, 0, client, server) }()
	go func() { defer wg.Done(); p.pipe(l, 1, server, client) }()
	wg.Wait()
	l.close(false)
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
}

// chunk is bytes read from one side, due on the other at a time.
type chunk struct {
	b   []byte
	due time.Time
}

// pipe moves bytes from src to dst in direction dir: a reader goroutine
// stamps each chunk with its delivery time and the writer (this
// goroutine) waits for that time and for any pause to end before writing.
func (p *Proxy) pipe(l *link, dir int, src, dst net.Conn) {
	q := make(chan chunk, chunkQueue)
	go func() {
		defer close(q)
		for {
			b := make([]byte, 32<<10)
			n, err := src.Read(b)
			if n > 0 {
				p.mu.Lock()
				due := time.Now().Add(p.delay[dir])
				p.mu.Unlock()
				select {
				case q <- chunk{b[:n], due}:
				case <-l.done:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		// The reader ends when src does or the link closes; half-close dst
		// so the other side sees the end of this direction's stream.
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		for range q {
		}
	}()
	for c := range q {
		if wait := time.Until(c.due); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-l.done:
				t.Stop()
				return
			}
		}
		for {
			p.mu.Lock()
			gate := p.paused[dir]
			p.mu.Unlock()
			if gate == nil {
				break
			}
			select {
			case <-gate:
			case <-l.done:
				return
			}
		}
		if _, err := dst.Write(c.b); err != nil {
			l.close(true)
			return
		}
	}
}

// link is one proxied connection: the accepted client side and the
// dialled server side.
type link struct {
	client, server net.Conn
	once           sync.Once
	done           chan struct{}
}

// close ends both sides; abort resets them instead of closing politely.
func (l *link) close(abort bool) {
	l.once.Do(func() {
		close(l.done)
		if abort {
			reset(l.client)
			reset(l.server)
			return
		}
		l.client.Close()
		l.server.Close()
	})
}

// reset closes c with SO_LINGER 0, so the peer gets a RST rather than a
// FIN: a connection that breaks, not one that ends.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

var _ io.Closer = (*Proxy)(nil)
