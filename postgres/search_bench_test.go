package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/testenv"
	"github.com/parleyhq/parley/postgres"
	"github.com/parleyhq/parley/storetest"
)

// BenchmarkSearch searches a store of PARLEY_BENCH_MESSAGES messages
// (default 10,000,000) in conversations of 1,000, their text from
// storetest.Corpus, created over 30 daily partitions (the retention
// window), as a member of 50 of those conversations (see
// storetest.BenchSearch).
//
//	PARLEY_BENCH_MESSAGES=1000000 go test ./postgres -run '^$' -bench Search -benchtime 2000x -timeout 0
func BenchmarkSearch(b *testing.B) {
	total := storetest.BenchMessages(b)
	const perConv, member, days = 1000, 50, 30
	convs := max(1, total/perConv)
	start := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start.Add(days * 24 * time.Hour)
	db := MustOpenConfig(b, postgres.Config{DSN: testenv.MustPostgres(b).DSN(), Now: func() time.Time { return now }})
	c := storetest.NewCorpus(1)
	t0 := time.Now()
	first, err := postgres.BulkLoadSearch(context.Background(), db, convs, perConv, start, days, c.Body)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d messages in %v", convs*perConv, time.Since(t0).Round(time.Second))
	windows := make([]parley.SearchWindow, 0, member)
	for i := range min(member, convs) {
		windows = append(windows, parley.SearchWindow{ConversationID: parley.ID(first + int64(i*(convs/min(member, convs)))), Ceiling: perConv})
	}
	storetest.BenchSearch(b, db, windows, c)
}
