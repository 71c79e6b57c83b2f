package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/parleyhq/parley"
)

// Errors of the realtime client.
var (
	// ErrClosed: the socket was closed by its owner.
	ErrClosed = errors.New("client: socket closed")
	// ErrDisconnected: the connection dropped before the ack came, or there
	// is no connection right now (the socket is reconnecting). The event
	// may or may not have reached the server; a send is safe to retry with
	// the same client_msg_id.
	ErrDisconnected = errors.New("client: disconnected")
	// ErrAckTimeout: no ack within the timeout. As with ErrDisconnected,
	// the event may have been handled.
	ErrAckTimeout = errors.New("client: ack timed out")
	// ErrServerDisconnect: the server ended the socket on purpose (the
	// session was revoked, for one). Like the official clients, the socket
	// does not reconnect after it.
	ErrServerDisconnect = errors.New("client: disconnected by the server")
	// ErrBinary: the server sent a binary packet; the contract has none and
	// this client does not decode them.
	ErrBinary = errors.New("client: binary packets are not supported")
	// errPingTimeout: the server sent no ping within interval + timeout.
	errPingTimeout = errors.New("client: no ping from the server in time")
	// errEngineClose: the server closed the Engine.IO session.
	errEngineClose = errors.New("client: the server closed the session")
)

// ConnectError is the server's refusal of the Socket.IO CONNECT (a
// connect_error): Message is "unauthorized" for a missing or bad token. It
// unwraps to a *parley.Error when Message is one of the error codes, so
// parley.ErrorCode(err) reads it.
type ConnectError struct {
	Message string
	Data    json.RawMessage
}

func (e *ConnectError) Error() string { return "client: connection refused: " + e.Message }

func (e *ConnectError) Unwrap() error {
	for _, c := range parley.Codes {
		if c == e.Message {
			return &parley.Error{Code: c, Message: e.Message}
		}
	}
	return nil
}

// final reports whether a connection error ends the socket for good
// rather than calling for a reconnect.
func final(err error) bool {
	var ce *ConnectError
	if errors.As(err, &ce) {
		return ce.Message != parley.EUNAVAILABLE
	}
	return errors.Is(err, ErrServerDisconnect) || errors.Is(err, ErrClosed)
}

// SocketConfig configures a realtime connection. Only URL and Token are
// required; Client.Dial fills both.
type SocketConfig struct {
	// URL is the server's base URL (http, https, ws or wss; any path is
	// replaced by /socket.io/).
	URL string
	// Token is the session token sent in the CONNECT auth payload.
	Token string

	// Handler receives the server's events, one at a time and in the
	// order sent, on the socket's reader goroutine: it must return quickly
	// and must not wait for an ack of this socket (start a goroutine for
	// that). With no Handler, events go to the channel Events returns.
	Handler func(Event)
	// EventBuffer sizes the Events channel (default 256). A full channel
	// stalls the reader, heartbeats included: keep draining it.
	EventBuffer int

	// AckTimeout bounds EmitWithAck and the typed calls when their context
	// has no deadline (default 30s).
	AckTimeout time.Duration
	// HandshakeTimeout bounds the WebSocket, Engine.IO and Socket.IO
	// handshakes of each connection (default 10s).
	HandshakeTimeout time.Duration
	// MaxMessageBytes is the largest frame accepted from the server
	// (default 16 MiB).
	MaxMessageBytes int64

	// Reconnect makes the socket reconnect after the connection drops,
	// with exponential backoff from ReconnectMin (default 250ms) to
	// ReconnectMax (default 10s) and jitter. It stops on Close, on an
	// explicit disconnect by the server and on a refused token.
	Reconnect    bool
	ReconnectMin time.Duration
	ReconnectMax time.Duration
	// OnReconnect runs in its own goroutine after each successful
	// reconnection; resume holds the cursors (highest seq seen per
	// conversation) as they were when the connection dropped. Call
	// s.Sync(ctx, resume) there to catch up on what was missed.
	OnReconnect func(s *Socket, resume map[parley.ID]int64)
	// OnDisconnect runs on the reader goroutine each time a connection
	// ends, with the cause; it must not block.
	OnDisconnect func(err error)

	// HTTPClient carries the WebSocket handshake (default
	// http.DefaultClient); Header adds request headers to it.
	HTTPClient *http.Client
	Header     http.Header
}

func (c SocketConfig) withDefaults() SocketConfig {
	if c.EventBuffer <= 0 {
		c.EventBuffer = 256
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = 30 * time.Second
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = 16 << 20
	}
	if c.ReconnectMin <= 0 {
		c.ReconnectMin = 250 * time.Millisecond
	}
	if c.ReconnectMax < c.ReconnectMin {
		c.ReconnectMax = max(10*time.Second, c.ReconnectMin)
	}
	return c
}

// endpoint turns a base URL into the Engine.IO WebSocket endpoint.
func endpoint(base string) (string, error) {
	scheme, rest, ok := strings.Cut(base, "://")
	if !ok {
		return "", fmt.Errorf("client: URL %q has no scheme", base)
	}
	switch scheme {
	case "http", "ws":
		scheme = "ws"
	case "https", "wss":
		scheme = "wss"
	default:
		return "", fmt.Errorf("client: URL %q: scheme must be http(s) or ws(s)", base)
	}
	host, _, _ := strings.Cut(rest, "/")
	if host == "" {
		return "", fmt.Errorf("client: URL %q has no host", base)
	}
	return scheme + "://" + host + "/socket.io/?EIO=4&transport=websocket", nil
}

// Socket is a realtime connection to a Parley server: Socket.IO v4 on the
// namespace "/" over one WebSocket, reconnected when configured to. It is
// safe for concurrent use.
type Socket struct {
	cfg    SocketConfig
	url    string
	events chan Event

	ctx    context.Context // cancelled by Close: stops dials and backoff
	cancel context.CancelFunc
	done   chan struct{} // closed when the reader goroutine has ended

	mu      sync.Mutex
	cur     *conn // nil while reconnecting
	closing bool
	err     error // why the socket ended

	nextID     atomic.Int64
	reconnects atomic.Int64

	curMu   sync.Mutex
	cursors map[parley.ID]int64
	// ahead holds, per conversation, seqs seen above a gap after the
	// cursor, until what lies between arrives.
	ahead map[parley.ID]map[int64]bool
}

// Dial connects to the server and joins the namespace "/" with the token.
// A refused token is a *ConnectError whose Message is "unauthorized".
func Dial(ctx context.Context, cfg SocketConfig) (*Socket, error) {
	cfg = cfg.withDefaults()
	u, err := endpoint(cfg.URL)
	if err != nil {
		return nil, err
	}
	s := &Socket{cfg: cfg, url: u, done: make(chan struct{}), cursors: make(map[parley.ID]int64)}
	if cfg.Handler == nil {
		s.events = make(chan Event, cfg.EventBuffer)
	}
	c, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	// The socket's life is its own, not the dialling context's.
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.cur = c
	go s.run(c)
	return s, nil
}

// Dial opens a realtime connection for the client's session: cfg's URL
// and Token default to the client's.
func (c *Client) Dial(ctx context.Context, cfg SocketConfig) (*Socket, error) {
	if cfg.URL == "" {
		cfg.URL = c.base
	}
	if cfg.Token == "" {
		cfg.Token = c.Token()
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = c.hc
	}
	return Dial(ctx, cfg)
}

// Events returns the channel of server events when the socket has no
// Handler (nil otherwise). It is closed when the socket ends.
func (s *Socket) Events() <-chan Event { return s.events }

// Done is closed when the socket has ended: closed, refused on reconnect,
// disconnected by the server, or dropped without Reconnect.
func (s *Socket) Done() <-chan struct{} { return s.done }

// Err returns why the socket ended (ErrClosed after Close), nil while it
// is alive.
func (s *Socket) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Connected reports whether the socket has a connection right now.
func (s *Socket) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur != nil
}

// ID returns the Socket.IO id of the current connection ("" while there
// is none).
func (s *Socket) ID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return ""
	}
	return s.cur.sid
}

// Reconnects returns how many times the socket has reconnected.
func (s *Socket) Reconnects() int64 { return s.reconnects.Load() }

// Cursors returns, per conversation, the seq up to which the socket has
// seen the log without a gap — in message events, the acks of its own
// sends, or cursors given to Sync — which is where a sync should start.
// A message seen above a gap (after a reconnection, the new connection
// starts with the messages sent after it connected) moves it only once
// the gap is filled.
func (s *Socket) Cursors() map[parley.ID]int64 {
	s.curMu.Lock()
	defer s.curMu.Unlock()
	m := make(map[parley.ID]int64, len(s.cursors))
	for k, v := range s.cursors {
		m[k] = v
	}
	return m
}

func (s *Socket) advance(conv parley.ID, seq int64) {
	s.curMu.Lock()
	defer s.curMu.Unlock()
	cur := s.cursors[conv]
	switch {
	case seq <= cur:
		return
	case seq > cur+1:
		if s.ahead == nil {
			s.ahead = make(map[parley.ID]map[int64]bool)
		}
		a := s.ahead[conv]
		if a == nil {
			a = make(map[int64]bool)
			s.ahead[conv] = a
		}
		if len(a) < maxAhead {
			a[seq] = true
		}
		return
	}
	s.raiseLocked(conv, seq)
}

// maxAhead bounds the seqs remembered above a gap per conversation; those
// past it are seen again when a sync fills the gap.
const maxAhead = 1 << 14

// raiseLocked moves a conversation's cursor to seq, and on over the seqs
// seen ahead that now follow.
func (s *Socket) raiseLocked(conv parley.ID, seq int64) {
	a := s.ahead[conv]
	for a[seq+1] {
		seq++
	}
	for k := range a {
		if k <= seq {
			delete(a, k)
		}
	}
	if len(a) == 0 {
		delete(s.ahead, conv)
	}
	s.cursors[conv] = seq
}

// claim records that the device holds each conversation up to the given
// seq, as a sync's cursors say.
func (s *Socket) claim(cursors map[parley.ID]int64) {
	s.curMu.Lock()
	defer s.curMu.Unlock()
	for conv, seq := range cursors {
		if seq > s.cursors[conv] {
			s.raiseLocked(conv, seq)
		}
	}
}

// Close ends the socket: it leaves the namespace, closes the connection,
// fails the acks still awaited with ErrClosed and waits for the reader
// goroutine. It must not be called from a Handler or OnDisconnect.
func (s *Socket) Close() error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		<-s.done
		return nil
	}
	s.closing = true
	c := s.cur
	s.mu.Unlock()
	s.cancel()
	if c != nil {
		// Leave the namespace first so the server records a client
		// disconnect, then close the WebSocket with its handshake.
		_ = c.write([]byte{eioMessage, sioDisconnect})
		_ = c.ws.Close(websocket.StatusNormalClosure, "")
	}
	<-s.done
	return nil
}

// current returns the live connection or ErrDisconnected / ErrClosed.
func (s *Socket) current() (*conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing:
		return nil, ErrClosed
	case s.cur == nil:
		return nil, ErrDisconnected
	}
	return s.cur, nil
}

// run is the reader goroutine: it reads the current connection until it
// ends, then reconnects or finishes the socket.
func (s *Socket) run(c *conn) {
	defer close(s.done)
	for {
		err := s.read(c)
		if c.timedOut.Load() {
			err = errPingTimeout
		}
		s.mu.Lock()
		closing := s.closing
		s.cur = nil
		s.mu.Unlock()
		ackErr := fmt.Errorf("%w: %v", ErrDisconnected, err)
		if closing {
			err, ackErr = ErrClosed, ErrClosed
		}
		c.shutdown(ackErr)
		if s.cfg.OnDisconnect != nil {
			s.cfg.OnDisconnect(err)
		}
		if closing || !s.cfg.Reconnect || final(err) {
			s.finish(err)
			return
		}
		resume := s.Cursors()
		if c = s.redial(); c == nil {
			return
		}
		s.reconnects.Add(1)
		if s.cfg.OnReconnect != nil {
			go s.cfg.OnReconnect(s, resume)
		}
	}
}

// redial reconnects with backoff. It returns nil, having finished the
// socket, when it is closed meanwhile or the server refuses for good.
func (s *Socket) redial() *conn {
	for attempt := 0; ; attempt++ {
		d := s.cfg.ReconnectMin << min(attempt, 16)
		if d > s.cfg.ReconnectMax || d <= 0 {
			d = s.cfg.ReconnectMax
		}
		// Jitter spreads the reconnections of many clients after a node
		// restart.
		d = d/2 + rand.N(d/2+1)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			s.finish(ErrClosed)
			return nil
		}
		c, err := s.connect(s.ctx)
		if err == nil {
			s.mu.Lock()
			if s.closing {
				s.mu.Unlock()
				c.shutdown(ErrClosed)
				s.finish(ErrClosed)
				return nil
			}
			s.cur = c
			s.mu.Unlock()
			return c
		}
		if s.ctx.Err() != nil {
			s.finish(ErrClosed)
			return nil
		}
		if final(err) {
			if s.cfg.OnDisconnect != nil {
				s.cfg.OnDisconnect(err)
			}
			s.finish(err)
			return nil
		}
	}
}

func (s *Socket) finish(err error) {
	s.mu.Lock()
	if s.closing {
		err = ErrClosed
	}
	s.err = err
	s.closing = true
	s.mu.Unlock()
	if s.events != nil {
		close(s.events)
	}
}
