// Package postgres implements parley.Store on PostgreSQL, the store of a
// scaled-out deployment: any number of Parley nodes share one database and
// keep no authoritative state of their own.
//
// Durability: a write is acknowledged only after its transaction committed.
// A failure while a commit was in flight is reported as a retryable
// EUNAVAILABLE, never as success; sends dedup on (sender device,
// client_msg_id), so the client's retry finds the send if it did commit.
//
// Throughput: the hot writes (sends, watermarks, device cursors) go through
// a writer that groups whatever requests are waiting into one transaction
// and one commit (group commit), written with two pipelined round trips:
// one that locks and reads, one that writes every row with a statement per
// table and commits. See group.
//
// Seq: a conversation's counter is its conversations row, read and raised
// under that row's lock in the storing transaction. Groups take their locks
// in conversation id order, so concurrent groups on any number of nodes
// queue on a conversation instead of deadlocking, and the seq stays dense.
//
// Layout: what belongs to a conversation is keyed by the conversation id
// first, so it can later be sharded by conversation. The log is
// partitioned by day of creation: the store creates the partitions on
// demand and a few days ahead, retention detaches and drops whole ones, and
// a history page is read from the recent partitions first. The idempotency
// records of sends live in their own table.
//
// Outages: while the database cannot be reached, calls fail at once with
// EUNAVAILABLE; the connection pool reconnects by itself when it returns.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/migrations"
)

// Config configures a DB.
type Config struct {
	// DSN is the PostgreSQL connection string (URL or key=value form).
	DSN string
	// Migrate applies pending migrations to a database that already has a
	// schema. An empty database is always migrated.
	Migrate bool
	Logger  *slog.Logger
	// Now is the clock used to pick the partitions to create ahead and the
	// creation time of a message that has none.
	Now parley.Clock
	// MaxConns bounds the connection pool (default 16).
	MaxConns int32
	// Writers is how many group-commit transactions a node runs at once
	// (default 2): while one waits for its commit, the next is written.
	Writers int
	// MaxBatch bounds how many write requests share one transaction
	// (default 1024).
	MaxBatch int
	// WriteTimeout bounds one group's transaction, so that a database that
	// hangs fails requests instead of holding them (default 10s).
	WriteTimeout time.Duration
	// ConnectTimeout bounds opening a connection when the DSN sets none
	// (default 5s).
	ConnectTimeout time.Duration
	// PartitionsAhead is how many days of partitions are created past the
	// one a message needs (default 3).
	PartitionsAhead int
	// OnCommit, when set, hears every group-commit transaction: how many
	// write requests it carried and how long it took, committed or not.
	OnCommit func(requests int, elapsed time.Duration)
}

// DB is a parley.Store on PostgreSQL.
type DB struct {
	cfg    Config
	pool   *pgxpool.Pool
	w      *writer
	parts  *partitions
	logger *slog.Logger
	closed atomic.Bool
	// steps caches the statements of a page's steps.
	steps atomic.Pointer[pageStatements]
}

var _ parley.Store = (*DB)(nil)

// Open connects to the database, checks or applies its migrations, creates
// the partitions of the coming days and starts the writer. It returns an
// error if the schema is behind and cfg.Migrate is false, or newer than
// this binary; EUNAVAILABLE if the database cannot be reached.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	ms, err := loadMigrations()
	if err != nil {
		return nil, err
	}
	return open(ctx, cfg, ms)
}

func open(ctx context.Context, cfg Config, ms []migrations.Migration) (*DB, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 16
	}
	if cfg.Writers <= 0 {
		cfg.Writers = 2
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 1024
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	if cfg.PartitionsAhead <= 0 {
		cfg.PartitionsAhead = 3
	}
	pcfg, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse DSN: %w", err)
	}
	pcfg.MaxConns = cfg.MaxConns
	// Parley's statements are short index reads and writes: compiling one
	// with JIT costs more than running it (a search page whose plan crosses
	// jit_above_cost paid 20 ms of compilation for 3 ms of work). A DSN
	// that sets jit itself keeps its value.
	if _, set := pcfg.ConnConfig.RuntimeParams["jit"]; !set {
		pcfg.ConnConfig.RuntimeParams["jit"] = "off"
	}
	if pcfg.ConnConfig.ConnectTimeout == 0 {
		pcfg.ConnConfig.ConnectTimeout = cfg.ConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db := &DB{cfg: cfg, pool: pool, logger: cfg.Logger}
	db.parts = newPartitions(pool, cfg.PartitionsAhead, cfg.Logger)
	if err := db.migrate(ctx, ms); err != nil {
		pool.Close()
		return nil, err
	}
	today := db.now()
	if err := db.parts.ensure(ctx, today.Add(-24*time.Hour), today); err != nil {
		pool.Close()
		return nil, dbError("create partitions", err)
	}
	db.w = newWriter(db)
	return db, nil
}

// Close stops the writer after it committed every request it accepted, and
// closes the connections.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return nil
	}
	db.w.close()
	db.pool.Close()
	return nil
}

// Ping reports whether the database answers: EUNAVAILABLE when it does not
// or the store is closed.
func (db *DB) Ping(ctx context.Context) error {
	if db.closed.Load() {
		return errClosed
	}
	if err := db.pool.Ping(ctx); err != nil {
		return parley.WrapError(parley.EUNAVAILABLE, "database unavailable", err)
	}
	return nil
}

var errClosed = parley.Errorf(parley.EUNAVAILABLE, "store is closed")

func (db *DB) now() time.Time { return db.cfg.Now.Now() }

// err translates a driver error for the operation op; a closed store
// answers EUNAVAILABLE rather than the pool's own error.
func (db *DB) err(op string, err error) error {
	if err != nil && db.closed.Load() {
		return errClosed
	}
	return dbError(op, err)
}

// notFound is the package's notFound with the closed-store answer of err.
func (db *DB) notFound(op string, err error, message string) error {
	if err != nil && !errors.Is(err, pgx.ErrNoRows) && db.closed.Load() {
		return errClosed
	}
	return notFound(op, err, message)
}

// Times are stored as timestamptz, which keeps microseconds: values are
// normalised to UTC microseconds before they are stored, so what a write
// returns equals what a later read returns.
func micro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func utc(t time.Time) time.Time { return t.UTC() }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// idArray converts ids for a bigint[] parameter.
func idArray(ids []parley.ID) []int64 {
	out := make([]int64, len(ids))
	for i, id := range ids {
		out[i] = int64(id)
	}
	return out
}
