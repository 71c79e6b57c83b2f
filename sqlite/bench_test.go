package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/sqlite"
	"github.com/parleyhq/parley/storetest"
)

// BenchmarkAppendMessage is the stores' shared send-path benchmark
// (storetest.BenchAppendMessage) on a file in a temp dir.
func BenchmarkAppendMessage(b *testing.B) {
	storetest.BenchAppendMessage(b, func(b *testing.B) parley.Store { return MustOpen(b) })
}

// BenchmarkHistoryPage reads the newest 50 messages of a random
// conversation from a store of PARLEY_BENCH_MESSAGES messages (default
// 10,000,000: 10,000 conversations of 1,000), as the conversation screen
// does when it opens, and reports p50/p99 latency.
//
//	go test ./sqlite -run '^$' -bench HistoryPage -benchtime 20000x
func BenchmarkHistoryPage(b *testing.B) {
	total := storetest.BenchMessages(b)
	const perConv = 1000
	convs := total / perConv
	db := MustOpen(b)
	ctx := context.Background()
	first, err := sqlite.BulkLoad(ctx, db, convs, perConv, time.Now().UnixMicro())
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		conv := parley.ID(first + rng.Int64N(int64(convs)))
		t0 := time.Now()
		ms, err := db.Messages(ctx, conv, parley.MessageFilter{Ceiling: perConv, Limit: 50})
		lat = append(lat, time.Since(t0))
		if err != nil || len(ms) != 50 || ms[49].Seq != perConv {
			b.Fatalf("page = %d messages, %v", len(ms), err)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkCommitPages sends one message per commit, as a node does at
// low rates, and reports how many pages each commit appends to the
// write-ahead log (every one is written, checksummed and synced): with a
// text body, and with nothing for the full-text index.
//
//	go test ./sqlite -run '^$' -bench CommitPages -benchtime 2000x
func BenchmarkCommitPages(b *testing.B) {
	for _, tc := range []struct{ name, body string }{{"text", "a message of an ordinary length, about sixty bytes long"}, {"nothing-to-index", ""}} {
		b.Run(tc.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "parley.db")
			db, err := sqlite.Open(context.Background(), sqlite.Config{Path: path})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			// A connection of the benchmark's own reads the log's length.
			wal, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { wal.Close() })
			checkpoint := func(mode string) int {
				var busy, logged, copied int
				if err := wal.QueryRow(`PRAGMA wal_checkpoint(`+mode+`)`).Scan(&busy, &logged, &copied); err != nil {
					b.Fatal(err)
				}
				return logged
			}
			a, c := storetest.MustUser(b, db), storetest.MustUser(b, db)
			conv := storetest.MustConversation(b, db, parley.Direct, a, c)
			d := storetest.MustDevice(b, db, a)
			// Warm: the tables and indexes past their first pages.
			for i := range 500 {
				storetest.MustSend(b, db, conv, a, d, fmt.Sprint("warm-", i), tc.body)
			}
			// The log is emptied every 50 commits, well before SQLite's
			// own checkpoint (at 1,000 pages) would.
			const chunk = 50
			pages, commits := 0, 0
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%chunk == 0 {
					b.StopTimer()
					if i > 0 {
						pages += checkpoint("PASSIVE")
					}
					checkpoint("TRUNCATE")
					b.StartTimer()
				}
				storetest.MustSend(b, db, conv, a, d, fmt.Sprint("m-", i), tc.body)
				commits++
			}
			b.StopTimer()
			pages += checkpoint("PASSIVE")
			b.ReportMetric(float64(pages)/float64(commits), "wal-pages/commit")
		})
	}
}
