package parley

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"unicode/utf8"
)

// DecodeJSON decodes one JSON value from b into v. Its errors are for
// people, whatever the transport that carried b: invalid UTF-8 is refused
// (never silently replaced), and a value of the wrong type names the field
// as the client wrote it, never a Go type. All are EINVALID.
func DecodeJSON(b []byte, v any) error {
	if !utf8.Valid(b) {
		return Errorf(EINVALID, "the JSON is not valid UTF-8")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return JSONError(err)
	}
	return nil
}

// JSONError turns an encoding/json error into an EINVALID error whose
// message is written for people. An *Error (from a field's own decoding)
// is returned as it is.
func JSONError(err error) error {
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return Errorf(EINVALID, "field %q has the wrong type (found: %s)", te.Field, te.Value)
		}
		return Errorf(EINVALID, "the JSON value has the wrong type")
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		if strings.HasPrefix(se.Error(), "unexpected end") {
			return Errorf(EINVALID, "the JSON ends too early")
		}
		return Errorf(EINVALID, "the JSON is malformed near byte %d", se.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return Errorf(EINVALID, "the JSON ends too early")
	}
	return Errorf(EINVALID, "the JSON does not have the expected shape")
}
