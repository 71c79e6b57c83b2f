package engineio

import (
	"bytes"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkSessionSend sends 120-byte messages over real WebSockets from
// parallel goroutines, to one session (many senders, one socket: a commit
// group's acks) and spread over 64 sessions; the clients drain without
// parsing. writes/packet is the writes handed to nbio per message sent.
func BenchmarkSessionSend(b *testing.B) {
	for _, tc := range []struct {
		name     string
		sessions int
	}{{"one", 1}, {"many", 64}} {
		b.Run(tc.name, func(b *testing.B) {
			h := newRecorder(false)
			h.closed = make(chan Reason, tc.sessions) // nobody waits for the closes
			ts := MustServer(b, Config{PingInterval: time.Minute, MaxWriteBuffer: 64 << 20}, h)
			for range tc.sessions {
				c, _ := ts.MustWebSocket(b)
				go c.Discard()
			}
			ss := h.waitSessions(b, tc.sessions)
			msg := bytes.Repeat([]byte("x"), 120)
			tr := ts.ws.(*nbioTransport)
			var next atomic.Int64
			w0 := tr.writes.Load()
			b.SetBytes(int64(len(msg)))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				s := ss[int(next.Add(1))%len(ss)]
				for pb.Next() {
					if err := s.Send(msg); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(tr.writes.Load()-w0)/float64(b.N), "writes/packet")
		})
	}
}

// waitSessions returns the first n sessions, waiting for their Open.
func (h *recorder) waitSessions(t testing.TB, n int) []*Session {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		h.mu.Lock()
		if len(h.sessions) >= n {
			ss := append([]*Session(nil), h.sessions[:n]...)
			h.mu.Unlock()
			return ss
		}
		h.mu.Unlock()
	}
	t.Fatalf("%d sessions did not open", n)
	return nil
}
