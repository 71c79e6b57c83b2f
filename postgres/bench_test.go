package postgres_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/testenv"
	"github.com/parleyhq/parley/postgres"
	"github.com/parleyhq/parley/storetest"
)

// BenchmarkAppendMessage measures the durable send path (dedup, seq under
// the conversation's lock, insert, watermarks, grouped commit) with 1, 16
// and 256 concurrent senders, each in its own 1:1 conversation, against a
// PostgreSQL server with fsync on. It reports messages/s.
func BenchmarkAppendMessage(b *testing.B) {
	for _, senders := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) {
			benchAppend(b, MustOpen(b), senders)
		})
	}
}

func benchAppend(b *testing.B, db *postgres.DB, senders int) {
	ctx := context.Background()
	type peer struct {
		u    *parley.User
		d    *parley.Device
		conv *parley.Conversation
	}
	peers := make([]peer, senders)
	for i := range peers {
		u, v := storetest.MustUser(b, db), storetest.MustUser(b, db)
		peers[i] = peer{u, storetest.MustDevice(b, db, u), storetest.MustConversation(b, db, parley.Direct, u, v)}
	}
	var next atomic.Int64
	hash := make([]byte, 32)
	b.ResetTimer()
	var wg sync.WaitGroup
	for _, p := range peers {
		wg.Add(1)
		go func(p peer) {
			defer wg.Done()
			for {
				n := next.Add(1)
				if n > int64(b.N) {
					return
				}
				m := &parley.Message{ConversationID: p.conv.ID, SenderID: p.u.ID, SenderDeviceID: p.d.ID,
					ClientMsgID: fmt.Sprint(n), Type: parley.TextMessage, Body: "benchmark message body of ordinary length"}
				if _, _, err := db.AppendMessage(ctx, m, hash); err != nil {
					b.Error(err)
					return
				}
			}
		}(p)
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkHistoryPage reads the newest 50 entries of a conversation (the
// conversation detail page) from a log of 1,100,000 entries over 30 daily
// partitions, the retention window. "sparse" reads 5,000 conversations of
// 200 entries spread over the 30 days, whose newest page reaches into
// every partition; "active" reads 100 conversations of 1,000 entries of the
// last 3 days, whose newest page the recent partitions answer. It reports
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
		if _, _, err := db.AppendMessage(ctx, m, hashOf(m.ClientMsgID)); err != nil {
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
