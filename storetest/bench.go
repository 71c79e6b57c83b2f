package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/parleyhq/parley"
)

// BenchAppendMessage measures a store's durable send path (dedup, seq,
// insert, watermarks, grouped commit) with 1, 16, 256 and 1024 concurrent
// senders, each in its own 1:1 conversation, reporting messages/s. Every
// store runs this one benchmark, so their figures compare.
func BenchAppendMessage(b *testing.B, open func(b *testing.B) parley.Store) {
	for _, senders := range []int{1, 16, 256, 1024} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) {
			benchAppend(b, open(b), senders)
		})
	}
}

func benchAppend(b *testing.B, s parley.Store, senders int) {
	ctx := context.Background()
	type peer struct {
		u    *parley.User
		d    *parley.Device
		conv *parley.Conversation
	}
	peers := make([]peer, senders)
	for i := range peers {
		u, v := MustUser(b, s), MustUser(b, s)
		peers[i] = peer{u, MustDevice(b, s, u), MustConversation(b, s, parley.Direct, u, v)}
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
				if _, _, err := s.AppendMessage(ctx, m, hash, nil); err != nil {
					b.Error(err)
					return
				}
			}
		}(p)
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
