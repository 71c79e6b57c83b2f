package postgres

import (
	"context"
	"embed"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleyhq/parley/internal/migrations"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationLock is the advisory lock key that serialises migrations of
// nodes starting at the same time.
const migrationLock int64 = 0x7061726c65794d47 // "parleyMG"

func loadMigrations() ([]migrations.Migration, error) {
	return migrations.Load(migrationFS, "migrations")
}

// SchemaVersion returns the newest migration this binary knows.
func SchemaVersion() int {
	ms, _ := loadMigrations()
	return migrations.Latest(ms)
}

// migrate checks the schema version and applies the pending migrations,
// all in one transaction under an advisory lock: nodes starting together
// wait for the first one, then find the schema current; a migration that
// fails leaves the schema as it was.
func (db *DB) migrate(ctx context.Context, ms []migrations.Migration) error {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return dbError("migrate", err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
		return dbError("lock migrations", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL)`); err != nil {
		return dbError("create schema_migrations", err)
	}
	var current int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return dbError("read schema version", err)
	}
	pending, err := migrations.Pending(ms, current, db.cfg.Migrate)
	if err != nil {
		return err
	}
	if len(pending) == 0 {
		return tx.Commit(ctx)
	}
	for _, m := range pending {
		if err := apply(ctx, tx, m); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return dbError("commit migrations", err)
	}
	for _, m := range pending {
		db.logger.Info("applied migration", "store", "postgres", "version", m.Version, "name", m.Name)
	}
	return nil
}

// migrationSteps holds, by version, work a migration does in Go after its
// SQL, in the same transaction: what SQL alone cannot compute.
var migrationSteps = map[int]func(ctx context.Context, tx pgx.Tx) error{
	8: backfillSearch,
}

func apply(ctx context.Context, tx pgx.Tx, m migrations.Migration) error {
	// Without arguments pgx uses the simple protocol, which runs a file of
	// several statements.
	if _, err := tx.Exec(ctx, m.SQL); err != nil {
		return dbError("migration "+m.Name, err)
	}
	if step := migrationSteps[m.Version]; step != nil {
		if err := step(ctx, tx); err != nil {
			return dbError("migration "+m.Name, err)
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
		m.Version, m.Name, time.Now()); err != nil {
		return dbError("record migration "+m.Name, err)
	}
	return nil
}
