package engineio

import (
	"bytes"
	"encoding/base64"
	"errors"
)

// Packet types of Engine.IO v4, as the ASCII digit that starts a text packet.
const (
	typeOpen    byte = '0'
	typeClose   byte = '1'
	typePing    byte = '2'
	typePong    byte = '3'
	typeMessage byte = '4'
	typeUpgrade byte = '5'
	typeNoop    byte = '6'
)

// recordSeparator joins packets in one HTTP long-polling body.
const recordSeparator = 0x1e

// errBadPacket reports a packet or payload that does not decode; the session
// it came from is closed ("parse error").
var errBadPacket = errors.New("engineio: invalid packet")

// packet is one decoded inbound packet. data aliases the buffer it was decoded
// from unless the packet was base64 on polling.
type packet struct {
	typ    byte
	binary bool
	data   []byte
}

// decodeText decodes one text packet: a type digit and its data.
func decodeText(b []byte) (packet, error) {
	if len(b) == 0 || b[0] < typeOpen || b[0] > typeNoop {
		return packet{}, errBadPacket
	}
	return packet{typ: b[0], data: b[1:]}, nil
}

// decodePayload decodes a long-polling body into packets. The whole body is
// checked before any packet is returned, so a bad record in the middle never
// lets the packets before it through: the reference closes such a session, and
// half-delivered payloads would make that close racy for the application.
func decodePayload(body []byte, dst []packet) ([]packet, error) {
	if len(body) == 0 {
		return dst, errBadPacket
	}
	for {
		end := bytes.IndexByte(body, recordSeparator)
		rec := body
		if end >= 0 {
			rec = body[:end]
		}
		p, err := decodeRecord(rec)
		if err != nil {
			return dst, err
		}
		dst = append(dst, p)
		if end < 0 {
			return dst, nil
		}
		body = body[end+1:]
	}
}

func decodeRecord(rec []byte) (packet, error) {
	if len(rec) > 0 && rec[0] == 'b' {
		data := make([]byte, base64.StdEncoding.DecodedLen(len(rec)-1))
		n, err := base64.StdEncoding.Decode(data, rec[1:])
		if err != nil {
			return packet{}, errBadPacket
		}
		return packet{typ: typeMessage, binary: true, data: data[:n]}, nil
	}
	return decodeText(rec)
}

// appendRecord appends one packet to a long-polling body, with the separator
// when the body already holds a packet.
func appendRecord(body []byte, typ byte, binary bool, data []byte) []byte {
	if len(body) > 0 {
		body = append(body, recordSeparator)
	}
	if binary {
		body = append(body, 'b')
		return base64.StdEncoding.AppendEncode(body, data)
	}
	body = append(body, typ)
	return append(body, data...)
}
