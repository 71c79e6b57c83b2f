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
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/engineio"
	"github.com/parleyhq/parley/internal/workers"
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
	// ConnectTimeout closes a connection that has not authenticated in this
	// time (default 10s). Until then it may hold nothing but its handshake:
	// binary attachments are refused before the namespace is joined.
	ConnectTimeout time.Duration
	// EventRate limits the events one connection may send; zero: no limit.
	EventRate Rate
	// UserEventRate limits the events one user may send over all its
	// connections to this node; zero: no limit. Over it, events are
	// answered too_many.
	UserEventRate Rate
	// MaxSocketsPerUser bounds one user's connections to this node
	// (default 20); MaxSocketsPerAddr bounds the authenticating and
	// connected sockets of one client address (default 200), the address
	// being Engine.TrustedProxies' reading of the handshake. A connect over
	// either is refused with connect_error too_many.
	MaxSocketsPerUser int
	MaxSocketsPerAddr int
	// GapWait is how long a socket holds a message that arrived ahead of
	// its predecessor before fetching the missing ones from the store.
	GapWait time.Duration
	// MaxHeld and MaxHeldBytes bound the messages (and their bytes) one
	// socket holds back while waiting for a gap to fill, for its stream's
	// start, or for sync to finish; over either the socket is dropped
	// (slow consumer) and resyncs on reconnect.
	MaxHeld      int
	MaxHeldBytes int
	// SyncBytes bounds the messages one sync replays, in bytes: the rest
	// waits for the client's next sync (caught_up false), so a replay
	// stays well inside the socket's outbound buffer. Default: half of
	// Engine.MaxWriteBuffer.
	SyncBytes int
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

// clockStart is the origin of mono.
var clockStart = time.Now()

// mono returns t on a monotonic clock, in nanoseconds since the package
// started: a word where a time.Time takes three, for the times every
// connection keeps.
func mono(t time.Time) int64 { return int64(t.Sub(clockStart)) }

// Rate is a token bucket: Burst events at once, refilled at PerSecond.
type Rate struct {
	PerSecond float64
	Burst     int
}

func (c Config) withDefaults() Config {
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.MaxSocketsPerUser <= 0 {
		c.MaxSocketsPerUser = 20
	}
	if c.MaxSocketsPerAddr <= 0 {
		c.MaxSocketsPerAddr = 200
	}
	if c.GapWait <= 0 {
		c.GapWait = 150 * time.Millisecond
	}
	if c.MaxHeld <= 0 {
		c.MaxHeld = 2048
	}
	c.MaxHeld = min(c.MaxHeld, math.MaxInt32) // conn.heldN is an int32
	if c.MaxHeldBytes <= 0 {
		c.MaxHeldBytes = 1 << 20
	}
	if c.SyncBytes <= 0 {
		c.SyncBytes = max(c.Engine.MaxWriteBuffer, 0) / 2
		if c.SyncBytes == 0 {
			c.SyncBytes = 2 << 20
		}
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
	addrs  *addrTable
	stats  Stats

	closed atomic.Bool
	wg     sync.WaitGroup
	// sends runs each send until its ack, on goroutines reused from one
	// send to the next.
	sends *workers.Pool
	// starts reads where streams start, for many connections at once.
	starts starts
	// resyncs counts bus reconnections, so a connection that was starting
	// during one catches up too.
	resyncs atomic.Uint64
}

// Stats are the gateway's running counts, exported as metrics.
type Stats struct {
	Connections   atomic.Int64  // sockets connected now
	Connects      atomic.Uint64 // accepted connects
	Refused       atomic.Uint64 // refused connects (bad or missing token)
	TooMany       atomic.Uint64 // connects refused for a user's or an address's socket cap
	Events        atomic.Uint64 // client events handled
	Emitted       atomic.Uint64 // events emitted to sockets
	GapFills      atomic.Uint64 // holes fetched from the store
	SlowConsumers atomic.Uint64 // sockets dropped for not keeping up
}

// New returns a gateway; mount Handler at /socket.io/.
func New(cfg Config, svc Services, bus parley.Bus) (*Gateway, error) {
	cfg = cfg.withDefaults()
	io, err := socketio.NewServer(socketio.Config{Engine: cfg.Engine, ConnectTimeout: cfg.ConnectTimeout, OnAck: cfg.Acked})
	if err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, svc: svc, bus: bus, io: io, logger: cfg.Logger, sends: workers.New(10 * time.Second)}
	g.users = newUserTable(g)
	g.addrs = newAddrTable(cfg.MaxSocketsPerAddr)
	nsp := io.Of("/")
	nsp.OnConnect = g.onConnect
	nsp.OnDisconnect = g.onDisconnect
	nsp.Admit = g.admitEvent
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
	g.sends.Stop()
	return err
}

// Resync is for after the bus lost events (it reconnected): every
// connected socket is told to run sync, and meanwhile the gateway itself
// replays to each what its streams missed, so a client that never syncs
// misses nothing either. It returns at once and is safe to call from any
// goroutine; the catch-ups run a few at a time.
func (g *Gateway) Resync() {
	g.resyncs.Add(1)
	var conns []*conn
	g.users.each(func(c *conn) {
		c.emitRaw(parley.EventResync, []byte("{}"))
		conns = append(conns, c)
	})
	if g.closed.Load() || len(conns) == 0 {
		return
	}
	work := make(chan *conn)
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer close(work)
		for _, c := range conns {
			if g.closed.Load() {
				return
			}
			work <- c
		}
	}()
	for range min(catchUpWorkers, len(conns)) {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			for c := range work {
				g.catchUp(c)
			}
		}()
	}
}

// catchUpWorkers bounds the catch-ups that run at once after a bus outage.
const catchUpWorkers = 8

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
