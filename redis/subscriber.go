package redis

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// maxChannelsPerCommand bounds one SUBSCRIBE: resubscribing a million
// topics goes out as pipelined commands of this size.
const maxChannelsPerCommand = 500

// Reconnection backoff: short at first, because a restarted Redis is often
// back within a second, and capped so that a long outage costs little.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

var errDisconnected = errors.New("redis: subscriber connection down")

// subscriber owns the subscriber connections of a Bus and keeps Redis
// subscriptions in line with the local topics. One goroutine (run) does all
// the Redis work in batches: the topics whose subscription must change are
// queued by Subscribe and Subscription.Close, and each batch goes out as
// pipelined commands, so a burst of connecting users costs a few round
// trips. A lost connection is rebuilt, every topic subscribed again, and
// Config.OnReconnect called.
type subscriber struct {
	b *Bus

	mu    sync.Mutex
	queue []*topic
	next  *round // completes once the queued topics were handled

	wake     chan struct{}
	failed   chan failure
	closing  chan struct{}
	stopped  chan struct{}
	watchers sync.WaitGroup // one per connection, ends when it closes

	// Owned by the run goroutine (and start, before it runs).
	gen     uint64
	conns   map[string]*nodeConn // by node address
	route   *route               // cluster only
	up      bool
	retry   <-chan time.Time // next reconnection attempt, while down
	backoff time.Duration
}

// round is one pass of the subscriber goroutine over its queue. Waiters
// look at their topic again when done is closed; err is set when the pass
// could not reach Redis.
type round struct {
	done chan struct{}
	err  error
}

func newRound() *round { return &round{done: make(chan struct{})} }

// failure reports a lost subscriber connection of generation gen.
type failure struct {
	gen uint64
	err error
}

func newSubscriber(b *Bus) *subscriber {
	return &subscriber{
		b:       b,
		next:    newRound(),
		wake:    make(chan struct{}, 1),
		failed:  make(chan failure, 16),
		closing: make(chan struct{}),
		stopped: make(chan struct{}),
	}
}

// start makes the first connection and starts the goroutine.
func (m *subscriber) start(ctx context.Context) error {
	if err := m.connect(ctx); err != nil {
		return unavailable("subscriber connection", err)
	}
	go m.run()
	return nil
}

// stop ends the goroutine and closes the connections; pending waiters get
// errClosed.
func (m *subscriber) stop() {
	close(m.closing)
	<-m.stopped
	m.watchers.Wait()
}

// need reports whether t's Redis subscription differs from what its local
// subscriptions want. It is called with t's shard lock held. When it
// differs, t is queued (once) and need returns the round after which to
// look again; otherwise it returns nil.
func (m *subscriber) need(t *topic) *round {
	if want := len(t.subs) > 0; want == t.remote && !t.queued {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !t.queued {
		t.queued = true
		m.queue = append(m.queue, t)
	}
	// Wake the goroutine even when t is already queued: t may be in the
	// batch under way, and the caller waits for the round after it.
	select {
	case m.wake <- struct{}{}:
	default:
	}
	return m.next
}

func (m *subscriber) run() {
	defer close(m.stopped)
	defer m.teardown()
	for {
		select {
		case <-m.closing:
			return
		case <-m.wake:
			m.handleQueue()
		case f := <-m.failed:
			if f.gen == m.gen && m.up {
				m.lost(f.err)
			}
		case <-m.retry:
			m.reconnect()
		}
	}
}

// lost handles a broken subscriber connection: every topic is marked
// unsubscribed and a reconnection is scheduled at once.
func (m *subscriber) lost(err error) {
	m.b.cfg.Logger.Warn("redis bus: subscriber connection lost", "err", err)
	m.down()
	m.backoff = minBackoff
	m.retry = time.After(0)
}

// reconnect tries to connect and subscribe every topic again; on failure it
// schedules the next try with exponential backoff.
func (m *subscriber) reconnect() {
	m.retry = nil
	ctx, cancel := context.WithTimeout(context.Background(), 4*m.b.cfg.Timeout)
	err := m.connect(ctx)
	cancel()
	if err != nil {
		m.b.cfg.Logger.Debug("redis bus: reconnect failed", "err", err, "retry_in", m.backoff)
		m.retry = time.After(m.backoff)
		m.backoff = min(2*m.backoff, maxBackoff)
		// Waiters queued meanwhile learn that Redis is away.
		m.handleQueue()
		return
	}
	m.b.cfg.Logger.Info("redis bus: reconnected; subscriptions restored")
	m.handleQueue()
	if m.b.cfg.OnReconnect != nil {
		m.b.cfg.OnReconnect()
	}
}

// handleQueue takes the queued topics and brings their Redis subscriptions
// in line: subscribe the ones with local subscriptions, unsubscribe the
// ones without.
func (m *subscriber) handleQueue() {
	m.mu.Lock()
	batch, r := m.queue, m.next
	m.queue, m.next = nil, newRound()
	m.mu.Unlock()

	if !m.up {
		// connect subscribes every topic with subscriptions; until then
		// there is nothing to send.
		for _, t := range batch {
			m.settle(t, false)
		}
		r.err = errDisconnected
		close(r.done)
		return
	}
	var on, off []*topic
	for _, t := range batch {
		s := m.b.shard(t.name)
		s.mu.Lock()
		switch want := len(t.subs) > 0; {
		case want && !t.remote:
			on = append(on, t)
		case !want && t.remote:
			t.leaving = true
			off = append(off, t)
		}
		s.mu.Unlock()
	}
	err := m.send(on, false)
	if err == nil {
		err = m.send(off, true)
	}
	if err != nil {
		// The connection is broken: every topic is marked unsubscribed and
		// the reconnection restores them.
		m.lost(err)
		for _, t := range batch {
			m.settle(t, false)
		}
		r.err = err
		close(r.done)
		return
	}
	for _, t := range on {
		m.mark(t, true)
	}
	for _, t := range off {
		m.mark(t, false)
	}
	for _, t := range batch {
		m.settle(t, true)
	}
	close(r.done)
}

// mark records t's confirmed Redis state.
func (m *subscriber) mark(t *topic, remote bool) {
	s := m.b.shard(t.name)
	s.mu.Lock()
	t.remote, t.leaving = remote, false
	s.mu.Unlock()
}

// settle ends t's turn in a batch. When local subscriptions changed in the
// meantime and requeue is set, t goes back in the queue for the next batch;
// a topic with no subscriptions and no Redis subscription is dropped.
func (m *subscriber) settle(t *topic, requeue bool) {
	s := m.b.shard(t.name)
	s.mu.Lock()
	defer s.mu.Unlock()
	t.queued = false
	want := len(t.subs) > 0
	if requeue && want != t.remote {
		m.need(t)
		return
	}
	if !want && !t.remote && s.topics[t.name] == t {
		delete(s.topics, t.name)
	}
}

// send subscribes (or unsubscribes) topics on their nodes' connections and
// waits for Redis to confirm.
func (m *subscriber) send(ts []*topic, unsubscribe bool) error {
	if len(ts) == 0 {
		return nil
	}
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.name
	}
	return m.sendNames(context.Background(), names, unsubscribe)
}

func (m *subscriber) sendNames(ctx context.Context, names []string, unsubscribe bool) error {
	byNode := make(map[*nodeConn][]string)
	for _, name := range names {
		nc := m.connFor(name)
		if nc == nil {
			return fmt.Errorf("no node for channel %q", name)
		}
		byNode[nc] = append(byNode[nc], name)
	}
	for nc, names := range byNode {
		if err := nc.do(ctx, m.commands(nc.dc, names, unsubscribe)); err != nil {
			return fmt.Errorf("%s: %w", nc.addr, err)
		}
	}
	return nil
}

// commands builds the (S)SUBSCRIBE or (S)UNSUBSCRIBE commands for names. A
// sharded command may only name channels of one slot.
func (m *subscriber) commands(dc rueidis.DedicatedClient, names []string, unsubscribe bool) []rueidis.Completed {
	var groups [][]string
	if m.b.cfg.Cluster {
		bySlot := make(map[uint16][]string)
		for _, n := range names {
			bySlot[slot(n)] = append(bySlot[slot(n)], n)
		}
		for _, g := range bySlot {
			groups = append(groups, g)
		}
	} else {
		groups = [][]string{names}
	}
	var cmds []rueidis.Completed
	for _, g := range groups {
		for len(g) > 0 {
			n := min(len(g), maxChannelsPerCommand)
			chunk := g[:n]
			g = g[n:]
			switch {
			case m.b.cfg.Cluster && unsubscribe:
				cmds = append(cmds, dc.B().Sunsubscribe().Channel(chunk...).Build())
			case m.b.cfg.Cluster:
				cmds = append(cmds, dc.B().Ssubscribe().Channel(chunk...).Build())
			case unsubscribe:
				cmds = append(cmds, dc.B().Unsubscribe().Channel(chunk...).Build())
			default:
				cmds = append(cmds, dc.B().Subscribe().Channel(chunk...).Build())
			}
		}
	}
	return cmds
}

// connFor returns the connection that carries channel name.
func (m *subscriber) connFor(name string) *nodeConn {
	if m.route == nil {
		for _, nc := range m.conns {
			return nc
		}
		return nil
	}
	return m.conns[m.route.addr(slot(name))]
}

// down closes the connections and marks every topic unsubscribed in Redis.
func (m *subscriber) down() {
	m.up = false
	m.gen++
	m.closeConns()
	m.b.forEachTopic(func(s *shard, t *topic) {
		t.remote, t.leaving = false, false
		if len(t.subs) == 0 && !t.queued {
			delete(s.topics, t.name)
		}
	})
}

func (m *subscriber) closeConns() {
	for _, nc := range m.conns {
		nc.close()
	}
	m.conns, m.route = nil, nil
}

// teardown runs when the goroutine ends: connections closed, waiters
// released with errClosed.
func (m *subscriber) teardown() {
	m.gen++
	m.closeConns()
	m.mu.Lock()
	r := m.next
	m.queue, m.next = nil, newRound()
	m.mu.Unlock()
	r.err = errClosed
	close(r.done)
}
