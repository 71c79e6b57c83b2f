package postgres_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/parleyhq/parley/internal/testenv"
	"github.com/parleyhq/parley/postgres"
)

// MustConnect returns a plain connection to the database, for checks that
// look under the store, closed at cleanup.
func MustConnect(tb testing.TB, dsn string) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func queryInt(tb testing.TB, conn *pgx.Conn, sql string, args ...any) int64 {
	tb.Helper()
	var n int64
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	t.Run("EmptyDatabaseIsMigratedAlways", func(t *testing.T) {
		dsn := testenv.MustPostgres(t).DSN()
		MustOpenConfig(t, postgres.Config{DSN: dsn}).Close()
		conn := MustConnect(t, dsn)
		if v := queryInt(t, conn, `SELECT max(version) FROM schema_migrations`); v != int64(postgres.SchemaVersion()) || v < 1 {
			t.Fatalf("schema version %d, binary %d", v, postgres.SchemaVersion())
		}
		// Opening a current schema changes nothing.
		MustOpenConfig(t, postgres.Config{DSN: dsn}).Close()
		if n := queryInt(t, conn, `SELECT count(*) FROM schema_migrations`); n != int64(postgres.MigrationCount()) {
			t.Fatalf("%d migration records", n)
		}
	})
	t.Run("ErrBehindWithoutMigrate", func(t *testing.T) {
		dsn := testenv.MustPostgres(t).DSN()
		MustOpenConfig(t, postgres.Config{DSN: dsn}).Close()
		_, err := postgres.OpenWithMigration(ctx, postgres.Config{DSN: dsn}, `CREATE TABLE later (x int)`)
		if err == nil || !strings.Contains(err.Error(), "parley migrate") || !strings.Contains(err.Error(), "--migrate") {
			t.Fatalf("open behind schema: %v", err)
		}
		db, err := postgres.OpenWithMigration(ctx, postgres.Config{DSN: dsn, Migrate: true}, `CREATE TABLE later (x int)`)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		conn := MustConnect(t, dsn)
		if v := queryInt(t, conn, `SELECT max(version) FROM schema_migrations`); v != int64(postgres.SchemaVersion()+1) {
			t.Fatalf("schema version after migrate = %d", v)
		}
		queryInt(t, conn, `SELECT count(*) FROM later`)
	})
	t.Run("ErrNewerThanBinary", func(t *testing.T) {
		dsn := testenv.MustPostgres(t).DSN()
		MustOpenConfig(t, postgres.Config{DSN: dsn}).Close()
		conn := MustConnect(t, dsn)
		if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations VALUES (9999, '9999_future.sql', now())`); err != nil {
			t.Fatal(err)
		}
		_, err := postgres.Open(ctx, postgres.Config{DSN: dsn, Migrate: true})
		if err == nil || !strings.Contains(err.Error(), "newer") {
			t.Fatalf("open newer schema: %v", err)
		}
	})
	t.Run("FailedMigrationChangesNothing", func(t *testing.T) {
		dsn := testenv.MustPostgres(t).DSN()
		MustOpenConfig(t, postgres.Config{DSN: dsn}).Close()
		_, err := postgres.OpenWithMigration(ctx, postgres.Config{DSN: dsn, Migrate: true}, `CREATE TABLE half (x int); SELECT no_such_function()`)
		if err == nil {
			t.Fatal("a failing migration was accepted")
		}
		conn := MustConnect(t, dsn)
		if v := queryInt(t, conn, `SELECT max(version) FROM schema_migrations`); v != int64(postgres.SchemaVersion()) {
			t.Fatalf("schema version after a failed migration = %d", v)
		}
		if n := queryInt(t, conn, `SELECT count(*) FROM pg_class WHERE relname = 'half'`); n != 0 {
			t.Fatal("a failed migration left a table behind")
		}
	})
	t.Run("NodesStartingTogether", func(t *testing.T) {
		dsn := testenv.MustPostgres(t).DSN()
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db, err := postgres.Open(ctx, postgres.Config{DSN: dsn})
				if err != nil {
					errs <- err
					return
				}
				db.Close()
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		conn := MustConnect(t, dsn)
		if n := queryInt(t, conn, `SELECT count(*) FROM schema_migrations`); n != int64(postgres.MigrationCount()) {
			t.Fatalf("%d migration records after concurrent starts", n)
		}
	})
}
