// Package engineio is a server for Engine.IO v4, the transport layer under
// Socket.IO: sessions over HTTP long-polling and WebSocket, the upgrade from
// one to the other, and server-driven heartbeats.
//
// It knows nothing of Socket.IO or of chat: a Server hands each session's
// messages to a Handler and lets any goroutine send to a session. It mounts on
// a standard http.ServeMux.
//
// Memory is the design constraint. An idle WebSocket session owns no goroutine
// and no buffer: connections are handed from net/http to an epoll loop
// (github.com/lesismal/nbio), heartbeats for all sessions run from one heap and
// one goroutine, and packet queues exist only while packets wait. The codec and
// the session state machine reach WebSockets only through two small
// interfaces, wsUpgrader and wsConn (ws_nbio.go and wsframe.go implement them),
// so the implementation can be swapped without touching the protocol.
//
// A WebSocket's outbound frames wait in a buffer of the connection until
// its flusher (a goroutine for every two processors, each connection always
// with the same one) writes the connection's waiting frames with one system
// call (flusher.go): under load the frames of one burst (a store commit's
// acknowledgements, a message's deliveries) leave together.
//
// Text messages reach the Handler as the client sent them, valid UTF-8 or
// not, on both transports: a WebSocket does not fail such a frame with 1007,
// so that the layer above can answer it the same way whatever the
// transport.
//
// What a client can make the server hold is bounded in bytes: inbound
// WebSocket messages waiting for the Handler (MaxInputBuffer), outbound
// bytes per session (MaxWriteBuffer) and for the whole server
// (MaxNodeBuffer).
//
// # Close reasons
//
// A closed session reports one Reason to Handler.Close. Every reason except
// ReasonForcedClose leaves the client free to reconnect, and the official
// clients do so by themselves; the application decides whether a forced close
// should be followed by a reconnect (Socket.IO tells the client explicitly).
//
//	transport close       the client closed the connection or sent a close packet
//	transport error       the connection broke (reset, aborted long-poll, write error)
//	ping timeout          no pong within PingTimeout of a ping
//	parse error           the client sent a packet that does not decode; reconnecting is fine,
//	                      a client that keeps doing it is buggy
//	forced close          the server called Session.Close
//	server shutting down  Server.Close; reconnect, possibly to another node
//	slow consumer         the outbound queue or write buffer overflowed, or the node's outbound
//	                      budget did and this session held the most; reconnect and resync
//	input overflow        the client sent WebSocket messages faster than they were handled and
//	                      more than MaxInputBuffer bytes waited; reconnect and slow down
package engineio
