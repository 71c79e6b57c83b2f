// Package parley is the vocabulary of the Parley chat server: the domain
// types (users, devices, conversations, messages, receipts, friends, media,
// push registrations), their validation, the fixed set of error codes, and
// the interfaces that connect the layers.
//
// The ports (Store, Bus, Presence, BlobStore, Pusher) are implemented by the
// adapter packages named after their technology (sqlite, postgres, inmem,
// redis, blob, push). The services that transports call are implemented by
// package app. This package imports only the standard library.
package parley

import (
	"encoding/json"
	"strconv"
	"time"
)

// ID identifies a user, device, conversation, message or media object.
//
// IDs are 64-bit integers assigned by the store. In JSON they are written as
// strings, because JavaScript numbers cannot hold every 64-bit integer; when
// reading JSON both a string and a number are accepted.
type ID int64

// String returns the decimal form of the id.
func (id ID) String() string { return strconv.FormatInt(int64(id), 10) }

// MarshalText implements encoding.TextMarshaler, so IDs also work as JSON
// object keys.
func (id ID) MarshalText() ([]byte, error) { return strconv.AppendInt(nil, int64(id), 10), nil }

// UnmarshalText implements encoding.TextUnmarshaler. Zero (no id) is
// accepted; negative and malformed values are not.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || v < 0 {
		return Errorf(EINVALID, "invalid id %q", b)
	}
	*id = ID(v)
	return nil
}

// MarshalJSON writes the id as a JSON string.
func (id ID) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 22)
	b = append(b, '"')
	b = strconv.AppendInt(b, int64(id), 10)
	return append(b, '"'), nil
}

// UnmarshalJSON accepts a JSON string or number.
func (id *ID) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*id = 0
		return nil
	}
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		b = b[1 : len(b)-1]
	}
	return id.UnmarshalText(b)
}

// ParseID parses the decimal form of an id. It returns EINVALID when s is not
// a positive 64-bit integer.
func ParseID(s string) (ID, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		return 0, Errorf(EINVALID, "invalid id %q", s)
	}
	return ID(v), nil
}

// Caller is the authenticated identity behind a request or a socket: the
// user and the device (one session per device). Identity never comes from
// request parameters, only from the session token.
type Caller struct {
	UserID   ID
	DeviceID ID
}

// Clock returns the current time. Services take one so tests can move time.
type Clock func() time.Time

// Now returns c(), or time.Now() when c is nil.
func (c Clock) Now() time.Time {
	if c == nil {
		return time.Now()
	}
	return c()
}

// RawJSON is a preencoded JSON value that implements json.Marshaler.
type RawJSON = json.RawMessage
