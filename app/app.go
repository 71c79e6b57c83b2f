// Package app holds Parley's business rules: who may do what, the send
// pipeline (validate, store durably, acknowledge, then fan out), receipts,
// sync, recall, friends and presence. It implements the service interfaces
// of package parley on top of the ports (Store, Bus, Presence, …) and
// imports nothing but the root package and the standard library.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/imaging"
)

// Config holds the app's rules and limits.
type Config struct {
	// MaxBodyBytes bounds a message body.
	MaxBodyBytes int
	// MemberCap bounds a group's active members.
	MemberCap int
	// RecallWindow is how long after sending a sender may recall.
	RecallWindow time.Duration
	// EditWindow is how long after sending a sender may edit.
	EditWindow time.Duration
	// MembershipTTL bounds how long a node trusts its cached member list
	// of a conversation when another node changed it and the bus lost the
	// invalidation.
	MembershipTTL time.Duration
	// SendRate limits each user's sends (all devices, per node); over it,
	// sends fail with too_many.
	SendRate Rate
	// LoginRate limits login attempts per client address (per node),
	// whatever handles they name; password checks of a password change
	// and an account deletion count against it too.
	LoginRate Rate
	// LoginFailures is how many failed logins in a row one client address
	// may make for one handle before each further attempt waits
	// LoginBackoff, doubling per failure up to LoginBackoffMax. Guessing
	// from elsewhere never locks the owner out; a success starts over.
	LoginFailures   int
	LoginBackoff    time.Duration
	LoginBackoffMax time.Duration
	// RegisterRate limits account registrations per client address.
	RegisterRate Rate
	// TypingInterval coalesces typing: at most one typing event per
	// (user, conversation) is fanned out per interval; the others are
	// accepted and dropped. Zero fans out every one.
	TypingInterval time.Duration

	// Registration is the sign-up policy: parley.RegistrationOpen (the
	// default), RegistrationInvite or RegistrationClosed.
	Registration string
	// SessionIdleTimeout ends a session unused for this long; zero: never.
	SessionIdleTimeout time.Duration
	// SessionMaxAge ends a session this old, used or not; zero: never.
	SessionMaxAge time.Duration
	// SeenEvery is the precision of a session's last use: it is written
	// at most once per SeenEvery per device, not at every request.
	SeenEvery time.Duration
	// SessionFeedOverlap is how far before its previous read each read of
	// the feed of ended sessions reaches back, covering clock differences
	// between nodes and revocations committed late.
	SessionFeedOverlap time.Duration
	// Retention is how long messages are kept; zero keeps them forever.
	Retention time.Duration

	// MaxUploadBytes bounds an upload.
	MaxUploadBytes int64
	// TempDir holds uploads while they are checked; "" means the system's.
	TempDir string
	// UploadQuota is how many bytes each user may upload per day (per
	// node, refilled continuously); zero does not limit.
	UploadQuota int64
	// MinFreeBytes is the free space below which uploads are refused
	// (unavailable), so that the disk the database shares keeps room
	// for messages. It needs Deps.FreeSpace.
	MinFreeBytes int64
	// ThumbnailSide is the longest side of a thumbnail.
	ThumbnailSide int
	// MediaGrace is how long media that no message carries is kept: time
	// for its uploader to send it. Media of recalled messages goes at once.
	MediaGrace time.Duration

	// PushDelay is how long a recipient device has to acknowledge a
	// message (`delivered`) before it is sent a push notification.
	PushDelay time.Duration
	// MaxPendingPushes bounds the push checks waiting for their delay.
	MaxPendingPushes int
	// PushWorkers is how many push checks run at once.
	PushWorkers int

	// OnFanOut, when set, hears every new log entry's fan-out: how many
	// users it was published to.
	OnFanOut func(recipients int)
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		MaxBodyBytes:   parley.DefaultMaxBodyBytes,
		MemberCap:      parley.DefaultMemberCap,
		RecallWindow:   time.Hour,
		EditWindow:     15 * time.Minute,
		MembershipTTL:  5 * time.Second,
		SendRate:       Rate{PerSecond: 50, Burst: 200},
		LoginRate:      Rate{PerSecond: 1, Burst: 30},
		RegisterRate:   Rate{PerSecond: 0.05, Burst: 20},
		TypingInterval: 2500 * time.Millisecond,

		LoginFailures:   5,
		LoginBackoff:    time.Second,
		LoginBackoffMax: 15 * time.Minute,

		Registration:       parley.RegistrationOpen,
		SeenEvery:          time.Minute,
		SessionFeedOverlap: 10 * time.Second,

		MaxUploadBytes:   parley.DefaultMaxUploadBytes,
		UploadQuota:      1 << 30,
		MinFreeBytes:     1 << 30,
		ThumbnailSide:    imaging.DefaultThumbnailSide,
		MediaGrace:       24 * time.Hour,
		PushDelay:        3 * time.Second,
		MaxPendingPushes: 100_000,
		PushWorkers:      4,
	}
}

// App implements the parley services.
type App struct {
	cfg      Config
	store    parley.Store
	bus      parley.Bus
	presence parley.Presence
	hasher   parley.PasswordHasher
	now      parley.Clock
	logger   *slog.Logger

	stats     Stats
	busOutage outage // publishes failing: logged once, not per event
	members   *memberCache
	sends     *limiter
	uploads   *limiter // bytes per user
	free      func() (int64, error)
	logins    *limiter // per client address
	// loginFails backs off failed logins per (client address, handle).
	loginFails *backoff
	registers  *limiter // per client address
	typing     *limiter // per (user, conversation)
	// mutual holds direct conversations both members wrote in (presence).
	mutual mutuals
	sysSub parley.Subscription

	blobs     parley.BlobStore
	pushQueue parley.PushQueue
	push      *pushScheduler // nil without a push queue
	// thumbs bounds the thumbnails made at once: each decodes a whole image.
	thumbs chan struct{}
	// released queues media of recalled messages for the janitor.
	released    chan parley.ID
	janitorDone chan struct{}
	// stopJanitor ends the janitor's store and blob calls at Close; what
	// it did not release the collection by age gets to later.
	stopJanitor context.CancelFunc
	closeMu     sync.RWMutex
	closed      bool

	// dummyHash is verified against when a login names an unknown handle,
	// so the answer takes as long as for a wrong password.
	dummyHash string
}

var (
	_ parley.AccountService      = (*App)(nil)
	_ parley.ConversationService = (*App)(nil)
	_ parley.MessageService      = (*App)(nil)
	_ parley.FriendService       = (*App)(nil)
	_ parley.ConnectionService   = (*App)(nil)
	_ parley.PresenceService     = (*App)(nil)
	_ parley.MediaService        = (*App)(nil)
	_ parley.PushService         = (*App)(nil)
	_ parley.SessionFeed         = (*App)(nil)
)

// Deps are the ports the app runs on.
type Deps struct {
	Store    parley.Store
	Bus      parley.Bus
	Presence parley.Presence
	Hasher   parley.PasswordHasher
	Clock    parley.Clock
	Logger   *slog.Logger
	// Blobs keeps media bytes; without it uploads are refused.
	Blobs parley.BlobStore
	// Push sends push notifications; without it none are sent and
	// registrations are refused.
	Push parley.PushQueue
	// FreeSpace reports the bytes free on the disk that holds the data
	// (database, uploads being checked, media on disk); nil does not check.
	FreeSpace func() (int64, error)
}

// fallback sets *v to def when it is not positive (unset).
func fallback[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// sysTopic carries cache invalidations between nodes.
const sysTopic = "sys:members"

// New returns an App and subscribes it to the bus topic on which nodes tell
// each other about membership changes. Close releases that subscription.
func New(ctx context.Context, cfg Config, d Deps) (*App, error) {
	def := DefaultConfig()
	fallback(&cfg.MaxBodyBytes, def.MaxBodyBytes)
	fallback(&cfg.MemberCap, def.MemberCap)
	fallback(&cfg.RecallWindow, def.RecallWindow)
	fallback(&cfg.EditWindow, def.EditWindow)
	fallback(&cfg.MembershipTTL, def.MembershipTTL)
	fallback(&cfg.MaxUploadBytes, def.MaxUploadBytes)
	fallback(&cfg.ThumbnailSide, def.ThumbnailSide)
	fallback(&cfg.MediaGrace, def.MediaGrace)
	fallback(&cfg.PushDelay, def.PushDelay)
	fallback(&cfg.MaxPendingPushes, def.MaxPendingPushes)
	fallback(&cfg.PushWorkers, def.PushWorkers)
	fallback(&cfg.SeenEvery, def.SeenEvery)
	fallback(&cfg.SessionFeedOverlap, def.SessionFeedOverlap)
	switch cfg.Registration {
	case "":
		cfg.Registration = def.Registration
	case parley.RegistrationOpen, parley.RegistrationInvite, parley.RegistrationClosed:
	default:
		return nil, fmt.Errorf("registration policy %q: want open, invite or closed", cfg.Registration)
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	a := &App{cfg: cfg, store: d.Store, bus: d.Bus, presence: d.Presence, hasher: d.Hasher, now: d.Clock, logger: d.Logger,
		blobs: d.Blobs, pushQueue: d.Push}
	a.busOutage.what = "bus publish"
	a.members = newMemberCache(cfg.MembershipTTL, a.now)
	a.sends = newLimiter(cfg.SendRate, a.now)
	a.logins = newLimiter(cfg.LoginRate, a.now)
	a.loginFails = newBackoff(cfg.LoginFailures, cfg.LoginBackoff, max(cfg.LoginBackoffMax, cfg.LoginBackoff), a.now)
	a.registers = newLimiter(cfg.RegisterRate, a.now)
	if cfg.TypingInterval > 0 {
		a.typing = newLimiter(Rate{PerSecond: 1 / cfg.TypingInterval.Seconds(), Burst: 1}, a.now)
	}
	a.uploads = newLimiter(Rate{PerSecond: float64(cfg.UploadQuota) / (24 * 60 * 60), Burst: int(cfg.UploadQuota)}, a.now)
	a.free = d.FreeSpace
	h, err := a.hasher.Hash("parley-dummy-password")
	if err != nil {
		return nil, err
	}
	a.dummyHash = h
	a.sysSub, err = a.bus.Subscribe(ctx, sysTopic, a.onSys)
	if err != nil {
		return nil, err
	}
	a.thumbs = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))
	a.released = make(chan parley.ID, 1024)
	a.janitorDone = make(chan struct{})
	jctx, stop := context.WithCancel(context.Background())
	a.stopJanitor = stop
	go a.janitor(jctx)
	if a.pushQueue != nil {
		a.push = newPushScheduler(a, a.pushQueue)
	}
	return a, nil
}

// Close releases the app's bus subscription and stops its background
// work: pending push checks and media releases are dropped (the
// collection by age releases that media later).
func (a *App) Close() error {
	a.closeMu.Lock()
	if a.closed {
		a.closeMu.Unlock()
		return nil
	}
	a.closed = true
	close(a.released)
	a.closeMu.Unlock()
	a.stopJanitor()
	<-a.janitorDone
	if a.push != nil {
		a.push.close()
	}
	if a.sysSub != nil {
		return a.sysSub.Close()
	}
	return nil
}

// Stats are the app's running counts, exported as metrics.
type Stats struct {
	MessagesStored  atomic.Uint64 // new log entries (sends and recalls)
	SendsDuplicated atomic.Uint64 // retries answered with the original
	EventsPublished atomic.Uint64 // bus publishes
	PublishErrors   atomic.Uint64 // bus publishes that failed

	PushChecks               atomic.Uint64 // bursts whose recipients were checked for pushes (counted when decided)
	PushesQueued             atomic.Uint64 // notifications handed to the push channels
	PushesDropped            atomic.Uint64 // checks or notifications dropped: too many pending, or a full queue
	PushRegistrationsRemoved atomic.Uint64 // registrations deleted because their channel reported them gone
	BlobsDeleted             atomic.Uint64 // media blobs deleted once no media used them
}

// Stats returns the app's counts.
func (a *App) Stats() *Stats { return &a.stats }

// Config returns the app's configuration.
func (a *App) Config() Config { return a.cfg }

func (a *App) onSys(payload []byte) {
	id, err := parley.ParseID(string(payload))
	if err == nil {
		a.members.forget(id)
	}
}

// membershipChanged drops the cached member list here and on every node.
func (a *App) membershipChanged(ctx context.Context, convID parley.ID) {
	a.members.forget(convID)
	if err := a.bus.Publish(ctx, sysTopic, []byte(convID.String())); err != nil {
		a.busOutage.fail(a.logger, a.now.Now(), err)
		return
	}
	a.busOutage.ok(a.logger, a.now.Now())
}

// publish sends one event to each user's topic. The bus is only the fast
// path, so failures are logged and delivery falls back to sync.
func (a *App) publish(ctx context.Context, users []parley.ID, e *parley.Event) {
	if len(users) == 0 {
		return
	}
	a.publishPayload(ctx, users, parley.AppendEvent(make([]byte, 0, 64+len(e.Data)), e))
}

// publishPayload is publish for an event already encoded (AppendEvent).
func (a *App) publishPayload(ctx context.Context, users []parley.ID, payload []byte) {
	if len(users) == 0 {
		return
	}
	for _, u := range users {
		if err := a.bus.Publish(ctx, parley.UserTopic(u), payload); err != nil {
			a.stats.PublishErrors.Add(1)
			a.busOutage.fail(a.logger, a.now.Now(), err)
			return
		}
	}
	a.busOutage.ok(a.logger, a.now.Now())
	a.stats.EventsPublished.Add(uint64(len(users)))
}

// detach returns a context that keeps ctx's values but not its
// cancellation: once a message is committed its fan-out must run even if
// the sender went away.
func detach(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }
