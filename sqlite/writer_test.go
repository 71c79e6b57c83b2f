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
