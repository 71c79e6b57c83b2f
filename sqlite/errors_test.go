package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/parleyhq/parley"
)

// TestDBError checks the translation on real driver errors: a database
// locked by another connection and a read whose context ended are
// retryable, a constraint violation is not.
func TestDBError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	open := func(busyMS string) *sql.DB {
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout("+busyMS+")")
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		t.Cleanup(func() { db.Close() })
		return db
	}
	ctx := context.Background()
	holder, other := open("0"), open("0")
	if _, err := holder.Exec(`CREATE TABLE t (k INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	tx, err := holder.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	t.Run("BusyIsUnavailable", func(t *testing.T) {
		_, err := other.Exec(`INSERT INTO t VALUES (2)`)
		if err == nil {
			t.Fatal("a second writer was not refused")
		}
		if got := parley.ErrorCode(dbError("insert", err)); got != parley.EUNAVAILABLE {
			t.Fatalf("code of %v = %s, want %s", err, got, parley.EUNAVAILABLE)
		}
	})
	t.Run("DeadlineIsUnavailable", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := other.QueryContext(cctx, `SELECT k FROM t`)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("query with an ended context = %v", err)
		}
		if got := parley.ErrorCode(dbError("read", err)); got != parley.EUNAVAILABLE {
			t.Fatalf("code = %s, want %s", got, parley.EUNAVAILABLE)
		}
	})
	t.Run("ConstraintIsInternal", func(t *testing.T) {
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		_, err := other.Exec(`INSERT INTO t VALUES (1)`)
		if err == nil {
			t.Fatal("duplicate key accepted")
		}
		if got := parley.ErrorCode(dbError("insert", err)); got != parley.EINTERNAL {
			t.Fatalf("code = %s, want %s", got, parley.EINTERNAL)
		}
	})
	t.Run("ParleyErrorsPassThrough", func(t *testing.T) {
		in := parley.Errorf(parley.ENOTFOUND, "gone")
		if got := dbError("read", in); got != in {
			t.Fatalf("dbError changed a parley error: %v", got)
		}
	})
}
