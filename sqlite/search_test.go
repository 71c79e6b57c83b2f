package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/parleyhq/parley/internal/migrations"
	"github.com/parleyhq/parley/sqlite"
	"github.com/parleyhq/parley/storetest"
)

// TestSearchBackfill: a database made before the search index gets the
// messages it holds indexed by the migration that adds it.
func TestSearchBackfill(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "parley.db")
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
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
		if _, err := raw.Exec(m.SQL); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		if _, err := raw.Exec(`INSERT INTO schema_migrations VALUES (?, ?, 0)`, m.Version, m.Name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.Exec(`INSERT INTO conversations (id, type, created_by, created_at, last_seq, last_activity_at) VALUES (1, 'group', 1, 0, 5, 0)`); err != nil {
		t.Fatal(err)
	}
	for i, m := range storetest.BackfillFixture {
		var recalled any
		if m.Recalled {
			recalled = i + 1
		}
		if _, err := raw.Exec(`INSERT INTO messages (id, conversation_id, seq, sender_id, sender_device_id, type, body, created_at, recalled_at)
			VALUES (?, 1, ?, 1, 1, ?, ?, ?, ?)`, i+1, i+1, string(m.Type), m.Body, i+1, recalled); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()

	db, err := sqlite.Open(ctx, sqlite.Config{Path: path, Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	storetest.CheckBackfill(t, db)
}
