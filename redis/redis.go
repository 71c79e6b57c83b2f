// Package redis implements Parley's Bus and Presence on Redis, so that
// several stateless nodes can serve one service: an event published on any
// node reaches the subscribers of its topic on every node, and a user is
// online while any node holds one of their connections.
//
// One Config selects the deployment: a single server (Pub/Sub with PUBLISH
// and SUBSCRIBE) or a Redis Cluster (sharded Pub/Sub with SPUBLISH and
// SSUBSCRIBE, Redis 7 or later, so each event touches only the shard that
// owns its topic's slot instead of being broadcast to every node of the
// cluster).
//
// The client is github.com/redis/rueidis: its auto-pipelining puts the
// publishes of many goroutines on one connection without a pipeline API,
// and its dedicated connections with Pub/Sub hooks let one connection per
// Redis node carry any number of channel subscriptions with no goroutine
// per subscription.
package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/redis/rueidis"

	"github.com/parleyhq/parley"
)

// Config says where Redis is and how to use it. The zero value of every
// optional field selects the default documented beside it.
type Config struct {
	// Addrs are host:port addresses: the server, or seed nodes of a cluster.
	Addrs []string
	// Cluster selects Redis Cluster and sharded Pub/Sub.
	Cluster bool
	// Username and Password authenticate, when the server requires it.
	Username string
	Password string
	// Timeout bounds a dial, and how long a connection may go without an
	// answer before it is declared dead, which fails the commands waiting on
	// it. Publish then returns EUNAVAILABLE instead of hanging. Default 1s.
	Timeout time.Duration
	// MaxFlushDelay lets a connection wait this long for more concurrent
	// commands before writing, so that bursts go out in fewer, larger
	// writes. It applies only while several commands are in flight. Default
	// 100µs, the best throughput measured for concurrent publishers; a
	// negative value disables the wait.
	MaxFlushDelay time.Duration
	// Logger receives connection losses and recoveries. Default: discard.
	Logger *slog.Logger

	// OnReconnect (Bus) is called, on the bus's own goroutine, after the bus
	// lost its subscriber connections and got every subscription back:
	// events published meanwhile are lost, so the gateway tells its clients
	// to resync. It must not block.
	OnReconnect func()

	// NodeID (Presence) names this node in presence records. Default: a
	// random id, which is what a restarted node should have.
	NodeID string
	// PresenceTTL (Presence) is how long a node's connections outlive its
	// last heartbeat; a crashed node's users go offline after that. Default
	// 15s. Heartbeats run every third of it.
	PresenceTTL time.Duration
	// Now (Presence) returns the current time; default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() (Config, error) {
	if len(c.Addrs) == 0 {
		return c, errors.New("redis: no address")
	}
	if c.Timeout <= 0 {
		c.Timeout = time.Second
	}
	switch {
	case c.MaxFlushDelay == 0:
		c.MaxFlushDelay = 100 * time.Microsecond
	case c.MaxFlushDelay < 0:
		c.MaxFlushDelay = 0
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.PresenceTTL <= 0 {
		c.PresenceTTL = 15 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

// clientOption returns the rueidis options for addrs; single forces a
// connection to exactly that node, even when it is a cluster member.
func (c Config) clientOption(addrs []string, single bool) rueidis.ClientOption {
	return rueidis.ClientOption{
		InitAddress:       addrs,
		Username:          c.Username,
		Password:          c.Password,
		ForceSingleClient: single,
		ShuffleInit:       true,
		// Client-side caching is for reads; Parley only publishes and runs
		// presence scripts.
		DisableCache:     true,
		Dialer:           netDialer(c.Timeout),
		ConnWriteTimeout: c.Timeout,
		MaxFlushDelay:    c.MaxFlushDelay,
		// One pipelining connection per node instead of rueidis's default
		// of two on this 2-core box: publishes from hundreds of goroutines
		// then go out in fewer, larger writes. Measured with 256-1024
		// concurrent publishers: 430k-580k publishes/s with one connection
		// and a 100µs flush delay, 160k-300k with the defaults.
		PipelineMultiplex: -1,
	}
}

// newClient connects the client that publishes and runs commands: a
// cluster client routing by slot, or a single-server client.
func newClient(c Config) (rueidis.Client, error) {
	client, err := rueidis.NewClient(c.clientOption(c.Addrs, !c.Cluster))
	if err != nil {
		return nil, unavailable("connect to redis", err)
	}
	if c.Cluster && client.Mode() != rueidis.ClientModeCluster {
		client.Close()
		return nil, fmt.Errorf("redis: cluster mode configured, but %v is not a cluster", c.Addrs)
	}
	return client, nil
}

// unavailable wraps a Redis failure as EUNAVAILABLE: the bus and presence
// are a fast path the service can run without for a while, and the same
// call may succeed once Redis is back.
func unavailable(op string, err error) error {
	return parley.WrapError(parley.EUNAVAILABLE, "redis unavailable", fmt.Errorf("%s: %w", op, err))
}

// ctxErr returns ctx's error for a call that failed because ctx ended,
// so a caller's cancellation is not reported as an outage.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return ctx.Err()
	}
	return nil
}

func netDialer(timeout time.Duration) net.Dialer {
	return net.Dialer{Timeout: timeout, KeepAlive: 15 * time.Second}
}
