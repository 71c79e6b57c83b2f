package sqlite_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/sqlite"
	"github.com/parleyhq/parley/storetest"
)

// BenchmarkSearch searches a store of PARLEY_BENCH_MESSAGES messages
// (default 10,000,000) in conversations of 1,000, their text from
// storetest.Corpus, as a member of 50 of those conversations (see
// storetest.BenchSearch). The store is loaded through the writer's insert
// and index path.
//
//	PARLEY_BENCH_MESSAGES=1000000 go test ./sqlite -run '^$' -bench Search -benchtime 2000x -timeout 0
func BenchmarkSearch(b *testing.B) {
	total := storetest.BenchMessages(b)
	const perConv, member = 1000, 50
	convs := max(1, total/perConv)
	db := MustOpen(b)
	c := storetest.NewCorpus(1)
	t0 := time.Now()
	if v := os.Getenv("PARLEY_BENCH_AUTOMERGE"); v != "" {
		n, _ := strconv.Atoi(v)
		if err := sqlite.SetAutomerge(context.Background(), db, n); err != nil {
			b.Fatal(err)
		}
	}
	first, err := sqlite.BulkLoadSearch(context.Background(), db, convs, perConv, 256, time.Now(), c.Body)
	if err != nil {
		b.Fatal(err)
	}
	segs, err := sqlite.SearchSegments(context.Background(), db, os.Getenv("PARLEY_BENCH_OPTIMIZE") != "")
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d messages in %v; the search index has %d segments", convs*perConv, time.Since(t0).Round(time.Second), segs)
	windows := make([]parley.SearchWindow, 0, member)
	for i := range min(member, convs) {
		windows = append(windows, parley.SearchWindow{ConversationID: parley.ID(first + int64(i*(convs/min(member, convs)))), Ceiling: perConv})
	}
	storetest.BenchSearch(b, db, windows, c)
}

// BenchmarkSearchWhileSending searches a store of 100,000 messages while
// 16 senders store messages as fast as the writer takes them: what a
// search costs beside a saturated writer and an index that lags behind the
// sends (a message is found once its send is acknowledged: the search
// matches what the index lacks in the indexer's tail).
//
//	go test ./sqlite -run '^$' -bench SearchWhileSending -benchtime 300x
func BenchmarkSearchWhileSending(b *testing.B) {
	const convs, perConv, member = 100, 1000, 50
	db := MustOpen(b)
	c := storetest.NewCorpus(1)
	first, err := sqlite.BulkLoadSearch(context.Background(), db, convs, perConv, 256, time.Now(), c.Body)
	if err != nil {
		b.Fatal(err)
	}
	windows := make([]parley.SearchWindow, 0, member)
	for i := range member {
		windows = append(windows, parley.SearchWindow{ConversationID: parley.ID(first + int64(i*convs/member)), Ceiling: perConv})
	}
	load := storetest.NewAppendLoad(b, db, 16)
	stop := make(chan struct{})
	sent := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				sent <- n
				return
			default:
			}
			load.Send(b, 256)
			n += 256
		}
	}()
	start := time.Now()
	storetest.BenchSearch(b, db, windows, c)
	close(stop)
	b.Logf("%.0f sends a second beside the searches", float64(<-sent)/time.Since(start).Seconds())
}
