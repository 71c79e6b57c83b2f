package sqlite_test

import (
	"context"
	"math/rand/v2"
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
