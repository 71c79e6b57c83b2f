package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync/atomic"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/client"
)

// pair is two users and their direct conversation.
type pair struct {
	conv    parley.ID
	lastSeq int64 // the conversation's last seq before the load
	a, b    *endpoint
}

// endpoint is one user's session and socket. As a receiver it checks the
// peer's messages: each once, in seq order.
type endpoint struct {
	r      *run
	handle string
	api    *client.Client
	userID parley.ID
	sock   *client.Socket
	pair   *pair
	// from is the sender whose messages this endpoint receives (nil when
	// the peer does not send).
	from *sender

	// lastSeq is the highest seq received in the pair's conversation; only
	// the socket's reader goroutine touches it.
	lastSeq    int64
	outOfOrder atomic.Int64
	resyncs    atomic.Int64
	foreign    atomic.Int64 // messages that no sender of this run sent
	echoed     atomic.Int64 // own sends delivered back as message events
}

// setup logs every user in (registering it first if needed), opens the
// conversations, connects and syncs every socket.
func (r *run) setup(ctx context.Context) error {
	cfg := r.cfg
	tag := make([]byte, 4)
	if _, err := rand.Read(tag); err != nil {
		return fmt.Errorf("loadgen: run tag: %w", err)
	}
	runTag := hex.EncodeToString(tag)
	r.pairs = make([]*pair, cfg.Pairs)
	for i := range r.pairs {
		p := &pair{}
		p.a = &endpoint{r: r, pair: p, handle: fmt.Sprintf("%s%0*da", cfg.HandlePrefix, pairDigits, i)}
		p.b = &endpoint{r: r, pair: p, handle: fmt.Sprintf("%s%0*db", cfg.HandlePrefix, pairDigits, i)}
		r.pairs[i] = p
		r.sockets = append(r.sockets, p.a, p.b)
	}
	if err := parallel(ctx, len(r.sockets), cfg.SetupConcurrency, func(i int) error {
		return r.sockets[i].login(ctx)
	}); err != nil {
		return err
	}
	if err := parallel(ctx, len(r.pairs), cfg.SetupConcurrency, func(i int) error {
		p := r.pairs[i]
		v, _, err := p.a.api.CreateConversation(ctx, parley.CreateConversationRequest{MemberIDs: []parley.ID{p.b.userID}})
		if err != nil {
			return fmt.Errorf("loadgen: open the conversation of %s and %s: %w", p.a.handle, p.b.handle, err)
		}
		p.conv, p.lastSeq = v.ID, v.LastSeq
		p.a.lastSeq, p.b.lastSeq = v.LastSeq, v.LastSeq
		return nil
	}); err != nil {
		return err
	}
	// Senders exist before the sockets connect, so that a receiver can
	// match any message it gets.
	for i, p := range r.pairs {
		r.addSender(fmt.Sprintf("%s.%d.a.", runTag, i), p.a, p.b)
		if !cfg.OneWay {
			r.addSender(fmt.Sprintf("%s.%d.b.", runTag, i), p.b, p.a)
		}
	}
	for i, s := range r.senders {
		s.phase = float64(i) / float64(len(r.senders))
	}
	if err := parallel(ctx, len(r.sockets), cfg.SetupConcurrency, func(i int) error {
		return r.sockets[i].connect(ctx)
	}); err != nil {
		return err
	}
	// Sync from the conversation's current end: the socket is caught up
	// and the server's stream for it starts there.
	return parallel(ctx, len(r.sockets), cfg.SetupConcurrency, func(i int) error {
		e := r.sockets[i]
		if err := e.sock.Sync(ctx, map[parley.ID]int64{e.pair.conv: e.pair.lastSeq}); err != nil {
			return fmt.Errorf("loadgen: sync %s: %w", e.handle, err)
		}
		return nil
	})
}

func (r *run) addSender(tag string, from, to *endpoint) {
	s := &sender{r: r, tag: tag, from: from, to: to, window: make(chan struct{}, r.cfg.InFlight)}
	to.from = s
	r.senders = append(r.senders, s)
}

// login registers the user unless it exists, then opens a session.
func (e *endpoint) login(ctx context.Context) error {
	cfg := e.r.cfg
	e.api = client.New(cfg.URL, cfg.HTTPClient)
	_, err := e.api.Register(ctx, parley.RegisterRequest{Handle: e.handle, Password: cfg.Password})
	if err != nil && parley.ErrorCode(err) != parley.ECONFLICT {
		return fmt.Errorf("loadgen: register %s: %w", e.handle, err)
	}
	s, err := e.api.Login(ctx, parley.LoginRequest{Handle: e.handle, Password: cfg.Password, DeviceName: "loadgen"})
	if err != nil {
		return fmt.Errorf("loadgen: log in %s: %w", e.handle, err)
	}
	e.userID = s.User.ID
	return nil
}

func (e *endpoint) connect(ctx context.Context) error {
	s, err := e.api.Dial(ctx, client.SocketConfig{
		Handler:    e.onEvent,
		AckTimeout: e.r.cfg.AckTimeout,
		Reconnect:  true,
		OnReconnect: func(s *client.Socket, resume map[parley.ID]int64) {
			e.r.log.Warn("socket reconnected", "user", e.handle)
			ctx, cancel := context.WithTimeout(context.Background(), e.r.cfg.AckTimeout)
			defer cancel()
			if err := s.Sync(ctx, resume); err != nil {
				e.r.log.Warn("sync after reconnect", "user", e.handle, "err", err)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("loadgen: connect %s: %w", e.handle, err)
	}
	e.sock = s
	return nil
}

// onEvent runs on the socket's reader goroutine.
func (e *endpoint) onEvent(ev client.Event) {
	switch ev.Name {
	case parley.EventMessage:
		m, ok := ev.Data.(*parley.Message)
		if !ok || m.ConversationID != e.pair.conv {
			e.foreign.Add(1)
			return
		}
		if m.SenderID == e.userID {
			// The device's own send, which it has from the ack.
			e.echoed.Add(1)
			return
		}
		known, first := false, false
		if e.from != nil {
			known, first = e.from.delivered(m)
		}
		if !known {
			e.foreign.Add(1)
		}
		// A first delivery below what came before is out of order; a
		// repeated one is a duplicate, counted by its sender's record.
		if m.Seq > e.lastSeq {
			e.lastSeq = m.Seq
		} else if first {
			e.outOfOrder.Add(1)
		}
	case parley.EventResync:
		e.resyncs.Add(1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), e.r.cfg.AckTimeout)
			defer cancel()
			_ = e.sock.Sync(ctx, e.sock.Cursors())
		}()
	}
}
