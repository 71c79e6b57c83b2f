package parley

import (
	"errors"
	"fmt"
	"time"
)

// Error codes. They are the whole vocabulary of failures that reaches a
// client, over HTTP (with the status in httpapi's table) and in Socket.IO
// acks. Anything that is not a *Error is reported as EINTERNAL and its
// details are logged, never shown.
const (
	EINVALID      = "invalid"      // malformed or out-of-range input
	EUNAUTHORIZED = "unauthorized" // no valid session
	EFORBIDDEN    = "forbidden"    // authenticated, but not allowed
	ENOTFOUND     = "not_found"    // does not exist, or the caller may not see it
	ECONFLICT     = "conflict"     // clashes with existing state (taken handle, reused client_msg_id)
	ETOOMANY      = "too_many"     // rate or count limit reached
	ETOOLARGE     = "too_large"    // body, message, upload or frame over its size limit
	EUNAVAILABLE  = "unavailable"  // a dependency is down; the same request may be retried
	EINTERNAL     = "internal"     // a bug or an unexpected failure; details are logged
)

// Codes lists every error code, in the order the docs present them.
var Codes = []string{EINVALID, EUNAUTHORIZED, EFORBIDDEN, ENOTFOUND, ECONFLICT, ETOOMANY, ETOOLARGE, EUNAVAILABLE, EINTERNAL}

// Error is an application error: a code from the fixed set and a message
// safe to show to the client.
type Error struct {
	Code    string
	Message string
	// Err is an optional cause kept for logs and errors.Is; it is never
	// shown to clients.
	Err error
	// RetryAfter, for a retryable error (too_many, unavailable), is how
	// long the client should wait before trying again; zero leaves it to
	// the transport's default.
	RetryAfter time.Duration
}

// Error returns the message, followed by the cause when there is one (for
// logs). Clients are shown ErrorMessage, never this.
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WrapError returns an *Error with the code and message that keeps err as
// its cause.
func WrapError(code, message string, err error) *Error {
	return &Error{Code: code, Message: message, Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, "" for a
// nil error and EINTERNAL for any other error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err: the message of its
// *Error, or a generic text for internal errors.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Code != EINTERNAL {
		return e.Message
	}
	return "internal error"
}

// RetryAfterOf returns the wait err asks a client to observe before
// retrying, zero when it names none.
func RetryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// IsRetryable reports whether the same request may succeed later unchanged.
func IsRetryable(err error) bool {
	c := ErrorCode(err)
	return c == EUNAVAILABLE || c == ETOOMANY
}
