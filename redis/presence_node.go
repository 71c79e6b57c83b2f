package redis

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/parleyhq/parley"
)

// This file holds the node side of Presence: the heartbeat that keeps this
// node's entry alive, what it learns about the other nodes, and the
// write-back of counts Redis may have lost.

// nodeSet is what the last heartbeat learned about the nodes.
type nodeSet struct {
	live    []string         // node fields alive now
	dead    map[string]int64 // node fields whose entry expired, with the expiry (ms)
	deadArg []string
}

// heartbeatScript renews a node's entry, drops entries expired for longer
// than the grace period, and returns whether the node's entry was missing
// or expired (its counts may be gone), the live nodes, and the expired
// ones with their expiry.
var heartbeatScript = rueidis.NewLuaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local prev = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[3]))
local lost = 0
if not prev or tonumber(prev) < now then lost = 1 end
return {lost,
	redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf'),
	redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'WITHSCORES')}
`)

// nodesScript returns the live nodes and the expired ones with their
// expiry, as the heartbeat does, without renewing anything.
var nodesScript = rueidis.NewLuaScriptReadOnly(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return {0,
	redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf'),
	redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'WITHSCORES')}
`)

// refreshNodes reloads the node set unless a reload started after since;
// concurrent callers share one reload. A node whose counts a script saw at
// since had registered by then, so the reloaded set has it if it lives.
func (p *Presence) refreshNodes(ctx context.Context, since time.Time) error {
	p.refreshMu.Lock()
	defer p.refreshMu.Unlock()
	if p.refreshed.After(since) {
		return nil
	}
	start := time.Now()
	res, err := nodesScript.Exec(ctx, p.client, []string{nodesKey}, nil).ToArray()
	if err != nil {
		return err
	}
	if _, err := p.storeNodes(res); err != nil {
		return err
	}
	p.refreshed = start
	return nil
}

// run renews this node's entry until Close.
func (p *Presence) run() {
	defer close(p.stopped)
	tick := time.NewTicker(p.cfg.PresenceTTL / 3)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
			ctx, cancel := context.WithTimeout(context.Background(), p.cfg.PresenceTTL/3)
			if err := p.heartbeat(ctx); err != nil {
				p.cfg.Logger.Warn("redis presence: heartbeat failed", "err", err)
			}
			cancel()
		}
	}
}

// heartbeat renews this node's entry, refreshes the node set, and writes
// back counts Redis may lack: all of them when this node's entry had
// expired or vanished, else those whose update failed.
func (p *Presence) heartbeat(ctx context.Context) error {
	ttl := strconv.FormatInt(p.cfg.PresenceTTL.Milliseconds(), 10)
	grace := strconv.FormatInt(deadGrace.Milliseconds(), 10)
	res, err := heartbeatScript.Exec(ctx, p.client, []string{nodesKey}, []string{p.node, ttl, grace}).ToArray()
	if err != nil {
		return unavailable("presence heartbeat", err)
	}
	lost, err := p.storeNodes(res)
	if err != nil {
		return unavailable("presence heartbeat", err)
	}
	// A full write-back that fails is tried again at the next heartbeat,
	// which will find the entry renewed and could not tell otherwise.
	p.writeAll = p.writeAll || lost
	if err := p.writeBack(ctx, p.writeAll); err != nil {
		return err
	}
	p.writeAll = false
	return nil
}

// storeNodes keeps the node set from a heartbeat or nodes script reply,
// and returns the reply's flag: whether this node's entry had been lost.
func (p *Presence) storeNodes(res []rueidis.RedisMessage) (lost bool, err error) {
	if len(res) != 3 {
		return false, errors.New("unexpected node set reply")
	}
	flag, err0 := res[0].AsInt64()
	live, err1 := res[1].AsStrSlice()
	deadPairs, err2 := res[2].AsStrSlice()
	if err := errors.Join(err0, err1, err2); err != nil {
		return false, err
	}
	ns := &nodeSet{live: live, dead: make(map[string]int64)}
	for i := 0; i+1 < len(deadPairs); i += 2 {
		exp, _ := strconv.ParseFloat(deadPairs[i+1], 64)
		ns.dead[deadPairs[i]] = int64(exp)
		ns.deadArg = append(ns.deadArg, deadPairs[i])
	}
	p.nodes.Store(ns)
	return flag == 1, nil
}

// writeBack sets this node's counts in Redis again: every user's when all
// is set, else the users marked dirty.
func (p *Presence) writeBack(ctx context.Context, all bool) error {
	p.mu.Lock()
	var ids []parley.ID
	for id, u := range p.local {
		if all || u.dirty {
			ids = append(ids, id)
		}
	}
	p.mu.Unlock()
	for _, id := range ids {
		lock := p.userLock(id)
		lock.Lock()
		p.mu.Lock()
		u := p.local[id]
		var conns int
		var seen int64
		if u != nil {
			conns, seen = u.conns, u.seen
		}
		p.mu.Unlock()
		_, err := p.set(ctx, id, conns, seen)
		p.mu.Lock()
		if u != nil && err == nil {
			u.dirty = false
			if u.conns == 0 {
				delete(p.local, id)
			}
		}
		p.mu.Unlock()
		lock.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}
