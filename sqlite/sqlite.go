// Package sqlite implements parley.Store on an embedded SQLite database,
// Parley's default: one file in the data directory, nothing to install
// (and beside it the full-text index's file, which the store rebuilds from
// the log when it is missing: searchindex.go).
//
// Durability: WAL with synchronous=FULL, so an acknowledged write survives
// power loss. Throughput: every write goes through one writer goroutine
// that groups whatever requests are waiting into one transaction and one
// fsync (group commit), so durability does not cap sends at the disk's
// fsync rate. Reads use a separate pool of read-only connections, which WAL
// lets run beside the writer, and the search index is written by a
// goroutine of its own that follows the log.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/migrations"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Config configures a DB.
type Config struct {
	// Path is the database file.
	Path string
	// Migrate applies pending migrations to a database that already has a
	// schema. A new, empty database is always migrated.
	Migrate bool
	// MaxBatch bounds how many write requests share one transaction.
	MaxBatch int
	// Readers is the size of the read connection pool.
	Readers int
	Logger  *slog.Logger
	// OnCommit, when set, hears every group-commit transaction: how many
	// write requests it carried and how long it took, committed or not.
	OnCommit func(requests int, elapsed time.Duration)
	// SearchDelay bounds how long a message's search entry waits to be
	// written when too few wait to be written together (default 1 s).
	// Searches find what the index (a file of its own, Path + "-search")
	// has not caught up with all the same (searchindex.go); the delay only
	// bounds what the indexer holds in memory and what a restart after a
	// crash reads again from the log.
	SearchDelay time.Duration
}

// DB is a parley.Store on SQLite.
type DB struct {
	cfg    Config
	read   *sql.DB
	wdb    *sql.DB
	w      *writer
	ckpt   *checkpointer
	index  *indexer
	stmts  readStmts
	logger *slog.Logger
}

var _ parley.Store = (*DB)(nil)

// Open opens (creating if needed) the database at cfg.Path, checks or
// applies its migrations, and starts the writer. It returns an error if the
// schema is behind and cfg.Migrate is false, or newer than this binary.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	if cfg.SearchDelay <= 0 {
		cfg.SearchDelay = time.Second
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 1024
	}
	if cfg.Readers <= 0 {
		cfg.Readers = max(4, 2*runtime.GOMAXPROCS(0))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	db := &DB{cfg: cfg, logger: cfg.Logger}
	var err error
	db.wdb, err = sql.Open("sqlite", dsn(cfg.Path, storeWriter))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", cfg.Path, err)
	}
	db.wdb.SetMaxOpenConns(1)
	db.wdb.SetMaxIdleConns(1)
	db.wdb.SetConnMaxLifetime(0)
	if err := db.migrate(ctx); err != nil {
		db.wdb.Close()
		return nil, dbError("migrate", err)
	}
	db.read, err = sql.Open("sqlite", dsn(cfg.Path, reader))
	if err != nil {
		db.wdb.Close()
		return nil, fmt.Errorf("open sqlite readers %s: %w", cfg.Path, err)
	}
	db.read.SetMaxOpenConns(cfg.Readers)
	db.read.SetMaxIdleConns(cfg.Readers)
	if db.ckpt, err = newCheckpointer(cfg.Path, db.logger); err != nil {
		db.read.Close()
		db.wdb.Close()
		return nil, err
	}
	db.w, err = newWriter(ctx, db)
	if err != nil {
		db.ckpt.close()
		db.read.Close()
		db.wdb.Close()
		return nil, err
	}
	if err := openIndexer(ctx, db); err != nil {
		db.w.close()
		db.ckpt.close()
		db.read.Close()
		db.wdb.Close()
		return nil, err
	}
	return db, nil
}

// connRole is what a connection is for, which sets its pragmas.
type connRole int

const (
	storeWriter      connRole = iota // the writer's connection
	reader                           // a read connection, of the store or the search index
	indexWriter                      // the search indexer's connection
	checkpointerConn                 // the checkpointer's connection (checkpoint.go)
)

func dsn(path string, role connRole) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(ON)")
	// Deleted rows (recalled messages) are overwritten, not left in free
	// pages where a copy of the file would still show them.
	q.Add("_pragma", "secure_delete(ON)")
	// The writer keeps a large page cache (it touches index pages all over
	// the file); each reader a small one, leaving the rest to the OS's page
	// cache: the readers would each hold a copy of the same pages, which
	// every commit invalidates anyway (WAL), and a page costs twice its
	// size here (a 4 KiB page and its header take an 8 KiB slot of the
	// driver's allocator). 16 MiB instead made a history page no faster
	// (BenchmarkHistoryPage, 10M messages, medians of three: p50 0.20 ms
	// and p99 0.99 ms with 16 MiB, 0.18 and 0.86 ms with 1 MiB). The
	// search indexer writes to the newest segments and merges them, a
	// smaller part of its file.
	switch role {
	case storeWriter:
		q.Add("_pragma", "cache_size(-65536)")
		// The checkpointer copies the log into the file (checkpoint.go).
		q.Add("_pragma", "wal_autocheckpoint(0)")
	case indexWriter:
		q.Add("_pragma", "cache_size(-16384)")
	default:
		q.Add("_pragma", "cache_size(-1024)")
	}
	// Statement journals (for multi-row statements) stay in memory rather
	// than in temp files written with a syscall per page.
	q.Add("_pragma", "temp_store(MEMORY)")
	q.Add("_txlock", "immediate")
	if role == reader {
		q.Add("_pragma", "query_only(1)")
	}
	return "file:" + path + "?" + q.Encode()
}

// Close stops the writer after it committed every request it accepted,
// lets the search index catch up, and closes the database.
func (db *DB) Close() error {
	var errs []error
	if db.w != nil {
		errs = append(errs, db.w.close())
	}
	if db.index != nil {
		errs = append(errs, db.index.close())
	}
	if db.ckpt != nil {
		errs = append(errs, db.ckpt.close())
	}
	if db.read != nil {
		db.closeStmts()
		errs = append(errs, db.read.Close())
	}
	if db.wdb != nil {
		errs = append(errs, db.wdb.Close())
	}
	return errors.Join(errs...)
}

// ReleaseMemory empties the page caches of the writer's connection and of
// the readers idle in the pool (PRAGMA shrink_memory); they fill again from
// the OS's page cache as queries need pages. It is for a node that went
// idle, and safe at any time: SQLite drops only the pages no statement
// holds, and database/sql runs one call at a time on a connection.
func (db *DB) ReleaseMemory(ctx context.Context) error {
	var errs []error
	for _, c := range []struct {
		name string
		conn *sql.Conn
	}{{"writer", db.w.conn}, {"search indexer", db.index.conn}} {
		if _, err := c.conn.ExecContext(ctx, shrinkMemory); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
		}
	}
	errs = append(errs, shrinkIdle(ctx, "reader", db.read), shrinkIdle(ctx, "search reader", db.index.read),
		shrinkIdle(ctx, "checkpointer", db.ckpt.conn))
	if err := errors.Join(errs...); err != nil {
		return dbError("release memory", err)
	}
	return nil
}

const shrinkMemory = "PRAGMA shrink_memory"

// shrinkIdle empties the page caches of the connections idle in pool.
func shrinkIdle(ctx context.Context, name string, pool *sql.DB) error {
	var errs []error
	idle := pool.Stats().Idle
	conns := make([]*sql.Conn, 0, idle)
	for range idle {
		c, err := pool.Conn(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			break
		}
		conns = append(conns, c) // held, so the next Conn is another one
		if _, err := c.ExecContext(ctx, shrinkMemory); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	for _, c := range conns {
		c.Close()
	}
	return errors.Join(errs...)
}

// Ping reports whether the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.read.PingContext(ctx); err != nil {
		return parley.WrapError(parley.EUNAVAILABLE, "database unavailable", err)
	}
	if db.w.closed() {
		return parley.Errorf(parley.EUNAVAILABLE, "database is closed")
	}
	return nil
}

func loadMigrations() ([]migrations.Migration, error) {
	return migrations.Load(migrationFS, "migrations")
}

// SchemaVersion returns the newest migration this binary knows.
func SchemaVersion() int {
	ms, _ := loadMigrations()
	return migrations.Latest(ms)
}

func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.wdb.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	current := 0
	if err := db.wdb.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	pending, err := migrations.Pending(ms, current, db.cfg.Migrate)
	if err != nil {
		return err
	}
	for _, m := range pending {
		if err := db.apply(ctx, m); err != nil {
			return err
		}
		db.logger.Info("applied migration", "store", "sqlite", "version", m.Version, "name", m.Name)
	}
	return nil
}

func (db *DB) apply(ctx context.Context, m migrations.Migration) error {
	tx, err := db.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %s: %w", m.Name, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return fmt.Errorf("migration %s: %w", m.Name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.Version, m.Name, time.Now().UnixMicro()); err != nil {
		return fmt.Errorf("record migration %s: %w", m.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit migration %s: %w", m.Name, err)
	}
	return nil
}

// Times are stored as Unix microseconds.
func ts(t time.Time) int64 { return t.UnixMicro() }

func fromTS(v int64) time.Time { return time.UnixMicro(v).UTC() }

func fromNullTS(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromTS(v.Int64)
	return &t
}
