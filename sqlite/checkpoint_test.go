package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/sqlite"
	"github.com/parleyhq/parley/storetest"
)

// TestCheckpointsBesideTheWriter checks that commits no longer copy the
// log into the database file at SQLite's default threshold (1,000 pages)
// and that the checkpointer does it instead. 300 commits of one message
// write about 3,000 pages to the log.
func TestCheckpointsBesideTheWriter(t *testing.T) {
	const pageFrame = 4096 + 24 // a page in the log, with its frame header
	send := func(t *testing.T, every time.Duration) (db *sqlite.DB, path string, before int64) {
		path = filepath.Join(t.TempDir(), "parley.db")
		db, err := sqlite.Open(context.Background(), sqlite.Config{Path: path, CheckpointEvery: every})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		before = size(t, path)
		a, b := storetest.MustUser(t, db), storetest.MustUser(t, db)
		conv := storetest.MustConversation(t, db, parley.Direct, a, b)
		d := storetest.MustDevice(t, db, a)
		for i := range 300 {
			storetest.MustSend(t, db, conv, a, d, fmt.Sprint("m-", i), "a message of an ordinary length, about sixty bytes long")
		}
		return db, path, before
	}
	t.Run("WriterLeavesTheLog", func(t *testing.T) {
		db, path, before := send(t, time.Hour)
		if n := sqlite.Checkpoints(db); n != 0 {
			t.Fatalf("%d checkpoints ran; want none within the hour", n)
		}
		// A log restarted after a checkpoint would have stayed near 1,000
		// pages.
		if wal := size(t, path+"-wal"); wal < 2000*pageFrame {
			t.Fatalf("log of %d pages after 300 commits; the writer checkpointed", wal/pageFrame)
		}
		if after := size(t, path); after != before {
			t.Fatalf("database file went from %d to %d bytes with no checkpoint", before, after)
		}
	})
	t.Run("NoCheckpointerTheWriterCopiesIt", func(t *testing.T) {
		_, path, before := send(t, -1)
		if wal := size(t, path+"-wal"); wal >= 2000*pageFrame {
			t.Fatalf("log of %d pages after 300 commits; the writer did not checkpoint", wal/pageFrame)
		}
		if after := size(t, path); after <= before {
			t.Fatalf("database file at %d bytes, %d before: nothing was copied", after, before)
		}
	})
	t.Run("CheckpointerCopiesIt", func(t *testing.T) {
		db, path, before := send(t, 10*time.Millisecond)
		deadline := time.Now().Add(10 * time.Second)
		for size(t, path) <= before || sqlite.Checkpoints(db) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("after 10 s, %d checkpoints and the database file at %d bytes (%d before)", sqlite.Checkpoints(db), size(t, path), before)
			}
			time.Sleep(5 * time.Millisecond)
		}
		// The writer never had to: the log stayed short of its backstop.
		if wal := size(t, path+"-wal"); wal >= 16384*pageFrame {
			t.Fatalf("log of %d pages", wal/pageFrame)
		}
	})
}

func size(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
