package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Engine.IO v4 packet types: the first character of a text frame.
const (
	eioOpen    byte = '0'
	eioClose   byte = '1'
	eioPing    byte = '2'
	eioPong    byte = '3'
	eioMessage byte = '4'
	eioNoop    byte = '6'
)

// Socket.IO v5 packet types: the first character of an Engine.IO message.
const (
	sioConnect      byte = '0'
	sioDisconnect   byte = '1'
	sioEvent        byte = '2'
	sioAck          byte = '3'
	sioConnectError byte = '4'
	sioBinaryEvent  byte = '5'
	sioBinaryAck    byte = '6'
)

// noAck marks a packet without an ack id.
const noAck = -1

// maxAckDigits keeps ack ids inside int64 (and JavaScript's safe integers,
// which is what the server allows).
const maxAckDigits = 15

var errBadPacket = errors.New("client: invalid packet from server")

// openPacket is the Engine.IO handshake: the server's heartbeat timing and
// the largest message it accepts.
type openPacket struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int64    `json:"pingInterval"` // ms
	PingTimeout  int64    `json:"pingTimeout"`  // ms
	MaxPayload   int64    `json:"maxPayload"`
}

func decodeOpen(b []byte) (openPacket, error) {
	var o openPacket
	if len(b) == 0 || b[0] != eioOpen {
		return o, fmt.Errorf("%w: expected the open packet, got %q", errBadPacket, truncate(b))
	}
	if err := json.Unmarshal(b[1:], &o); err != nil || o.SID == "" || o.PingInterval <= 0 || o.PingTimeout <= 0 {
		return o, fmt.Errorf("%w: malformed open packet %q", errBadPacket, truncate(b))
	}
	return o, nil
}

// heartbeat is how long the client waits for a ping before it considers
// the connection dead: the interval plus the timeout, as the official
// clients do.
func (o openPacket) heartbeat() time.Duration {
	return time.Duration(o.PingInterval+o.PingTimeout) * time.Millisecond
}

// packet is one decoded Socket.IO packet; data aliases the frame.
type packet struct {
	typ         byte
	attachments int
	nsp         string
	id          int64
	data        []byte
}

// decodePacket parses <type>[<attachments>-][<nsp>,][<ack id>][<JSON>], the
// payload of an Engine.IO message packet.
func decodePacket(b []byte) (packet, error) {
	p := packet{nsp: "/", id: noAck}
	if len(b) == 0 || b[0] < sioConnect || b[0] > sioBinaryAck {
		return p, errBadPacket
	}
	p.typ = b[0]
	i := 1
	if p.typ == sioBinaryEvent || p.typ == sioBinaryAck {
		j := i
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == i || j-i > 6 || j >= len(b) || b[j] != '-' {
			return p, errBadPacket
		}
		p.attachments, _ = strconv.Atoi(string(b[i:j]))
		i = j + 1
	}
	if i < len(b) && b[i] == '/' {
		j := i
		for j < len(b) && b[j] != ',' {
			j++
		}
		if j-i > 1 {
			p.nsp = string(b[i:j])
		}
		i = j
		if i < len(b) {
			i++ // the comma
		}
	}
	if i < len(b) && b[i] >= '0' && b[i] <= '9' {
		j := i
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j-i > maxAckDigits {
			return p, errBadPacket
		}
		p.id, _ = strconv.ParseInt(string(b[i:j]), 10, 64)
		i = j
	}
	p.data = b[i:]
	return p, nil
}

// splitArgs splits the JSON array of an EVENT or ACK into its elements.
// The elements are copies, so they outlive the frame they came in.
func splitArgs(data []byte) ([]json.RawMessage, error) {
	var args []json.RawMessage
	if err := json.Unmarshal(data, &args); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadPacket, err)
	}
	return args, nil
}

// eventName returns the name of an event array's first element: a string
// (or, as the protocol allows, a number).
func eventName(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	if raw[0] != '"' {
		if _, err := strconv.ParseFloat(string(raw), 64); err == nil {
			return string(raw), true
		}
		return "", false
	}
	if plainString(raw) {
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// plainString reports whether a JSON string literal has no escapes.
func plainString(raw []byte) bool {
	if len(raw) < 2 || raw[len(raw)-1] != '"' {
		return false
	}
	for _, c := range raw[1 : len(raw)-1] {
		if c == '\\' || c == '"' || c < 0x20 {
			return false
		}
	}
	return true
}

// appendConnect appends the Engine.IO message carrying a Socket.IO CONNECT
// to "/" with the auth payload.
func appendConnect(b []byte, auth any) ([]byte, error) {
	b = append(b, eioMessage, sioConnect)
	if auth == nil {
		return b, nil
	}
	return appendJSON(b, auth)
}

// appendEvent appends the Engine.IO message carrying an EVENT for the
// namespace "/", with an ack id when id is not noAck.
func appendEvent(b []byte, id int64, event string, payload any) ([]byte, error) {
	b = append(b, eioMessage, sioEvent)
	if id != noAck {
		b = strconv.AppendInt(b, id, 10)
	}
	b = append(b, '[')
	b = appendString(b, event)
	if payload != nil {
		b = append(b, ',')
		var err error
		if b, err = appendJSON(b, payload); err != nil {
			return b, err
		}
	}
	return append(b, ']'), nil
}

// appendJSON appends v encoded as JSON; already encoded payloads are
// appended as they are.
func appendJSON(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case json.RawMessage:
		if len(v) == 0 {
			return append(b, "null"...), nil
		}
		if !json.Valid(v) {
			return b, errors.New("client: payload is not valid JSON")
		}
		return append(b, v...), nil
	case []byte:
		return b, errors.New("client: binary payloads are not supported; send JSON")
	}
	j, err := json.Marshal(v)
	if err != nil {
		return b, fmt.Errorf("client: encode payload: %w", err)
	}
	return append(b, j...), nil
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			j, _ := json.Marshal(s)
			return append(b, j...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func truncate(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "…"
	}
	return string(b)
}
