package postgres_test

import (
	"context"
	"testing"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/testenv"
	"github.com/parleyhq/parley/postgres"
	"github.com/parleyhq/parley/storetest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// MustOpen opens a store on a fresh database of the test binary's shared
// PostgreSQL server, closed at cleanup.
func MustOpen(tb testing.TB) *postgres.DB {
	tb.Helper()
	return MustOpenConfig(tb, postgres.Config{DSN: testenv.MustPostgres(tb).DSN()})
}

// MustOpenConfig opens a store with cfg, closed at cleanup.
func MustOpenConfig(tb testing.TB, cfg postgres.Config) *postgres.DB {
	tb.Helper()
	db, err := postgres.Open(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) parley.Store { return MustOpen(t) })
}
