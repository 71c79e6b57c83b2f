package engineio

import (
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// Config tunes a Server. The zero value of a field means its default, which is
// the reference server's where one exists.
type Config struct {
	// PingInterval is the time between server pings (default 25s). The client
	// gives up after PingInterval+PingTimeout without a ping.
	PingInterval time.Duration
	// PingTimeout is how long the server waits for the pong (default 20s).
	PingTimeout time.Duration
	// MaxPayload is the largest polling body and WebSocket message a client
	// may send, in bytes (default 1,000,000). It is announced in the handshake.
	MaxPayload int
	// UpgradeTimeout bounds the polling→WebSocket upgrade (default 10s).
	UpgradeTimeout time.Duration

	// MaxBufferedPackets bounds the packets waiting for a polling GET or for
	// the end of an upgrade (default 1024). A session over it is closed with
	// ReasonSlowConsumer.
	MaxBufferedPackets int
	// MaxWriteBuffer bounds the bytes a WebSocket holds that the kernel would
	// not take yet (default 4 MiB). A session over it is closed with
	// ReasonSlowConsumer.
	MaxWriteBuffer int

	// DisablePolling and DisableWebSocket turn a transport off. With polling
	// off only WebSocket handshakes are accepted; with WebSocket off polling
	// sessions advertise no upgrade.
	DisablePolling   bool
	DisableWebSocket bool

	// AllowOrigin decides whether a request that carries an Origin header
	// from another host may open or use a session, on both transports.
	// Allowed origins get CORS headers on polling. A page of the request's
	// own host is always allowed (the server's own web client), and so are
	// requests without Origin (non-browser clients); nil allows no other.
	AllowOrigin func(origin string) bool

	// Logger receives transport errors worth an operator's attention.
	Logger *slog.Logger
}

const (
	defaultPingInterval       = 25 * time.Second
	defaultPingTimeout        = 20 * time.Second
	defaultMaxPayload         = 1_000_000
	defaultUpgradeTimeout     = 10 * time.Second
	defaultMaxBufferedPackets = 1024
	defaultMaxWriteBuffer     = 4 << 20
)

func (c Config) withDefaults() Config {
	if c.PingInterval <= 0 {
		c.PingInterval = defaultPingInterval
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = defaultPingTimeout
	}
	if c.MaxPayload <= 0 {
		c.MaxPayload = defaultMaxPayload
	}
	if c.UpgradeTimeout <= 0 {
		c.UpgradeTimeout = defaultUpgradeTimeout
	}
	if c.MaxBufferedPackets <= 0 {
		c.MaxBufferedPackets = defaultMaxBufferedPackets
	}
	if c.MaxWriteBuffer <= 0 {
		c.MaxWriteBuffer = defaultMaxWriteBuffer
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// AllowAllOrigins is an AllowOrigin that accepts every origin, for public
// endpoints and the protocol test suites.
func AllowAllOrigins(string) bool { return true }

// originAllowed admits the request's own host, then applies AllowOrigin.
func (c *Config) originAllowed(r *http.Request) (origin string, ok bool) {
	origin = r.Header.Get("Origin")
	if origin == "" {
		return "", true
	}
	if u, err := url.Parse(origin); err == nil && u.Host == r.Host {
		return origin, true
	}
	return origin, c.AllowOrigin != nil && c.AllowOrigin(origin)
}
