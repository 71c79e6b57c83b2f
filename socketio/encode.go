package socketio

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// encodeEvent appends EVENT (or BINARY_EVENT) for event and args.
func encodeEvent(b []byte, nsp, event string, id int64, args []any) ([]byte, [][]byte, error) {
	n := countBinary(args)
	typ := typeEvent
	if n > 0 {
		typ = typeBinaryEvent
	}
	b = appendHeader(b, typ, n, nsp, id)
	b = append(b, '[')
	b = appendString(b, event)
	return appendArgs(b, args, true, n)
}

// encodeAck appends ACK (or BINARY_ACK) for args.
func encodeAck(b []byte, nsp string, id int64, args []any) ([]byte, [][]byte, error) {
	n := countBinary(args)
	typ := typeAck
	if n > 0 {
		typ = typeBinaryAck
	}
	b = appendHeader(b, typ, n, nsp, id)
	b = append(b, '[')
	return appendArgs(b, args, false, n)
}

// JSONAppender is an argument that writes its own JSON: Emit and an ack
// append it to the packet in place, where another value would be
// marshalled into a buffer of its own and copied. What it appends is
// trusted to be one valid JSON value, as a json.RawMessage is.
type JSONAppender interface {
	AppendJSON(b []byte) ([]byte, error)
}

func countBinary(args []any) int {
	n := 0
	for _, a := range args {
		if _, ok := a.([]byte); ok {
			n++
		}
	}
	return n
}

// appendArgs appends the arguments and the closing bracket, replacing []byte
// arguments with placeholders.
func appendArgs(b []byte, args []any, comma bool, nbin int) ([]byte, [][]byte, error) {
	var bins [][]byte
	if nbin > 0 {
		bins = make([][]byte, 0, nbin)
	}
	for i, a := range args {
		if comma || i > 0 {
			b = append(b, ',')
		}
		switch v := a.(type) {
		case nil:
			b = append(b, "null"...)
		case json.RawMessage:
			if len(v) == 0 {
				b = append(b, "null"...)
			} else {
				b = append(b, v...)
			}
		case []byte:
			b = append(b, `{"_placeholder":true,"num":`...)
			b = strconv.AppendInt(b, int64(len(bins)), 10)
			b = append(b, '}')
			bins = append(bins, v)
		case string:
			b = appendString(b, v)
		case JSONAppender:
			var err error
			if b, err = v.AppendJSON(b); err != nil {
				return b, nil, fmt.Errorf("encode argument %d: %w", i, err)
			}
		default:
			j, err := json.Marshal(v)
			if err != nil {
				return b, nil, fmt.Errorf("encode argument %d: %w", i, err)
			}
			b = append(b, j...)
		}
	}
	return append(b, ']'), bins, nil
}
