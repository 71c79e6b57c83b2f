package realtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/socketio"
)

// EventError is emitted to a client whose event failed and that asked for
// no ack: {event, code, message}.
const EventError = "error"

// reauthEvery is how often a long-lived socket's session is checked again,
// so a revocation whose bus notice was lost still takes effect.
const reauthEvery = 5 * time.Minute

type handlerFunc func(ctx context.Context, c *conn, arg json.RawMessage) (json.RawMessage, error)

func (g *Gateway) routes(nsp *socketio.Namespace) {
	nsp.On("send", g.handleSend)
	nsp.On("delivered", g.handle("delivered", g.delivered))
	nsp.On("read", g.handle("read", g.read))
	nsp.On("recall", g.handle("recall", g.recall))
	nsp.On("edit", g.handle("edit", g.edit))
	nsp.On("react", g.handle("react", g.react))
	nsp.On("typing", g.handle("typing", g.typing))
	nsp.On("sync", g.handle("sync", g.sync))
	nsp.On("conversation:create", g.handle("conversation:create", g.createConversation))
	nsp.OnUnknown = func(s *socketio.Socket, ev socketio.Event) {
		name := ev.Name
		if len(name) > 64 {
			name = name[:64]
		}
		g.handle(name, func(context.Context, *conn, json.RawMessage) (json.RawMessage, error) {
			return nil, parley.Errorf(parley.EINVALID, "unknown event %q", name)
		})(s, ev)
	}
}

// handle wraps an event handler with the connection checks every event
// gets (rate, session still valid) and turns its result into the ack.
func (g *Gateway) handle(name string, fn handlerFunc) socketio.EventHandler {
	return func(s *socketio.Socket, ev socketio.Event) {
		c := connOf(s)
		if c == nil {
			return
		}
		ctx, cancel := g.callContext()
		defer cancel()
		if !g.admit(ctx, c, name, ev) {
			return
		}
		res, err := fn(ctx, c, firstArg(ev))
		g.answer(c, name, ev, res, err)
	}
}

// admit applies the checks every event gets; when it refuses, the client
// was answered already.
func (g *Gateway) admit(ctx context.Context, c *conn, name string, ev socketio.Event) bool {
	g.stats.Events.Add(1)
	now := time.Now()
	if !c.allow(now) {
		g.answer(c, name, ev, nil, parley.Errorf(parley.ETOOMANY, "too many events; slow down"))
		return false
	}
	return time.Duration(mono(now)-c.authAt) <= reauthEvery || g.reauth(ctx, c, now)
}

func firstArg(ev socketio.Event) json.RawMessage {
	if len(ev.Args) > 0 {
		return ev.Args[0]
	}
	return nil
}

// answer acks the event, or emits an error event when the client asked
// for no ack and the event failed.
func (g *Gateway) answer(c *conn, name string, ev socketio.Event, res any, err error) {
	if parley.ErrorCode(err) == parley.EINTERNAL {
		g.logger.Error("realtime event failed", "event", name, "user", c.caller.UserID, "err", err)
	}
	switch {
	case ev.Ack != nil && err != nil:
		ev.Ack(errorAck(err))
	case ev.Ack != nil:
		ev.Ack(res)
	case err != nil:
		b, _ := json.Marshal(struct {
			Event   string `json:"event"`
			Code    string `json:"code"`
			Message string `json:"message"`
		}{name, parley.ErrorCode(err), parley.ErrorMessage(err)})
		c.emitRaw(EventError, b)
	}
}

// handleSend pipelines one connection's sends: the next event is taken as
// soon as this send has its place in the store's order of writes, not
// after it committed, so a client with several sends in flight keeps the
// store's batches full while its messages keep the order it sent them in.
// The ack goes out when the send committed.
func (g *Gateway) handleSend(s *socketio.Socket, ev socketio.Event) {
	c := connOf(s)
	if c == nil {
		return
	}
	ctx, cancel := g.callContext()
	if !g.admit(ctx, c, "send", ev) {
		cancel()
		return
	}
	queued := make(chan struct{})
	g.wg.Add(1)
	g.sends.Go(func() {
		defer g.wg.Done()
		defer cancel()
		res, err := g.send(ctx, c, firstArg(ev), func() { close(queued) })
		g.answer(c, "send", ev, res, err)
	})
	<-queued
}

// reauth checks the socket's session again; a revoked one is disconnected.
func (g *Gateway) reauth(ctx context.Context, c *conn, now time.Time) bool {
	caller, err := g.svc.Accounts.Authenticate(ctx, c.token)
	if err == nil && caller == c.caller {
		c.authAt = mono(now)
		return true
	}
	if parley.ErrorCode(err) == parley.EUNAUTHORIZED {
		go c.s.Disconnect()
		return false
	}
	return true // the store is down: keep serving, check again later
}

// decodeArg decodes an event's payload, which must be one JSON object.
func decodeArg(arg json.RawMessage, v any) error {
	arg = bytes.TrimSpace(arg)
	if len(arg) == 0 || arg[0] != '{' {
		return parley.Errorf(parley.EINVALID, "the event's payload must be a JSON object")
	}
	if err := json.Unmarshal(arg, v); err != nil {
		return parley.Errorf(parley.EINVALID, "malformed payload: %v", err)
	}
	return nil
}

// okMessage is the ack {ok: true, message}. A send's ack appends it
// straight into the Socket.IO packet (socketio.JSONAppender); the other
// events' handlers return it encoded (json).
type okMessage struct{ m *parley.Message }

// AppendJSON implements socketio.JSONAppender.
func (a okMessage) AppendJSON(b []byte) ([]byte, error) {
	b, err := a.m.AppendJSON(append(b, `{"ok":true,"message":`...))
	if err != nil {
		return b, err
	}
	return append(b, '}'), nil
}

func (a okMessage) json() (json.RawMessage, error) {
	return a.AppendJSON(make([]byte, 0, 280+len(a.m.Body)))
}

// send runs one send; queued is called exactly once, as soon as the send
// has its place in the store's order of writes or was refused.
func (g *Gateway) send(ctx context.Context, c *conn, arg json.RawMessage, queued func()) (any, error) {
	var once sync.Once
	queued = func(fn func()) func() { return func() { once.Do(fn) } }(queued)
	defer queued()
	var req parley.SendRequest
	if err := decodeSend(arg, &req); err != nil {
		return nil, err
	}
	m, _, err := g.svc.Messages.Send(ctx, c.caller, req, queued)
	if err != nil {
		return nil, err
	}
	c.acked(m)
	return okMessage{m}, nil
}

type seqArg struct {
	ConversationID parley.ID `json:"conversation_id"`
	Seq            *int64    `json:"seq"`
}

func (a *seqArg) validate() error {
	if a.ConversationID <= 0 || a.Seq == nil {
		return parley.Errorf(parley.EINVALID, "conversation_id and seq are required")
	}
	return nil
}

func (g *Gateway) delivered(ctx context.Context, c *conn, arg json.RawMessage) (json.RawMessage, error) {
	var a seqArg
	if err := decodeArg(arg, &a); err != nil {
		return nil, err
	}
	if err := a.validate(); err != nil {
		return nil, err
	}
	return okAck, g.svc.Messages.MarkDelivered(ctx, c.caller, a.ConversationID, *a.Seq)
}

func (g *Gateway) read(ctx context.Context, c *conn, arg json.RawMessage) (json.RawMessage, error) {
	var a seqArg
	if err := decodeArg(arg, &a); err != nil {
		return nil, err
	}
	if err := a.validate(); err != nil {
		return nil, err
	}
	return okAck, g.svc.Messages.MarkRead(ctx, c.caller, a.ConversationID, *a.Seq)
}

// messageArg names a message; an edit carries the new body, a reaction
// the emoji.
type messageArg struct {
	ConversationID parley.ID `json:"conversation_id"`
	MessageID      parley.ID `json:"message_id"`
	Body           *string   `json:"body"`
	Emoji          *string   `json:"emoji"`
}

func decodeMessageArg(arg json.RawMessage) (*messageArg, error) {
	var a messageArg
	if err := decodeArg(arg, &a); err != nil {
		return nil, err
	}
	if a.ConversationID <= 0 || a.MessageID <= 0 {
		return nil, parley.Errorf(parley.EINVALID, "conversation_id and message_id are required")
	}
	return &a, nil
}

func (g *Gateway) recall(ctx context.Context, c *conn, arg json.RawMessage) (json.RawMessage, error) {
	a, err := decodeMessageArg(arg)
	if err != nil {
		return nil, err
	}
	m, err := g.svc.Messages.Recall(ctx, c.caller, a.ConversationID, a.MessageID)
	if err != nil {
		return nil, err
	}
	return okMessage{m}.json()
}

// edit runs an edit. Unlike a send's, its ack carries the edited message,
// not the log entry: the entry reaches this socket, like every other, as
// a message event in the conversation's stream (so the client sees its
// seq and never takes it for a hole).
func (g *Gateway) edit(ctx context.Context, c *conn, arg json.RawMessage) (json.RawMessage, error) {
	a, err := decodeMessageArg(arg)
	if err != nil {
		return nil, err
	}
	if a.Body == nil {
		return nil, parley.Errorf(parley.EINVALID, "body is required")
	}
	m, _, err := g.svc.Messages.Edit(ctx, c.caller, a.ConversationID, a.MessageID, *a.Body)
	if err != nil {
		return nil, err
	}
	return okMessage{m}.json()
}

// react sets the caller's reaction; its log entry reaches the socket as
// an edit's does.
func (g *Gateway) react(ctx context.Context, c *conn, arg json.RawMessage) (json.RawMessage, error) {
	a, err := decodeMessageArg(arg)
	if err != nil {
		return nil, err
	}
	if a.Emoji == nil {
		return nil, parley.Errorf(parley.EINVALID, "emoji is required (empty to remove the reaction)")
	}
	if _, err := g.svc.Messages.React(ctx, c.caller, a.ConversationID, a.MessageID, *a.Emoji); err != nil {
		return nil, err
	}
	return okAck, nil
}

func (g *Gateway) typing(ctx context.Context, c *conn, arg json.RawMessage) (json.RawMessage, error) {
	var a struct {
		ConversationID parley.ID `json:"conversation_id"`
	}
	if err := decodeArg(arg, &a); err != nil {
		return nil, err
	}
	if a.ConversationID <= 0 {
		return nil, parley.Errorf(parley.EINVALID, "conversation_id is required")
	}
	return okAck, g.svc.Messages.Typing(ctx, c.caller, a.ConversationID)
}

func (g *Gateway) createConversation(ctx context.Context, c *conn, arg json.RawMessage) (json.RawMessage, error) {
	var req parley.CreateConversationRequest
	if err := decodeArg(arg, &req); err != nil {
		return nil, err
	}
	v, created, err := g.svc.Conversations.CreateConversation(ctx, c.caller, req)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"ok": true, "conversation": v, "created": created})
}

// sync replays what the device missed. Live message events that arrive
// meanwhile are held and delivered, in order and without duplicates, after
// the replay; then the ack says the device is caught up.
func (g *Gateway) sync(ctx context.Context, c *conn, arg json.RawMessage) (json.RawMessage, error) {
	var a struct {
		Cursors map[parley.ID]int64 `json:"cursors"`
	}
	if len(bytes.TrimSpace(arg)) > 0 && !bytes.Equal(bytes.TrimSpace(arg), []byte("null")) {
		if err := decodeArg(arg, &a); err != nil {
			return nil, err
		}
	}
	if len(a.Cursors) > maxSyncCursors {
		return nil, parley.Errorf(parley.ETOOMANY, "at most %d cursors", maxSyncCursors)
	}
	places, caughtUp, err := g.replay(ctx, c, parley.SyncQuery{Cursors: a.Cursors})
	if err != nil {
		return nil, err
	}
	// cursors says where the device now stands in every conversation. When
	// not caught up (the rest would overflow the connection's bounded
	// queue), the client calls sync again with them.
	return json.Marshal(struct {
		OK       bool                `json:"ok"`
		CaughtUp bool                `json:"caught_up"`
		Cursors  map[parley.ID]int64 `json:"cursors"`
	}{true, caughtUp, places})
}

// replay runs one sync on c: the messages q says the device misses, in
// order, then the receipts, while live events wait. One replay runs at a
// time per connection. It stops early (caughtUp false) once it replayed
// what the connection's outbound queue can take at once. places is where
// the device then stands in each of its conversations.
func (g *Gateway) replay(ctx context.Context, c *conn, q parley.SyncQuery) (places map[parley.ID]int64, caughtUp bool, err error) {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	c.mu.Lock()
	c.syncing = true
	c.mu.Unlock()
	defer c.endSync()
	limit := syncLimit
	if c.s.Transport() != "websocket" {
		limit = syncLimitPolling
	}
	replayed, budget := 0, g.newReplayBudget()
	places = make(map[parley.ID]int64)
	err = g.svc.Messages.Sync(ctx, c.caller, q, func(name string, data any) error {
		if p, ok := data.(parley.SyncPoint); ok {
			c.syncFrom(p)
			places[p.ConversationID] = p.Seq
			return nil
		}
		b, err := json.Marshal(data)
		if err != nil {
			return err
		}
		if m, ok := data.(*parley.Message); ok {
			if replayed >= limit || !budget.take(len(b)) {
				return errSyncMore
			}
			replayed++
			c.replayed(m.ConversationID, m.Seq, b)
			places[m.ConversationID] = m.Seq
		} else if name == parley.EventReceipt {
			c.emitReceipt(b, true)
		} else {
			c.emitRaw(name, b)
		}
		return nil
	})
	if errors.Is(err, errSyncMore) {
		return places, false, nil
	}
	return places, err == nil, err
}

// catchUp replays to c, without being asked, what its streams may have
// missed while the bus was away: every conversation's log after what the
// socket has (its stream's place, or where the stream starts by the
// connection's position), a page at a time, until it is caught up.
func (g *Gateway) catchUp(c *conn) {
	cursors, ok := c.streamPlaces()
	if !ok {
		return
	}
	q := parley.SyncQuery{Cursors: cursors, Since: c.pos}
	for range maxCatchUpRounds {
		ctx, cancel := g.callContext()
		places, caughtUp, err := g.replay(ctx, c, q)
		cancel()
		if err != nil {
			// The client was told to sync as well; its sync covers this.
			g.logger.Warn("catch up after a bus outage", "user", c.caller.UserID, "err", err)
			return
		}
		if caughtUp {
			return
		}
		q = parley.SyncQuery{Cursors: places, Since: c.pos}
	}
}

// maxCatchUpRounds bounds one catch-up; a client further behind than that
// syncs by itself (it was sent resync).
const maxCatchUpRounds = 8

// maxSyncCursors bounds the cursors one sync may name.
const maxSyncCursors = 10_000

// A sync replays at most this many messages per call, so the replay fits
// the connection's bounded outbound queue (a polling session queues
// packets until the client polls them).
const (
	syncLimit        = 5000
	syncLimitPolling = 500
)

var errSyncMore = errors.New("realtime: more to replay")
