// Package loadgen is Parley's end-to-end load generator, the engine behind
// `parley bench`: it measures what DESIGN §6 sets targets for, durable 1:1
// messages end to end (send → commit → ack → delivered to the recipient)
// and their latency at a given rate.
//
// A run sets up user pairs through the HTTP API (each pair: two users, their
// direct conversation and one realtime socket each), syncs every socket,
// then has the senders emit `send` events with unique client_msg_ids, at a
// target rate or as fast as a bounded window of sends in flight allows. It
// times each message from the emit to its ack (the commit) and to the
// peer's `message` event (the delivery), and accounts for every message:
// each acked one must reach the peer exactly once, in seq order. Latency is
// measured from the emit; when the server falls behind a target rate, the
// window holds later sends back, so the rate achieved is reported next to
// the target rather than hidden in the latencies.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/client"
)

// Limits that keep a run bounded in time, memory and open files (the
// per-process limit here is 20,000 and each pair holds two sockets).
const (
	MaxPairs       = 9000
	MaxDuration    = 10 * time.Minute
	MaxMessageCap  = 20_000_000
	defaultMsgCap  = 2_000_000
	maxBodySize    = 60 << 10 // under the server's default 64 KiB
	maxHandleLen   = parley.MaxHandleLen
	pairDigits     = 5
	defaultPrefix  = "bench"
	defaultPasswd  = "parley-bench-password"
	maxInFlightCap = 4096
)

// Config describes a run. Only URL is required.
type Config struct {
	// URL is the server's base URL, such as http://127.0.0.1:8080.
	URL string
	// Pairs is the number of user pairs (default 1).
	Pairs int
	// OneWay makes only the first user of each pair send; by default both
	// do, so every socket sends and receives.
	OneWay bool
	// Rate is the target of messages per second over all senders; 0 sends
	// as fast as InFlight allows.
	Rate float64
	// InFlight bounds the sends awaiting their ack per sender (default 8).
	InFlight int
	// WarmUp is sent but not measured; Duration is the measured time
	// (default 10s, at most MaxDuration).
	WarmUp   time.Duration
	Duration time.Duration
	// MaxMessages stops the run early after that many sends in all
	// (default 2,000,000; at most MaxMessageCap).
	MaxMessages int64
	// BodySize is the size of each message body in bytes (default 64).
	BodySize int
	// HandlePrefix names the users: <prefix><pair number>a and …b
	// (default "bench"). Existing users are reused, with Password.
	HandlePrefix string
	Password     string
	// AckTimeout bounds each send (default 10s); Drain is how long the run
	// waits after the last send for outstanding acks and deliveries
	// (default 10s).
	AckTimeout time.Duration
	Drain      time.Duration
	// SetupConcurrency bounds parallel logins and connects (default 16).
	SetupConcurrency int
	// HTTPClient carries the API calls and the WebSocket handshakes; the
	// default keeps SetupConcurrency connections alive.
	HTTPClient *http.Client
	Logger     *slog.Logger
	// OnWindow, when set, is called with true as the measured window opens
	// (the warm-up has passed) and with false as sending stops, so that a
	// caller can sample what the window costs (CPU time of the processes
	// under load). It is not called with true when the run stops before
	// the warm-up ends.
	OnWindow func(open bool)
}

func (c Config) withDefaults() (Config, error) {
	if c.URL == "" {
		return c, errors.New("loadgen: the server URL is required")
	}
	if c.Pairs == 0 {
		c.Pairs = 1
	}
	if c.InFlight == 0 {
		c.InFlight = 8
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.MaxMessages == 0 {
		c.MaxMessages = defaultMsgCap
	}
	if c.BodySize == 0 {
		c.BodySize = 64
	}
	if c.HandlePrefix == "" {
		c.HandlePrefix = defaultPrefix
	}
	if c.Password == "" {
		c.Password = defaultPasswd
	}
	if c.AckTimeout == 0 {
		c.AckTimeout = 10 * time.Second
	}
	if c.Drain == 0 {
		c.Drain = 10 * time.Second
	}
	if c.SetupConcurrency == 0 {
		c.SetupConcurrency = 16
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Transport: &http.Transport{
			MaxIdleConnsPerHost: c.SetupConcurrency,
			IdleConnTimeout:     30 * time.Second,
		}}
	}
	switch {
	case c.Pairs < 1 || c.Pairs > MaxPairs:
		return c, fmt.Errorf("loadgen: pairs must be 1 to %d", MaxPairs)
	case c.Rate < 0:
		return c, errors.New("loadgen: rate must not be negative")
	case c.InFlight < 1 || c.InFlight > maxInFlightCap:
		return c, fmt.Errorf("loadgen: in-flight must be 1 to %d", maxInFlightCap)
	case c.Duration < 0 || c.WarmUp < 0 || c.Duration+c.WarmUp > MaxDuration:
		return c, fmt.Errorf("loadgen: warm-up plus duration must be at most %s", MaxDuration)
	case c.MaxMessages < 1 || c.MaxMessages > MaxMessageCap:
		return c, fmt.Errorf("loadgen: max messages must be 1 to %d", MaxMessageCap)
	case c.BodySize < 1 || c.BodySize > maxBodySize:
		return c, fmt.Errorf("loadgen: body size must be 1 to %d bytes", maxBodySize)
	case len(c.HandlePrefix)+pairDigits+1 > maxHandleLen || parley.ValidateHandle(c.HandlePrefix+"00000a") != nil:
		return c, fmt.Errorf("loadgen: handle prefix %q does not make valid handles", c.HandlePrefix)
	case c.AckTimeout < 0 || c.Drain < 0 || c.SetupConcurrency < 1:
		return c, errors.New("loadgen: timeouts and setup concurrency must be positive")
	}
	return c, nil
}

// Run sets up the pairs, runs the load for the warm-up and the duration (or
// until MaxMessages sends, or ctx ends), waits for the stragglers, tears
// the sockets and sessions down, and returns the figures. It returns an
// error when the run could not take place (setup failed, ctx ended before
// the load); a run that took place returns its Result even if messages went
// missing: Result.Check says.
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Result{}, err
	}
	r := &run{cfg: cfg, log: cfg.Logger, errs: newErrorCounts()}
	defer cfg.HTTPClient.CloseIdleConnections()
	defer r.teardown()
	setupStart := time.Now()
	if err := r.setup(ctx); err != nil {
		return Result{}, err
	}
	setupTime := time.Since(setupStart)
	r.log.Info("load generator ready", "pairs", cfg.Pairs, "senders", len(r.senders), "setup", setupTime)
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	r.load(ctx)
	r.drain(ctx)
	res := r.result()
	res.SetupSeconds = setupTime.Seconds()
	return res, nil
}

// run is the state of one Run.
type run struct {
	cfg  Config
	log  *slog.Logger
	errs *errorCounts

	pairs   []*pair
	senders []*sender
	sockets []*endpoint

	body        string
	n           counters
	stopSending func()
	start       time.Time // of the load
	warmEnd     time.Duration
	end         time.Duration // when sending stopped, from start

	closeOnce sync.Once
}

// since returns the time since the load started, the clock of every record.
func (r *run) since() time.Duration { return time.Since(r.start) }

// teardown logs every session out, waits for the server to end the
// sockets, then closes them, so a run leaves no devices behind on a server
// that is reused. Logging out first has the server end each socket itself
// (a server disconnect, after which the client does not reconnect), so no
// connection goes away under a socket the server still serves.
func (r *run) teardown() {
	r.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = parallel(ctx, len(r.sockets), r.cfg.SetupConcurrency, func(i int) error {
			e := r.sockets[i]
			if e.api == nil || e.api.Token() == "" {
				return nil
			}
			if err := e.api.Logout(ctx); err != nil {
				r.log.Warn("log out", "user", e.handle, "err", err)
				return nil
			}
			if e.sock != nil {
				select {
				case <-e.sock.Done():
				case <-time.After(5 * time.Second):
				}
			}
			return nil
		})
		var wg sync.WaitGroup
		for _, e := range r.sockets {
			if e.sock != nil {
				wg.Go(func() { e.sock.Close() })
			}
		}
		wg.Wait()
	})
}

// parallel runs fn(0..n-1) with at most limit at once and returns the
// first error; after an error or the end of ctx no new call starts.
func parallel(ctx context.Context, n, limit int, fn func(i int) error) error {
	sem := make(chan struct{}, limit)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			if first == nil {
				first = ctx.Err()
			}
			return first
		}
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}

// bodyOf returns a message body of n bytes: words of five letters
// between single spaces, as text people send is (a server that indexes
// messages for search does the work real text makes it do).
func bodyOf(n int) string {
	b := make([]byte, n)
	letter := 0
	for i := range b {
		if i%6 == 5 {
			b[i] = ' '
			continue
		}
		b[i] = 'a' + byte(letter%26)
		letter++
	}
	return string(b)
}

// codeOf names a failed send for the error table: the server's code, or
// what went wrong on the client's side.
func codeOf(err error) string {
	switch {
	case client.IsServerError(err):
		return parley.ErrorCode(err)
	case errors.Is(err, client.ErrAckTimeout):
		return "ack_timeout"
	case errors.Is(err, client.ErrClosed):
		return "closed"
	case errors.Is(err, client.ErrDisconnected):
		return "disconnected"
	}
	return "client_error"
}
