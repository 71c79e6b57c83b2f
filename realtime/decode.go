package realtime

import (
	"encoding/json"
	"unicode/utf8"

	"github.com/parleyhq/parley"
)

// decodeSend decodes a send's payload. The payloads clients send are flat
// objects of a few plain fields, which decodeSendFast reads without
// reflection; anything else — another key or spelling of one, an escape,
// null, a nested forward_of, an error — goes to decodeArg, whose answer is
// the one that counts. Both give the same request for every payload the
// fast path takes (FuzzDecodeSend holds them to it).
func decodeSend(arg json.RawMessage, req *parley.SendRequest) error {
	if decodeSendFast(arg, req) {
		return nil
	}
	*req = parley.SendRequest{}
	return decodeArg(arg, req)
}

// decodeSendFast reads arg into req if arg is an object whose keys are
// the exact names of SendRequest's plain fields, each string value free
// of escapes, control characters and invalid UTF-8, and each id a string
// or a plain positive integer. It reports false, leaving req partly set,
// for anything else.
func decodeSendFast(arg []byte, req *parley.SendRequest) bool {
	p := skipSpace(arg, 0)
	if p >= len(arg) || arg[p] != '{' {
		return false
	}
	p = skipSpace(arg, p+1)
	if p < len(arg) && arg[p] == '}' {
		return skipSpace(arg, p+1) == len(arg)
	}
	for {
		key, q, ok := plainString(arg, p)
		if !ok {
			return false
		}
		p = skipSpace(arg, q)
		if p >= len(arg) || arg[p] != ':' {
			return false
		}
		p = skipSpace(arg, p+1)
		var id *parley.ID
		var str *string
		switch string(key) {
		case "conversation_id":
			id = &req.ConversationID
		case "media_id":
			id = &req.MediaID
		case "reply_to":
			id = &req.ReplyTo
		case "client_msg_id":
			str = &req.ClientMsgID
		case "type":
			str = (*string)(&req.Type)
		case "body":
			str = &req.Body
		default:
			return false
		}
		if id != nil {
			tok, q, ok := idToken(arg, p)
			if !ok || id.UnmarshalJSON(tok) != nil {
				return false
			}
			p = q
		} else {
			s, q, ok := plainString(arg, p)
			if !ok {
				return false
			}
			*str, p = string(s), q
		}
		p = skipSpace(arg, p)
		if p >= len(arg) {
			return false
		}
		switch arg[p] {
		case ',':
			p = skipSpace(arg, p+1)
		case '}':
			return skipSpace(arg, p+1) == len(arg)
		default:
			return false
		}
	}
}

func skipSpace(b []byte, p int) int {
	for p < len(b) && (b[p] == ' ' || b[p] == '\t' || b[p] == '\n' || b[p] == '\r') {
		p++
	}
	return p
}

// plainString reads a JSON string at b[p] that has no escape, no control
// character and only valid UTF-8, returning its contents and the index
// after it.
func plainString(b []byte, p int) (s []byte, next int, ok bool) {
	if p >= len(b) || b[p] != '"' {
		return nil, 0, false
	}
	ascii := true
	for i := p + 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			s = b[p+1 : i]
			if !ascii && !utf8.Valid(s) {
				return nil, 0, false
			}
			return s, i + 1, true
		case c == '\\' || c < 0x20:
			return nil, 0, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, 0, false
}

// idToken reads an id's JSON token at b[p]: a plain string, or an integer
// without sign, leading zero, fraction or exponent.
func idToken(b []byte, p int) (tok []byte, next int, ok bool) {
	if p < len(b) && b[p] == '"' {
		_, q, ok := plainString(b, p)
		if !ok {
			return nil, 0, false
		}
		return b[p:q], q, true
	}
	q := p
	for q < len(b) && b[q] >= '0' && b[q] <= '9' {
		q++
	}
	if q == p || b[p] == '0' || q < len(b) && (b[q] == '.' || b[q] == 'e' || b[q] == 'E') {
		return nil, 0, false
	}
	return b[p:q], q, true
}
