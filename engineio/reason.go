package engineio

import "errors"

// Reason says why a session closed; see the package documentation for which
// reasons a client should reconnect after.
type Reason string

// The close reasons. The first five are the reference server's wording.
const (
	ReasonTransportClose Reason = "transport close"
	ReasonTransportError Reason = "transport error"
	ReasonPingTimeout    Reason = "ping timeout"
	ReasonParseError     Reason = "parse error"
	ReasonForcedClose    Reason = "forced close"
	ReasonServerShutdown Reason = "server shutting down"
	ReasonSlowConsumer   Reason = "slow consumer"
	ReasonInputOverflow  Reason = "input overflow"
)

// ErrClosed is returned by sends to a closed session.
var ErrClosed = errors.New("engineio: session closed")
