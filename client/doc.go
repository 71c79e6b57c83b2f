// Package client is the Go client of Parley: typed calls for the HTTP API
// (Client) and a Socket.IO v4 client over WebSocket for the realtime
// contract (Socket).
//
// Failures the server reports come back as *parley.Error carrying the
// server's code (parley.ErrorCode(err) reads it), over HTTP and in acks
// alike, so callers branch on the same codes as the server's own layers.
// Transport failures (no connection, a dropped socket, an ack that never
// came) are ordinary wrapped errors; ErrDisconnected and ErrAckTimeout mark
// the ones after which a send may be retried with the same client_msg_id,
// which the server deduplicates.
//
// The realtime part speaks Engine.IO v4 over WebSocket only and writes its
// packets itself: a Go program has no reason to start on long-polling, and
// the codec is small. One goroutine per Socket reads frames, answers the
// server's heartbeats, resolves acks and delivers events in the order the
// server sent them; nothing else runs per message, so one process can drive
// thousands of sockets (the load generator does).
//
//	c := client.New("http://127.0.0.1:8080", nil)
//	if _, err := c.Login(ctx, parley.LoginRequest{Handle: "ann", Password: pw}); err != nil { … }
//	s, err := c.Dial(ctx, client.SocketConfig{Handler: func(ev client.Event) { … }})
//	m, err := s.Send(ctx, parley.SendRequest{ConversationID: id, ClientMsgID: uuid, Body: "hi"})
package client
