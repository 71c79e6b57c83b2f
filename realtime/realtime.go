// Package realtime binds Parley's realtime contract (DESIGN §3) to a
// Socket.IO server: token authentication on connect, the client events
// (send, delivered, read, recall, typing, sync, conversation:create) and
// their acks, and delivery of bus events to the connected devices, each
// socket's message stream kept in seq order without gaps or duplicates.
package realtime

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/engineio"
	"github.com/parleyhq/parley/socketio"
)

// Services are the app services the gateway calls.
type Services struct {
	Accounts      parley.AccountService
	Conversations parley.ConversationService
	Messages      parley.MessageService
	Connections   parley.ConnectionService
}

// Config tunes the gateway.
type Config struct {
	// Engine configures Engine.IO: heartbeats, payload limit, queues, origins.
	Engine engineio.Config
	// EventRate limits the events one connection may send; zero: no limit.
	EventRate Rate
	// GapWait is how long a socket holds a message that arrived ahead of
	// its predecessor before fetching the missing ones from the store.
	GapWait time.Duration
	// MaxHeld bounds the messages one socket holds back while waiting for a
	// gap to fill or for sync to finish; over it the socket is dropped
	// (slow consumer) and resyncs on reconnect.
	MaxHeld int
	// CallTimeout bounds one event's call into the app.
	CallTimeout time.Duration
	Logger      *slog.Logger

	// Acked, when set, hears every answered client event: its name and the
	// time from its arrival to its ack (send latency, for metrics).
	Acked func(event string, elapsed time.Duration)
	// Delivered, when set, is called once per message event handed to a
	// socket, with the time since the message's created_at: the moment the
	// node that stored it stamped it, just before its commit.
	Delivered func(elapsed time.Duration)
}

// Rate is a token bucket: Burst events at once, refilled at PerSecond.
type Rate struct {
	PerSecond float64
	Burst     int
}

func (c Config) withDefaults() Config {
	if c.GapWait <= 0 {
		c.GapWait = 150 * time.Millisecond
	}
	if c.MaxHeld <= 0 {
		c.MaxHeld = 2048
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Gateway is the realtime endpoint of one node.
type Gateway struct {
	cfg    Config
	svc    Services
	bus    parley.Bus
	io     *socketio.Server
	logger *slog.Logger
	users  *userTable
	stats  Stats

	closed atomic.Bool
	wg     sync.WaitGroup
}

// Stats are the gateway's running counts, exported as metrics.
type Stats struct {
	Connections   atomic.Int64  // sockets connected now
	Connects      atomic.Uint64 // accepted connects
	Refused       atomic.Uint64 // refused connects (bad or missing token)
	Events        atomic.Uint64 // client events handled
	Emitted       atomic.Uint64 // events emitted to sockets
	GapFills      atomic.Uint64 // holes fetched from the store
	SlowConsumers atomic.Uint64 // sockets dropped for not keeping up
}

// New returns a gateway; mount Handler at /socket.io/.
func New(cfg Config, svc Services, bus parley.Bus) (*Gateway, error) {
	cfg = cfg.withDefaults()
	io, err := socketio.NewServer(socketio.Config{Engine: cfg.Engine, OnAck: cfg.Acked})
	if err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, svc: svc, bus: bus, io: io, logger: cfg.Logger}
	g.users = newUserTable(g)
	nsp := io.Of("/")
	nsp.OnConnect = g.onConnect
	nsp.OnDisconnect = g.onDisconnect
	g.routes(nsp)
	return g, nil
}

// Handler serves the Socket.IO endpoint.
func (g *Gateway) Handler() http.Handler { return g.io }

// Stats returns the gateway's counts.
func (g *Gateway) Stats() *Stats { return &g.stats }

// observeDelivery reports a message written to a socket to
// Config.Delivered; stamped is the message's created_at (createdAt reads
// it from the event's JSON), zero when unknown.
func (g *Gateway) observeDelivery(stamped time.Time) {
	if d := g.cfg.Delivered; d != nil && !stamped.IsZero() {
		d(time.Since(stamped))
	}
}

// Engine returns the Engine.IO server underneath, for metrics.
func (g *Gateway) Engine() *engineio.Server { return g.io.Engine() }

// Close disconnects every socket (they reconnect, possibly to another node)
// and waits for the gateway's goroutines.
func (g *Gateway) Close() error {
	if g.closed.Swap(true) {
		return nil
	}
	err := g.io.Close()
	g.users.closeAll()
	g.wg.Wait()
	return err
}

// Resync tells every connected socket to run sync: events may have been
// lost (the bus reconnected). It is safe to call from any goroutine.
func (g *Gateway) Resync() {
	g.users.each(func(c *conn) { c.emitRaw(parley.EventResync, []byte("{}")) })
}

// ackBody is the shape of every ack: {ok: true, ...} or {ok: false, error}.
type ackError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func errorAck(err error) json.RawMessage {
	b, _ := json.Marshal(struct {
		OK    bool     `json:"ok"`
		Error ackError `json:"error"`
	}{false, ackError{parley.ErrorCode(err), parley.ErrorMessage(err)}})
	return b
}

var okAck = json.RawMessage(`{"ok":true}`)

func (g *Gateway) callContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), g.cfg.CallTimeout)
}
