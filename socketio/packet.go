package socketio

import (
	"encoding/json"
	"errors"
	"strconv"
)

// Packet types of Socket.IO v5.
const (
	typeConnect      byte = '0'
	typeDisconnect   byte = '1'
	typeEvent        byte = '2'
	typeAck          byte = '3'
	typeConnectError byte = '4'
	typeBinaryEvent  byte = '5'
	typeBinaryAck    byte = '6'
)

// noAck marks a packet without an ack id.
const noAck = -1

// maxAckDigits keeps ack ids inside int64 and JavaScript's safe integers.
const maxAckDigits = 15

var errBadPacket = errors.New("socketio: invalid packet")

// packet is one decoded inbound packet. Slices alias the Engine.IO message.
type packet struct {
	typ         byte
	attachments int
	nsp         string
	id          int64
	payload     []byte
}

// limits bound what a client may send.
type limits struct {
	maxAttachments int
	maxDepth       int
}

// decodePacket parses the text form
// <type>[<attachments>-][<nsp>,][<ack id>][<JSON>] and checks the payload
// against its type as the reference parser does. Packets a client may not send
// (CONNECT_ERROR) are invalid too.
func decodePacket(b []byte, lim limits) (packet, error) {
	p := packet{nsp: "/", id: noAck}
	if len(b) == 0 || b[0] < typeConnect || b[0] > typeBinaryAck || b[0] == typeConnectError {
		return p, errBadPacket
	}
	p.typ = b[0]
	i := 1
	if p.typ == typeBinaryEvent || p.typ == typeBinaryAck {
		j := i
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == i || j-i > 3 || j >= len(b) || b[j] != '-' {
			return p, errBadPacket
		}
		n, _ := strconv.Atoi(string(b[i:j]))
		if n < 1 || n > lim.maxAttachments {
			return p, errBadPacket
		}
		p.attachments = n
		i = j + 1
	}
	if i < len(b) && b[i] == '/' {
		j := i
		for j < len(b) && b[j] != ',' {
			j++
		}
		p.nsp = nspString(b[i:j])
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
	p.payload = b[i:]
	if !payloadValid(&p, lim) {
		return p, errBadPacket
	}
	return p, nil
}

func payloadValid(p *packet, lim limits) bool {
	switch p.typ {
	case typeConnect:
		if len(p.payload) == 0 {
			return true
		}
		first, ok := validValue(p.payload, lim.maxDepth)
		return ok && first == '{'
	case typeDisconnect:
		return len(p.payload) == 0
	}
	// EVENT, ACK and their binary forms carry an array, checked when split.
	i := skipSpace(p.payload, 0)
	return i < len(p.payload) && p.payload[i] == '['
}

// nspString returns the namespace name, without allocating for "/".
func nspString(b []byte) string {
	if len(b) == 1 {
		return "/"
	}
	return string(b)
}

// reservedEvents may not be sent by a client: the reference client uses them
// for its own lifecycle.
var reservedEvents = map[string]bool{
	"connect": true, "connect_error": true, "disconnect": true,
	"disconnecting": true, "newListener": true, "removeListener": true,
}

// eventName checks and returns the event name: the first element of an event
// array, a string that is not reserved or a number (its JSON text). It
// aliases raw unless the string had escapes.
func eventName(raw json.RawMessage) ([]byte, bool) {
	if len(raw) == 0 {
		return nil, false
	}
	var name []byte
	switch raw[0] {
	case '"':
		name = raw[1 : len(raw)-1]
		for _, c := range name {
			if c == '\\' {
				var s string
				if json.Unmarshal(raw, &s) != nil {
					return nil, false
				}
				name = []byte(s)
				break
			}
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return raw, true
	default:
		return nil, false
	}
	return name, !reservedEvents[string(name)]
}

// appendHeader appends the packet type, attachment count, namespace and ack
// id: everything before the JSON payload.
func appendHeader(b []byte, typ byte, attachments int, nsp string, id int64) []byte {
	b = append(b, typ)
	if attachments > 0 {
		b = strconv.AppendInt(b, int64(attachments), 10)
		b = append(b, '-')
	}
	if nsp != "/" {
		b = append(b, nsp...)
		b = append(b, ',')
	}
	if id >= 0 {
		b = strconv.AppendInt(b, id, 10)
	}
	return b
}
