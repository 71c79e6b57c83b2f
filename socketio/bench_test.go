package socketio

import (
	"encoding/json"
	"sync"
	"testing"
)

var benchEvent = []byte(`2["send",{"conversation_id":"1234567890","client_msg_id":"c-42","type":"text","body":"hello there, how are you?"}]`)

// BenchmarkDecodeEvent is the inbound per-event work before the handler:
// header, payload validation and split, event name.
func BenchmarkDecodeEvent(b *testing.B) {
	b.ReportAllocs()
	args := make([]json.RawMessage, 0, 4)
	for b.Loop() {
		p, err := decodePacket(benchEvent, testLimits)
		if err != nil {
			b.Fatal(err)
		}
		args, err = splitArray(p.payload, testLimits.maxDepth, args[:0])
		if err != nil {
			b.Fatal(err)
		}
		if _, ok := eventName(args[0]); !ok {
			b.Fatal("bad name")
		}
	}
}

// BenchmarkEncodeRawEvent is EmitRaw's encoding into a pooled buffer.
func BenchmarkEncodeRawEvent(b *testing.B) {
	b.ReportAllocs()
	nsp := &Namespace{name: "/"}
	data := []byte(`{"id":"99","conversation_id":"1234567890","seq":42,"sender_id":"7","type":"text","body":"hello there"}`)
	for b.Loop() {
		bp := getBuf()
		*bp = appendRawEvent((*bp)[:0], nsp, "message", data)
		putBuf(bp)
	}
}

// BenchmarkEmitRawWebSocket sends events to one WebSocket client end to
// end: encoding, framing, the socket write, and the client reading them.
func BenchmarkEmitRawWebSocket(b *testing.B) {
	var mu sync.Mutex
	var sock *Socket
	_, url := MustServer(b, Config{}, func(srv *Server) {
		srv.Of("/").OnConnect = func(s *Socket, _ json.RawMessage) error {
			mu.Lock()
			sock = s
			mu.Unlock()
			return nil
		}
	})
	tc := mustDialB(b, url)
	mu.Lock()
	s := sock
	mu.Unlock()
	data := []byte(`{"id":"99","conversation_id":"1234567890","seq":42,"body":"hello there"}`)
	done := make(chan error, 1)
	n := b.N
	go func() {
		for i := 0; i < n; i++ {
			if _, _, err := tc.Read(); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < n; i++ {
		if err := s.EmitRaw("message", data); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
