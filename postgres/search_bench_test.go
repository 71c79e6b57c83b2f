package postgres_test

import (
	"context"
	"os"
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
//
// PARLEY_BENCH_POSTGRES_DSN names a database to search instead of a fresh
// one on a throwaway server: a run that finds it empty loads it and leaves
// it loaded, later runs search what is there (it must hold the load of the
// same PARLEY_BENCH_MESSAGES, whole), so a 10M load (15–20 minutes here)
// is paid once for many runs. Its role needs CREATE on the database and,
// for the CHECKPOINT that ends a load, pg_checkpoint (or superuser).
func BenchmarkSearch(b *testing.B) {
	total := storetest.BenchMessages(b)
	const perConv, member, days = 1000, 50, 30
	convs := max(1, total/perConv)
	start := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start.Add(days * 24 * time.Hour)
	dsn := os.Getenv("PARLEY_BENCH_POSTGRES_DSN")
	if dsn == "" {
		dsn = testenv.MustPostgres(b).DSN()
	}
	// A kept database is brought to this build's schema.
	db := MustOpenConfig(b, postgres.Config{DSN: dsn, Migrate: true, Now: func() time.Time { return now }})
	c := storetest.NewCorpus(1)
	first, loaded, messages, err := postgres.LoadedSearch(context.Background(), db)
	if err != nil {
		b.Fatal(err)
	}
	switch {
	case loaded == 0 && messages == 0:
		t0 := time.Now()
		if first, err = postgres.BulkLoadSearch(context.Background(), db, convs, perConv, start, days, c.Body); err != nil {
			b.Fatal(err)
		}
		b.Logf("loaded %d messages in %v", convs*perConv, time.Since(t0).Round(time.Second))
	case loaded != convs || messages != total:
		// A load stopped half way, or another one.
		b.Fatalf("the database holds %d conversations and %d messages, not the %d and %d of a whole load", loaded, messages, convs, total)
	}
	windows := make([]parley.SearchWindow, 0, member)
	for i := range min(member, convs) {
		windows = append(windows, parley.SearchWindow{ConversationID: parley.ID(first + int64(i*(convs/min(member, convs)))), Ceiling: perConv})
	}
	storetest.BenchSearch(b, db, windows, c)
}
