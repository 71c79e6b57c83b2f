package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/parleyhq/parley"
)

// maxResponseBytes bounds what the client reads of one HTTP answer; the
// largest the API sends (a page of 200 messages of 64 KiB) fits easily.
const maxResponseBytes = 64 << 20

// Client calls the HTTP API of one Parley server as one device: Login
// stores the session token and every later call sends it. It is safe for
// concurrent use.
type Client struct {
	base string
	hc   *http.Client

	mu    sync.RWMutex
	token string
}

// New returns a client for the server at baseURL (scheme, host and port,
// such as "http://127.0.0.1:8080"). A nil hc means http.DefaultClient.
func New(baseURL string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimSuffix(baseURL, "/"), hc: hc}
}

// BaseURL returns the server's base URL.
func (c *Client) BaseURL() string { return c.base }

// Token returns the session token, "" before Login.
func (c *Client) Token() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.token
}

// SetToken makes the client act for the session of token (one obtained
// elsewhere, or "" for none).
func (c *Client) SetToken(token string) {
	c.mu.Lock()
	c.token = token
	c.mu.Unlock()
}

// WithToken returns a client for the same server and HTTP transport acting
// for another session.
func (c *Client) WithToken(token string) *Client {
	return &Client{base: c.base, hc: c.hc, token: token}
}

// do sends one request with a JSON body (when in is not nil) and decodes a
// JSON answer into out (when not nil). A server error comes back as
// *parley.Error with the server's code; the HTTP status is returned too,
// for the calls whose answer depends on it (201 vs 200).
func (c *Client) do(ctx context.Context, method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if tok := c.Token(); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		return resp.StatusCode, decodeHTTPError(resp.StatusCode, b)
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// decodeHTTPError turns an error answer into *parley.Error. A body that is
// not the API's error shape (a proxy's page, say) gets the code that the
// status stands for, so callers can still branch on codes.
func decodeHTTPError(status int, body []byte) error {
	var e struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != nil && e.Error.Code != "" {
		return &parley.Error{Code: e.Error.Code, Message: e.Error.Message}
	}
	return &parley.Error{Code: codeForStatus(status), Message: fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))}
}

// codeForStatus inverts the API's code → status table.
func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusMethodNotAllowed:
		return parley.EINVALID
	case http.StatusUnauthorized:
		return parley.EUNAUTHORIZED
	case http.StatusForbidden:
		return parley.EFORBIDDEN
	case http.StatusNotFound:
		return parley.ENOTFOUND
	case http.StatusConflict:
		return parley.ECONFLICT
	case http.StatusTooManyRequests:
		return parley.ETOOMANY
	case http.StatusRequestEntityTooLarge:
		return parley.ETOOLARGE
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return parley.EUNAVAILABLE
	}
	return parley.EINTERNAL
}

// IsServerError reports whether err is an error the server answered with
// (a *parley.Error), as opposed to a transport failure.
func IsServerError(err error) bool {
	var e *parley.Error
	return errors.As(err, &e)
}

func idPath(format string, ids ...parley.ID) string {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id.String()
	}
	return fmt.Sprintf(format, args...)
}

// Ready returns nil when the server answers /readyz (its store is up).
func (c *Client) Ready(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodGet, "/readyz", nil, nil)
	return err
}

// Register creates an account. EINVALID for a bad handle or password,
// ECONFLICT for a taken handle.
func (c *Client) Register(ctx context.Context, req parley.RegisterRequest) (*parley.User, error) {
	var u parley.User
	if _, err := c.do(ctx, http.MethodPost, "/v1/users", req, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// Login opens a session on a new device and keeps its token for the
// client's later calls. EUNAUTHORIZED for a wrong handle or password,
// ETOOMANY when the handle's login rate is exhausted.
func (c *Client) Login(ctx context.Context, req parley.LoginRequest) (*parley.Session, error) {
	var s parley.Session
	if _, err := c.do(ctx, http.MethodPost, "/v1/sessions", req, &s); err != nil {
		return nil, err
	}
	c.SetToken(s.Token)
	return &s, nil
}

// Logout ends the session (its live sockets are disconnected by the server)
// and forgets the token.
func (c *Client) Logout(ctx context.Context) error {
	if _, err := c.do(ctx, http.MethodDelete, "/v1/sessions/current", nil, nil); err != nil {
		return err
	}
	c.SetToken("")
	return nil
}

// Me returns the caller's profile.
func (c *Client) Me(ctx context.Context) (*parley.User, error) {
	var u parley.User
	if _, err := c.do(ctx, http.MethodGet, "/v1/me", nil, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// UpdateMe changes the caller's profile; nil fields stay as they are.
func (c *Client) UpdateMe(ctx context.Context, upd parley.UserUpdate) (*parley.User, error) {
	var u parley.User
	if _, err := c.do(ctx, http.MethodPatch, "/v1/me", upd, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// User returns a user's public profile, or ENOTFOUND.
func (c *Client) User(ctx context.Context, id parley.ID) (*parley.User, error) {
	var u parley.User
	if _, err := c.do(ctx, http.MethodGet, idPath("/v1/users/%s", id), nil, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// SearchUsers finds users by handle prefix; limit 0 means the server's
// default.
func (c *Client) SearchUsers(ctx context.Context, prefix string, limit int) ([]*parley.User, error) {
	q := url.Values{"handle": {prefix}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out struct {
		Users []*parley.User `json:"users"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/v1/users?"+q.Encode(), nil, &out); err != nil {
		return nil, err
	}
	return out.Users, nil
}

// Presence returns whether the users are online; those the caller may not
// see (not a friend or direct peer) read as offline.
func (c *Client) Presence(ctx context.Context, userIDs ...parley.ID) ([]parley.PresenceStatus, error) {
	ids := make([]string, len(userIDs))
	for i, id := range userIDs {
		ids[i] = id.String()
	}
	var out struct {
		Presence []parley.PresenceStatus `json:"presence"`
	}
	q := url.Values{"user_ids": {strings.Join(ids, ",")}}
	if _, err := c.do(ctx, http.MethodGet, "/v1/presence?"+q.Encode(), nil, &out); err != nil {
		return nil, err
	}
	return out.Presence, nil
}
