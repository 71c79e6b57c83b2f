package socketio

import (
	"encoding/json"
	"testing"
	"time"
)

// TestOnAck checks that OnAck hears each answered event of a registered
// handler once, by name, and nothing of events without an ack or without
// a handler.
func TestOnAck(t *testing.T) {
	type acked struct {
		event string
		d     time.Duration
	}
	got := make(chan acked, 4)
	_, url := MustServer(t, Config{OnAck: func(event string, d time.Duration) { got <- acked{event, d} }}, func(srv *Server) {
		root := srv.Of("/")
		root.On("send", func(s *Socket, ev Event) {
			if ev.Ack != nil {
				_ = ev.Ack(json.RawMessage(`{"ok":true}`))
				_ = ev.Ack() // a second answer is refused and not counted
			} else {
				_ = s.EmitRaw("no-ack", nil)
			}
		})
		root.OnUnknown = func(s *Socket, ev Event) {
			if ev.Ack != nil {
				_ = ev.Ack(json.RawMessage(`{"ok":false}`))
			}
		}
	})
	tc := MustDial(t, url)
	tc.send("40")
	tc.expectPrefix("40{")
	tc.send(`421["send","x"]`)
	tc.expect(`431[{"ok":true}]`)
	tc.send(`42["send","x"]`)
	tc.expect(`42["no-ack"]`)
	tc.send(`422["made-up","x"]`)
	tc.expect(`432[{"ok":false}]`)
	a := <-got
	if a.event != "send" || a.d < 0 {
		t.Errorf("OnAck(%q, %v)", a.event, a.d)
	}
	select {
	case a := <-got:
		t.Errorf("extra OnAck(%q)", a.event)
	default:
	}
}
