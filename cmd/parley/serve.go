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
	"strconv"
	"sync"
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

	ln       net.Listener
	server   *http.Server
	serveErr chan error
	store    parley.Store
	bus      parley.Bus
	app      *app.App
	gateway  *realtime.Gateway
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
	if err := parse(fs, args, getenv); err != nil {
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
	m.app, err = app.New(ctx, app.Config{
		Retention:      cfg.Retention,
		MaxBodyBytes:   cfg.MaxBodyBytes,
		MemberCap:      cfg.MemberCap,
		RecallWindow:   cfg.RecallWindow,
		SendRate:       app.Rate{PerSecond: cfg.SendRate, Burst: cfg.SendBurst},
		LoginRate:      app.Rate{PerSecond: cfg.LoginRate, Burst: cfg.LoginBurst},
		MaxUploadBytes: cfg.MaxUploadBytes,
		TempDir:        cfg.uploadDir(),
		MediaGrace:     cfg.MediaGrace,
		PushDelay:      cfg.PushDelay,
	}, app.Deps{
		Store:    m.store,
		Bus:      m.bus,
		Presence: presence,
		Hasher:   argon2id.New(argon2id.Params{MemoryKiB: uint32(cfg.Argon2MemoryKiB), Time: uint32(cfg.Argon2Time), Threads: 1}),
		Logger:   m.Logger,
		Blobs:    blobs,
		Push:     pq,
	})
	if err != nil {
		return fmt.Errorf("start app: %w", err)
	}
	m.closers = append(m.closers, m.app.Close)

	m.Metrics = metrics.NewRegistry()
	requests := m.Metrics.CounterVec("parley_http_requests_total", "HTTP requests by method, route and status.", "method", "route", "status")
	st := m.app.Stats()
	m.Metrics.CounterFunc("parley_messages_stored_total", "New log entries stored (sends and recalls).", st.MessagesStored.Load)
	m.Metrics.CounterFunc("parley_sends_deduplicated_total", "Send retries answered with the original message.", st.SendsDuplicated.Load)
	m.Metrics.CounterFunc("parley_bus_events_published_total", "Events published on the bus, one per recipient user.", st.EventsPublished.Load)
	m.Metrics.CounterFunc("parley_bus_publish_errors_total", "Bus publishes that failed (delivery falls back to sync).", st.PublishErrors.Load)
	m.Metrics.CounterFunc("parley_media_blobs_deleted_total", "Media blobs deleted once no media used them.", st.BlobsDeleted.Load)
	m.pushMetrics(pushQ)

	api := httpapi.New(httpapi.Services{
		Accounts: m.app, Conversations: m.app, Messages: m.app, Friends: m.app, Presence: m.app,
		Media: m.app, Push: m.app,
		Ready: m.store.Ping,
	}, httpapi.Config{
		MaxBodyBytes:   cfg.MaxBodyBytes,
		MaxUploadBytes: cfg.MaxUploadBytes,
		VAPIDPublicKey: vapidPublic,
		OnRequest: func(method, route string, status int, _ time.Duration) {
			requests.Add(1, method, route, strconv.Itoa(status))
		},
	}, m.Logger)
	api.Handle("GET /metrics", m.Metrics)

	m.gateway, err = realtime.New(realtime.Config{
		Engine: engineio.Config{
			PingInterval:   cfg.PingInterval,
			PingTimeout:    cfg.PingTimeout,
			MaxPayload:     cfg.MaxPayload,
			MaxWriteBuffer: cfg.SocketBuffer,
			AllowOrigin:    cfg.allowOrigin(),
			Logger:         m.Logger,
		},
		EventRate: realtime.Rate{PerSecond: cfg.EventRate, Burst: cfg.EventBurst},
		Logger:    m.Logger,
	}, realtime.Services{Accounts: m.app, Conversations: m.app, Messages: m.app, Connections: m.app}, m.bus)
	if err != nil {
		return fmt.Errorf("start realtime gateway: %w", err)
	}
	api.Handle("/socket.io/", m.gateway.Handler())
	// The web client, below every more specific route ("/v1/", "/socket.io/").
	client, err := web.New()
	if err != nil {
		return fmt.Errorf("load web client: %w", err)
	}
	api.Handle("/", client)
	gs := m.gateway.Stats()
	m.Metrics.GaugeFunc("parley_realtime_connections", "Realtime sockets connected to this node.", func() float64 { return float64(gs.Connections.Load()) })
	m.Metrics.CounterFunc("parley_realtime_connects_total", "Realtime connects accepted.", gs.Connects.Load)
	m.Metrics.CounterFunc("parley_realtime_refused_total", "Realtime connects refused (missing or bad token).", gs.Refused.Load)
	m.Metrics.CounterFunc("parley_realtime_events_total", "Client events handled.", gs.Events.Load)
	m.Metrics.CounterFunc("parley_realtime_emitted_total", "Events emitted to sockets.", gs.Emitted.Load)
	m.Metrics.CounterFunc("parley_realtime_gap_fills_total", "Message gaps filled from the store.", gs.GapFills.Load)
	m.Metrics.CounterFunc("parley_realtime_slow_consumers_total", "Sockets dropped for not reading fast enough.", gs.SlowConsumers.Load)

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
	if cfg.Retention > 0 {
		m.background(func(ctx context.Context) { m.app.RunRetention(ctx, cfg.RetentionInterval) })
	}
	m.background(func(ctx context.Context) { m.app.RunMediaCollection(ctx, cfg.RetentionInterval) })
	m.Logger.Info("parley is serving", "addr", m.Addr(), "data_dir", cfg.DataDir, "store", cfg.Store, "bus", cfg.Bus)
	return nil
}

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
		db, err = postgres.Open(ctx, postgres.Config{DSN: m.Config.PostgresDSN, Migrate: m.Config.Migrate, Logger: m.Logger})
	default:
		db, err = sqlite.Open(ctx, sqlite.Config{Path: m.Config.sqlitePath(), Migrate: m.Config.Migrate, Logger: m.Logger})
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
			if g := m.gateway; g != nil {
				g.Resync()
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
		// Sockets first: their long-polls would hold the HTTP shutdown, and
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
