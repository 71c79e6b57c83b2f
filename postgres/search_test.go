package postgres_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/migrations"
	"github.com/parleyhq/parley/internal/testenv"
	"github.com/parleyhq/parley/postgres"
	"github.com/parleyhq/parley/storetest"
)

// TestSearchBackfill: a database made before the search index gets the
// messages it holds indexed by the migration that adds it.
func TestSearchBackfill(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.MustPostgres(t).DSN()
	conn := MustConnect(t, dsn)
	if _, err := conn.Exec(ctx, `CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	ms, err := migrations.Load(os.DirFS("."), "migrations")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Version >= 8 {
			break
		}
		if _, err := conn.Exec(ctx, m.SQL); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations VALUES ($1, $2, now())`, m.Version, m.Name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE messages_p20261101 PARTITION OF messages FOR VALUES FROM ('2026-11-01 00:00:00+00') TO ('2026-11-02 00:00:00+00');
		INSERT INTO conversations (id, type, created_by, created_at, last_seq, last_activity_at) VALUES (1, 'group', 1, now(), 5, now())`); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	for i, m := range storetest.BackfillFixture {
		var recalled *time.Time
		if m.Recalled {
			recalled = &at
		}
		if _, err := conn.Exec(ctx, `INSERT INTO messages (id, conversation_id, seq, sender_id, sender_device_id, type, body, created_at, recalled_at)
			VALUES ($1, 1, $1, 1, 1, $2, $3, $4, $5)`, i+1, string(m.Type), m.Body, at.Add(time.Duration(i)*time.Second), recalled); err != nil {
			t.Fatal(err)
		}
	}
	storetest.CheckBackfill(t, MustOpenConfig(t, postgres.Config{DSN: dsn, Migrate: true}))
}
