package main

import (
	"encoding/json"
	"time"

	"github.com/parleyhq/parley/socketio"
)

// newSocketIO serves what the Socket.IO suite expects: namespaces "/" and
// "/custom" that emit "auth" with the handshake's auth payload on connection,
// and on "/" an echo of "message" as "message-back" and of
// "message-with-ack" through the ack.
func newSocketIO() (*socketio.Server, error) {
	srv, err := socketio.NewServer(socketio.Config{
		Engine:         suiteEngine,
		ConnectTimeout: 1000 * time.Millisecond,
	})
	if err != nil {
		return nil, err
	}
	emitAuth := func(s *socketio.Socket, auth json.RawMessage) error {
		if auth == nil {
			auth = json.RawMessage(`{}`)
		}
		return s.Emit("auth", auth)
	}
	srv.Of("/custom").OnConnect = emitAuth
	root := srv.Of("/")
	root.OnConnect = emitAuth
	root.On("message", func(s *socketio.Socket, ev socketio.Event) {
		_ = s.Emit("message-back", withBinary(ev)...)
	})
	root.On("message-with-ack", func(s *socketio.Socket, ev socketio.Event) {
		if ev.Ack != nil {
			_ = ev.Ack(withBinary(ev)...)
		}
	})
	return srv, nil
}

// withBinary turns the event's arguments back into Emit arguments, binary
// placeholders into their attachments.
func withBinary(ev socketio.Event) []any {
	out := make([]any, len(ev.Args))
	for i, a := range ev.Args {
		if n, ok := socketio.Placeholder(a); ok && n < len(ev.Attachments) {
			out[i] = ev.Attachments[n]
		} else {
			out[i] = a
		}
	}
	return out
}
