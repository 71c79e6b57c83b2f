package postgres_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/testenv"
	"github.com/parleyhq/parley/postgres"
	"github.com/parleyhq/parley/storetest"
)

// BenchmarkAppendMessage is the stores' shared send-path benchmark
// (storetest.BenchAppendMessage) against a PostgreSQL server with fsync on.
func BenchmarkAppendMessage(b *testing.B) {
	storetest.BenchAppendMessage(b, func(b *testing.B) parley.Store { return MustOpen(b) })
}

// BenchmarkHistoryPage reads the newest 50 entries of a conversation (the
// conversation detail page) from a log of 1,100,000 entries over 30 daily
// partitions, the retention window. "sparse" reads 5,000 conversations of
// 200 entries spread over the 30 days, whose newest page spans 8 days,
// more than the recent partitions; "active" reads 100 conversations of
// 1,000 entries of the last 3 days, whose newest page is in the newest
// partition. It reports
// the median and 99th percentile latency of a page, read one at a time.
func BenchmarkHistoryPage(b *testing.B) {
	benchHistory(b, testenv.MustPostgres(b).DSN())
}

func benchHistory(b *testing.B, dsn string) {
	ctx := context.Background()
	start := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start.Add(30 * 24 * time.Hour)
	db := MustOpenConfig(b, postgres.Config{DSN: dsn, Now: func() time.Time { return now }})
	u, v := storetest.MustUser(b, db), storetest.MustUser(b, db)
	d := storetest.MustDevice(b, db, u)
	conv := storetest.MustConversation(b, db, parley.Direct, u, v)
	for day := range 30 { // one message a day creates the partitions
		m := textMessage(conv, u, d, fmt.Sprint("day-", day))
		m.CreatedAt = start.Add(time.Duration(day) * 24 * time.Hour)
		if _, _, err := db.AppendMessage(ctx, m, hashOf(m.ClientMsgID), nil); err != nil {
			b.Fatal(err)
		}
	}
	conn := MustConnect(b, dsn)
	for _, sql := range []string{
		`INSERT INTO messages (conversation_id, seq, id, sender_id, sender_device_id, type, body, created_at)
			SELECT 1000000 + c, s, nextval('message_ids'), 1, 1, 'text', 'a message body of ordinary length, about fifty bytes',
				'2027-01-01 00:00:00+00'::timestamptz + s * interval '3.6 hours'
			FROM generate_series(1, 200) s, generate_series(1, 5000) c`,
		`INSERT INTO messages (conversation_id, seq, id, sender_id, sender_device_id, type, body, created_at)
			SELECT 2000000 + c, s, nextval('message_ids'), 1, 1, 'text', 'a message body of ordinary length, about fifty bytes',
				'2027-01-28 00:00:00+00'::timestamptz + s * interval '4 minutes'
			FROM generate_series(1, 1000) s, generate_series(1, 100) c`,
		`INSERT INTO conversations (id, type, created_by, created_at, last_seq, last_activity_at)
			SELECT 1000000 + c, 'group', 1, now(), 200, now() FROM generate_series(1, 5000) c
			UNION ALL SELECT 2000000 + c, 'group', 1, now(), 1000, now() FROM generate_series(1, 100) c`,
		`VACUUM ANALYZE`,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			b.Fatal(err)
		}
	}
	// The log is built once; the page reads run as sub-benchmarks, which
	// the testing package repeats with growing b.N.
	for _, tc := range []struct {
		name        string
		base, convs int64
	}{{"sparse", 1000001, 5000}, {"active", 2000001, 100}} {
		b.Run(tc.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				c := parley.ID(tc.base + int64(i)%tc.convs)
				t0 := time.Now()
				ms, err := db.Messages(ctx, c, parley.MessageFilter{Limit: parley.DefaultHistoryLimit})
				lat = append(lat, time.Since(t0))
				if err != nil || len(ms) != parley.DefaultHistoryLimit {
					b.Fatalf("page of %s = %d entries, %v", c, len(ms), err)
				}
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			}
		})
	}
}
