package app

import (
	"sync"
	"time"

	"github.com/parleyhq/parley"
)

// convInfo is what the send path needs to know about a conversation,
// cached so a send costs no reads in the common case.
type convInfo struct {
	conv    *parley.Conversation
	members []parley.Member // every membership, active or left
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

// activeIDs returns the active members' user ids.
func (ci *convInfo) activeIDs() []parley.ID {
	ids := make([]parley.ID, 0, len(ci.members))
	for i := range ci.members {
		if ci.members[i].Active() {
			ids = append(ids, ci.members[i].UserID)
		}
	}
	return ids
}

// memberCache keeps convInfo per conversation for ttl. Entries are dropped
// on every membership change (locally, and on other nodes through the
// bus); the ttl bounds staleness when such a notice is lost.
type memberCache struct {
	ttl time.Duration
	now parley.Clock
	mu  sync.Mutex
	m   map[parley.ID]*convInfo
	// gen counts invalidations, so a load that raced one is not cached.
	gen uint64
}

const maxCachedConvs = 100_000

func newMemberCache(ttl time.Duration, now parley.Clock) *memberCache {
	return &memberCache{ttl: ttl, now: now, m: make(map[parley.ID]*convInfo)}
}

func (c *memberCache) get(id parley.ID) (*convInfo, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ci := c.m[id]
	if ci != nil && c.now.Now().Sub(ci.loadedAt) > c.ttl {
		delete(c.m, id)
		ci = nil
	}
	return ci, c.gen
}

func (c *memberCache) put(id parley.ID, ci *convInfo, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.m) >= maxCachedConvs {
		clear(c.m)
	}
	c.m[id] = ci
}

func (c *memberCache) forget(id parley.ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.m, id)
}
