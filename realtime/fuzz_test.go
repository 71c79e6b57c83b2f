package realtime

import (
	"encoding/json"
	"maps"
	"testing"

	"github.com/parleyhq/parley"
)

// FuzzDecodeArg checks the decoding of event payloads as the send, delivered
// and read, and sync events do it: any payload fails with EINVALID or
// decodes; ids never come out negative; what decodes validates without
// panicking, and encodes back to a payload that decodes to the same value.
func FuzzDecodeArg(f *testing.F) {
	for _, s := range []string{
		`{"conversation_id":"12","client_msg_id":"c1","type":"text","body":"hi"}`,
		`{"conversation_id":12,"client_msg_id":"c1","body":"hi","reply_to":"3"}`,
		`{"conversation_id":"5","client_msg_id":"c2","type":"image","media_id":"9"}`,
		`{"conversation_id":"-1","client_msg_id":"c1","body":"hi"}`,
		`{"conversation_id":"9223372036854775808","seq":1}`,
		`{"conversation_id":"1","seq":0}`, `{"conversation_id":"1","seq":null}`, `{"conversation_id":"1"}`,
		`{"conversation_id":1.5,"seq":1}`, `{"conversation_id":"0x1","seq":1}`, `{"conversation_id":"+1","seq":-7}`,
		`{"cursors":{"1":10,"2":0}}`, `{"cursors":{"-1":10}}`, `{"cursors":{"01":1,"1":2}}`, `{"cursors":{"x":1}}`,
		`{"cursors":{"1":1.5}}`, `{"cursors":null}`, `{"cursors":[]}`, `{"body":"\ud800"}`, "{\"body\":\"\xff\"}",
		`null`, ``, `[]`, `"x"`, ` {} `, `{`, `{"conversation_id":"1","seq":9223372036854775807}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req parley.SendRequest
		if mustDecode(t, b, &req) {
			if req.ConversationID < 0 || req.MediaID < 0 || req.ReplyTo < 0 {
				t.Fatalf("decoded negative ids: %+v", req)
			}
			again := req
			if err := again.Validate(4096); err != nil {
				if c := parley.ErrorCode(err); c != parley.EINVALID && c != parley.ETOOLARGE {
					t.Fatalf("Validate: %v (code %s)", err, c)
				}
			}
			var back parley.SendRequest
			mustReencode(t, req, &back)
			if back != req {
				t.Fatalf("round trip: %+v, want %+v", back, req)
			}
		}

		var a seqArg
		if mustDecode(t, b, &a) {
			err := a.validate()
			if err == nil && (a.ConversationID <= 0 || a.Seq == nil) {
				t.Fatalf("validated %+v", a)
			}
			if err != nil && parley.ErrorCode(err) != parley.EINVALID {
				t.Fatalf("validate: %v", err)
			}
		}

		var s struct {
			Cursors map[parley.ID]int64 `json:"cursors"`
		}
		if mustDecode(t, b, &s) {
			for id := range s.Cursors {
				if id < 0 {
					t.Fatalf("cursor for conversation %d", id)
				}
			}
			var back struct {
				Cursors map[parley.ID]int64 `json:"cursors"`
			}
			mustReencode(t, s, &back)
			if !maps.Equal(back.Cursors, s.Cursors) {
				t.Fatalf("cursors round trip: %v, want %v", back.Cursors, s.Cursors)
			}
		}
	})
}

// mustDecode runs decodeArg and reports whether it decoded; its only error
// is EINVALID.
func mustDecode(t *testing.T, b []byte, v any) bool {
	t.Helper()
	err := decodeArg(b, v)
	if err != nil && parley.ErrorCode(err) != parley.EINVALID {
		t.Fatalf("decodeArg(%q): %v (code %s)", b, err, parley.ErrorCode(err))
	}
	return err == nil
}

// mustReencode encodes v as a client would and decodes it into back.
func mustReencode(t *testing.T, v, back any) {
	t.Helper()
	enc, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := decodeArg(enc, back); err != nil {
		t.Fatalf("re-encoded %s: %v", enc, err)
	}
}
