package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/httpapi"
	"github.com/parleyhq/parley/push"
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
	EditWindow   time.Duration

	AllowedOrigins string
	PingInterval   time.Duration
	PingTimeout    time.Duration
	MaxPayload     int
	SocketBuffer   int
	SocketInput    int
	NodeBuffer     int
	ConnectTimeout time.Duration

	EventRate  float64
	EventBurst int

	UserEventRate     float64
	UserEventBurst    int
	MaxSocketsPerUser int
	MaxSocketsPerAddr int
	SendRate          float64
	SendBurst         int
	LoginRate         float64
	LoginBurst        int

	// argon2id cost; defaults are the OWASP minimum.
	Argon2MemoryKiB uint
	Argon2Time      uint

	// Media: kept on disk under DataDir/media, or in an S3-compatible
	// bucket when S3Endpoint is set.
	MaxUploadBytes int64
	MediaGrace     time.Duration
	S3Endpoint     string
	S3Bucket       string
	S3Region       string
	S3AccessKey    string
	S3SecretKey    string
	S3PathStyle    bool
	S3Prefix       string

	// Push notifications: each channel is on when it is configured.
	PushDelay             time.Duration
	WebPushSubject        string
	WebPushKeyFile        string
	WebPushHosts          string
	APNsKeyFile           string
	APNsKeyID             string
	APNsTeamID            string
	APNsTopic             string
	APNsEnv               string
	APNsURL               string
	FCMCredentialsFile    string
	FCMURL                string
	PushWebhookURL        string
	PushWebhookSecretFile string

	// Accounts and sessions.
	Registration         string // open, invite or closed
	SessionIdleTimeout   time.Duration
	SessionMaxAge        time.Duration
	SessionCheckInterval time.Duration
	// Ops holds the production settings: node id, admin port, credentials.
	Ops OpsConfig
	// Abuse limits: what one client, address or user can make a node hold.
	TrustedProxies    string
	Argon2Concurrency int
	RegisterRate      float64
	RegisterBurst     int
	LoginFailures     int
	LoginBackoffMax   time.Duration
	BodyGrace         time.Duration
	MinBodyRate       int64
	UploadQuota       int64
	MinFreeDisk       int64
	TypingInterval    time.Duration
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
		EditWindow:        15 * time.Minute,
		PingInterval:      25 * time.Second,
		PingTimeout:       20 * time.Second,
		MaxPayload:        1_000_000,
		SocketBuffer:      4 << 20,
		SocketInput:       4 << 20,
		NodeBuffer:        256 << 20,
		ConnectTimeout:    10 * time.Second,
		EventRate:         100,
		EventBurst:        300,
		UserEventRate:     200,
		UserEventBurst:    600,
		MaxSocketsPerUser: 20,
		MaxSocketsPerAddr: 200,
		SendRate:          50,
		SendBurst:         200,
		LoginRate:         1,
		LoginBurst:        30,
		Argon2MemoryKiB:   19 * 1024,
		Argon2Time:        2,
		MaxUploadBytes:    parley.DefaultMaxUploadBytes,
		MediaGrace:        24 * time.Hour,
		S3Region:          "us-east-1",
		PushDelay:         3 * time.Second,
		APNsEnv:           "production",

		Registration:         parley.RegistrationOpen,
		SessionIdleTimeout:   30 * 24 * time.Hour,
		SessionCheckInterval: 300 * time.Millisecond,
		Ops:                  OpsConfig{IdleMemoryRelease: 2 * time.Second},
		RegisterRate:         0.05,
		RegisterBurst:        20,
		LoginFailures:        5,
		LoginBackoffMax:      15 * time.Minute,
		BodyGrace:            20 * time.Second,
		MinBodyRate:          8 << 10,
		UploadQuota:          1 << 30,
		MinFreeDisk:          1 << 30,
		TypingInterval:       2500 * time.Millisecond,
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
	fs.DurationVar(&cfg.EditWindow, "edit-window", cfg.EditWindow, "how long after sending a message may be edited")
	fs.StringVar(&cfg.AllowedOrigins, "allowed-origins", cfg.AllowedOrigins, "comma-separated origins (scheme://host[:port]) whose web pages may use the realtime endpoint, or * for any; the server's own origin is always allowed")
	fs.DurationVar(&cfg.PingInterval, "ping-interval", cfg.PingInterval, "time between realtime heartbeats")
	fs.DurationVar(&cfg.PingTimeout, "ping-timeout", cfg.PingTimeout, "how long a realtime client has to answer a heartbeat")
	fs.IntVar(&cfg.MaxPayload, "max-payload", cfg.MaxPayload, "largest realtime packet (WebSocket message or polling body) a client may send, bytes")
	fs.IntVar(&cfg.SocketBuffer, "socket-buffer", cfg.SocketBuffer, "bytes a realtime connection may have waiting to be sent; a client that falls further behind is dropped as a slow consumer and resyncs")
	fs.IntVar(&cfg.NodeBuffer, "node-buffer", cfg.NodeBuffer, "bytes all realtime connections of this node may have waiting to be sent together; over it the connections holding the most are dropped as slow consumers")
	fs.IntVar(&cfg.SocketInput, "socket-input-buffer", cfg.SocketInput, "bytes of realtime messages a WebSocket connection may have waiting to be handled; a client that sends faster is disconnected (input overflow)")
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", cfg.ConnectTimeout, "how long a realtime connection may stay unauthenticated before it is closed")
	fs.Float64Var(&cfg.EventRate, "event-rate", cfg.EventRate, "realtime events per second one connection may send (0: no limit)")
	fs.IntVar(&cfg.EventBurst, "event-burst", cfg.EventBurst, "realtime events one connection may send at once before --event-rate applies")
	fs.Float64Var(&cfg.UserEventRate, "user-event-rate", cfg.UserEventRate, "realtime events per second one user may send over all its connections to a node; more are answered too_many (0: no limit)")
	fs.IntVar(&cfg.UserEventBurst, "user-event-burst", cfg.UserEventBurst, "realtime events one user may send at once before --user-event-rate applies")
	fs.IntVar(&cfg.MaxSocketsPerUser, "max-sockets-per-user", cfg.MaxSocketsPerUser, "realtime connections one user may hold on a node; more are refused with connect_error too_many")
	fs.IntVar(&cfg.MaxSocketsPerAddr, "max-sockets-per-address", cfg.MaxSocketsPerAddr, "realtime connections one client address may hold on a node; more are refused with connect_error too_many")
	fs.Float64Var(&cfg.SendRate, "send-rate", cfg.SendRate, "messages per second each user may send on a node, refilled continuously (0: no limit)")
	fs.IntVar(&cfg.SendBurst, "send-burst", cfg.SendBurst, "messages a user may send at once before --send-rate applies")
	fs.Float64Var(&cfg.LoginRate, "login-rate", cfg.LoginRate, "login attempts per second per client address on a node, whatever handles they name (0: no limit); over it, 429 too_many")
	fs.IntVar(&cfg.LoginBurst, "login-burst", cfg.LoginBurst, "login attempts per client address at once before --login-rate applies")
	fs.UintVar(&cfg.Argon2MemoryKiB, "argon2-memory-kib", cfg.Argon2MemoryKiB, "Argon2id memory cost for new password hashes, KiB (OWASP minimum 19456)")
	fs.UintVar(&cfg.Argon2Time, "argon2-time", cfg.Argon2Time, "Argon2id time cost for new password hashes (OWASP minimum 2)")
	fs.Int64Var(&cfg.MaxUploadBytes, "max-upload-bytes", cfg.MaxUploadBytes, "largest media upload in bytes; a larger one is refused with 413 too_large")
	fs.DurationVar(&cfg.MediaGrace, "media-grace", cfg.MediaGrace, "how long an upload no message carries is kept (time for its uploader to send it); media of recalled and expired messages goes after it too")
	fs.StringVar(&cfg.S3Endpoint, "s3-endpoint", cfg.S3Endpoint, "keep media in an S3-compatible bucket at this base URL (https://s3.eu-west-1.amazonaws.com, http://127.0.0.1:9000) instead of on disk in --data-dir")
	fs.StringVar(&cfg.S3Bucket, "s3-bucket", cfg.S3Bucket, "bucket for media (it must exist)")
	fs.StringVar(&cfg.S3Region, "s3-region", cfg.S3Region, "region requests to the S3 service are signed for")
	fs.StringVar(&cfg.S3AccessKey, "s3-access-key", cfg.S3AccessKey, "S3 access key id")
	fs.StringVar(&cfg.S3SecretKey, "s3-secret-key", cfg.S3SecretKey, "S3 secret access key (prefer the environment variable)")
	fs.BoolVar(&cfg.S3PathStyle, "s3-path-style", cfg.S3PathStyle, "address objects as endpoint/bucket/key (MinIO, Ceph and most self-hosted services) rather than bucket.host/key")
	fs.StringVar(&cfg.S3Prefix, "s3-prefix", cfg.S3Prefix, "folder inside the bucket for media (parley/media)")
	fs.DurationVar(&cfg.PushDelay, "push-delay", cfg.PushDelay, "how long a device has to acknowledge a message (delivered) before it gets a push notification")
	fs.StringVar(&cfg.WebPushSubject, "webpush-subject", cfg.WebPushSubject, "turns Web Push on: the contact push services see in every push, a mailto: or https: URL")
	fs.StringVar(&cfg.WebPushKeyFile, "webpush-key-file", cfg.WebPushKeyFile, "the VAPID private key (PEM, or base64url as web-push tools print it); created on first start if missing; empty means <data-dir>/"+push.DefaultVAPIDKeyFile+"; every node must use the same key")
	fs.StringVar(&cfg.WebPushHosts, "webpush-hosts", cfg.WebPushHosts, "comma-separated push service hosts that Web Push subscriptions may name besides the major browsers' (a self-hosted autopush)")
	fs.StringVar(&cfg.APNsKeyFile, "apns-key-file", cfg.APNsKeyFile, "turns APNs on: the .p8 token signing key from the Apple Developer account")
	fs.StringVar(&cfg.APNsKeyID, "apns-key-id", cfg.APNsKeyID, "the 10-character id of the APNs signing key")
	fs.StringVar(&cfg.APNsTeamID, "apns-team-id", cfg.APNsTeamID, "the Apple Developer team id")
	fs.StringVar(&cfg.APNsTopic, "apns-topic", cfg.APNsTopic, "the iOS app's bundle id")
	fs.StringVar(&cfg.APNsEnv, "apns-env", cfg.APNsEnv, "APNs servers: production or sandbox (development builds)")
	fs.StringVar(&cfg.APNsURL, "apns-url", cfg.APNsURL, "APNs base URL, overriding --apns-env (a relay)")
	fs.StringVar(&cfg.FCMCredentialsFile, "fcm-credentials-file", cfg.FCMCredentialsFile, "turns FCM on: the Firebase project's service-account JSON key file")
	fs.StringVar(&cfg.FCMURL, "fcm-url", cfg.FCMURL, "FCM HTTP v1 base URL; empty means https://fcm.googleapis.com")
	fs.StringVar(&cfg.PushWebhookURL, "push-webhook-url", cfg.PushWebhookURL, "turns the webhook channel on: the custom gateway's URL, which gets signed JSON POSTs")
	fs.StringVar(&cfg.PushWebhookSecretFile, "push-webhook-secret-file", cfg.PushWebhookSecretFile, "file holding the webhook's shared HMAC secret (at least 32 bytes)")
	fs.StringVar(&cfg.Registration, "registration", cfg.Registration, "who may sign up: open (anyone), invite (with an invite code from `parley invite create`) or closed (only `parley user create`)")
	fs.DurationVar(&cfg.SessionIdleTimeout, "session-idle-timeout", cfg.SessionIdleTimeout, "a session unused this long ends (0: never); a connected socket counts as use")
	fs.DurationVar(&cfg.SessionMaxAge, "session-max-age", cfg.SessionMaxAge, "a session this old ends however much it is used (0: never)")
	fs.DurationVar(&cfg.SessionCheckInterval, "session-check-interval", cfg.SessionCheckInterval, "how often each node reads the sessions that ended (revoked, expired, account disabled) and closes their sockets")
	opsFlags(fs, &cfg.Ops)
	abuseFlags(fs, cfg)
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
	fmt.Fprintln(out, "\nOther commands: serve, migrate, bench, user, sessions, invite (run `parley user help`), version.\n\nFlags (each also read from the environment variable shown):")
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
	case c.EditWindow < 0:
		return fmt.Errorf("--edit-window must not be negative")
	case c.Argon2MemoryKiB < 8 || c.Argon2Time < 1:
		return fmt.Errorf("--argon2-memory-kib must be at least 8 and --argon2-time at least 1")
	case c.PingInterval < time.Second || c.PingTimeout < time.Second:
		return fmt.Errorf("--ping-interval and --ping-timeout must be at least 1s")
	case c.ConnectTimeout < time.Second:
		return fmt.Errorf("--connect-timeout must be at least 1s")
	case c.SocketBuffer < 4096:
		return fmt.Errorf("--socket-buffer must be at least 4096")
	case c.NodeBuffer < c.SocketBuffer:
		return fmt.Errorf("--node-buffer must be at least --socket-buffer")
	case c.SocketInput < c.MaxPayload:
		return fmt.Errorf("--socket-input-buffer must be at least --max-payload")
	case c.MaxPayload < 1024:
		return fmt.Errorf("--max-payload must be at least 1024")
	case c.MaxPayload < c.MaxBodyBytes+1024:
		return fmt.Errorf("--max-payload must exceed --max-body-bytes by at least 1024")
	case c.MaxSocketsPerUser < 1 || c.MaxSocketsPerAddr < 1:
		return fmt.Errorf("--max-sockets-per-user and --max-sockets-per-address must be at least 1")
	case c.UserEventRate < 0 || c.UserEventBurst < 0:
		return fmt.Errorf("rate limits must not be negative")
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
	if err := c.validateMedia(); err != nil {
		return err
	}
	if err := c.validateSessions(); err != nil {
		return err
	}
	if err := c.validatePush(); err != nil {
		return err
	}
	if err := c.Ops.validate(); err != nil {
		return err
	}
	if err := c.validateAbuse(); err != nil {
		return err
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

func (c *Config) validateMedia() error {
	switch {
	case c.MaxUploadBytes < 1:
		return fmt.Errorf("--max-upload-bytes must be at least 1")
	case c.MediaGrace < time.Minute:
		return fmt.Errorf("--media-grace must be at least 1m")
	}
	if c.S3Endpoint == "" {
		return nil
	}
	if c.S3Bucket == "" || (c.S3AccessKey == "") != (c.S3SecretKey == "") {
		return fmt.Errorf("--s3-endpoint needs --s3-bucket, and --s3-access-key with --s3-secret-key (or neither: the AWS environment variables or instance role)")
	}
	return nil
}

func (c *Config) validatePush() error {
	if c.PushDelay < 10*time.Millisecond || c.PushDelay > time.Hour {
		return fmt.Errorf("--push-delay must be 10ms to 1h")
	}
	apns := []string{c.APNsKeyFile, c.APNsKeyID, c.APNsTeamID, c.APNsTopic}
	if slices.ContainsFunc(apns, func(s string) bool { return s != "" }) && slices.Contains(apns, "") {
		return fmt.Errorf("APNs needs --apns-key-file, --apns-key-id, --apns-team-id and --apns-topic together")
	}
	if c.APNsEnv != "production" && c.APNsEnv != "sandbox" {
		return fmt.Errorf("--apns-env must be production or sandbox")
	}
	if (c.PushWebhookURL == "") != (c.PushWebhookSecretFile == "") {
		return fmt.Errorf("--push-webhook-url and --push-webhook-secret-file go together")
	}
	if c.WebPushSubject != "" && !strings.HasPrefix(c.WebPushSubject, "mailto:") && !strings.HasPrefix(c.WebPushSubject, "https://") {
		return fmt.Errorf("--webpush-subject must be a mailto: or https: URL")
	}
	return nil
}

// vapidKeyFile returns where the Web Push key is kept.
func (c *Config) vapidKeyFile() string {
	if c.WebPushKeyFile != "" {
		return c.WebPushKeyFile
	}
	return filepath.Join(c.DataDir, push.DefaultVAPIDKeyFile)
}

func (c *Config) mediaDir() string  { return filepath.Join(c.DataDir, "media") }
func (c *Config) uploadDir() string { return filepath.Join(c.DataDir, "uploads") }

// abuseFlags declares the limits that keep one client, address or user
// from exhausting a node.
func abuseFlags(fs *flag.FlagSet, cfg *Config) {
	fs.StringVar(&cfg.TrustedProxies, "trusted-proxies", cfg.TrustedProxies, "comma-separated CIDR prefixes of proxies (HAProxy, a load balancer) whose X-Forwarded-For is believed, so limits per client address count the client behind them; empty trusts nobody")
	fs.IntVar(&cfg.Argon2Concurrency, "argon2-concurrency", cfg.Argon2Concurrency, "password hashes computed at once (each holds --argon2-memory-kib); a login or sign-up that finds them all busy for 1s gets 503 unavailable with Retry-After; 0 means max(2, number of CPUs), fewer if they would hold over 256 MiB")
	fs.Float64Var(&cfg.RegisterRate, "register-rate", cfg.RegisterRate, "sign-ups (POST /v1/users) per second per client address on a node (0: no limit); over it, 429 too_many")
	fs.IntVar(&cfg.RegisterBurst, "register-burst", cfg.RegisterBurst, "sign-ups per client address at once before --register-rate applies")
	fs.IntVar(&cfg.LoginFailures, "login-failures", cfg.LoginFailures, "failed logins in a row one client address may make for one handle before each further attempt waits 1s, doubling up to --login-backoff-max (429 too_many with Retry-After); a success starts over (0: no back-off)")
	fs.DurationVar(&cfg.LoginBackoffMax, "login-backoff-max", cfg.LoginBackoffMax, "longest wait between failed logins for one handle from one client address")
	fs.Int64Var(&cfg.UploadQuota, "upload-quota", cfg.UploadQuota, "bytes each user may upload per day on a node, refilled continuously (0: no quota); over it, 429 too_many with Retry-After")
	fs.Int64Var(&cfg.MinFreeDisk, "min-free-disk", cfg.MinFreeDisk, "free bytes to keep on the file system of --data-dir: below this plus --max-upload-bytes, uploads are refused (503 unavailable) so messages keep being stored (0: no floor)")
	fs.DurationVar(&cfg.TypingInterval, "typing-interval", cfg.TypingInterval, "at most one typing event per user and conversation is passed on per interval; the rest are accepted and dropped (0: pass every one)")
	fs.DurationVar(&cfg.BodyGrace, "body-grace", cfg.BodyGrace, "how long an HTTP API request body may take before --min-body-rate applies")
	fs.Int64Var(&cfg.MinBodyRate, "min-body-rate", cfg.MinBodyRate, "bytes per second an HTTP API request body must average after --body-grace, or the request is cut (400 invalid); downloads get as long at this rate, plus a minute")
}

// argon2MemoryBudget bounds, by default, the memory password hashing may
// hold at once: with a large --argon2-memory-kib, fewer hashes run.
const argon2MemoryBudget = 256 << 20

// argon2Concurrency returns how many password hashes may run at once: the
// flag, or max(2, CPUs) within argon2MemoryBudget (at least one).
func (c *Config) argon2Concurrency() int {
	if c.Argon2Concurrency > 0 {
		return c.Argon2Concurrency
	}
	byMemory := argon2MemoryBudget / max(1, int(c.Argon2MemoryKiB)<<10)
	return max(1, min(max(2, runtime.NumCPU()), byMemory))
}

// validateAbuse checks the abuse limits.
func (c *Config) validateAbuse() error {
	if _, err := httpapi.ParseTrustedProxies(c.TrustedProxies); err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	switch {
	case c.Argon2Concurrency < 0:
		return fmt.Errorf("--argon2-concurrency must not be negative")
	case c.RegisterRate < 0 || c.RegisterBurst < 0 || c.LoginFailures < 0:
		return fmt.Errorf("rate limits must not be negative")
	case c.LoginBackoffMax < time.Second:
		return fmt.Errorf("--login-backoff-max must be at least 1s")
	case c.TypingInterval < 0:
		return fmt.Errorf("--typing-interval must not be negative")
	case c.UploadQuota < 0 || c.MinFreeDisk < 0:
		return fmt.Errorf("--upload-quota and --min-free-disk must not be negative")
	case c.BodyGrace < 100*time.Millisecond || c.MinBodyRate < 1:
		return fmt.Errorf("--body-grace must be at least 100ms and --min-body-rate at least 1")
	}
	return nil
}

// list splits a comma-separated flag value.
func list(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// trustedProxies parses --trusted-proxies: addresses and CIDR prefixes.
// The HTTP API and the realtime endpoint both believe their X-Forwarded-For.
func (c *Config) trustedProxies() ([]netip.Prefix, error) {
	return httpapi.ParseTrustedProxies(c.TrustedProxies)
}

func (c *Config) validateSessions() error {
	switch c.Registration {
	case parley.RegistrationOpen, parley.RegistrationInvite, parley.RegistrationClosed:
	default:
		return fmt.Errorf("--registration must be open, invite or closed")
	}
	switch {
	case c.SessionIdleTimeout < 0 || c.SessionMaxAge < 0:
		return fmt.Errorf("--session-idle-timeout and --session-max-age must not be negative")
	case c.SessionIdleTimeout > 0 && c.SessionIdleTimeout < 10*time.Minute:
		return fmt.Errorf("--session-idle-timeout must be at least 10m (or 0)")
	case c.SessionMaxAge > 0 && c.SessionMaxAge < 10*time.Minute:
		return fmt.Errorf("--session-max-age must be at least 10m (or 0)")
	case c.SessionCheckInterval < 10*time.Millisecond || c.SessionCheckInterval > 10*time.Second:
		return fmt.Errorf("--session-check-interval must be 10ms to 10s")
	}
	return nil
}
