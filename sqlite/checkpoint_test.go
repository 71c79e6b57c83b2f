package sqlite_test

import (
	"context"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/sqlite"
)

// TestCheckpointsKeepTheLogShort: with the writer's automatic checkpoint
// off, the checkpointer and the writer's follow-up still copy the log into
// the file and let the log start over while the writer is busy. (Without
// the follow-up it never starts over: a checkpoint beside a busy writer
// never finds all of it copied when a write begins, and the log holds
// everything written.)
func TestCheckpointsKeepTheLogShort(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "parley.db")
	db, err := sqlite.Open(ctx, sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	body := func() string { return "a message of an ordinary length, about sixty bytes long, and some more" }
	dbAtOpen, seqAtOpen := fileSize(t, path), walSequence(t, path)
	var maxWAL atomic.Int64
	start := time.Now()
	// Four loaders keep the writer from ever waiting for work, for long
	// enough to have several rounds of checkpoints even under the race
	// detector.
	const loadFor = 4 * time.Second
	errs := make(chan error, 4)
	for range cap(errs) {
		go func() {
			for time.Since(start) < loadFor {
				if _, err := sqlite.BulkLoadSearch(ctx, db, 100, 10, 50, time.Now(), body); err != nil {
					errs <- err
					return
				}
				if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > maxWAL.Load() {
					maxWAL.Store(fi.Size()) // a sample; the largest is near enough
				}
			}
			errs <- nil
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	grown, restarts := fileSize(t, path)-dbAtOpen, walSequence(t, path)-seqAtOpen
	t.Logf("in %v the database grew %d KB; the log started over %d times and held at most %d KB",
		time.Since(start).Round(time.Millisecond), grown>>10, restarts, maxWAL.Load()>>10)
	if grown < 1<<20 {
		t.Fatalf("the database file grew %d bytes: the log was not checkpointed into it", grown)
	}
	if restarts < 1 {
		t.Fatalf("the log started over %d times in %v of writes", restarts, loadFor)
	}
}

// walSequence returns the checkpoint sequence number in the header of the
// database's write-ahead log, which SQLite increments each time the log
// starts over.
func walSequence(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Open(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var h [32]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		t.Fatal(err)
	}
	return int64(binary.BigEndian.Uint32(h[12:16]))
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
