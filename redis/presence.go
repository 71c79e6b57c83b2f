package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/parleyhq/parley"
)

var _ parley.Presence = (*Presence)(nil)

// Presence is a parley.Presence shared by the nodes of a service through
// Redis.
//
// The model. Each node counts its own connections per user in memory and
// is the authority for that count; Redis aggregates the counts of all
// nodes:
//
//   - parley:presence:nodes is a sorted set of node ids scored by the
//     time (Redis's clock, in ms) until which each node is alive. Every
//     node renews its entry with a heartbeat every PresenceTTL/3.
//   - parley:presence:{<user id>} is a hash per user: one field per node
//     holding that node's count of the user's connections (set, never
//     incremented, so a retry or a resync cannot double-count), and "seen",
//     the time the user last went offline. The key lives while the user is
//     online and for 30 days after.
//
// A user is online while some live node has a count for them. Connect and
// Disconnect set this node's count with a script that also sums the other
// live nodes' counts, atomically per user, so exactly one of two nodes
// racing on the same user sees the user come online or go offline.
//
// A crashed node stops renewing its entry: after PresenceTTL its counts no
// longer count, and the next script that touches a user removes them. The
// staleness bound is PresenceTTL plus one heartbeat interval (other nodes
// learn of dead nodes at their heartbeat): 20s with the defaults. A user
// whose last connection was on a crashed node goes offline without a
// Disconnect, so last_seen is then the time the node's entry expired.
//
// A new node is counted by the others from their next heartbeat on. When
// Redis loses the data (a restart without persistence) or this node was
// taken for dead (an outage longer than PresenceTTL), the heartbeat notices
// and writes back all of this node's counts; a user whose update failed
// is written back at the next heartbeat.
type Presence struct {
	cfg    Config
	client rueidis.Client
	node   string // field name of this node's counts: "n:" + NodeID

	mu    sync.Mutex
	local map[parley.ID]*localUser
	// userLocks serialise this node's updates of one user, so that two
	// updates of its count reach Redis in the order they were made.
	userLocks [1024]sync.Mutex

	nodes     atomic.Pointer[nodeSet]
	writeAll  bool // owned by the heartbeat: write every count back
	refreshMu sync.Mutex
	refreshed time.Time // when the last refreshNodes started
	stop      chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once
	closed    atomic.Bool
}

// localUser is this node's record of one user.
type localUser struct {
	conns int
	dirty bool  // Redis may not have conns: write it back at the next heartbeat
	seen  int64 // when conns last fell to 0, in ms, for a written-back offline
}

const (
	nodesKey = "parley:presence:nodes"
	seenKey  = "seen"
	// deadGrace is how long an expired node stays in the node set, so that
	// scripts can remove its counts and Status can date its users' last_seen.
	deadGrace = 24 * time.Hour
	// seenRetention is how long a user's record lives after going offline.
	seenRetention = 30 * 24 * time.Hour
)

// setScript sets this node's count of a user and returns the sum of the
// other live nodes' counts, or, without writing anything, the number of
// counts from nodes it does not know. ARGV: this node, its count, the time the user went offline here (0
// for none), the seen retention in seconds, whether to delete counts of
// unknown nodes, the number of live nodes, the live nodes, then the dead
// nodes, whose counts it deletes. When nobody has a connection left and a
// time is given, it records it as last seen and lets the record expire.
//
// A node unknown to the caller is either newer than the caller's node set
// or expired so long ago that it left the node set; the caller refreshes
// its node set and runs the script again with deletion on, which removes
// only the second kind. The first run writes nothing, so the write and the
// sum it is judged by stay one atomic step.
var setScript = rueidis.NewLuaScript(`
local self, count, seen, keep, purge, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5] == '1', tonumber(ARGV[6])
local live, dead = {}, {}
for i = 7, 6 + n do live[ARGV[i]] = true end
for i = 7 + n, #ARGV do dead[ARGV[i]] = true end
local others, unknown = 0, 0
local h = redis.call('HGETALL', KEYS[1])
for i = 1, #h, 2 do
	local f = h[i]
	if f ~= self and f ~= 'seen' then
		if live[f] then
			others = others + tonumber(h[i + 1])
		elseif not dead[f] and not purge then
			unknown = unknown + 1
		end
	end
end
if unknown > 0 then
	return {0, unknown}
end
for i = 1, #h, 2 do
	local f = h[i]
	if f ~= self and f ~= 'seen' and not live[f] then
		redis.call('HDEL', KEYS[1], f)
	end
end
if count > 0 then
	redis.call('HSET', KEYS[1], self, count)
else
	redis.call('HDEL', KEYS[1], self)
end
if count > 0 or others > 0 then
	redis.call('PERSIST', KEYS[1])
elseif seen > 0 then
	redis.call('HSET', KEYS[1], 'seen', seen)
	redis.call('EXPIRE', KEYS[1], keep)
end
return {others, unknown}
`)

// NewPresence connects to Redis, registers this node with a first
// heartbeat and starts the heartbeat goroutine. It returns EUNAVAILABLE
// when Redis cannot be reached.
func NewPresence(ctx context.Context, cfg Config) (*Presence, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.NodeID == "" {
		var b [8]byte
		rand.Read(b[:])
		cfg.NodeID = hex.EncodeToString(b[:])
	}
	client, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	p := &Presence{
		cfg:     cfg,
		client:  client,
		node:    "n:" + cfg.NodeID,
		local:   make(map[parley.ID]*localUser),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	if err := p.heartbeat(ctx); err != nil {
		client.Close()
		return nil, err
	}
	go p.run()
	return p, nil
}

func userKey(id parley.ID) string { return "parley:presence:{" + id.String() + "}" }

// Connect counts one more connection of the user on this node and reports
// whether the user came online with it. On error (EUNAVAILABLE) the
// connection is still counted here and reaches Redis at the next
// heartbeat: call Disconnect when it ends, as usual.
func (p *Presence) Connect(ctx context.Context, userID parley.ID) (bool, error) {
	lock := p.userLock(userID)
	lock.Lock()
	defer lock.Unlock()
	p.mu.Lock()
	u := p.local[userID]
	if u == nil {
		u = &localUser{}
		p.local[userID] = u
	}
	u.conns++
	conns := u.conns
	p.mu.Unlock()

	others, err := p.set(ctx, userID, conns, 0)
	if err != nil {
		p.markDirty(userID)
		return false, err
	}
	return conns == 1 && others == 0, nil
}

// Disconnect counts one connection fewer and reports whether the user went
// offline with it; t is then recorded (to the millisecond) as last seen. A
// disconnect with no connection counted on this node changes nothing. On
// error (EUNAVAILABLE) the change is written at the next heartbeat.
func (p *Presence) Disconnect(ctx context.Context, userID parley.ID, t time.Time) (bool, error) {
	lock := p.userLock(userID)
	lock.Lock()
	defer lock.Unlock()
	p.mu.Lock()
	u := p.local[userID]
	if u == nil || u.conns == 0 {
		p.mu.Unlock()
		return false, nil
	}
	u.conns--
	conns, seen := u.conns, t.UnixMilli()
	if conns == 0 {
		u.seen = seen
	}
	p.mu.Unlock()

	others, err := p.set(ctx, userID, conns, seen)
	if err != nil {
		p.markDirty(userID)
		return false, err
	}
	p.mu.Lock()
	if u.conns == 0 && !u.dirty {
		delete(p.local, userID)
	}
	p.mu.Unlock()
	return conns == 0 && others == 0, nil
}

// set writes this node's count of a user and returns the other live nodes'
// total. seen is the going-offline time to record if nobody is left.
func (p *Presence) set(ctx context.Context, userID parley.ID, conns int, seen int64) (int64, error) {
	if p.closed.Load() {
		return 0, parley.Errorf(parley.EUNAVAILABLE, "presence is closed")
	}
	asked := time.Now()
	others, unknown, err := p.runSet(ctx, userID, conns, seen, false)
	if err == nil && unknown > 0 {
		if err = p.refreshNodes(ctx, asked); err == nil {
			others, _, err = p.runSet(ctx, userID, conns, seen, true)
		}
	}
	if err != nil {
		if e := ctxErr(ctx, err); e != nil {
			return 0, e
		}
		return 0, unavailable("presence update", err)
	}
	return others, nil
}

func (p *Presence) runSet(ctx context.Context, userID parley.ID, conns int, seen int64, purge bool) (others, unknown int64, err error) {
	ns := p.nodes.Load()
	purgeArg := "0"
	if purge {
		purgeArg = "1"
	}
	args := make([]string, 0, 6+len(ns.live)+len(ns.deadArg))
	args = append(args, p.node, strconv.Itoa(conns), strconv.FormatInt(seen, 10),
		strconv.FormatInt(int64(seenRetention/time.Second), 10), purgeArg, strconv.Itoa(len(ns.live)))
	args = append(args, ns.live...)
	args = append(args, ns.deadArg...)
	res, err := setScript.Exec(ctx, p.client, []string{userKey(userID)}, args).AsIntSlice()
	if err == nil && len(res) != 2 {
		err = errors.New("unexpected presence script reply")
	}
	if err != nil {
		return 0, 0, err
	}
	return res[0], res[1], nil
}

func (p *Presence) userLock(id parley.ID) *sync.Mutex {
	return &p.userLocks[uint64(id)%uint64(len(p.userLocks))]
}

// markDirty records that Redis may lack the user's count. It is called
// with the user's lock held, so the record is still there.
func (p *Presence) markDirty(id parley.ID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if u := p.local[id]; u != nil {
		u.dirty = true
	}
}

// Status returns the users' statuses in the order asked: online when a
// live node holds a connection of theirs, with no LastSeen; otherwise
// their last-seen time, or none for a user never seen. It returns
// EUNAVAILABLE when Redis cannot be reached.
func (p *Presence) Status(ctx context.Context, userIDs []parley.ID) ([]parley.PresenceStatus, error) {
	out := make([]parley.PresenceStatus, len(userIDs))
	if len(userIDs) == 0 {
		return out, nil
	}
	cmds := make(rueidis.Commands, len(userIDs))
	for i, id := range userIDs {
		cmds[i] = p.client.B().Hgetall().Key(userKey(id)).Build()
	}
	asked := time.Now()
	hashes := make([]map[string]string, len(userIDs))
	for i, r := range p.client.DoMulti(ctx, cmds...) {
		h, err := r.AsStrMap()
		if err != nil {
			if e := ctxErr(ctx, err); e != nil {
				return nil, e
			}
			return nil, unavailable("presence status", err)
		}
		hashes[i] = h
	}
	unknown := p.statuses(out, userIDs, hashes)
	if unknown && p.refreshNodes(ctx, asked) == nil {
		// A node this one has not heard of yet: count it once the node
		// set says whether it is alive.
		p.statuses(out, userIDs, hashes)
	}
	return out, nil
}

// statuses fills out from the users' records and reports whether some
// record has counts of a node missing from the node set.
func (p *Presence) statuses(out []parley.PresenceStatus, ids []parley.ID, hashes []map[string]string) (unknown bool) {
	ns := p.nodes.Load()
	live := make(map[string]bool, len(ns.live)+1)
	for _, n := range ns.live {
		live[n] = true
	}
	live[p.node] = true
	for i, h := range hashes {
		var u bool
		out[i], u = userStatus(ids[i], h, live, ns.dead)
		unknown = unknown || u
	}
	return unknown
}

// userStatus reads one user's record; unknown reports counts of a node in
// neither live nor dead.
func userStatus(id parley.ID, h map[string]string, live map[string]bool, dead map[string]int64) (st parley.PresenceStatus, unknown bool) {
	st.UserID = id
	seen, _ := strconv.ParseInt(h[seenKey], 10, 64)
	for field, v := range h {
		n, _ := strconv.ParseInt(v, 10, 64)
		if field == seenKey || n <= 0 {
			continue
		}
		if live[field] {
			st.Online = true
			return st, false
		}
		if exp, ok := dead[field]; ok {
			// Connections on a node that died: gone when its entry expired.
			seen = max(seen, exp)
		} else {
			unknown = true
		}
	}
	if seen > 0 {
		t := time.UnixMilli(seen).UTC()
		st.LastSeen = &t
	}
	return st, unknown
}

// Close stops the heartbeat, writes the users still connected here as gone
// offline now, removes this node's entry and closes the connection. The
// gateway normally disconnects everyone first, so there is little left to
// write.
func (p *Presence) Close() error {
	p.closeOnce.Do(p.close)
	return nil
}

func (p *Presence) close() {
	close(p.stop)
	<-p.stopped
	ctx, cancel := context.WithTimeout(context.Background(), 5*p.cfg.Timeout)
	defer cancel()
	now := p.cfg.Now().UnixMilli()
	p.mu.Lock()
	left := maps.Clone(p.local)
	p.mu.Unlock()
	for id, u := range left {
		if u.conns > 0 || u.dirty {
			if _, err := p.set(ctx, id, 0, now); err != nil {
				break
			}
		}
	}
	p.closed.Store(true)
	p.client.Do(ctx, p.client.B().Zrem().Key(nodesKey).Member(p.node).Build())
	p.client.Close()
}
