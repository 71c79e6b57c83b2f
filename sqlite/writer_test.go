package sqlite

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley"
)

// TestAbandonedRequestNeverRuns: a caller that stops waiting before the
// writer takes its request gets unavailable, and the request never runs
// (nothing is stored, nothing writes into the returned caller).
func TestAbandonedRequestNeverRuns(t *testing.T) {
	db, err := Open(context.Background(), Config{Path: filepath.Join(t.TempDir(), "w.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	busy := make(chan struct{})
	go db.w.do(context.Background(), func(b *batch) error {
		close(busy)
		time.Sleep(300 * time.Millisecond) // holds the writer
		return nil
	})
	<-busy
	var ran atomic.Bool
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = db.w.do(ctx, func(b *batch) error { ran.Store(true); return nil })
	if parley.ErrorCode(err) != parley.EUNAVAILABLE {
		t.Fatalf("err = %v, want unavailable", err)
	}
	// The next request runs after the abandoned one's turn.
	if err := db.w.do(context.Background(), func(b *batch) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if ran.Load() {
		t.Fatal("the abandoned request ran")
	}
}

// TestBatchKeepsNoMessage: the batch reused from commit to commit holds no
// message of the last one, nor its statement values, once it is over.
func TestBatchKeepsNoMessage(t *testing.T) {
	ctx := context.Background()
	db := openWriterTest(t)
	err := db.w.do(ctx, func(b *batch) error {
		for i := range 3 {
			b.pending = append(b.pending, dedupEntry{msg: &parley.Message{
				ID: parley.ID(i + 1), ConversationID: 1, Seq: int64(i + 1), SenderID: 1, SenderDeviceID: 1,
				Type: parley.TextMessage, Body: "kept?", CreatedAt: time.Now(),
			}})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The next batch runs after the last one was emptied.
	err = db.w.do(ctx, func(b *batch) error {
		if cap(b.pending) < 3 || cap(b.w.args) == 0 {
			t.Errorf("batch memory not reused: pending cap %d, args cap %d", cap(b.pending), cap(b.w.args))
		}
		for i, e := range b.pending[:cap(b.pending)] {
			if e.msg != nil {
				t.Errorf("pending[%d] still holds message %d", i, e.msg.ID)
			}
		}
		for i, v := range b.w.args[:cap(b.w.args)] {
			if v != nil {
				t.Errorf("args[%d] still holds %v", i, v)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestExecRowsRefusesAPartialRow: values that do not fill whole rows are
// an error, not rows cut short.
func TestExecRowsRefusesAPartialRow(t *testing.T) {
	ctx := context.Background()
	db := openWriterTest(t)
	var rowsErr error
	err := db.w.do(ctx, func(b *batch) error {
		rowsErr = b.execRows(`UPDATE members SET archived = archived WHERE (conversation_id, user_id) IN (VALUES %s)`, "(?,?)", 2,
			[]any{int64(1), int64(2), int64(3)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if rowsErr == nil {
		t.Fatal("3 values for rows of 2 were accepted")
	}
}

// openWriterTest opens an empty store for a writer test, closed at its end.
func openWriterTest(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), Config{Path: filepath.Join(t.TempDir(), "w.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
