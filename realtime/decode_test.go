package realtime

import (
	"encoding/json"
	"testing"

	"github.com/parleyhq/parley"
)

// checkDecodeSend holds decodeSend to decodeArg: the same request, and an
// error exactly when decodeArg errs; a payload the fast path takes must be
// one encoding/json takes too, with the same result.
func checkDecodeSend(t *testing.T, arg []byte) (fast bool) {
	t.Helper()
	var want parley.SendRequest
	wantErr := decodeArg(arg, &want)
	var got parley.SendRequest
	err := decodeSend(arg, &got)
	if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
		t.Fatalf("%q: decodeSend error %v, decodeArg %v", arg, err, wantErr)
	}
	if err == nil && !equalRequests(got, want) {
		t.Fatalf("%q: decodeSend %+v, decodeArg %+v", arg, got, want)
	}
	var probe parley.SendRequest
	if decodeSendFast(arg, &probe) {
		if wantErr != nil {
			t.Fatalf("%q: the fast path took what encoding/json refuses (%v)", arg, wantErr)
		}
		if !equalRequests(probe, want) {
			t.Fatalf("%q: fast path %+v, encoding/json %+v", arg, probe, want)
		}
		return true
	}
	return false
}

func equalRequests(a, b parley.SendRequest) bool {
	if (a.ForwardOf == nil) != (b.ForwardOf == nil) || a.ForwardOf != nil && *a.ForwardOf != *b.ForwardOf {
		return false
	}
	a.ForwardOf, b.ForwardOf = nil, nil
	return a == b
}

var sendPayloads = []string{
	`{"conversation_id":"123","client_msg_id":"c-1","type":"text","body":"hello"}`,
	` { "conversation_id" : 123 , "client_msg_id":"c-1", "type":"image", "body":"", "media_id":"9", "reply_to": 7 } `,
	`{"conversation_id":"123","body":"héllo 北京 😀","client_msg_id":"ü"}`,
	`{}`, ` {} `, `{"body":"x","body":"y"}`,
	// What the fast path leaves to encoding/json:
	`{"Conversation_ID":"1","body":"x"}`, `{"CONVERSATION_ID":"1"}`, `{"unknown":1,"body":"x"}`,
	`{"body":"a\"b"}`, `{"body":"a\nb"}`, `{"body":"a\u00e9b"}`, "{\"body\":\"a\xffb\"}", "{\"body\":\"a\tb\"}",
	`{"body":null}`, `{"conversation_id":null}`, `{"conversation_id":"-1"}`, `{"conversation_id":-1}`,
	`{"conversation_id":0123}`, `{"conversation_id":1.5}`, `{"conversation_id":1e3}`, `{"conversation_id":"1e3"}`,
	`{"conversation_id":"99999999999999999999"}`, `{"conversation_id":99999999999999999999}`, `{"conversation_id":" 1"}`,
	`{"forward_of":{"conversation_id":"1","message_id":"2"}}`, `{"body":"x"} x`, `{"body":"x"}}`, `{"body":"x",}`,
	`{"body":"x"`, `{"body"}`, `{"body":1}`, `{"type":true}`, `[]`, `"x"`, ``, `{`, `{"body":"x" "type":"t"}`,
}

func TestDecodeSendMatchesEncodingJSON(t *testing.T) {
	fast := 0
	for _, p := range sendPayloads {
		if checkDecodeSend(t, []byte(p)) {
			fast++
		}
	}
	if fast < 6 {
		t.Fatalf("the fast path took %d of the payloads clients send, want the first six", fast)
	}
}

func FuzzDecodeSend(f *testing.F) {
	for _, p := range sendPayloads {
		f.Add([]byte(p))
	}
	f.Fuzz(func(t *testing.T, arg []byte) {
		checkDecodeSend(t, arg)
	})
}

// BenchmarkDecodeSend compares the fast path with encoding/json on a
// typical payload.
func BenchmarkDecodeSend(b *testing.B) {
	arg := json.RawMessage(`{"conversation_id":"123456","client_msg_id":"c-1-000123","type":"text","body":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`)
	b.Run("decodeSend", func(b *testing.B) {
		for b.Loop() {
			var req parley.SendRequest
			if err := decodeSend(arg, &req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			var req parley.SendRequest
			if err := decodeArg(arg, &req); err != nil {
				b.Fatal(err)
			}
		}
	})
}
