// Package inmem holds the in-process implementations of Parley's ports:
// Bus and Presence for a service that runs as a single node. They are the
// defaults of `parley serve`; package redis replaces them when several nodes
// share the work.
package inmem

import (
	"context"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/parleyhq/parley"
)

// Compile-time checks that the types meet the ports.
var (
	_ parley.Bus          = (*Bus)(nil)
	_ parley.Subscription = (*subscription)(nil)
)

// numShards spreads topics over independent maps so that publishers and
// subscribers of different topics rarely contend on a lock, with a million
// topics as well as with ten.
const numShards = 256

// Bus is the in-process parley.Bus. Publish calls the subscribers of the
// topic synchronously, in the publisher's goroutine: no goroutine or queue
// per subscription, so a subscription costs a few dozen bytes and a topic
// little more, which is what lets one node hold millions of them.
//
// Order: publishes to one topic are delivered one at a time under the
// topic's lock, so every subscriber of a topic sees them in the same order,
// the order in which the publishes took the lock; a single publisher's
// payloads arrive in publish order. Topics do not wait for each other.
//
// Subscriber functions must not block, and must not call back into the Bus
// (the same rule as for package redis; here a Publish or Subscription.Close
// on their own topic would deadlock, because they run under its lock). The realtime gateway's function only
// makes a non-blocking enqueue on a connection's bounded queue, and
// disconnects a slow consumer from its own goroutine.
//
// Subscribers receive the publisher's payload itself, shared by all of them
// and by every topic it was published to: Publish takes it (parley.Bus), so
// it is never copied; they may keep it but must not modify it.
type Bus struct {
	seed   maphash.Seed
	closed atomic.Bool
	shards [numShards]shard
}

type shard struct {
	mu     sync.RWMutex
	topics map[string]*topic
}

// topic is the subscriber list of one topic. mu is held for the whole
// delivery of one payload, which gives every subscriber the same order and
// lets Subscription.Close wait for a delivery in progress.
type topic struct {
	name string
	mu   sync.Mutex
	subs []*subscription
}

type subscription struct {
	bus *Bus
	t   *topic
	fn  func([]byte)
}

// NewBus returns an empty in-process bus.
func NewBus() *Bus {
	b := &Bus{seed: maphash.MakeSeed()}
	for i := range b.shards {
		b.shards[i].topics = make(map[string]*topic)
	}
	return b
}

var errClosed = parley.Errorf(parley.EUNAVAILABLE, "bus is closed")

func (b *Bus) shard(topic string) *shard {
	return &b.shards[maphash.String(b.seed, topic)%numShards]
}

// Publish calls every subscriber of topic with payload itself (Publish takes
// it; see parley.Bus) and returns when they all have returned. It returns
// EUNAVAILABLE after Close.
func (b *Bus) Publish(_ context.Context, topic string, payload []byte) error {
	if b.closed.Load() {
		return errClosed
	}
	s := b.shard(topic)
	s.mu.RLock()
	t := s.topics[topic]
	if t == nil {
		s.mu.RUnlock()
		return nil
	}
	// Take the topic's lock before releasing the shard's, so a concurrent
	// Close of the last subscription cannot drop the topic in between.
	t.mu.Lock()
	s.mu.RUnlock()
	defer t.mu.Unlock()
	if len(t.subs) == 0 {
		return nil
	}
	for _, sub := range t.subs {
		sub.fn(payload)
	}
	return nil
}

// Subscribe adds fn to the subscribers of the topic name; it receives every payload
// published after Subscribe returns. It returns EUNAVAILABLE after Close.
func (b *Bus) Subscribe(ctx context.Context, name string, fn func(payload []byte)) (parley.Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := b.shard(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	// Checked under the shard lock: Close clears each shard under the same
	// lock, so a subscription is either refused or cleared by Close.
	if b.closed.Load() {
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
	return sub, nil
}

// Close removes the subscription. It waits for a delivery of the topic in
// progress, so fn is not running and will not run once Close returns. It
// is idempotent and always returns nil.
func (s *subscription) Close() error {
	t := s.t
	t.mu.Lock()
	i := slices.Index(t.subs, s)
	if i >= 0 {
		t.subs = slices.Delete(t.subs, i, i+1)
	}
	empty := i >= 0 && len(t.subs) == 0
	t.mu.Unlock()
	if !empty {
		return nil
	}
	// The last subscription is gone: drop the topic, unless a Subscribe got
	// in since (it found the same topic in the map and added to it).
	sh := s.bus.shard(t.name)
	sh.mu.Lock()
	t.mu.Lock()
	if len(t.subs) == 0 && sh.topics[t.name] == t {
		delete(sh.topics, t.name)
	}
	t.mu.Unlock()
	sh.mu.Unlock()
	return nil
}

// Close ends every subscription and makes later Publish and Subscribe calls
// fail. It waits for deliveries in progress. It always returns nil.
func (b *Bus) Close() error {
	b.closed.Store(true)
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
	return nil
}
