package engineio

import (
	"bytes"
	"errors"
	"testing"
	"testing/iotest"
)

// FuzzDecodePayload checks the long-polling decoder on any body: it never
// panics, fails only with errBadPacket, decodes every packet to a known
// type, and what it decodes encodes back to the same packets. The body is
// also read as a request body under a limit, which must hold.
func FuzzDecodePayload(f *testing.F) {
	for _, s := range []string{
		"4hello", "4a\x1e2\x1e4b", "bAQIDBA==", "1", "abc", "b", "4\x1e\x1e", "2probe", "3probe", "5", "6",
		"b====", "6\x1eb", "4hello\x1e2\x1e4world", "40", `42["chat",{"text":"hi"}]`, "451-[\"x\",{\"_placeholder\":true,\"num\":0}]\x1ebAQIDBA==",
		"bAQ\nIDBA==", "bAQIDBA", "7", "\x1e", "4\xff\xfe", "0{\"sid\":\"x\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		packets, err := decodePayload(body, nil)
		if err != nil {
			if err != errBadPacket {
				t.Fatalf("error %v, want errBadPacket", err)
			}
		} else {
			size := 0
			for _, p := range packets {
				if p.typ < typeOpen || p.typ > typeNoop || p.binary && p.typ != typeMessage {
					t.Fatalf("decoded %+v", p)
				}
				size += len(p.data)
			}
			if size > len(body) {
				t.Fatalf("%d bytes of packets from a %d-byte body", size, len(body))
			}
			mustRoundTrip(t, packets)
		}

		// The same bytes as one packet's data: a text message (which
		// cannot hold a separator) and a binary one come back unchanged.
		if bytes.IndexByte(body, recordSeparator) < 0 {
			mustRoundTrip(t, []packet{{typ: typeMessage, data: body}})
		}
		mustRoundTrip(t, []packet{{typ: typeMessage, binary: true, data: body}, {typ: typePing}})

		const limit = 64
		got, err := readBody(iotest.HalfReader(bytes.NewReader(body)), make([]byte, 0, 8), limit)
		switch {
		case len(body) > limit:
			if !errors.Is(err, errTooLarge) {
				t.Fatalf("readBody of %d bytes over a limit of %d: %v", len(body), limit, err)
			}
		case err != nil || !bytes.Equal(got, body):
			t.Fatalf("readBody = %q, %v; want %q", got, err, body)
		}
	})
}

// mustRoundTrip encodes packets as a polling body and checks that it
// decodes to the same packets.
func mustRoundTrip(t *testing.T, packets []packet) {
	t.Helper()
	var enc []byte
	for _, p := range packets {
		enc = appendRecord(enc, p.typ, p.binary, p.data)
	}
	again, err := decodePayload(enc, nil)
	if err != nil {
		t.Fatalf("encoded payload %q does not decode: %v", enc, err)
	}
	if len(again) != len(packets) {
		t.Fatalf("round trip of %q: %d packets, want %d", enc, len(again), len(packets))
	}
	for i := range again {
		if again[i].typ != packets[i].typ || again[i].binary != packets[i].binary || !bytes.Equal(again[i].data, packets[i].data) {
			t.Fatalf("round trip packet %d: %+v, want %+v", i, again[i], packets[i])
		}
	}
}

// FuzzNextFrame checks the WebSocket frame decoder on any bytes, after a
// fragment of any length: it never panics; a frame it accepts obeys RFC
// 6455's rules and the message limit and re-encodes to itself; every prefix
// of an accepted frame is merely incomplete; and when it waits for more
// bytes, at most a frame header and maxPayload more bytes settle the frame,
// so a client cannot make the socket buffer more than that.
func FuzzNextFrame(f *testing.F) {
	const maxPayload = 1000
	mask := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	for _, s := range []struct {
		b       []byte
		fragLen uint16
	}{
		{maskedFrame(true, opText, []byte("4hello"), mask), 0},
		{maskedFrame(true, opText, []byte("2probe"), mask), 0},
		{maskedFrame(true, opBinary, []byte{1, 2, 3, 4}, mask), 0},
		{maskedFrame(false, opText, []byte("4frag"), mask), 0},
		{maskedFrame(true, opContinuation, []byte("ment"), mask), 5},
		{maskedFrame(true, opPing, []byte("hi"), mask), 0},
		{maskedFrame(true, opClose, []byte{0x03, 0xe8}, mask), 0},
		{maskedFrame(true, opBinary, make([]byte, 300), mask), 0},
		{maskedFrame(true, opBinary, make([]byte, 300), mask), 700},
		{maskedFrame(true, opBinary, make([]byte, 300), mask)[:100], 0},
		{append([]byte{0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 5}, 0, 0, 0, 0, 1, 2, 3, 4, 5), 0},
		{hugeContinuationHeader, 1},
		{[]byte{0x81, 0x02, '4', 'x'}, 0},
		{[]byte{0xc1, 0x80}, 0},
		{[]byte{0x89, 0x80 | 126, 0, 126}, 0},
		{[]byte{0x81}, 0},
	} {
		f.Add(s.b, s.fragLen)
	}
	f.Fuzz(func(t *testing.T, b []byte, fragLen uint16) {
		frag := int(fragLen) % (maxPayload + 1)
		fr, used, code := nextFrame(b, frag, maxPayload)
		switch {
		case code != 0:
			if code != closeProtocolError && code != closeTooBig || used != 0 {
				t.Fatalf("nextFrame = used %d, code %d", used, code)
			}
			return
		case used == 0:
			padded := append(b[:len(b):len(b)], make([]byte, 14+maxPayload)...)
			if _, n, c := nextFrame(padded, frag, maxPayload); n == 0 && c == 0 {
				t.Fatalf("frame %x still incomplete after %d more bytes", b, 14+maxPayload)
			}
			return
		}
		if used > len(b) {
			t.Fatalf("used %d of %d bytes", used, len(b))
		}
		if fr.op&0x8 != 0 {
			if len(fr.payload) > 125 || !fr.fin {
				t.Fatalf("accepted control frame %+v", fr)
			}
		} else if len(fr.payload)+frag > maxPayload {
			t.Fatalf("accepted %d payload bytes after a %d-byte fragment", len(fr.payload), frag)
		}
		var m [4]byte
		copy(m[:], b[used-len(fr.payload)-4:])
		enc := maskedFrame(fr.fin, fr.op, fr.payload, m)
		again, n, c := nextFrame(enc, frag, maxPayload)
		if n != len(enc) || c != 0 || again.fin != fr.fin || again.op != fr.op || !bytes.Equal(again.payload, fr.payload) {
			t.Fatalf("re-encoded frame %x decodes to %+v (used %d, code %d), want %+v", enc, again, n, c, fr)
		}
		for i := range used {
			if _, n, c := nextFrame(b[:i], frag, maxPayload); n != 0 || c != 0 {
				t.Fatalf("prefix %x of an accepted frame: used %d, code %d", b[:i], n, c)
			}
		}
	})
}

// maskedFrame encodes a client frame, its length in the shortest form.
func maskedFrame(fin bool, op byte, payload []byte, mask [4]byte) []byte {
	b := appendFrameHeader(nil, op, len(payload))
	if !fin {
		b[0] &^= 0x80
	}
	b[1] |= 0x80
	b = append(b, mask[:]...)
	for i, c := range payload {
		b = append(b, c^mask[i&3])
	}
	return b
}
