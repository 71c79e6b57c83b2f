package socketio

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

var testLimits = limits{maxAttachments: 10, maxDepth: 32}

func TestDecodePacket(t *testing.T) {
	tests := []struct {
		in          string
		typ         byte
		nsp         string
		id          int64
		attachments int
		payload     string
	}{
		{"0", '0', "/", noAck, 0, ""},
		{`0{"token":"123"}`, '0', "/", noAck, 0, `{"token":"123"}`},
		{"0/admin,", '0', "/admin", noAck, 0, ""},
		{`0/admin,{"token":"123"}`, '0', "/admin", noAck, 0, `{"token":"123"}`},
		{"0/random", '0', "/random", noAck, 0, ""},
		{"1", '1', "/", noAck, 0, ""},
		{"1/custom", '1', "/custom", noAck, 0, ""},
		{"1/custom,", '1', "/custom", noAck, 0, ""},
		{`2["chat",{"text":"hi"}]`, '2', "/", noAck, 0, `["chat",{"text":"hi"}]`},
		{`2/admin,13["x"]`, '2', "/admin", 13, 0, `["x"]`},
		{`3/admin,13["ok"]`, '3', "/admin", 13, 0, `["ok"]`},
		{`3456[]`, '3', "/", 456, 0, `[]`},
		{`51-["upload",{"_placeholder":true,"num":0}]`, '5', "/", noAck, 1, `["upload",{"_placeholder":true,"num":0}]`},
		{`52-789["m",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, '5', "/", 789, 2, `["m",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`},
		{`61-/a,7[{"_placeholder":true,"num":0}]`, '6', "/a", 7, 1, `[{"_placeholder":true,"num":0}]`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := decodePacket([]byte(tt.in), testLimits)
			if err != nil {
				t.Fatal(err)
			}
			if p.typ != tt.typ || p.nsp != tt.nsp || p.id != tt.id || p.attachments != tt.attachments || string(p.payload) != tt.payload {
				t.Errorf("got %c %q id=%d att=%d %q", p.typ, p.nsp, p.id, p.attachments, p.payload)
			}
		})
	}
}

func TestDecodePacketErrors(t *testing.T) {
	for _, in := range []string{
		"", "abc", "7", "9[]",
		`4{"message":"x"}`,     // CONNECT_ERROR comes from servers only
		`0"str"`, `0[1]`, `0{`, // CONNECT takes an object
		`1{}`,                           // DISCONNECT takes nothing
		`2{}`, `2`, `2"x"`, `2abc["x"]`, // EVENT takes an array; ack id numeric
		`3`, `3{}`, // ACK takes an array
		`5["x"]`, `5-["x"]`, `50-["x"]`, `511-["x"]`, `5a-["x"]`, // attachment count
		`21234567890123456["x"]`, // ack id too long
	} {
		t.Run("ErrBadPacket/"+in, func(t *testing.T) {
			if p, err := decodePacket([]byte(in), testLimits); err == nil {
				t.Errorf("decodePacket(%q) = %+v, want error", in, p)
			}
		})
	}
}

func TestSplitArray(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		ok   bool
	}{
		{`[]`, nil, true},
		{` [ 1 , "a" ] `, []string{`1`, `"a"`}, true},
		{`["message",1,"2",{"3":[true]}]`, []string{`"message"`, `1`, `"2"`, `{"3":[true]}`}, true},
		{`["a\"b",null,false,-1.5e3]`, []string{`"a\"b"`, `null`, `false`, `-1.5e3`}, true},
		{`[1,]`, nil, false},
		{`[1 2]`, nil, false},
		{`[01]`, nil, false},
		{`["\x"]`, nil, false},
		{`[{"a" 1}]`, nil, false},
		{`[1]x`, nil, false},
		{`{}`, nil, false},
		{`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`, nil, false}, // deeper than 32
	}
	for _, tt := range tests {
		got, err := splitArray([]byte(tt.in), 32, nil)
		if (err == nil) != tt.ok {
			t.Errorf("splitArray(%s) error = %v", tt.in, err)
			continue
		}
		if !tt.ok {
			continue
		}
		if len(got) != len(tt.want) {
			t.Errorf("splitArray(%s) = %q", tt.in, got)
			continue
		}
		for i := range got {
			if string(got[i]) != tt.want[i] {
				t.Errorf("splitArray(%s)[%d] = %s, want %s", tt.in, i, got[i], tt.want[i])
			}
		}
	}
}

func TestEventName(t *testing.T) {
	for _, tt := range []struct {
		raw, name string
		ok        bool
	}{
		{`"chat"`, "chat", true}, {`"a\u0062"`, "ab", true}, {`1`, "1", true},
		{`"connect"`, "", false}, {`"disconnect"`, "", false}, {`"connect_error"`, "", false},
		{`{}`, "", false}, {`null`, "", false}, {`["x"]`, "", false},
	} {
		name, ok := eventName(json.RawMessage(tt.raw))
		if ok != tt.ok || (ok && string(name) != tt.name) {
			t.Errorf("eventName(%s) = %q, %v", tt.raw, name, ok)
		}
	}
}

func TestEncode(t *testing.T) {
	tests := []struct {
		name string
		got  func() ([]byte, [][]byte, error)
		want string
		bins int
	}{
		{"Event", func() ([]byte, [][]byte, error) {
			return encodeEvent(nil, "/", "message-back", noAck, []any{1, "2", json.RawMessage(`{"3":[true]}`)})
		}, `2["message-back",1,"2",{"3":[true]}]`, 0},
		{"EventNamespaceAck", func() ([]byte, [][]byte, error) {
			return encodeEvent(nil, "/admin", "x", 12, []any{nil})
		}, `2/admin,12["x",null]`, 0},
		{"BinaryEvent", func() ([]byte, [][]byte, error) {
			return encodeEvent(nil, "/", "message-back", noAck, []any{[]byte{1}, []byte{2}})
		}, `52-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, 2},
		{"Ack", func() ([]byte, [][]byte, error) { return encodeAck(nil, "/", 456, []any{1, "2"}) }, `3456[1,"2"]`, 0},
		{"AckEmpty", func() ([]byte, [][]byte, error) { return encodeAck(nil, "/", 1, nil) }, `31[]`, 0},
		{"BinaryAck", func() ([]byte, [][]byte, error) {
			return encodeAck(nil, "/", 789, []any{[]byte{1}, []byte{2}})
		}, `62-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, 2},
		{"EscapedName", func() ([]byte, [][]byte, error) { return encodeEvent(nil, "/", "a\"b", noAck, nil) }, `2["a\"b"]`, 0},
		{"AckAppender", func() ([]byte, [][]byte, error) {
			return encodeAck(nil, "/", 7, []any{appendJSON(`{"ok":true}`), "2"})
		}, `37[{"ok":true},"2"]`, 0},
		{"EventAppender", func() ([]byte, [][]byte, error) {
			return encodeEvent(nil, "/", "m", noAck, []any{1, appendJSON(`[1,2]`)})
		}, `2["m",1,[1,2]]`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, bins, err := tt.got()
			if err != nil || string(b) != tt.want || len(bins) != tt.bins {
				t.Errorf("got %s (%d attachments, %v), want %s", b, len(bins), err, tt.want)
			}
		})
	}
	if b := appendRawEvent(nil, &Namespace{name: "/"}, "message", []byte(`{"id":"1"}`)); string(b) != `2["message",{"id":"1"}]` {
		t.Errorf("raw event = %s", b)
	}
	if b := appendRawEvent(nil, &Namespace{name: "/a", prefix: []byte("/a,")}, "ping", nil); string(b) != `2/a,["ping"]` {
		t.Errorf("raw event = %s", b)
	}
}

// appendJSON is a JSONAppender that appends itself.
type appendJSON string

func (a appendJSON) AppendJSON(b []byte) ([]byte, error) { return append(b, a...), nil }

type failingAppender struct{}

func (failingAppender) AppendJSON(b []byte) ([]byte, error) { return b, errors.New("cannot encode") }

// TestEncodeAppenderInPlace checks that a JSONAppender writes into the
// packet's buffer, where a marshalled value takes a buffer of its own, and
// that its error fails the encoding.
func TestEncodeAppenderInPlace(t *testing.T) {
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() {
		if _, _, err := encodeAck(buf[:0], "/", 1, []any{appendJSON(`{"ok":true}`)}); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("an appender argument allocated %v times an ack", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		if _, _, err := encodeAck(buf[:0], "/", 1, []any{struct {
			OK bool `json:"ok"`
		}{true}}); err != nil {
			t.Fatal(err)
		}
	}); n == 0 {
		t.Error("a marshalled argument allocated nothing: the comparison above tests nothing")
	}
	if _, _, err := encodeAck(nil, "/", 1, []any{failingAppender{}}); err == nil || !strings.Contains(err.Error(), "cannot encode") {
		t.Errorf("a failing appender: err = %v", err)
	}
}
