package parley

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends m's JSON to b: the very bytes encoding/json writes for
// it (the same fields, order, omissions and escaping), written without
// reflection. A node encodes every message it stores at least twice (the
// sender's ack and the members' event); this is that encoding.
func (m *Message) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = appendID(b, m.ID)
	b = append(b, `,"conversation_id":`...)
	b = appendID(b, m.ConversationID)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, m.Seq, 10)
	b = append(b, `,"sender_id":`...)
	b = appendID(b, m.SenderID)
	if m.ClientMsgID != "" {
		b = append(b, `,"client_msg_id":`...)
		b = appendJSONString(b, m.ClientMsgID)
	}
	b = append(b, `,"type":`...)
	b = appendJSONString(b, string(m.Type))
	b = append(b, `,"body":`...)
	b = appendJSONString(b, m.Body)
	b = appendOptionalID(b, `,"media_id":`, m.MediaID)
	var err error
	if m.Media != nil {
		b = append(b, `,"media":`...)
		if b, err = appendMarshal(b, m.Media); err != nil {
			return nil, err
		}
	}
	b = appendOptionalID(b, `,"reply_to":`, m.ReplyTo)
	b = appendOptionalID(b, `,"recall_of":`, m.RecallOf)
	b = appendOptionalID(b, `,"edit_of":`, m.EditOf)
	b = appendOptionalID(b, `,"reaction_of":`, m.ReactionOf)
	if m.Forwarded {
		b = append(b, `,"forwarded":true`...)
	}
	b = append(b, `,"created_at":`...)
	if b, err = appendJSONTime(b, m.CreatedAt); err != nil {
		return nil, err
	}
	if b, err = appendOptionalTime(b, `,"recalled_at":`, m.RecalledAt); err != nil {
		return nil, err
	}
	if b, err = appendOptionalTime(b, `,"edited_at":`, m.EditedAt); err != nil {
		return nil, err
	}
	if len(m.Reactions) > 0 {
		b = append(b, `,"reactions":`...)
		if b, err = appendMarshal(b, m.Reactions); err != nil {
			return nil, err
		}
	}
	if b, err = appendOptionalTime(b, `,"expires_at":`, m.ExpiresAt); err != nil {
		return nil, err
	}
	if m.DisappearAfter != nil {
		b = append(b, `,"disappear_after":`...)
		b = strconv.AppendInt(b, *m.DisappearAfter, 10)
	}
	return append(b, '}'), nil
}

// MarshalJSON implements json.Marshaler with AppendJSON.
func (m *Message) MarshalJSON() ([]byte, error) {
	return m.AppendJSON(make([]byte, 0, 256+len(m.Body)))
}

func appendID(b []byte, id ID) []byte {
	b = append(b, '"')
	b = strconv.AppendInt(b, int64(id), 10)
	return append(b, '"')
}

func appendOptionalID(b []byte, key string, id ID) []byte {
	if id == 0 {
		return b
	}
	return appendID(append(b, key...), id)
}

func appendOptionalTime(b []byte, key string, t *time.Time) ([]byte, error) {
	if t == nil {
		return b, nil
	}
	return appendJSONTime(append(b, key...), *t)
}

// appendJSONTime writes t as time.Time's MarshalJSON does.
func appendJSONTime(b []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y > 9999 {
		_, err := t.MarshalJSON() // its error, word for word
		return nil, err
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}

func appendMarshal(b []byte, v any) ([]byte, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, j...), nil
}

// appendJSONString writes s as a JSON string the way encoding/json does:
// <, > and & escaped for HTML, invalid UTF-8 replaced by U+FFFD, U+2028
// and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
