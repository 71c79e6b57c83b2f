package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/redis/rueidis"
)

var errSlotMoved = errors.New("redis: cluster moved a subscribed slot")

// nodeConn is the subscriber connection to one Redis node: a dedicated
// connection (not shared with the pipelined commands) whose messages
// rueidis hands to hooks on its reading goroutine.
type nodeConn struct {
	addr string
	dc   rueidis.DedicatedClient
	own  rueidis.Client // set when the connection came from a client of our own
}

// do sends cmds pipelined and waits for every confirmation.
func (nc *nodeConn) do(ctx context.Context, cmds []rueidis.Completed) error {
	for _, r := range nc.dc.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return err
		}
	}
	return nil
}

func (nc *nodeConn) close() {
	nc.dc.Close()
	if nc.own != nil {
		nc.own.Close()
	}
}

// connect opens a subscriber connection to every node that owns slots (the
// one server, when not a cluster) and subscribes every topic that has local
// subscriptions. It runs on the subscriber goroutine, or in start before
// that goroutine exists.
func (m *subscriber) connect(ctx context.Context) error {
	m.gen++
	gen := m.gen
	addrs := m.b.cfg.Addrs[:1]
	if m.b.cfg.Cluster {
		rt, err := fetchRoute(ctx, m.b.client)
		if err != nil {
			return err
		}
		m.route, addrs = rt, rt.addrs
	}
	m.conns = make(map[string]*nodeConn, len(addrs))
	for _, addr := range addrs {
		nc, err := m.dial(ctx, addr, gen)
		if err != nil {
			m.closeConns()
			return err
		}
		m.conns[addr] = nc
	}

	var names []string
	m.b.forEachTopic(func(_ *shard, t *topic) {
		if len(t.subs) > 0 {
			names = append(names, t.name)
		}
	})
	if err := m.sendNames(ctx, names, false); err != nil {
		m.closeConns()
		return err
	}
	for _, name := range names {
		s := m.b.shard(name)
		s.mu.Lock()
		if t := s.topics[name]; t != nil {
			t.remote = true
			// Its last subscription may have gone meanwhile.
			m.need(t)
		}
		s.mu.Unlock()
	}
	m.up = true
	return nil
}

// dial opens the subscriber connection to addr and installs the hooks that
// deliver messages and report the connection's end.
func (m *subscriber) dial(ctx context.Context, addr string, gen uint64) (*nodeConn, error) {
	src := m.b.client
	var own rueidis.Client
	if m.b.cfg.Cluster {
		// The cluster client's per-node client shares its connection pool;
		// a node it does not know yet gets a client of its own.
		if c, ok := m.b.client.Nodes()[addr]; ok {
			src = c
		} else {
			c, err := rueidis.NewClient(m.b.cfg.clientOption([]string{addr}, true))
			if err != nil {
				return nil, err
			}
			src, own = c, c
		}
	}
	dc, _ := src.Dedicate()
	closed := dc.SetPubSubHooks(rueidis.PubSubHooks{
		OnMessage: func(msg rueidis.PubSubMessage) { m.b.deliver(msg.Channel, msg.Message) },
		OnSubscription: func(s rueidis.PubSubSubscription) {
			// Redis Cluster drops the subscriptions of a slot that moves to
			// another node; they must be made again there.
			if s.Kind == "sunsubscribe" && m.unsolicited(s.Channel) {
				m.reportNow(gen, errSlotMoved)
			}
		},
	})
	nc := &nodeConn{addr: addr, dc: dc, own: own}
	if err := dc.Do(ctx, dc.B().Ping().Build()).Error(); err != nil {
		nc.close()
		return nil, err
	}
	m.watchers.Go(func() { m.watch(closed, gen) })
	return nc, nil
}

// watch reports the end of a subscriber connection. It returns when the
// connection closes, which down and teardown make sure of.
func (m *subscriber) watch(closed <-chan error, gen uint64) {
	err, ok := <-closed
	if !ok || err == nil {
		err = errDisconnected
	}
	select {
	case m.failed <- failure{gen: gen, err: err}:
	case <-m.closing:
	}
}

// reportNow reports a failure from a hook without blocking: hooks run on
// the connection's reading goroutine, which the subscriber goroutine may be
// waiting on.
func (m *subscriber) reportNow(gen uint64, err error) {
	select {
	case m.failed <- failure{gen: gen, err: err}:
	default:
	}
}

// unsolicited reports whether an unsubscribe notification for channel came
// from Redis rather than from the bus.
func (m *subscriber) unsolicited(channel string) bool {
	s := m.b.shard(channel)
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.topics[channel]
	return t != nil && t.remote && !t.leaving
}

// route maps the slots of a cluster to the nodes that own them.
type route struct {
	addrs []string
	slots [numSlots]uint16 // index in addrs
}

func (r *route) addr(slot uint16) string { return r.addrs[r.slots[slot]] }

// fetchRoute reads the slot map with CLUSTER SLOTS.
func fetchRoute(ctx context.Context, client rueidis.Client) (*route, error) {
	entries, err := client.Do(ctx, client.B().ClusterSlots().Build()).ToArray()
	if err != nil {
		return nil, fmt.Errorf("cluster slots: %w", err)
	}
	rt := &route{}
	index := make(map[string]uint16)
	var covered int
	for _, e := range entries {
		f, err := e.ToArray()
		if err != nil || len(f) < 3 {
			return nil, fmt.Errorf("cluster slots: malformed entry")
		}
		start, err1 := f[0].AsInt64()
		end, err2 := f[1].AsInt64()
		node, err3 := f[2].ToArray()
		if err := errors.Join(err1, err2, err3); err != nil || len(node) < 2 || start < 0 || end >= numSlots || start > end {
			return nil, fmt.Errorf("cluster slots: malformed entry")
		}
		host, err1 := node[0].ToString()
		port, err2 := node[1].AsInt64()
		if err1 != nil || err2 != nil || host == "" || host == "?" {
			return nil, fmt.Errorf("cluster slots: node without an address")
		}
		addr := net.JoinHostPort(host, strconv.FormatInt(port, 10))
		i, ok := index[addr]
		if !ok {
			i = uint16(len(rt.addrs))
			index[addr] = i
			rt.addrs = append(rt.addrs, addr)
		}
		for s := start; s <= end; s++ {
			rt.slots[s] = i
		}
		covered += int(end - start + 1)
	}
	if covered != numSlots {
		return nil, fmt.Errorf("cluster slots: %d of %d slots served", covered, numSlots)
	}
	return rt, nil
}
