package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/parleyhq/parley"
)

// Config is everything a node can be told. Each field has a flag and a
// PARLEY_* environment variable (the flag name upper-cased, '-' as '_');
// a flag on the command line wins over the environment.
type Config struct {
	Addr    string
	DataDir string
	Migrate bool

	Store         string // sqlite or postgres
	PostgresDSN   string
	Bus           string // inmem or redis
	RedisAddrs    string
	RedisCluster  bool
	RedisUsername string
	RedisPassword string

	Retention         time.Duration
	RetentionInterval time.Duration

	ShutdownTimeout time.Duration
	LogLevel        string
	LogFormat       string

	MaxBodyBytes int
	MemberCap    int
	RecallWindow time.Duration

	AllowedOrigins string
	PingInterval   time.Duration
	PingTimeout    time.Duration
	MaxPayload     int
	SocketBuffer   int

	EventRate  float64
	EventBurst int
	SendRate   float64
	SendBurst  int
	LoginRate  float64
	LoginBurst int

	// argon2id cost; defaults are the OWASP minimum.
	Argon2MemoryKiB uint
	Argon2Time      uint
}

// DefaultConfig returns the defaults: a complete server on :8080 keeping
// its data in ./parley-data.
func DefaultConfig() Config {
	return Config{
		Addr:              ":8080",
		DataDir:           "./parley-data",
		Store:             "sqlite",
		Bus:               "inmem",
		Retention:         30 * 24 * time.Hour,
		RetentionInterval: time.Hour,
		ShutdownTimeout:   15 * time.Second,
		LogLevel:          "info",
		LogFormat:         "text",
		MaxBodyBytes:      parley.DefaultMaxBodyBytes,
		MemberCap:         parley.DefaultMemberCap,
		RecallWindow:      time.Hour,
		PingInterval:      25 * time.Second,
		PingTimeout:       20 * time.Second,
		MaxPayload:        1_000_000,
		SocketBuffer:      4 << 20,
		EventRate:         100,
		EventBurst:        300,
		SendRate:          50,
		SendBurst:         200,
		LoginRate:         0.2,
		LoginBurst:        10,
		Argon2MemoryKiB:   19 * 1024,
		Argon2Time:        2,
	}
}

// flagSet declares the flags of a subcommand bound to cfg.
func flagSet(name string, cfg *Config, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "address to listen on (HTTP API, realtime endpoint, web client)")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory for the embedded database and media")
	fs.BoolVar(&cfg.Migrate, "migrate", cfg.Migrate, "apply pending database migrations at start (a new database is always migrated)")
	fs.StringVar(&cfg.Store, "store", cfg.Store, "where messages and users live: sqlite (embedded, in --data-dir) or postgres (shared by every node; needs --postgres-dsn)")
	fs.StringVar(&cfg.PostgresDSN, "postgres-dsn", cfg.PostgresDSN, "PostgreSQL connection string (postgres://user:pass@host:5432/db?sslmode=… or key=value form)")
	fs.StringVar(&cfg.Bus, "bus", cfg.Bus, "how nodes pass events: inmem (one node) or redis (many nodes; needs --redis-addrs)")
	fs.StringVar(&cfg.RedisAddrs, "redis-addrs", cfg.RedisAddrs, "comma-separated Redis host:port addresses (with --redis-cluster: seed nodes of the cluster)")
	fs.BoolVar(&cfg.RedisCluster, "redis-cluster", cfg.RedisCluster, "use Redis Cluster with sharded Pub/Sub (SPUBLISH/SSUBSCRIBE, Redis 7 or later)")
	fs.StringVar(&cfg.RedisUsername, "redis-username", cfg.RedisUsername, "Redis ACL user name")
	fs.StringVar(&cfg.RedisPassword, "redis-password", cfg.RedisPassword, "Redis password")
	fs.DurationVar(&cfg.Retention, "retention", cfg.Retention, "how long messages are kept (0: forever)")
	fs.DurationVar(&cfg.RetentionInterval, "retention-interval", cfg.RetentionInterval, "how often old messages are removed")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "how long a graceful shutdown waits for requests to finish")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "log level: debug, info, warn or error")
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "log format: text or json")
	fs.IntVar(&cfg.MaxBodyBytes, "max-body-bytes", cfg.MaxBodyBytes, "largest message body in bytes")
	fs.IntVar(&cfg.MemberCap, "member-cap", cfg.MemberCap, "most members a group may have")
	fs.DurationVar(&cfg.RecallWindow, "recall-window", cfg.RecallWindow, "how long after sending a message may be recalled")
	fs.StringVar(&cfg.AllowedOrigins, "allowed-origins", cfg.AllowedOrigins, "comma-separated origins (scheme://host[:port]) whose web pages may use the realtime endpoint, or * for any; the server's own origin is always allowed")
	fs.DurationVar(&cfg.PingInterval, "ping-interval", cfg.PingInterval, "time between realtime heartbeats")
	fs.DurationVar(&cfg.PingTimeout, "ping-timeout", cfg.PingTimeout, "how long a realtime client has to answer a heartbeat")
	fs.IntVar(&cfg.MaxPayload, "max-payload", cfg.MaxPayload, "largest realtime packet (WebSocket message or polling body) a client may send, bytes")
	fs.IntVar(&cfg.SocketBuffer, "socket-buffer", cfg.SocketBuffer, "bytes a realtime connection may have waiting to be sent; a client that falls further behind is dropped as a slow consumer and resyncs")
	fs.Float64Var(&cfg.EventRate, "event-rate", cfg.EventRate, "realtime events per second one connection may send (0: no limit)")
	fs.IntVar(&cfg.EventBurst, "event-burst", cfg.EventBurst, "realtime events one connection may send at once before --event-rate applies")
	fs.Float64Var(&cfg.SendRate, "send-rate", cfg.SendRate, "messages per second each user may send on a node, refilled continuously (0: no limit)")
	fs.IntVar(&cfg.SendBurst, "send-burst", cfg.SendBurst, "messages a user may send at once before --send-rate applies")
	fs.Float64Var(&cfg.LoginRate, "login-rate", cfg.LoginRate, "login attempts per second per handle on a node (0: no limit)")
	fs.IntVar(&cfg.LoginBurst, "login-burst", cfg.LoginBurst, "login attempts per handle at once before --login-rate applies")
	fs.UintVar(&cfg.Argon2MemoryKiB, "argon2-memory-kib", cfg.Argon2MemoryKiB, "Argon2id memory cost for new password hashes, KiB (OWASP minimum 19456)")
	fs.UintVar(&cfg.Argon2Time, "argon2-time", cfg.Argon2Time, "Argon2id time cost for new password hashes (OWASP minimum 2)")
	fs.Usage = func() { usage(fs, name) }
	return fs
}

func usage(fs *flag.FlagSet, name string) {
	out := fs.Output()
	fmt.Fprintf(out, "Usage: parley %s [flags]\n\n", name)
	switch name {
	case "serve":
		fmt.Fprintln(out, "Runs the Parley chat server (the default command). With no flags it serves on :8080")
		fmt.Fprintln(out, "and keeps its data in ./parley-data (SQLite, in-process bus): nothing else to install.")
	case "migrate":
		fmt.Fprintln(out, "Applies the database migrations this binary knows, then exits.")
	}
	fmt.Fprintln(out, "\nOther commands: serve, migrate, version.\n\nFlags (each also read from the environment variable shown):")
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	sort.Strings(names)
	for _, n := range names {
		f := fs.Lookup(n)
		fmt.Fprintf(out, "  --%s (%s)\n      %s (default %q)\n", n, envName(n), f.Usage, f.DefValue)
	}
}

func envName(flagName string) string {
	return "PARLEY_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parse applies environment variables, then the command line, to cfg.
func parse(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(envName(f.Name)); v != "" {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", envName(f.Name), v, err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// Validate checks values that flags cannot.
func (c *Config) Validate() error {
	switch {
	case c.MaxBodyBytes < 1 || c.MaxBodyBytes > 16<<20:
		return fmt.Errorf("--max-body-bytes must be 1 to %d", 16<<20)
	case c.MemberCap < 2:
		return fmt.Errorf("--member-cap must be at least 2")
	case c.RecallWindow < 0:
		return fmt.Errorf("--recall-window must not be negative")
	case c.Argon2MemoryKiB < 8 || c.Argon2Time < 1:
		return fmt.Errorf("--argon2-memory-kib must be at least 8 and --argon2-time at least 1")
	case c.PingInterval < time.Second || c.PingTimeout < time.Second:
		return fmt.Errorf("--ping-interval and --ping-timeout must be at least 1s")
	case c.SocketBuffer < 4096:
		return fmt.Errorf("--socket-buffer must be at least 4096")
	case c.MaxPayload < 1024:
		return fmt.Errorf("--max-payload must be at least 1024")
	case c.MaxPayload < c.MaxBodyBytes+1024:
		return fmt.Errorf("--max-payload must exceed --max-body-bytes by at least 1024")
	case c.EventRate < 0 || c.EventBurst < 0 || c.SendRate < 0 || c.SendBurst < 0 || c.LoginRate < 0 || c.LoginBurst < 0:
		return fmt.Errorf("rate limits must not be negative")
	case c.DataDir == "":
		return fmt.Errorf("--data-dir is required")
	}
	switch c.Store {
	case "sqlite":
	case "postgres":
		if c.PostgresDSN == "" {
			return fmt.Errorf("--store postgres needs --postgres-dsn")
		}
	default:
		return fmt.Errorf("--store must be sqlite or postgres")
	}
	switch c.Bus {
	case "inmem":
	case "redis":
		if len(c.redisAddrs()) == 0 {
			return fmt.Errorf("--bus redis needs --redis-addrs")
		}
	default:
		return fmt.Errorf("--bus must be inmem or redis")
	}
	if c.Retention < 0 || (c.Retention > 0 && c.RetentionInterval < time.Second) {
		return fmt.Errorf("--retention must not be negative, and --retention-interval must be at least 1s")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("--log-format must be text or json")
	}
	if _, err := logLevel(c.LogLevel); err != nil {
		return err
	}
	return nil
}

func logLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level must be debug, info, warn or error")
	}
	return l, nil
}

func (c *Config) logger(w io.Writer) *slog.Logger {
	l, _ := logLevel(c.LogLevel)
	opts := &slog.HandlerOptions{Level: l}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func (c *Config) sqlitePath() string { return filepath.Join(c.DataDir, "parley.db") }

func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	return nil
}

// allowOrigin returns the realtime endpoint's Origin check: the listed
// origins (or any, with *) besides the server's own, which the engine
// always accepts.
func (c *Config) allowOrigin() func(string) bool {
	list := strings.Split(c.AllowedOrigins, ",")
	allowed := map[string]bool{}
	for _, o := range list {
		if o = strings.TrimSpace(o); o != "" {
			allowed[strings.TrimSuffix(o, "/")] = true
		}
	}
	if allowed["*"] {
		return func(string) bool { return true }
	}
	return func(origin string) bool { return allowed[origin] }
}

func (c *Config) redisAddrs() []string {
	var out []string
	for _, a := range strings.Split(c.RedisAddrs, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}
