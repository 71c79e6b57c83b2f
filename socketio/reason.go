package socketio

import (
	"errors"

	"github.com/parleyhq/parley/engineio"
)

// Reason says why a socket left its namespace. The wording is the reference
// server's. ShouldReconnect tells whether the client is expected to come back.
type Reason string

// The disconnect reasons.
const (
	// ReasonServerDisconnect: the server called Disconnect. The official
	// clients do not reconnect ("io server disconnect").
	ReasonServerDisconnect Reason = "server namespace disconnect"
	// ReasonClientDisconnect: the client left the namespace or closed.
	ReasonClientDisconnect Reason = "client namespace disconnect"
	// The connection ended; the client reconnects by itself.
	ReasonTransportClose Reason = "transport close"
	ReasonTransportError Reason = "transport error"
	ReasonPingTimeout    Reason = "ping timeout"
	// ReasonParseError: the client sent an invalid packet and was dropped.
	// It will reconnect; one that keeps doing so is buggy.
	ReasonParseError Reason = "parse error"
	// ReasonForcedClose: the server dropped the whole connection
	// (Socket.CloseConnection) without a DISCONNECT, so the client
	// reconnects.
	ReasonForcedClose Reason = "forced close"
	// ReasonServerShutdown: Server.Close; reconnect, possibly elsewhere.
	ReasonServerShutdown Reason = "server shutting down"
	// ReasonSlowConsumer: the client did not read fast enough and its
	// bounded queue overflowed. It reconnects and must resync.
	ReasonSlowConsumer Reason = "slow consumer"
	// ReasonInputOverflow: the client sent faster than its events were
	// handled and overflowed its bounded input. It reconnects.
	ReasonInputOverflow Reason = "input overflow"
)

// ShouldReconnect reports whether a client is expected to reconnect after
// this reason. Only an explicit namespace disconnect, from either side, is
// final.
func (r Reason) ShouldReconnect() bool {
	return r != ReasonServerDisconnect && r != ReasonClientDisconnect
}

func reasonFromEngine(r engineio.Reason) Reason {
	switch r {
	case engineio.ReasonTransportClose:
		return ReasonTransportClose
	case engineio.ReasonTransportError:
		return ReasonTransportError
	case engineio.ReasonPingTimeout:
		return ReasonPingTimeout
	case engineio.ReasonParseError:
		return ReasonParseError
	case engineio.ReasonServerShutdown:
		return ReasonServerShutdown
	case engineio.ReasonSlowConsumer:
		return ReasonSlowConsumer
	case engineio.ReasonInputOverflow:
		return ReasonInputOverflow
	}
	return ReasonForcedClose
}

// Errors returned by Socket methods and given to ack callbacks.
var (
	ErrDisconnected = errors.New("socketio: socket disconnected")
	ErrAckTimeout   = errors.New("socketio: ack timed out")
	ErrAckUsed      = errors.New("socketio: ack already sent")
	ErrNamespace    = errors.New("socketio: prepared packet is for another namespace")
)
