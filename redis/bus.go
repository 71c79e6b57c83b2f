package redis

import (
	"context"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/redis/rueidis"

	"github.com/parleyhq/parley"
)

// Compile-time checks that the types meet the ports.
var (
	_ parley.Bus          = (*Bus)(nil)
	_ parley.Subscription = (*subscription)(nil)
)

// numShards spreads local topics over independent maps, so that deliveries
// and subscription changes of different topics rarely share a lock.
const numShards = 256

var errClosed = parley.Errorf(parley.EUNAVAILABLE, "bus is closed")

// Bus is a parley.Bus on Redis Pub/Sub.
//
// Publish sends the payload to Redis and returns once Redis has taken it;
// concurrent publishes share one pipelined connection. When Redis cannot be
// reached, Publish fails at once with EUNAVAILABLE: the caller has already
// stored the event, and devices catch up by syncing.
//
// A node subscribes a topic in Redis only while it has local subscriptions
// to it, and once however many there are: one Redis subscription per topic
// per node, fanned out locally. All of a node's subscriptions share one
// connection per Redis node (one in all for a single server), read by one
// goroutine, which calls subscriber functions in the order Redis delivers,
// that is publish order per topic. A subscription is a few dozen bytes;
// there is no goroutine or queue per subscription.
//
// When the subscriber connection is lost, the bus reconnects by itself with
// backoff, subscribes every topic again, and then calls
// Config.OnReconnect. Subscribe while Redis is away succeeds: the
// subscription takes effect when the bus is back.
//
// Subscriber functions must not block and must not call back into the bus
// (Publish, Subscribe, Subscription.Close): they run on the goroutine that
// reads the subscriber connection, under their topic's lock, and a
// subscription change waits for that connection. The payload they get is
// shared by every local subscriber of one message: they may keep it but
// must not modify it.
type Bus struct {
	cfg    Config
	client rueidis.Client // publishes; in a cluster it also reads the slot map
	seed   maphash.Seed
	closed atomic.Bool
	shards [numShards]shard
	subs   *subscriber
}

type shard struct {
	mu     sync.RWMutex
	topics map[string]*topic
}

// topic is one local topic: its subscriptions and the state of its Redis
// subscription.
type topic struct {
	name string
	// mu is held for the whole delivery of one message, which lets Close of
	// a subscription wait for a delivery in progress. subs changes only
	// under both the shard lock and mu.
	mu   sync.Mutex
	subs []*subscription

	// Guarded by the shard lock.
	remote  bool // subscribed in Redis on the current connection
	queued  bool // waiting for, or in, a batch of the subscriber goroutine
	leaving bool // its unsubscribe is in flight
}

type subscription struct {
	bus *Bus
	t   *topic
	fn  func([]byte)
}

// NewBus connects to Redis and starts the subscriber goroutine. It returns
// EUNAVAILABLE when Redis cannot be reached, so a misconfigured node fails
// at start rather than running without a bus.
func NewBus(ctx context.Context, cfg Config) (*Bus, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	client, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	b := &Bus{cfg: cfg, client: client, seed: maphash.MakeSeed()}
	for i := range b.shards {
		b.shards[i].topics = make(map[string]*topic)
	}
	b.subs = newSubscriber(b)
	if err := b.subs.start(ctx); err != nil {
		client.Close()
		return nil, err
	}
	return b, nil
}

func (b *Bus) shard(name string) *shard {
	return &b.shards[maphash.String(b.seed, name)%numShards]
}

// Publish sends payload to the subscribers of topic on every node. It
// returns EUNAVAILABLE when Redis cannot take it (down, or no answer within
// Config.Timeout) and after Close, and ctx's error if ctx has ended before
// the call. Once sent, a publish is not abandoned when ctx ends: it takes
// at most Config.Timeout, and waiting for it lets the command refer to
// payload instead of a copy (no allocation per publish).
func (b *Bus) Publish(ctx context.Context, topic string, payload []byte) error {
	if b.closed.Load() {
		return errClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	msg := rueidis.BinaryString(payload)
	var cmd rueidis.Completed
	if b.cfg.Cluster {
		cmd = b.client.B().Spublish().Channel(topic).Message(msg).Build()
	} else {
		cmd = b.client.B().Publish().Channel(topic).Message(msg).Build()
	}
	if err := b.client.Do(context.Background(), cmd).Error(); err != nil {
		return unavailable("publish", err)
	}
	return nil
}

// Subscribe calls fn with every payload published to topic on any node
// once Subscribe has returned. It waits until Redis confirmed the topic's
// subscription, unless Redis is unreachable: then the subscription is kept
// and takes effect on reconnection. It returns EUNAVAILABLE after Close,
// and ctx's error when ctx ends first (the subscription is then removed).
func (b *Bus) Subscribe(ctx context.Context, name string, fn func(payload []byte)) (parley.Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := b.shard(name)
	s.mu.Lock()
	// Checked under the shard lock: Close clears each shard under it.
	if b.closed.Load() {
		s.mu.Unlock()
		return nil, errClosed
	}
	t := s.topics[name]
	if t == nil {
		t = &topic{name: name}
		s.topics[name] = t
	}
	sub := &subscription{bus: b, t: t, fn: fn}
	t.mu.Lock()
	t.subs = append(t.subs, sub)
	t.mu.Unlock()
	r := b.subs.need(t)
	s.mu.Unlock()

	for r != nil {
		select {
		case <-r.done:
		case <-ctx.Done():
			sub.Close()
			return nil, ctx.Err()
		}
		if r.err != nil {
			if b.closed.Load() {
				return nil, errClosed
			}
			// Redis is away; the reconnection subscribes the topic.
			return sub, nil
		}
		s.mu.Lock()
		r = b.subs.need(t)
		s.mu.Unlock()
	}
	return sub, nil
}

// deliver calls the local subscribers of a message from Redis. It runs on
// the goroutine that reads the subscriber connection.
func (b *Bus) deliver(channel, message string) {
	s := b.shard(channel)
	s.mu.RLock()
	t := s.topics[channel]
	if t == nil {
		s.mu.RUnlock()
		return
	}
	t.mu.Lock()
	s.mu.RUnlock()
	defer t.mu.Unlock()
	if len(t.subs) == 0 {
		return
	}
	p := []byte(message)
	for _, sub := range t.subs {
		sub.fn(p)
	}
}

// Close removes the subscription; when it was the topic's last on this
// node, the topic is unsubscribed in Redis. Close waits for a delivery of
// the topic in progress, so fn is not running and will not run once Close
// returns. It is idempotent and always returns nil.
func (s *subscription) Close() error {
	t := s.t
	sh := s.bus.shard(t.name)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	t.mu.Lock()
	i := slices.Index(t.subs, s)
	if i >= 0 {
		t.subs = slices.Delete(t.subs, i, i+1)
	}
	empty := i >= 0 && len(t.subs) == 0
	t.mu.Unlock()
	if !empty || s.bus.closed.Load() {
		return nil
	}
	if !t.remote && !t.queued {
		if sh.topics[t.name] == t {
			delete(sh.topics, t.name)
		}
		return nil
	}
	s.bus.subs.need(t)
	return nil
}

// Close stops the subscriber goroutine, closes the connections and ends
// every subscription; Publish and Subscribe fail afterwards. It waits for
// deliveries in progress and always returns nil.
func (b *Bus) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	b.subs.stop()
	for i := range b.shards {
		s := &b.shards[i]
		s.mu.Lock()
		for _, t := range s.topics {
			t.mu.Lock()
			t.subs = nil
			t.mu.Unlock()
		}
		clear(s.topics)
		s.mu.Unlock()
	}
	b.client.Close()
	return nil
}

// forEachTopic calls fn for every local topic, holding its shard's lock.
func (b *Bus) forEachTopic(fn func(s *shard, t *topic)) {
	for i := range b.shards {
		s := &b.shards[i]
		s.mu.Lock()
		for _, t := range s.topics {
			fn(s, t)
		}
		s.mu.Unlock()
	}
}
