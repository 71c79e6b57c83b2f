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
	l := NewAppendLoad(b, s, senders)
	b.ResetTimer()
	l.Send(b, b.N)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// AppendLoad is a number of users, each sending into a 1:1 conversation
// of its own, one message at a time: the load of the stores' send-path
// benchmarks.
type AppendLoad struct {
	s     parley.Store
	peers []appendPeer
	next  atomic.Int64 // the last client_msg_id used
}

type appendPeer struct {
	u    *parley.User
	d    *parley.Device
	conv *parley.Conversation
}

// NewAppendLoad makes the senders' users, devices and conversations.
func NewAppendLoad(tb testing.TB, s parley.Store, senders int) *AppendLoad {
	l := &AppendLoad{s: s, peers: make([]appendPeer, senders)}
	for i := range l.peers {
		u, v := MustUser(tb, s), MustUser(tb, s)
		l.peers[i] = appendPeer{u, MustDevice(tb, s, u), MustConversation(tb, s, parley.Direct, u, v)}
	}
	return l
}

// Send has the senders store n messages between them, all at once, each
// waiting for its last to be stored before the next; it returns when all
// are.
func (l *AppendLoad) Send(tb testing.TB, n int) {
	ctx := context.Background()
	last := l.next.Load() + int64(n)
	hash := make([]byte, 32)
	var wg sync.WaitGroup
	for _, p := range l.peers {
		wg.Go(func() {
			for {
				i := l.next.Add(1)
				if i > last {
					return
				}
				m := &parley.Message{ConversationID: p.conv.ID, SenderID: p.u.ID, SenderDeviceID: p.d.ID,
					ClientMsgID: fmt.Sprint(i), Type: parley.TextMessage, Body: "benchmark message body of ordinary length"}
				if _, _, err := l.s.AppendMessage(ctx, m, hash, nil); err != nil {
					tb.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	l.next.Store(last)
}
