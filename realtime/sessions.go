package realtime

import (
	"context"
	"log/slog"
	"time"

	"github.com/parleyhq/parley"
)

// SessionWatcher keeps a node's sockets honest about their sessions. The
// bus notice of a revocation is the fast path; the watcher is the one
// that cannot be lost: it polls the feed of ended sessions (one indexed
// query per node, not one per socket) and closes the matching local
// sockets, and it reports the devices with live sockets as in use, which
// keeps their sessions from idling out.
type SessionWatcher struct {
	g       *Gateway
	feed    parley.SessionFeed
	poll    time.Duration
	seen    time.Duration
	logger  *slog.Logger
	recheck chan struct{}
}

// SessionWatchConfig tunes a SessionWatcher.
type SessionWatchConfig struct {
	// Poll is how often the feed is read; 300ms by default, so a revoked
	// device's sockets close within about that much after the revocation
	// committed.
	Poll time.Duration
	// Seen is how often the devices with live sockets are recorded as in
	// use; a minute by default.
	Seen time.Duration
}

// WatchSessions returns the gateway's session watcher on feed; Run runs it.
func (g *Gateway) WatchSessions(feed parley.SessionFeed, cfg SessionWatchConfig) *SessionWatcher {
	if cfg.Poll <= 0 {
		cfg.Poll = 300 * time.Millisecond
	}
	if cfg.Seen <= 0 {
		cfg.Seen = time.Minute
	}
	return &SessionWatcher{g: g, feed: feed, poll: cfg.Poll, seen: cfg.Seen, logger: g.logger,
		recheck: make(chan struct{}, 1)}
}

// Recheck makes the watcher read the feed now rather than at its next
// poll: the bus reconnected, and revocation notices may have been lost. It
// does not block.
func (w *SessionWatcher) Recheck() {
	select {
	case w.recheck <- struct{}{}:
	default:
	}
}

// Run polls until ctx ends.
func (w *SessionWatcher) Run(ctx context.Context) {
	poll := time.NewTicker(w.poll)
	defer poll.Stop()
	seen := time.NewTicker(w.seen)
	defer seen.Stop()
	var since time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
		case <-w.recheck:
		case <-seen.C:
			w.markSeen(ctx)
			continue
		}
		ends, next, err := w.feed.EndedSessions(ctx, since)
		if err != nil {
			if ctx.Err() == nil {
				w.logger.Warn("read ended sessions", "err", err)
			}
			continue // since stays: the next read covers this one's span
		}
		since = next
		w.g.CloseSessions(ends)
	}
}

func (w *SessionWatcher) markSeen(ctx context.Context) {
	var ids []parley.ID
	w.g.users.each(func(c *conn) { ids = append(ids, c.caller.DeviceID) })
	if len(ids) == 0 {
		return
	}
	if err := w.feed.SessionsSeen(ctx, ids); err != nil && ctx.Err() == nil {
		w.logger.Warn("record sessions in use", "err", err)
	}
}

// CloseSessions disconnects this node's sockets of the ended sessions and
// returns how many it disconnects. A session may be named more than once,
// or have no socket here.
func (g *Gateway) CloseSessions(ends []parley.SessionEnd) int {
	n := 0
	for _, e := range ends {
		sh := g.users.shard(e.UserID)
		sh.mu.Lock()
		ue := sh.m[e.UserID]
		var conns []*conn
		if ue != nil {
			ue.mu.Lock()
			for _, c := range ue.conns {
				if c.caller.DeviceID == e.DeviceID {
					conns = append(conns, c)
				}
			}
			ue.mu.Unlock()
		}
		sh.mu.Unlock()
		for _, c := range conns {
			go c.s.Disconnect()
		}
		n += len(conns)
	}
	return n
}

// DeviceConnected reports whether the device has a socket on this node.
func (g *Gateway) DeviceConnected(userID, deviceID parley.ID) bool {
	sh := g.users.shard(userID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ue := sh.m[userID]
	if ue == nil {
		return false
	}
	ue.mu.Lock()
	defer ue.mu.Unlock()
	for _, c := range ue.conns {
		if c.caller.DeviceID == deviceID {
			return true
		}
	}
	return false
}
