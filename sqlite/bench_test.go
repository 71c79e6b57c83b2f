package sqlite_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/sqlite"
	"github.com/parleyhq/parley/storetest"
)

// BenchmarkAppendMessage measures the durable send path (dedup, seq,
// insert, watermarks, grouped fsync) with 1, 16 and 256 concurrent
// senders, each in its own 1:1 conversation. It reports messages/s.
func BenchmarkAppendMessage(b *testing.B) {
	for _, senders := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) {
			db := MustOpen(b)
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
		})
	}
}

// BenchmarkHistoryPage reads the newest 50 messages of a random
// conversation from a store of PARLEY_BENCH_MESSAGES messages (default
// 10,000,000: 10,000 conversations of 1,000), as the conversation screen
// does when it opens, and reports p50/p99 latency.
//
//	go test ./sqlite -run '^$' -bench HistoryPage -benchtime 20000x
func BenchmarkHistoryPage(b *testing.B) {
	total := 10_000_000
	if v := os.Getenv("PARLEY_BENCH_MESSAGES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatal(err)
		}
		total = n
	}
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
