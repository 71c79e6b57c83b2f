package engineio

import (
	"bytes"
	"testing"
)

func TestDecodePayload(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []packet
	}{
		{"OneText", "4hello", []packet{{typ: '4', data: []byte("hello")}}},
		{"Several", "4a\x1e2\x1e4b", []packet{{typ: '4', data: []byte("a")}, {typ: '2', data: []byte{}}, {typ: '4', data: []byte("b")}}},
		{"Binary", "4hello\x1ebAQIDBA==", []packet{{typ: '4', data: []byte("hello")}, {typ: '4', binary: true, data: []byte{1, 2, 3, 4}}}},
		{"EmptyMessage", "4", []packet{{typ: '4', data: []byte{}}}},
		{"Close", "1", []packet{{typ: '1', data: []byte{}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodePayload([]byte(tt.body), nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d packets, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if got[i].typ != tt.want[i].typ || got[i].binary != tt.want[i].binary || !bytes.Equal(got[i].data, tt.want[i].data) {
					t.Errorf("packet %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestDecodePayloadErrors(t *testing.T) {
	for _, body := range []string{"", "abc", "7", "4a\x1e", "\x1e4a", "4a\x1eabc", "b!!!", "bAQI", "x"} {
		t.Run("ErrBadPacket/"+body, func(t *testing.T) {
			if _, err := decodePayload([]byte(body), nil); err != errBadPacket {
				t.Errorf("decodePayload(%q) error = %v, want errBadPacket", body, err)
			}
		})
	}
}

func TestAppendRecord(t *testing.T) {
	var b []byte
	b = appendRecord(b, '4', false, []byte("hello"))
	b = appendRecord(b, '4', true, []byte{1, 2, 3, 4})
	b = appendRecord(b, '2', false, nil)
	if got, want := string(b), "4hello\x1ebAQIDBA==\x1e2"; got != want {
		t.Errorf("payload = %q, want %q", got, want)
	}
}

func TestDecodeText(t *testing.T) {
	for _, tt := range []struct {
		in  string
		ok  bool
		typ byte
	}{{"4x", true, '4'}, {"6", true, '6'}, {"0{}", true, '0'}, {"", false, 0}, {"7", false, 0}, {"a", false, 0}} {
		p, err := decodeText([]byte(tt.in))
		if (err == nil) != tt.ok || (tt.ok && p.typ != tt.typ) {
			t.Errorf("decodeText(%q) = %+v, %v", tt.in, p, err)
		}
	}
}
