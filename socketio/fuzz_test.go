package socketio

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecodePacket checks the packet decoder on any Engine.IO message: it
// never panics and fails only with errBadPacket; what it accepts has fields
// within the limits and a payload of the kind its type requires; and the
// header it decoded, encoded again before the same payload, decodes to the
// same packet.
func FuzzDecodePacket(f *testing.F) {
	for _, s := range []string{
		"0", `0{"token":"123"}`, "0/admin,", `0/admin,{"token":"123"}`, "0/random", "1", "1/custom", "1/custom,",
		`2["chat",{"text":"hi"}]`, `2/admin,13["x"]`, `3/admin,13["ok"]`, `3456[]`, `21["send",{"conversation_id":"1"}]`,
		`51-["upload",{"_placeholder":true,"num":0}]`, `52-789["m",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`,
		`61-/a,7[{"_placeholder":true,"num":0}]`, `51-["x",{"_placeholder":true,"num":-1},{"num":1e3,"_placeholder":true}]`, `510-["x"]`, `511-["x"]`, `5999-["x"]`, `5-["x"]`, `50-["x"]`,
		`2123456789012345["x"]`, `21234567890123456["x"]`, `2007["x"]`, `2/,1["x"]`, `2 ["x"]`, `2["connect"]`, `2[1]`,
		"2abc[]", "4abc", `4{"message":"x"}`, `2{}`, `2[`, `5-`, `0/`, `2/a`, `2["\u00e9"]`, `0{"a":[[[[[[]]]]]]}`, "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePacket(b, testLimits)
		if err != nil {
			if err != errBadPacket {
				t.Fatalf("error %v, want errBadPacket", err)
			}
			return
		}
		binaryType := p.typ == typeBinaryEvent || p.typ == typeBinaryAck
		switch {
		case p.typ < typeConnect || p.typ > typeBinaryAck || p.typ == typeConnectError:
			t.Fatalf("accepted type %q", p.typ)
		case binaryType != (p.attachments > 0) || p.attachments > testLimits.maxAttachments:
			t.Fatalf("type %c with %d attachments", p.typ, p.attachments)
		case p.id != noAck && (p.id < 0 || p.id > 999_999_999_999_999):
			t.Fatalf("ack id %d", p.id)
		case p.nsp == "" || p.nsp[0] != '/' || strings.Contains(p.nsp, ","):
			t.Fatalf("namespace %q", p.nsp)
		case !bytes.HasSuffix(b, p.payload):
			t.Fatalf("payload %q is not the end of %q", p.payload, b)
		}
		switch p.typ {
		case typeEvent, typeBinaryEvent, typeAck, typeBinaryAck:
			args, err := splitArray(p.payload, testLimits.maxDepth, nil)
			if err != nil {
				break
			}
			for _, a := range args {
				if !json.Valid(a) {
					t.Fatalf("element %q of %q is not valid JSON", a, p.payload)
				}
				if n, ok := Placeholder(a); ok && n < 0 || !ok && n != 0 {
					t.Fatalf("Placeholder(%s) = %d, %v", a, n, ok)
				}
			}
			if (p.typ == typeEvent || p.typ == typeBinaryEvent) && len(args) > 0 {
				checkEventName(t, args[0])
			}
		case typeConnect:
			if len(p.payload) > 0 && !json.Valid(p.payload) {
				t.Fatalf("CONNECT payload %q is not valid JSON", p.payload)
			}
		case typeDisconnect:
			if len(p.payload) > 0 {
				t.Fatalf("DISCONNECT with payload %q", p.payload)
			}
		}

		enc := append(appendHeader(nil, p.typ, p.attachments, p.nsp, p.id), p.payload...)
		again, err := decodePacket(enc, testLimits)
		if err != nil || again.typ != p.typ || again.attachments != p.attachments || again.nsp != p.nsp || again.id != p.id || !bytes.Equal(again.payload, p.payload) {
			t.Fatalf("re-encoded %q decodes to %+v, %v; want %+v", enc, again, err, p)
		}
	})
}

// checkEventName checks eventName against encoding/json: a string name is
// the string (when the JSON is valid UTF-8; encoding/json replaces invalid
// bytes, eventName keeps them),
// a reserved one is refused, a number is its text, and anything else is
// refused.
func checkEventName(t *testing.T, raw json.RawMessage) {
	t.Helper()
	name, ok := eventName(raw)
	var s string
	switch {
	case json.Unmarshal(raw, &s) == nil:
		if ok == reservedEvents[s] {
			t.Fatalf("eventName(%s) ok=%v", raw, ok)
		}
		if ok && utf8.Valid(raw) && string(name) != s {
			t.Fatalf("eventName(%s) = %q, want %q", raw, name, s)
		}
	case raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9':
		if !ok || string(name) != string(raw) {
			t.Fatalf("eventName(%s) = %q, %v", raw, name, ok)
		}
	default:
		if ok {
			t.Fatalf("eventName(%s) accepted %q", raw, name)
		}
	}
}

// FuzzSplitArray compares the JSON scanner with encoding/json: it accepts
// exactly the JSON arrays nested no deeper than its limit, and splits them
// into the same elements.
func FuzzSplitArray(f *testing.F) {
	for _, s := range []string{
		`[]`, `[1,"a",{"b":[null,true,false]}]`, `[1,]`, `["\ud83d\ude00"]`, `[-0.5e-3]`, `[01]`, ` [ ] `, `[{"a":1,}]`,
		`null`, `[[[[]]]]`, `[{"a":{"b":{"c":[]}}}]`, `["\x"]`, `["\u12"]`, "[\"\xff\"]", `[1e]`, `[-]`, `[1.]`, `[tru]`, `[] x`, "[\"a\tb\"]",
	} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, b []byte, limit uint8) {
		maxDepth := 1 + int(limit)%8
		args, err := splitArray(b, maxDepth, nil)
		var ref []json.RawMessage
		refOK := json.Valid(b) && b[skipSpace(b, 0)] == '[' && json.Unmarshal(b, &ref) == nil && nesting(b) <= maxDepth
		if (err == nil) != refOK {
			t.Fatalf("splitArray(%q, %d): error %v; encoding/json valid %v, nesting %d", b, maxDepth, err, json.Valid(b), nesting(b))
		}
		if err != nil {
			return
		}
		if len(args) != len(ref) {
			t.Fatalf("splitArray(%q): %d elements, encoding/json %d", b, len(args), len(ref))
		}
		for i := range args {
			if !bytes.Equal(args[i], ref[i]) {
				t.Fatalf("splitArray(%q): element %d is %q, encoding/json %q", b, i, args[i], ref[i])
			}
		}
	})
}

// nesting returns how deep the valid JSON text b nests arrays and objects.
func nesting(b []byte) int {
	depth, most, inString := 0, 0, false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			depth++
			most = max(most, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return most
}

// FuzzEncodeEvent checks that events and acks the server encodes decode
// back, through the same decoder a client's packets go through, to the
// same namespace, ack id, name and arguments, with a placeholder per
// binary argument numbered in order.
func FuzzEncodeEvent(f *testing.F) {
	f.Add("/", "message", int64(-1), "hi", []byte{1, 2, 3}, []byte(`{"id":"1"}`), true)
	f.Add("/chat", "typing", int64(0), "", []byte(nil), []byte(`null`), false)
	f.Add("/", "a\"b\\c\n\u00e9", int64(999_999_999_999_999), "\x00\x1f\u2028", []byte{}, []byte(`[1,{"a":[]}]`), true)
	f.Add("/x", "42", int64(7), "\xff", []byte("bin"), []byte(`not json`), false)
	f.Fuzz(func(t *testing.T, nsp, event string, id int64, str string, bin []byte, raw []byte, ack bool) {
		if nsp == "" || nsp[0] != '/' || strings.Contains(nsp, ",") {
			return // Server.Of makes every name start with '/'
		}
		if id < 0 {
			id = noAck
		}
		id %= 1_000_000_000_000_000
		args := []any{str, bin, 42, nil}
		if json.Valid(raw) {
			args = append(args, json.RawMessage(raw))
		}
		if bin == nil {
			args[1] = false
		}
		var b []byte
		var bins [][]byte
		var err error
		if ack {
			if id == noAck {
				id = 0
			}
			b, bins, err = encodeAck(nil, nsp, id, args)
		} else {
			b, bins, err = encodeEvent(nil, nsp, event, id, args)
		}
		if err != nil {
			t.Fatal(err)
		}
		p, err := decodePacket(b, limits{maxAttachments: 10, maxDepth: math.MaxInt32})
		if err != nil {
			t.Fatalf("encoded %q does not decode: %v", b, err)
		}
		if p.nsp != nsp || p.id != id || p.attachments != len(bins) {
			t.Fatalf("encoded %q decodes to nsp %q, id %d, %d attachments; want %q, %d, %d", b, p.nsp, p.id, p.attachments, nsp, id, len(bins))
		}
		got, err := splitArray(p.payload, math.MaxInt32, nil)
		if err != nil {
			t.Fatalf("encoded %q: %v", b, err)
		}
		if !ack {
			var name string
			if len(got) == 0 || json.Unmarshal(got[0], &name) != nil || utf8.ValidString(event) && name != event {
				t.Fatalf("encoded %q: event name %q, want %q", b, got, event)
			}
			got = got[1:]
		}
		if len(got) != len(args) {
			t.Fatalf("encoded %q: %d arguments, want %d", b, len(got), len(args))
		}
		var s string
		if json.Unmarshal(got[0], &s) != nil || utf8.ValidString(str) && s != str {
			t.Fatalf("encoded %q: string argument %s, want %q", b, got[0], str)
		}
		if bin != nil {
			if n, ok := Placeholder(got[1]); !ok || n != 0 || len(bins) != 1 || !bytes.Equal(bins[0], bin) {
				t.Fatalf("encoded %q: binary argument %s (%d, %v), attachments %q", b, got[1], n, ok, bins)
			}
		} else if _, ok := Placeholder(got[1]); ok || len(bins) != 0 {
			t.Fatalf("encoded %q: placeholder without a binary argument", b)
		}
		if len(args) == 5 && !bytes.Equal(bytes.TrimSpace(got[4]), bytes.TrimSpace(raw)) {
			t.Fatalf("encoded %q: raw argument %s, want %s", b, got[4], raw)
		}
	})
}
