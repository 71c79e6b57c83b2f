package sqlite_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/parleyhq/parley"
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
