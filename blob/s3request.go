package blob

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"github.com/parleyhq/parley"
)

// The HTTP side of the S3 store: building, sending and retrying requests,
// and turning answers into error codes.

// request returns an unsigned request for the object of key.
func (s *S3) request(ctx context.Context, method, key string, body io.Reader) (*http.Request, error) {
	u := &url.URL{Scheme: s.scheme, Host: s.host, Path: s.path + key}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	// Go's transport would otherwise ask for gzip and decompress behind
	// our back, which ranges and lengths must never meet.
	req.Header.Set("Accept-Encoding", "identity")
	return req, nil
}

// roundTrip sends the request newReq builds, and sends a fresh one again
// after a network error or a transient status when replay is allowed.
// bodyErr, if set, reports a failure of the caller's body, which is
// returned as is and never retried. A response it returns still needs its
// body closed.
func (s *S3) roundTrip(ctx context.Context, op, key string, newReq func() (*http.Request, error), replay bool, bodyErr func() error) (*http.Response, error) {
	var lastErr error
	for attempt := 1; ; attempt++ {
		req, err := newReq()
		if err != nil {
			return nil, fmt.Errorf("%s blob %s: %w", op, key, err)
		}
		resp, err := s.client.Do(req)
		if bodyErr != nil {
			if berr := bodyErr(); berr != nil {
				if resp != nil {
					drain(resp)
				}
				return nil, fmt.Errorf("%s blob %s: %w", op, key, berr)
			}
		}
		if cerr := ctx.Err(); cerr != nil {
			if resp != nil {
				drain(resp)
			}
			return nil, fmt.Errorf("%s blob %s: %w", op, key, cerr)
		}
		switch {
		case err != nil:
			lastErr = err
		case transientStatus(resp.StatusCode):
			lastErr = s.statusError(op, key, resp)
			drain(resp)
		default:
			return resp, nil
		}
		if !replay || attempt == s3Attempts {
			break
		}
		// Exponential backoff with jitter, so that nodes retrying after
		// the same outage do not arrive in step.
		d := s3Backoff << (2 * (attempt - 1))
		d = d/2 + rand.N(d)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%s blob %s: %w", op, key, ctx.Err())
		case <-t.C:
		}
	}
	return nil, parley.WrapError(parley.EUNAVAILABLE, "media storage unavailable", fmt.Errorf("%s blob %s: %w", op, key, lastErr))
}

// transientStatus reports statuses worth another attempt: server errors
// and throttling (S3 uses 503 SlowDown, some compatible services 429).
func transientStatus(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusInternalServerError ||
		code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

// s3Error is the XML error document S3 answers with.
type s3Error struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// statusError turns an unsuccessful response into an error: ENOTFOUND for
// a missing object, EUNAVAILABLE for transient statuses, an internal error
// (for the log: credentials, bucket or permissions are wrong) otherwise.
// It reads but does not close the body.
func (s *S3) statusError(op, key string, resp *http.Response) error {
	var e s3Error
	if resp.Request == nil || resp.Request.Method != http.MethodHead {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		_ = xml.Unmarshal(bytes.TrimSpace(b), &e)
	}
	cause := fmt.Errorf("%s blob %s: s3 status %d %s: %s", op, key, resp.StatusCode, e.Code, e.Message)
	switch {
	case resp.StatusCode == http.StatusNotFound && e.Code == "NoSuchBucket":
		return cause
	case resp.StatusCode == http.StatusNotFound:
		return parley.WrapError(parley.ENOTFOUND, errNotFound.Message, cause)
	case transientStatus(resp.StatusCode):
		return parley.WrapError(parley.EUNAVAILABLE, "media storage unavailable", cause)
	}
	return cause
}

// drain reads what is left of a response body (so the connection can be
// reused) and closes it.
func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}
