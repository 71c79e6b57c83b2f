package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/parleyhq/parley"
)

// maxJSONDepth bounds nesting in request bodies: no request needs more, and
// deep nesting is a cheap way to make a decoder work hard.
const maxJSONDepth = 32

// decode reads a JSON object body of at most limit bytes into v. It returns
// ETOOLARGE over the limit and EINVALID for anything that is not one JSON
// object of the expected shape.
func decode(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return parley.Errorf(parley.ETOOLARGE, "request body is over %d bytes", limit)
	}
	if errors.Is(err, errSlowBody) {
		w.Header().Set("Connection", "close")
		return errSlowBody
	}
	if err != nil {
		return parley.Errorf(parley.EINVALID, "could not read the request body")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return parley.Errorf(parley.EINVALID, "a JSON body is required")
	}
	if err := checkDepth(body); err != nil {
		return err
	}
	if !utf8.Valid(body) {
		return parley.Errorf(parley.EINVALID, "the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return parley.JSONError(err)
	}
	if dec.More() {
		return parley.Errorf(parley.EINVALID, "body holds more than one JSON value")
	}
	return nil
}

// checkDepth refuses JSON nested deeper than maxJSONDepth.
func checkDepth(b []byte) error {
	depth, inStr, esc := 0, false, false
	for _, c := range b {
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '{' || c == '[':
			if depth++; depth > maxJSONDepth {
				return parley.Errorf(parley.EINVALID, "JSON is nested deeper than %d levels", maxJSONDepth)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// pathID reads a path parameter as an id; a malformed id is not found.
func pathID(r *http.Request, name string) (parley.ID, error) {
	id, err := parley.ParseID(r.PathValue(name))
	if err != nil {
		return 0, parley.Errorf(parley.ENOTFOUND, "not found")
	}
	return id, nil
}

// queryBool reads an optional boolean query parameter: true or false.
func queryBool(r *http.Request, name string) (bool, error) {
	switch r.URL.Query().Get(name) {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, parley.Errorf(parley.EINVALID, "%s must be true or false", name)
}

// queryInt reads an optional non-negative integer query parameter.
func queryInt(r *http.Request, name string, def int64) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, parley.Errorf(parley.EINVALID, "%s must be a non-negative integer", name)
	}
	return v, nil
}
