// Package socketio is a Socket.IO v5 server (the protocol of socket.io 3 and
// 4) on top of package engineio: namespaces, events, acknowledgements in both
// directions and binary attachments. It knows nothing of chat.
//
// A Server serves one endpoint. Namespaces are registered explicitly with Of;
// a client asking for any other gets CONNECT_ERROR "Invalid namespace". Each
// namespace has an OnConnect hook, which sees the client's auth payload and
// may refuse it, event handlers registered with On, and an OnDisconnect hook:
//
//	srv, _ := socketio.NewServer(socketio.Config{})
//	root := srv.Of("/")
//	root.OnConnect = func(s *socketio.Socket, auth json.RawMessage) error {
//		user, err := authenticate(auth)
//		if err != nil {
//			return errors.New("unauthorized") // connect_error on the client
//		}
//		s.SetData(user)
//		return nil
//	}
//	root.On("send", func(s *socketio.Socket, ev socketio.Event) {
//		... json.Unmarshal(ev.Args[0], &req) ...
//		if ev.Ack != nil {
//			ev.Ack(json.RawMessage(`{"ok":true}`))
//		}
//	})
//	mux.Handle("/socket.io/", srv)
//
// Sending is safe from any goroutine and never blocks on the client: a client
// that cannot keep up is dropped with ReasonSlowConsumer. For fan-out, encode
// once with Namespace.PrepareEvent and send with Socket.EmitPrepared, or use
// Socket.EmitRaw with an already encoded JSON payload.
//
// Invalid packets (unknown type, malformed payload, non-numeric ack id, a
// reserved event name, too many attachments, attachments larger than
// MaxAttachmentBytes together, a binary packet for a namespace the client
// has not joined, JSON nested deeper than MaxJSONDepth) close the client's
// whole connection, as the reference server does. Connection state recovery
// is not implemented: the CONNECT reply is exactly {"sid": ...}, and clients
// catch up through the application.
//
// # Disconnect reasons
//
// OnDisconnect receives one Reason. Reason.ShouldReconnect says whether the
// client is expected back:
//
//	reason                       reconnects  cause
//	server namespace disconnect  no          Socket.Disconnect (the client sees "io server disconnect")
//	client namespace disconnect  no          the client left the namespace or called disconnect()
//	transport close              yes         the connection was closed
//	transport error              yes         the connection broke
//	ping timeout                 yes         no pong in time
//	parse error                  yes         the client sent an invalid packet
//	forced close                 yes         Socket.CloseConnection, or no namespace joined within ConnectTimeout
//	server shutting down         yes         Server.Close
//	slow consumer                yes         the client's outbound queue overflowed; it must resync
//	input overflow               yes         the client sent faster than its events were handled
package socketio
