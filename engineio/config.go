package engineio

import (
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
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
	// the end of an upgrade (default 1024), whatever their bytes. A session
	// over it is closed with ReasonSlowConsumer.
	MaxBufferedPackets int
	// MaxWriteBuffer bounds the outbound bytes one session holds: what a
	// WebSocket's kernel buffer would not take yet, or what waits for a
	// polling GET or for the end of an upgrade (default 4 MiB; one packet
	// into an empty queue is always taken). A session over it is closed with
	// ReasonSlowConsumer.
	MaxWriteBuffer int
	// MaxNodeBuffer bounds the outbound bytes all sessions of the server
	// hold together (default 256 MiB). Over it, the sessions holding the
	// most are closed with ReasonSlowConsumer until less than seven eighths
	// of it remain. Server.QueuedBytes reports the count.
	MaxNodeBuffer int
	// MaxInputBuffer bounds the bytes of inbound WebSocket messages received
	// and not yet handled, the one being handled included (default 4 MiB;
	// a single message up to MaxPayload is always taken). A client that
	// sends faster than its Handler returns is closed with
	// ReasonInputOverflow rather than queued without end. Polling needs no
	// such bound: a session serves one POST at a time (a second concurrent
	// one is a protocol error) and hands its packets to the Handler before
	// answering, so at most one body of MaxPayload waits.
	MaxInputBuffer int

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

	// TrustedProxies are the peers whose X-Forwarded-For is believed when
	// Session.RemoteAddr names the client: from a trusted peer, the address
	// is the right-most X-Forwarded-For entry that is not itself a trusted
	// proxy. From any other peer the header is ignored.
	TrustedProxies []netip.Prefix

	// Logger receives transport errors worth an operator's attention.
	Logger *slog.Logger

	// SIDPrefix starts every session id this server hands out, so a load
	// balancer can send a session's later requests to the server that holds
	// it by looking at the sid query parameter alone, without a cookie
	// (clients outside browsers keep none). It is at most 32 characters of
	// [A-Za-z0-9._-]; empty means none.
	SIDPrefix string
}

const (
	defaultPingInterval       = 25 * time.Second
	defaultPingTimeout        = 20 * time.Second
	defaultMaxPayload         = 1_000_000
	defaultUpgradeTimeout     = 10 * time.Second
	defaultMaxBufferedPackets = 1024
	defaultMaxWriteBuffer     = 4 << 20
	defaultMaxInputBuffer     = 4 << 20
	defaultMaxNodeBuffer      = 256 << 20
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
	if c.MaxNodeBuffer <= 0 {
		c.MaxNodeBuffer = defaultMaxNodeBuffer
	}
	if c.MaxInputBuffer <= 0 {
		c.MaxInputBuffer = defaultMaxInputBuffer
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

// clientAddr is the address of the client that made r: its peer, or for a
// trusted proxy the client the proxy names in X-Forwarded-For.
func (c *Config) clientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	addr := ap.Addr().Unmap()
	if !c.trusted(addr) {
		return addr
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			// A hop a trusted proxy wrote is never garbage; what lies
			// left of one cannot be believed.
			return addr
		}
		addr = hop.Unmap()
		if !c.trusted(addr) {
			return addr
		}
	}
	return addr
}

func (c *Config) trusted(a netip.Addr) bool {
	for _, p := range c.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
