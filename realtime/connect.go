package realtime

import (
	"encoding/json"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/socketio"
)

// errUnauthorized is the connect_error every refused token gets.
var errUnauthorized = &socketio.ConnectError{Message: parley.EUNAUTHORIZED}

// onConnect authenticates the socket with the token of its auth payload
// ({token}), registers it for its user's events and tells presence.
func (g *Gateway) onConnect(s *socketio.Socket, auth json.RawMessage) (err error) {
	if g.closed.Load() {
		return &socketio.ConnectError{Message: parley.EUNAVAILABLE}
	}
	// The address's slot is taken before the token is checked, so one
	// address cannot run more authentications at once than it may hold
	// sockets; a refused socket gives it back here, an accepted one in
	// onDisconnect.
	addr := s.Session().RemoteAddr()
	if !g.addrs.acquire(addr) {
		g.stats.TooMany.Add(1)
		return errTooMany
	}
	defer func() {
		if err != nil {
			g.addrs.release(addr)
		}
	}()
	var a struct {
		Token string `json:"token"`
	}
	if len(auth) == 0 || json.Unmarshal(auth, &a) != nil || a.Token == "" {
		g.stats.Refused.Add(1)
		return errUnauthorized
	}
	ctx, cancel := g.callContext()
	defer cancel()
	caller, err := g.svc.Accounts.Authenticate(ctx, a.Token)
	if err != nil {
		g.stats.Refused.Add(1)
		if parley.ErrorCode(err) == parley.EUNAUTHORIZED {
			return errUnauthorized
		}
		g.logger.Warn("authenticate socket", "err", err)
		return &socketio.ConnectError{Message: parley.EUNAVAILABLE}
	}
	now := mono(time.Now())
	c := &conn{g: g, s: sioSocket{s}, caller: caller, token: a.Token, authAt: now, refill: now, tokens: float32(g.cfg.EventRate.Burst)}
	resyncs := g.resyncs.Load()
	s.SetData(c)
	if err := g.users.add(ctx, c); err == errTooMany {
		g.stats.TooMany.Add(1)
		return errTooMany
	} else if err != nil {
		g.logger.Warn("subscribe user topic", "user", caller.UserID, "err", err)
		return &socketio.ConnectError{Message: parley.EUNAVAILABLE}
	}
	// The user's events reach c from here on: what is committed now is
	// where its streams start (see conn).
	pos, err := g.svc.Messages.LogPosition(ctx)
	if err != nil {
		g.users.remove(c)
		c.close()
		g.logger.Warn("read log position", "user", caller.UserID, "err", err)
		return &socketio.ConnectError{Message: parley.EUNAVAILABLE}
	}
	c.setPosition(pos)
	if g.resyncs.Load() != resyncs {
		// The bus came back while this connection was starting: its
		// position may predate events the outage lost.
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			g.catchUp(c)
		}()
	}
	if err := g.svc.Connections.Connected(ctx, caller); err != nil {
		g.logger.Warn("presence connect", "user", caller.UserID, "err", err)
	}
	g.stats.Connects.Add(1)
	g.stats.Connections.Add(1)
	return nil
}

// onDisconnect may run inside a bus delivery (an emit that found the
// connection gone closes it on the spot), where the bus must not be called
// back; so the unsubscribe and the presence update run on their own
// goroutine, which Close waits for.
func (g *Gateway) onDisconnect(s *socketio.Socket, reason socketio.Reason) {
	c := connOf(s)
	if c == nil {
		return
	}
	c.close()
	g.addrs.release(s.Session().RemoteAddr())
	g.stats.Connections.Add(-1)
	if reason == socketio.ReasonSlowConsumer {
		g.stats.SlowConsumers.Add(1)
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		g.users.remove(c)
		ctx, cancel := g.callContext()
		defer cancel()
		if err := g.svc.Connections.Disconnected(ctx, c.caller); err != nil {
			g.logger.Warn("presence disconnect", "user", c.caller.UserID, "err", err)
		}
	}()
}
