package sqlite_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/sqlite"
)

// TestReleaseMemory drops the page caches again and again while the writer
// commits and readers read: every call succeeds and every page read is
// whole.
func TestReleaseMemory(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	const convs, perConv = 20, 200
	first, err := sqlite.BulkLoad(ctx, db, convs, perConv, time.Now().UnixMicro())
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(2)
	go func() { // releases
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := db.ReleaseMemory(ctx); err != nil {
				errs <- err
				return
			}
		}
	}()
	go func() { // the writer keeps committing
		defer wg.Done()
		for range 20 {
			if _, err := sqlite.BulkLoad(ctx, db, 5, 50, time.Now().UnixMicro()); err != nil {
				errs <- err
				return
			}
		}
	}()
	for i := range 400 {
		conv := parley.ID(first + int64(i%convs))
		ms, err := db.Messages(ctx, conv, parley.MessageFilter{Ceiling: perConv, Limit: 50})
		if err != nil || len(ms) != 50 || ms[49].Seq != perConv || ms[0].Seq != perConv-49 {
			t.Fatalf("page %d = %d messages, %v", i, len(ms), err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	db.Close()
	if err := db.ReleaseMemory(ctx); err == nil {
		t.Fatal("ReleaseMemory on a closed store succeeded")
	}
}
