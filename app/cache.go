package app

import (
	"slices"
	"sync"
	"time"

	"github.com/parleyhq/parley"
)

// convInfo is what the send path needs to know about a conversation,
// cached so a send costs no reads in the common case. It is never changed
// once cached; a change replaces it.
type convInfo struct {
	conv    *parley.Conversation
	members []parley.Member // every membership, active or left
	active  []parley.ID     // active members' user ids
	// blocked is set on a direct conversation when either member blocks the
	// other.
	blocked  bool
	loadedAt time.Time
}

func (ci *convInfo) member(user parley.ID) *parley.Member {
	for i := range ci.members {
		if ci.members[i].UserID == user {
			return &ci.members[i]
		}
	}
	return nil
}

// activeIDs returns the active members' user ids; callers must not modify
// the slice.
func (ci *convInfo) activeIDs() []parley.ID {
	if ci.active == nil {
		ids := make([]parley.ID, 0, len(ci.members))
		for i := range ci.members {
			if ci.members[i].Active() {
				ids = append(ids, ci.members[i].UserID)
			}
		}
		return ids
	}
	return ci.active
}

// memberCache keeps convInfo per conversation for ttl. Entries are dropped
// on every membership change (locally, and on other nodes through the
// bus); the ttl bounds staleness when such a notice is lost. It is sharded
// with read locks: every send reads it.
type memberCache struct {
	ttl    time.Duration
	now    parley.Clock
	shards [64]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[parley.ID]*convInfo
	// gen counts invalidations, so a load that raced one is not cached.
	gen uint64
}

const maxCachedConvsPerShard = 100_000 / 64

func newMemberCache(ttl time.Duration, now parley.Clock) *memberCache {
	c := &memberCache{ttl: ttl, now: now}
	for i := range c.shards {
		c.shards[i].m = make(map[parley.ID]*convInfo)
	}
	return c
}

func (c *memberCache) shard(id parley.ID) *cacheShard {
	return &c.shards[uint64(id)%uint64(len(c.shards))]
}

func (c *memberCache) get(id parley.ID) (*convInfo, uint64) {
	sh := c.shard(id)
	sh.mu.RLock()
	ci, gen := sh.m[id], sh.gen
	sh.mu.RUnlock()
	if ci != nil && c.now.Now().Sub(ci.loadedAt) > c.ttl {
		ci = nil // expired: the caller loads and replaces it
	}
	return ci, gen
}

func (c *memberCache) put(id parley.ID, ci *convInfo, gen uint64) {
	ci.active = nil
	ci.active = slices.Clip(ci.activeIDs())
	sh := c.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if gen != sh.gen {
		return
	}
	if len(sh.m) >= maxCachedConvsPerShard {
		clear(sh.m)
	}
	sh.m[id] = ci
}

func (c *memberCache) forget(id parley.ID) {
	sh := c.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.gen++
	delete(sh.m, id)
}
