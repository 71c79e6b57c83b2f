package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/app"
	"github.com/parleyhq/parley/argon2id"
	"github.com/parleyhq/parley/engineio"
	"github.com/parleyhq/parley/httpapi"
	"github.com/parleyhq/parley/inmem"
	"github.com/parleyhq/parley/internal/metrics"
	"github.com/parleyhq/parley/postgres"
	"github.com/parleyhq/parley/realtime"
	"github.com/parleyhq/parley/redis"
	"github.com/parleyhq/parley/sqlite"
	"github.com/parleyhq/parley/web"
)

// Main is one Parley node: the program, testable as a value. ParseFlags
// reads its configuration, Run opens everything and starts serving (it
// listens before it returns, so a bad address fails at once), Close shuts
// down gracefully.
type Main struct {
	Config Config
	Stdout io.Writer
	Stderr io.Writer
	Logger *slog.Logger
	// Metrics is the node's registry, served at /metrics.
	Metrics *metrics.Registry
	// Getenv is used by ParseFlags; nil means os.Getenv.
	Getenv func(string) string
	// PushClient, when set, sends every push notification: tests set it to
	// trust their loopback push services.
	PushClient *http.Client
	// Clock, when set, is the app's time: tests move it to expire
	// sessions.
	Clock parley.Clock
	// FreeSpace, when set, reports the free bytes of --data-dir's file
	// system in place of the operating system (tests fill a disk with it).
	FreeSpace func() (int64, error)

	ln       net.Listener
	adminLn  net.Listener
	nm       *nodeMetrics
	draining atomic.Bool // /readyz answers 503 from the start of Close
	// afterDrain, when set, runs in Close between /readyz turning 503 and
	// the sockets closing, instead of waiting Config.Ops.DrainDelay.
	afterDrain func()
	server     *http.Server
	serveErr   chan error
	store      parley.Store
	bus        parley.Bus
	app        *app.App
	gateway    *realtime.Gateway
	// resync and sessions are the gateway and the session watcher once
	// they exist, for the bus's reconnect callback, which runs on the
	// bus's own goroutine, maybe while Run is still starting.
	resync   atomic.Pointer[realtime.Gateway]
	sessions atomic.Pointer[realtime.SessionWatcher]
	push     *pushQueue // nil when no push channel is configured
	closers  []func() error
	once     sync.Once
}

// NewMain returns a Main with the default configuration.
func NewMain() *Main {
	return &Main{Config: DefaultConfig(), Stdout: os.Stdout, Stderr: os.Stderr}
}

// ParseFlags reads the subcommand's flags and environment into m.Config.
func (m *Main) ParseFlags(cmd string, args []string, getenv func(string) string) error {
	if getenv == nil {
		getenv = os.Getenv
	}
	fs := flagSet(cmd, &m.Config, m.Stderr)
	if err := parseWithSecretFiles(fs, args, getenv); err != nil {
		return err
	}
	return m.Config.Validate()
}

// Addr returns the address the node listens on (useful with ":0").
func (m *Main) Addr() string {
	if m.ln == nil {
		return ""
	}
	return m.ln.Addr().String()
}

// RunMigrate applies migrations and returns.
func (m *Main) RunMigrate(ctx context.Context) error {
	if m.Logger == nil {
		m.Logger = m.Config.logger(m.Stderr)
	}
	m.Config.Migrate = true
	store, err := m.openStore(ctx)
	if err != nil {
		return err
	}
	m.Logger.Info("database is up to date")
	return store.Close()
}

// Run opens the store and bus, builds the app and the handlers, listens
// and starts serving in the background.
func (m *Main) Run(ctx context.Context) (err error) {
	if m.Logger == nil {
		m.Logger = m.Config.logger(m.Stderr)
	}
	cfg := m.Config
	m.Metrics = metrics.NewRegistry()
	m.nm = newNodeMetrics(m.Metrics)
	if m.store, err = m.openStore(ctx); err != nil {
		return err
	}
	m.closers = append(m.closers, m.store.Close)
	presence, err := m.openBus(ctx)
	if err != nil {
		return err
	}
	blobs, err := m.openBlobs()
	if err != nil {
		return fmt.Errorf("open media store: %w", err)
	}
	pushQ, vapidPublic, err := m.openPush(func(ctx context.Context, reg *parley.PushRegistration) { m.app.PushGone(ctx, reg) })
	if err != nil {
		return fmt.Errorf("start push notifications: %w", err)
	}
	var pq parley.PushQueue
	if pushQ != nil {
		pq, m.push = pushQ, pushQ
		// Closed after the app, which queues pushes until it closes.
		m.closers = append(m.closers, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout)
			defer cancel()
			return pushQ.Close(ctx)
		})
	}
	free := m.FreeSpace
	if free == nil {
		free = freeSpace(cfg.DataDir)
	}
	m.app, err = app.New(ctx, app.Config{
		Retention:    cfg.Retention,
		MaxBodyBytes: cfg.MaxBodyBytes,
		MemberCap:    cfg.MemberCap,
		RecallWindow: cfg.RecallWindow,
		EditWindow:   cfg.EditWindow,
		SendRate:     app.Rate{PerSecond: cfg.SendRate, Burst: cfg.SendBurst},
		LoginRate:    app.Rate{PerSecond: cfg.LoginRate, Burst: cfg.LoginBurst},
		// Abuse limits.
		RegisterRate:    app.Rate{PerSecond: cfg.RegisterRate, Burst: cfg.RegisterBurst},
		LoginFailures:   cfg.LoginFailures,
		LoginBackoff:    time.Second,
		LoginBackoffMax: cfg.LoginBackoffMax,
		UploadQuota:     cfg.UploadQuota,
		TypingInterval:  cfg.TypingInterval,
		MinFreeBytes:    cfg.MinFreeDisk,
		MaxUploadBytes:  cfg.MaxUploadBytes,
		TempDir:         cfg.uploadDir(),
		MediaGrace:      cfg.MediaGrace,
		PushDelay:       cfg.PushDelay,
		OnFanOut:        m.nm.onFanOut,
		// Accounts and sessions.
		Registration:       cfg.Registration,
		SessionIdleTimeout: cfg.SessionIdleTimeout,
		SessionMaxAge:      cfg.SessionMaxAge,
	}, app.Deps{
		Store:    timedStore{m.store, m.nm.history},
		Bus:      m.bus,
		Presence: presence,
		Hasher: argon2id.NewBounded(argon2id.Params{MemoryKiB: uint32(cfg.Argon2MemoryKiB), Time: uint32(cfg.Argon2Time), Threads: 1},
			cfg.argon2Concurrency(), time.Second),
		Logger: m.Logger,
		Blobs:  blobs,
		Push:   pq,
		Clock:  m.Clock,
		// Uploads stop first when the data disk runs low.
		FreeSpace: free,
	})
	if err != nil {
		return fmt.Errorf("start app: %w", err)
	}
	m.closers = append(m.closers, m.app.Close)

	m.pushMetrics(pushQ)

	trusted, err := cfg.trustedProxies()
	if err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	api := httpapi.New(httpapi.Services{
		Accounts: m.app, Conversations: m.app, Messages: m.app, Friends: m.app, Presence: m.app,
		Media: m.app, Push: m.app, Search: m.app,
		Ready: m.ready,
	}, httpapi.Config{
		MaxBodyBytes:   cfg.MaxBodyBytes,
		MaxUploadBytes: cfg.MaxUploadBytes,
		VAPIDPublicKey: vapidPublic,
		TrustedProxies: trusted,
		BodyGrace:      cfg.BodyGrace,
		MinBodyRate:    cfg.MinBodyRate,
		OnRequest:      m.nm.onRequest,
	}, m.Logger)
	if cfg.Ops.AdminAddr == "" {
		api.Handle("GET /metrics", m.Metrics)
	}

	m.gateway, err = realtime.New(realtime.Config{
		Engine: engineio.Config{
			PingInterval:   cfg.PingInterval,
			PingTimeout:    cfg.PingTimeout,
			MaxPayload:     cfg.MaxPayload,
			MaxWriteBuffer: cfg.SocketBuffer,
			MaxInputBuffer: cfg.SocketInput,
			MaxNodeBuffer:  cfg.NodeBuffer,
			TrustedProxies: trusted,
			AllowOrigin:    cfg.allowOrigin(),
			Logger:         m.Logger,
			SIDPrefix:      cfg.Ops.sidPrefix(),
		},
		ConnectTimeout:    cfg.ConnectTimeout,
		EventRate:         realtime.Rate{PerSecond: cfg.EventRate, Burst: cfg.EventBurst},
		UserEventRate:     realtime.Rate{PerSecond: cfg.UserEventRate, Burst: cfg.UserEventBurst},
		MaxSocketsPerUser: cfg.MaxSocketsPerUser,
		MaxSocketsPerAddr: cfg.MaxSocketsPerAddr,
		Logger:            m.Logger,
		Acked:             m.nm.onAck,
		Delivered:         m.nm.onDelivered,
	}, realtime.Services{Accounts: m.app, Conversations: m.app, Messages: m.app, Connections: m.app}, m.bus)
	if err != nil {
		return fmt.Errorf("start realtime gateway: %w", err)
	}
	m.resync.Store(m.gateway)
	api.Handle("/socket.io/", m.gateway.Handler())
	// The web client, below every more specific route ("/v1/", "/socket.io/").
	client, err := web.New()
	if err != nil {
		return fmt.Errorf("load web client: %w", err)
	}
	api.Handle("/", client)
	m.registerStats()

	if m.ln, err = net.Listen("tcp", cfg.Addr); err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	m.server = &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn),
	}
	m.serveErr = make(chan error, 1)
	go func() { m.serveErr <- m.server.Serve(m.ln) }()
	if cfg.Ops.AdminAddr != "" {
		if err := m.serveAdmin(cfg.Ops.AdminAddr); err != nil {
			return err
		}
	}
	if cfg.Retention > 0 {
		m.background(func(ctx context.Context) { m.app.RunRetention(ctx, cfg.RetentionInterval) })
	}
	m.background(func(ctx context.Context) { m.app.RunMediaCollection(ctx, cfg.RetentionInterval) })
	m.background(func(ctx context.Context) { m.app.RunExpiry(ctx, expiryInterval) })
	m.background(func(ctx context.Context) { m.app.RunSessionExpiry(ctx, sessionExpiryInterval) })
	sessions := m.gateway.WatchSessions(m.app, realtime.SessionWatchConfig{Poll: cfg.SessionCheckInterval})
	m.sessions.Store(sessions)
	m.background(sessions.Run)
	if d := cfg.Ops.IdleMemoryRelease; d > 0 {
		var caches func(context.Context)
		if r, ok := m.store.(interface{ ReleaseMemory(context.Context) error }); ok {
			caches = func(ctx context.Context) {
				if err := r.ReleaseMemory(ctx); err != nil {
					m.Logger.Warn("release store caches", "err", err)
				}
			}
		}
		m.background(func(ctx context.Context) { releaseIdleMemory(ctx, d, caches) })
	}
	m.Logger.Info("parley is serving", "addr", m.Addr(), "data_dir", cfg.DataDir, "store", cfg.Store, "bus", cfg.Bus)
	return nil
}

// expiryInterval is how often a node erases the disappearing messages that
// expired. Reads leave them out from the moment they expire whatever the
// sweep: the sweep is what removes them and their media from storage.
const expiryInterval = time.Minute

// sessionExpiryInterval is how often a node ends the sessions that
// expired. A request made with an expired session is refused at once
// whatever the sweep: the sweep is what closes idle sockets.
const sessionExpiryInterval = time.Minute

// background runs fn until Close, which cancels its context and waits
// for it.
func (m *Main) background(fn func(ctx context.Context)) {
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(ctx)
	}()
	m.closers = append(m.closers, func() error { stop(); <-done; return nil })
}

func (m *Main) openStore(ctx context.Context) (parley.Store, error) {
	if err := ensureDir(m.Config.DataDir); err != nil {
		return nil, err
	}
	var db parley.Store
	var err error
	switch m.Config.Store {
	case "postgres":
		db, err = postgres.Open(ctx, postgres.Config{DSN: m.Config.PostgresDSN, Migrate: m.Config.Migrate, Logger: m.Logger, OnCommit: m.onCommit()})
	default:
		db, err = sqlite.Open(ctx, sqlite.Config{Path: m.Config.sqlitePath(), Migrate: m.Config.Migrate, Logger: m.Logger, OnCommit: m.onCommit()})
	}
	if err != nil {
		return nil, fmt.Errorf("open %s store: %w", m.Config.Store, err)
	}
	return db, nil
}

// openBus opens the bus (m.bus) and the presence registry that goes with
// it, registering both for Close.
func (m *Main) openBus(ctx context.Context) (parley.Presence, error) {
	if m.Config.Bus != "redis" {
		m.bus = inmem.NewBus()
		m.closers = append(m.closers, m.bus.Close)
		return inmem.NewPresence(), nil
	}
	rc := redis.Config{
		Addrs:    m.Config.redisAddrs(),
		Cluster:  m.Config.RedisCluster,
		Username: m.Config.RedisUsername,
		Password: m.Config.RedisPassword,
		Logger:   m.Logger,
		// Events published while the bus was down are lost: every socket
		// of this node is told to sync.
		OnReconnect: func() {
			if g := m.resync.Load(); g != nil {
				g.Resync()
			}
			// Revocation notices published meanwhile are lost too.
			if w := m.sessions.Load(); w != nil {
				w.Recheck()
			}
		},
	}
	bus, err := redis.NewBus(ctx, rc)
	if err != nil {
		return nil, fmt.Errorf("open redis bus: %w", err)
	}
	m.bus = bus
	m.closers = append(m.closers, bus.Close)
	presence, err := redis.NewPresence(ctx, rc)
	if err != nil {
		return nil, fmt.Errorf("open redis presence: %w", err)
	}
	m.closers = append(m.closers, presence.Close)
	return presence, nil
}

// Close stops accepting requests, waits up to the shutdown timeout for
// those in flight, then closes the app, the bus and the store (which
// commits its pending writes). It is safe to call more than once.
func (m *Main) Close() error {
	var errs []error
	m.once.Do(func() {
		// The balancer first: /readyz fails from now on, so no new client
		// is sent here while the sockets close.
		m.draining.Store(true)
		if m.afterDrain != nil {
			m.afterDrain()
		} else if d := m.Config.Ops.DrainDelay; d > 0 && m.server != nil {
			m.Logger.Info("draining: /readyz answers 503", "wait", d)
			time.Sleep(d)
		}
		// Sockets next: their long-polls would hold the HTTP shutdown, and
		// they reconnect (possibly to another node) as soon as they close.
		if m.gateway != nil {
			if err := m.gateway.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if m.server != nil {
			ctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout)
			if err := m.server.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("shutdown: %w", err))
				m.server.Close()
			}
			cancel()
			if err := <-m.serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs = append(errs, err)
			}
		}
		for i := len(m.closers) - 1; i >= 0; i-- {
			if err := m.closers[i](); err != nil {
				errs = append(errs, err)
			}
		}
	})
	return errors.Join(errs...)
}

// ready answers /readyz: not while shutting down, nor without the store.
func (m *Main) ready(ctx context.Context) error {
	if m.draining.Load() {
		return errors.New("shutting down")
	}
	return m.store.Ping(ctx)
}

// onCommit is the stores' commit hook; nil without metrics (migrate).
func (m *Main) onCommit() func(int, time.Duration) {
	if m.nm == nil {
		return nil
	}
	return m.nm.onCommit
}
