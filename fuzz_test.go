package parley_test

import (
	"bytes"
	"encoding/json"
	"maps"
	"strconv"
	"strings"
	"testing"

	"github.com/parleyhq/parley"
)

// FuzzID checks every way an id is read: a JSON value, a JSON object key
// (the conversation ids of sync's cursors), text and ParseID. What is
// accepted is never negative, is the decimal the input spells, and writes
// back to text that reads as the same id. Errors are EINVALID.
func FuzzID(f *testing.F) {
	for _, s := range []string{
		`"42"`, `42`, `"0"`, `0`, `null`, `"-1"`, `-1`, `"x"`, `1.5`, `1e3`, `"99999999999999999999"`,
		`"9223372036854775807"`, `"9223372036854775808"`, `"+7"`, `"007"`, `"-0"`, `" 1"`, `"4\u0032"`, `""`, `"`, `true`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var id parley.ID
		err := json.Unmarshal(b, &id)
		if err == nil && string(bytes.TrimSpace(b)) != "null" {
			var text string
			if json.Unmarshal(b, &text) != nil {
				text = string(bytes.TrimSpace(b)) // a number
			}
			if v, perr := strconv.ParseInt(text, 10, 64); perr != nil || v != int64(id) {
				t.Fatalf("%s read as id %d", b, id)
			}
		}
		if err == nil {
			mustRoundTripID(t, id)
		}

		var tid parley.ID
		if err := tid.UnmarshalText(b); err == nil {
			if v, perr := strconv.ParseInt(string(b), 10, 64); perr != nil || v != int64(tid) {
				t.Fatalf("text %q read as id %d", b, tid)
			}
			mustRoundTripID(t, tid)
		} else if parley.ErrorCode(err) != parley.EINVALID {
			t.Fatalf("UnmarshalText(%q): %v", b, err)
		}

		if pid, err := parley.ParseID(string(b)); err == nil {
			if pid <= 0 || pid.String() != strings.TrimLeft(strings.TrimPrefix(string(b), "+"), "0") {
				t.Fatalf("ParseID(%q) = %d", b, pid)
			}
		} else if parley.ErrorCode(err) != parley.EINVALID {
			t.Fatalf("ParseID(%q): %v", b, err)
		}

		// As a key of sync's cursors: accepted exactly when the key reads
		// as an id on its own.
		key := string(b)
		obj, err := json.Marshal(map[string]int64{key: 7})
		if err != nil {
			t.Fatal(err)
		}
		var m map[parley.ID]int64
		err = json.Unmarshal(obj, &m)
		var kid parley.ID
		kerr := kid.UnmarshalText([]byte(decodedKey(t, obj)))
		if (err == nil) != (kerr == nil) || err == nil && (len(m) != 1 || m[kid] != 7) {
			t.Fatalf("cursors %s: %v, %v; key alone: %d, %v", obj, m, err, kid, kerr)
		}
		if err == nil {
			enc, _ := json.Marshal(m)
			var back map[parley.ID]int64
			if err := json.Unmarshal(enc, &back); err != nil || !maps.Equal(back, m) {
				t.Fatalf("cursors round trip %s: %v, %v", enc, back, err)
			}
		}
	})
}

// decodedKey returns the one key of the JSON object obj.
func decodedKey(t *testing.T, obj []byte) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(obj, &m); err != nil || len(m) != 1 {
		t.Fatalf("object %s: %v", obj, err)
	}
	for k := range m {
		return k
	}
	return ""
}

// mustRoundTripID checks that id, written as JSON, as text and as a map
// key, reads back as itself.
func mustRoundTripID(t *testing.T, id parley.ID) {
	t.Helper()
	if id < 0 {
		t.Fatalf("accepted negative id %d", id)
	}
	b, err := json.Marshal(id)
	if err != nil {
		t.Fatal(err)
	}
	var back parley.ID
	if err := json.Unmarshal(b, &back); err != nil || back != id {
		t.Fatalf("JSON round trip of %d: %s, %d, %v", id, b, back, err)
	}
	text, _ := id.MarshalText()
	back = -1
	if err := back.UnmarshalText(text); err != nil || back != id {
		t.Fatalf("text round trip of %d: %q, %d, %v", id, text, back, err)
	}
}

// FuzzEvent checks the bus codec: any payload decodes or fails with
// EINVALID, what decodes encodes to a payload that decodes the same, and
// any event whose name has no NUL (names are the Event* constants) survives
// encoding.
func FuzzEvent(f *testing.F) {
	seed := parley.AppendEvent(nil, &parley.Event{Name: "message", DeviceID: 3, ExceptDevice: 4, ConversationID: 5, Seq: 6, Data: []byte(`{"a":"\u0000"}`)})
	f.Add(seed, "message", int64(9007199254740993))
	for _, s := range []string{"", "message", "m\x001\x002\x003\x00", "m\x00x\x000\x000\x000\x00{}", "\x00\x00\x00\x00\x00", "m\x00-1\x00+2\x0003\x009223372036854775808\x00"} {
		f.Add([]byte(s), "session:revoked", int64(-1))
	}
	f.Fuzz(func(t *testing.T, p []byte, name string, n int64) {
		e, err := parley.DecodeEvent(p)
		if err != nil {
			if parley.ErrorCode(err) != parley.EINVALID {
				t.Fatalf("DecodeEvent(%q): %v", p, err)
			}
		} else {
			if !bytes.HasSuffix(p, e.Data) {
				t.Fatalf("DecodeEvent(%q): data %q", p, e.Data)
			}
			mustRoundTripEvent(t, e)
		}
		if strings.IndexByte(name, 0) < 0 {
			mustRoundTripEvent(t, parley.Event{Name: name, DeviceID: parley.ID(n), ExceptDevice: parley.ID(-n), ConversationID: parley.ID(n / 3), Seq: n, Data: p})
		}
	})
}

func mustRoundTripEvent(t *testing.T, e parley.Event) {
	t.Helper()
	p := parley.AppendEvent([]byte("prefix"), &e)[len("prefix"):]
	got, err := parley.DecodeEvent(p)
	if err != nil || got.Name != e.Name || got.DeviceID != e.DeviceID || got.ExceptDevice != e.ExceptDevice ||
		got.ConversationID != e.ConversationID || got.Seq != e.Seq || !bytes.Equal(got.Data, e.Data) {
		t.Fatalf("round trip of %+v: %+v, %v", e, got, err)
	}
}
