// Package benchcompare runs the comparison that DESIGN §6 judges Parley's
// throughput by: the same end-to-end load (internal/loadgen) against a
// fresh Parley node on the embedded store and against the reference Node
// Socket.IO relay (internal/jstest/relay.mjs, which stores nothing), in
// one run, alternating the two, with each server's CPU time over the
// measured window. It is the engine behind `parley bench --against relay`.
package benchcompare

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/parleyhq/parley/internal/loadgen"
)

// Config describes a comparison.
type Config struct {
	// ParleyArgv starts a Parley node: the program and its leading
	// arguments (such as [/path/to/parley serve]); the comparison adds the
	// address, a fresh data directory and the flags that lift the abuse
	// limits. ParleyEnv is added to its environment.
	ParleyArgv []string
	ParleyEnv  []string
	// FreshPostgres, when set, adds Parley on PostgreSQL to the servers
	// measured: before each of its runs it creates an empty database and
	// returns its connection string, and drop, called after the run,
	// removes it.
	FreshPostgres func(ctx context.Context) (dsn string, drop func(), err error)
	// Node is the node executable (default "node"); RelayScript the
	// relay's path (default internal/jstest/relay.mjs, from the
	// repository's root), whose socket.io package must be installed
	// (npm ci --prefix internal/jstest).
	Node        string
	RelayScript string

	// Load is the load of every measurement; its URL and OnWindow are
	// set per server. Rate is taken from Rates.
	Load loadgen.Config
	// Rates lists the loads to measure, in messages per second over all
	// senders; 0 is the closed loop (as fast as Load.InFlight allows).
	// Default: the closed loop only.
	Rates []float64
	// Repeats is how many times each server is measured at each rate
	// (default 3); the two alternate, and which goes first alternates too.
	Repeats int

	// StartTimeout bounds a server's start (default 30s).
	StartTimeout time.Duration
	Logger       *slog.Logger
}

// Server names: Parley on its embedded store, Parley on PostgreSQL, the
// relay.
const (
	Parley   = "parley"
	ParleyPG = "parley-pg"
	Relay    = "relay"
)

var (
	parleyReady = regexp.MustCompile(`parley is serving"? addr=(\S+)`)
	relayReady  = regexp.MustCompile(`relay listening on (\S+)`)
)

// Measurement is one run of the load against one fresh server.
type Measurement struct {
	Server string
	Rate   float64
	Result loadgen.Result
	// Window is the measured window's wall time as sampled for CPU; the
	// CPU times cover the same window.
	Window    time.Duration
	ServerCPU time.Duration
	LoadCPU   time.Duration
	// Check is the load generator's accounting verdict (nil: every acked
	// message was delivered once, in order).
	Check error
}

// Report is every measurement of a comparison, in the order they ran.
type Report struct {
	Pairs, InFlight int
	OneWay          bool
	Duration        time.Duration
	Repeats         int
	Rates           []float64
	// Servers are those measured, Relay last.
	Servers      []string
	Measurements []Measurement
}

// Run measures each server Repeats times at each rate, each time on a
// freshly started process that it kills afterwards, and returns the
// report. It stops at the first measurement that could not take place
// (a server did not start, the load's setup failed, ctx ended) and
// returns what was measured with the error; a run whose accounting failed
// is recorded (Measurement.Check) and the comparison goes on.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if len(cfg.ParleyArgv) == 0 {
		return nil, errors.New("benchcompare: the parley command is required")
	}
	if cfg.Node == "" {
		cfg.Node = "node"
	}
	if cfg.RelayScript == "" {
		cfg.RelayScript = "internal/jstest/relay.mjs"
	}
	if len(cfg.Rates) == 0 {
		cfg.Rates = []float64{0}
	}
	if cfg.Repeats == 0 {
		cfg.Repeats = 3
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Repeats < 1 {
		return nil, errors.New("benchcompare: repeats must be at least 1")
	}
	for _, r := range cfg.Rates {
		if r < 0 {
			return nil, errors.New("benchcompare: rates must not be negative")
		}
	}
	if _, err := os.Stat(cfg.RelayScript); err != nil {
		return nil, fmt.Errorf("benchcompare: the relay script: %w (run from the repository's root, or name it)", err)
	}
	rep := &Report{
		Pairs: cfg.Load.Pairs, InFlight: cfg.Load.InFlight, OneWay: cfg.Load.OneWay,
		Duration: cfg.Load.Duration, Repeats: cfg.Repeats, Rates: cfg.Rates,
	}
	servers := []string{Parley, Relay}
	if cfg.FreshPostgres != nil {
		servers = []string{Parley, ParleyPG, Relay}
	}
	rep.Servers = servers
	for i := range cfg.Repeats {
		for _, rate := range cfg.Rates {
			// Each repeat starts with the next server: with two, they
			// alternate which goes first.
			order := append(slices.Clone(servers[i%len(servers):]), servers[:i%len(servers)]...)
			for _, server := range order {
				m, err := measure(ctx, cfg, server, rate)
				if err != nil {
					return rep, fmt.Errorf("benchcompare: %s at %s, run %d: %w", server, rateName(rate), i+1, err)
				}
				cfg.Logger.Info("measured", "server", server, "rate", rateName(rate), "run", i+1,
					"msgs_per_s", int(m.Result.DeliveryRate), "server_cores", fmt.Sprintf("%.2f", m.cores(m.ServerCPU)))
				rep.Measurements = append(rep.Measurements, m)
			}
		}
	}
	return rep, nil
}

// measure starts a fresh server, runs the load against it and kills it.
func measure(ctx context.Context, cfg Config, server string, rate float64) (Measurement, error) {
	m := Measurement{Server: server, Rate: rate}
	var (
		p   *process
		err error
	)
	switch server {
	case Parley, ParleyPG:
		dir, derr := os.MkdirTemp("", "parley-bench-*")
		if derr != nil {
			return m, derr
		}
		defer os.RemoveAll(dir)
		store := []string{"--store", "sqlite"}
		if server == ParleyPG {
			dsn, drop, derr := cfg.FreshPostgres(ctx)
			if derr != nil {
				return m, fmt.Errorf("create a database: %w", derr)
			}
			// Deferred before the process's kill, so it runs after it.
			defer drop()
			store = []string{"--store", "postgres", "--postgres-dsn", dsn}
		}
		argv := append(append(append([]string(nil), cfg.ParleyArgv...),
			"--addr", "127.0.0.1:0", "--data-dir", dir, "--bus", "inmem"), store...)
		argv = append(argv,
			// One address carries the whole load: no abuse limit applies.
			"--send-rate", "0", "--event-rate", "0", "--user-event-rate", "0",
			"--login-rate", "0", "--register-rate", "0", "--login-failures", "0",
			"--max-sockets-per-address", "1000000",
			// Password hashing is setup, not the measured load.
			"--argon2-memory-kib", "64", "--argon2-time", "1")
		p, err = startProcess(ctx, server, argv, cfg.ParleyEnv, parleyReady, cfg.StartTimeout)
	case Relay:
		p, err = startProcess(ctx, server, []string{cfg.Node, cfg.RelayScript, "0"}, nil, relayReady, cfg.StartTimeout)
	}
	if err != nil {
		return m, err
	}
	defer p.kill()

	pid := p.cmd.Process.Pid
	var (
		mu                     sync.Mutex
		t0                     time.Time
		srv0, load0, srv, load time.Duration
		opened                 bool
		sampleErr              error
	)
	lc := cfg.Load
	lc.URL, lc.Rate = p.url, rate
	lc.OnWindow = func(open bool) {
		now := time.Now()
		s, err1 := cpuTime(pid)
		l, err2 := cpuTime(0)
		mu.Lock()
		defer mu.Unlock()
		if err := errors.Join(err1, err2); err != nil {
			sampleErr = err
			return
		}
		if open {
			t0, srv0, load0, opened = now, s, l, true
		} else if opened {
			m.Window, srv, load = now.Sub(t0), s-srv0, l-load0
		}
	}
	res, err := loadgen.Run(ctx, lc)
	if err != nil {
		if p.exited() {
			err = fmt.Errorf("%w; the server exited: %s", err, p.lastOutput())
		}
		return m, err
	}
	if err := ctx.Err(); err != nil {
		// Interrupted during the load: the figures are partial.
		return m, err
	}
	mu.Lock()
	defer mu.Unlock()
	if sampleErr != nil {
		return m, sampleErr
	}
	if m.Window <= 0 {
		return m, errors.New("the load stopped before its measured window")
	}
	m.Result, m.ServerCPU, m.LoadCPU, m.Check = res, srv, load, res.Check()
	return m, nil
}

// cores is d spread over the measured window.
func (m Measurement) cores(d time.Duration) float64 {
	if m.Window <= 0 {
		return 0
	}
	return d.Seconds() / m.Window.Seconds()
}

// microsPerMessage is the server's CPU time per delivered message.
func (m Measurement) microsPerMessage() float64 {
	if m.Result.Delivered == 0 {
		return 0
	}
	return float64(m.ServerCPU.Microseconds()) / float64(m.Result.Delivered)
}

func rateName(rate float64) string {
	if rate == 0 {
		return "closed loop"
	}
	return fmt.Sprintf("%.0f msgs/s", rate)
}
