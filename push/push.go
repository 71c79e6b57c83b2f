// Package push delivers push notifications to devices that are not
// connected: one parley.Pusher per channel (Web Push, APNs, FCM HTTP v1, and
// a signed webhook for custom gateways) and a Dispatcher that queues,
// retries and counts pushes without ever blocking the message pipeline.
//
// A push only tells a device that conversation X has something new; the
// device then syncs over the normal API. A lost push therefore costs
// latency, never data, which is why the Dispatcher drops work rather than
// wait when its queue is full.
//
// Every channel reports failures the same way:
//
//   - a registration the service declares dead (unknown token, expired
//     subscription) is an error wrapping parley.ErrPushGone; the caller
//     deletes the registration;
//   - a refusal is a *StatusError, whose Temporary field says whether the
//     same push may succeed later (rate limiting, server errors);
//   - a bad registration or configuration is a *parley.Error with
//     EINVALID or ETOOLARGE, which no retry will fix;
//   - anything else (network errors, timeouts) is worth retrying.
//
// Retryable sums this up for callers that do their own retrying.
//
// The channels are written on the standard library: the cryptography they
// need (ECDH, HKDF, AES-GCM, ES256 and RS256 signatures) is all there, and
// HTTP/2 comes with net/http.
package push

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parleyhq/parley"
)

// StatusError is a push service's refusal of one push.
type StatusError struct {
	Kind       parley.PushKind
	StatusCode int
	// Reason is the service's own reason code (the APNs reason, the FCM
	// error code) or, when it has none, a short excerpt of the answer.
	Reason string
	// RetryAfter is the wait the service asked for, zero if it named none.
	RetryAfter time.Duration
	// Temporary says the same push may succeed later: rate limiting, a
	// server error, or an expired credential that was just renewed.
	Temporary bool
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s: push refused: status %d", e.Kind, e.StatusCode)
	if e.Reason != "" {
		s += " " + e.Reason
	}
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return s
}

// newStatusError classifies an answer the channel has no special rule for:
// 408, 429 and 5xx may pass, any other 4xx will be refused again.
func newStatusError(kind parley.PushKind, resp *http.Response, reason string, now time.Time) *StatusError {
	code := resp.StatusCode
	return &StatusError{
		Kind:       kind,
		StatusCode: code,
		Reason:     reason,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), now),
		Temporary:  code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500,
	}
}

// Retryable reports whether the push that failed with err may succeed if
// sent again unchanged. It is false for nil, for a gone registration, for a
// permanent refusal and for invalid input; true for temporary refusals and
// for network errors and timeouts.
func Retryable(err error) bool {
	if err == nil || errors.Is(err, parley.ErrPushGone) {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Temporary
	}
	var pe *parley.Error
	if errors.As(err, &pe) {
		return parley.IsRetryable(pe)
	}
	return true
}

// RetryAfter returns the wait a push service asked for in err, zero if none.
func RetryAfter(err error) time.Duration {
	var se *StatusError
	if errors.As(err, &se) {
		return se.RetryAfter
	}
	return 0
}

// gone marks cause as the service's verdict that the registration is dead.
func gone(kind parley.PushKind, cause error) error {
	return fmt.Errorf("%s: %w: %w", kind, parley.ErrPushGone, cause)
}

// maxAnswer bounds how much of a push service's answer is read: the answers
// are small JSON documents, and a misbehaving endpoint must not make us
// buffer an arbitrary body.
const maxAnswer = 64 << 10

// readAnswer reads at most maxAnswer bytes of the body and closes it, so
// the connection can be reused.
func readAnswer(resp *http.Response) []byte {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	return b
}

// excerpt makes a short, single-line, printable reason out of an answer
// body for logs.
func excerpt(b []byte) string {
	const max = 200
	s := strings.TrimSpace(string(b))
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = truncateUTF8(s, max) + "…"
	}
	return s
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an
// HTTP-date (RFC 9110 section 10.2.3).
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// newHTTPClient returns the client a channel uses when none is configured.
// Redirects are refused: push endpoints never redirect, and following one
// from a user-supplied endpoint would let a registration aim our requests
// at any host.
func newHTTPClient(t *http.Transport) *http.Client {
	return &http.Client{
		Transport:     t,
		Timeout:       30 * time.Second,
		CheckRedirect: refuseRedirect,
	}
}

func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// defaultTransport is a fresh transport per channel, sized for many
// concurrent pushes to one host (HTTP/2 multiplexes them; if a service only
// speaks HTTP/1.1, more idle connections are kept).
func defaultTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 16
	return t
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// closeIdler is what the Dispatcher calls on its pushers when it closes, so
// no idle connection (and its reader goroutine) outlives it.
type closeIdler interface{ CloseIdleConnections() }
