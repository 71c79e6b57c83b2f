package parley

import (
	"bytes"
	"strconv"
)

// Server → client event names of the realtime contract, and the bus-only
// control events.
const (
	EventMessage      = "message"
	EventReceipt      = "receipt"
	EventRecall       = "recall"
	EventConversation = "conversation"
	EventTyping       = "typing"
	EventPresence     = "presence"
	// EventResync asks the client to run sync: events may have been lost.
	EventResync = "resync"
	// EventRevoke is bus-only: disconnect the sockets of Event.DeviceID
	// (its session was revoked).
	EventRevoke = "session:revoked"
	// EventSyncPoint names the SyncPoint a sync emits before replaying a
	// conversation; it never reaches a client.
	EventSyncPoint = "sync:point"
)

// Event is what the app publishes on a user's bus topic: a realtime event
// to emit to that user's connected devices.
type Event struct {
	Name string
	// DeviceID, when set, limits the event to that device.
	DeviceID ID
	// ExceptDevice, when set, skips that device (the sender of a message,
	// which has it in its ack already).
	ExceptDevice ID
	// ConversationID and Seq are set on message events so the gateway can
	// keep each socket's stream in seq order without decoding Data.
	ConversationID ID
	Seq            int64
	// Data is the event's JSON payload.
	Data []byte
}

// AppendEvent encodes e for the bus and appends it to b. The format is a
// text header of five NUL-terminated fields followed by the JSON data.
func AppendEvent(b []byte, e *Event) []byte {
	return append(AppendEventHeader(b, e), e.Data...)
}

// AppendEventHeader appends what AppendEvent writes before e's data, for a
// caller that encodes the data straight after it (e.Data is not read).
func AppendEventHeader(b []byte, e *Event) []byte {
	b = append(b, e.Name...)
	b = append(b, 0)
	b = strconv.AppendInt(b, int64(e.DeviceID), 10)
	b = append(b, 0)
	b = strconv.AppendInt(b, int64(e.ExceptDevice), 10)
	b = append(b, 0)
	b = strconv.AppendInt(b, int64(e.ConversationID), 10)
	b = append(b, 0)
	b = strconv.AppendInt(b, e.Seq, 10)
	return append(b, 0)
}

// DecodeEvent decodes a bus payload written by AppendEvent. Data aliases p.
// It returns EINVALID for a payload that is not an event.
func DecodeEvent(p []byte) (Event, error) {
	var e Event
	var f [5][]byte
	for i := range f {
		j := bytes.IndexByte(p, 0)
		if j < 0 {
			return e, Errorf(EINVALID, "malformed bus event")
		}
		f[i], p = p[:j], p[j+1:]
	}
	e.Name = string(f[0])
	var n [4]int64
	for i := range n {
		v, err := strconv.ParseInt(string(f[i+1]), 10, 64)
		if err != nil {
			return e, Errorf(EINVALID, "malformed bus event")
		}
		n[i] = v
	}
	e.DeviceID, e.ExceptDevice, e.ConversationID, e.Seq = ID(n[0]), ID(n[1]), ID(n[2]), n[3]
	e.Data = p
	return e, nil
}
