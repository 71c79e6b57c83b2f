package socketio

import (
	"encoding/json"
	"errors"
)

// A small validating JSON scanner. Every inbound packet's payload is checked
// and split once; encoding/json would do it by unmarshalling into
// interface values, allocating per element, on the hot path of every event.

var errBadJSON = errors.New("socketio: invalid JSON payload")

// splitArray validates b as one JSON array and appends its elements to dst.
// maxDepth bounds nesting, counting the array itself.
func splitArray(b []byte, maxDepth int, dst []json.RawMessage) ([]json.RawMessage, error) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return dst, errBadJSON
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return dst, checkEnd(b, i+1)
	}
	for {
		start := i
		end, err := skipValue(b, i, maxDepth-1)
		if err != nil {
			return dst, err
		}
		dst = append(dst, json.RawMessage(b[start:end:end]))
		i = skipSpace(b, end)
		if i >= len(b) {
			return dst, errBadJSON
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case ']':
			return dst, checkEnd(b, i+1)
		default:
			return dst, errBadJSON
		}
	}
}

// validValue reports whether b is exactly one JSON value, and its first byte.
func validValue(b []byte, maxDepth int) (byte, bool) {
	i := skipSpace(b, 0)
	end, err := skipValue(b, i, maxDepth)
	if err != nil || checkEnd(b, end) != nil {
		return 0, false
	}
	return b[i], true
}

func checkEnd(b []byte, i int) error {
	if skipSpace(b, i) != len(b) {
		return errBadJSON
	}
	return nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just past the value starting at b[i].
func skipValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return i, errBadJSON
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '{' || c == '[':
		if depth <= 0 {
			return i, errBadJSON
		}
		return skipContainer(b, i, depth)
	case c == '-' || c >= '0' && c <= '9':
		return skipNumber(b, i)
	case c == 't':
		return skipLiteral(b, i, "true")
	case c == 'f':
		return skipLiteral(b, i, "false")
	case c == 'n':
		return skipLiteral(b, i, "null")
	}
	return i, errBadJSON
}

func skipLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, errBadJSON
	}
	return i + len(lit), nil
}

func skipContainer(b []byte, i, depth int) (int, error) {
	object := b[i] == '{'
	closing := byte(']')
	if object {
		closing = '}'
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == closing {
		return i + 1, nil
	}
	for {
		var err error
		if object {
			if i >= len(b) || b[i] != '"' {
				return i, errBadJSON
			}
			if i, err = skipString(b, i); err != nil {
				return i, err
			}
			i = skipSpace(b, i)
			if i >= len(b) || b[i] != ':' {
				return i, errBadJSON
			}
			i = skipSpace(b, i+1)
		}
		if i, err = skipValue(b, i, depth-1); err != nil {
			return i, err
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return i, errBadJSON
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case closing:
			return i + 1, nil
		default:
			return i, errBadJSON
		}
	}
}

func skipString(b []byte, i int) (int, error) {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, nil
		case c < 0x20:
			return i, errBadJSON
		case c == '\\':
			i++
			if i >= len(b) {
				return i, errBadJSON
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-i < 5 || !isHex(b[i+1]) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) {
					return i, errBadJSON
				}
				i += 4
			default:
				return i, errBadJSON
			}
		}
	}
	return i, errBadJSON
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func skipNumber(b []byte, i int) (int, error) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = skipDigits(b, i)
	default:
		return i, errBadJSON
	}
	if i < len(b) && b[i] == '.' {
		j := skipDigits(b, i+1)
		if j == i+1 {
			return j, errBadJSON
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := skipDigits(b, i)
		if j == i {
			return j, errBadJSON
		}
		i = j
	}
	return i, nil
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// appendString appends s as a JSON string. Event names are almost always
// plain ASCII, which is copied as is.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
