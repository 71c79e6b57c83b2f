package push

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parleyhq/parley"
)

// FCMBaseURL is the FCM HTTP v1 API.
const FCMBaseURL = "https://fcm.googleapis.com"

// fcmScope is the OAuth 2.0 scope FCM's send method requires.
const fcmScope = "https://www.googleapis.com/auth/firebase.messaging"

// fcmMaxPayload is FCM's limit for a message's data (4096 bytes); the JSON
// form used to check it is slightly larger than what FCM counts, which
// errs on the safe side.
const fcmMaxPayload = 4096

// FCMConfig configures the FCM HTTP v1 channel.
type FCMConfig struct {
	// Credentials is the service-account JSON key file of the Firebase
	// project (from the Firebase console, Project settings, Service
	// accounts). Without it, access tokens come from the metadata server
	// of the machine (Google Compute Engine, GKE, Cloud Run: Application
	// Default Credentials without a key file), and ProjectID is required.
	Credentials []byte
	// ProjectID is the Firebase project when there is no key file.
	ProjectID string
	// MetadataURL is the metadata server (default FCMMetadataURL).
	MetadataURL string
	// BaseURL is FCMBaseURL (default) or a test server.
	BaseURL string
	// TokenURL overrides the OAuth 2.0 token endpoint named by the
	// credentials' token_uri.
	TokenURL string
	// TTL is how long FCM keeps a message for an offline device. Zero
	// means one day.
	TTL time.Duration
	// HTTPClient sends the pushes and token requests; nil means a client
	// of this package.
	HTTPClient *http.Client
	// Clock is the time source; nil means the system clock.
	Clock parley.Clock
}

// serviceAccount is the part of a Google service-account key file FCM
// needs.
type serviceAccount struct {
	Type         string `json:"type"`
	ProjectID    string `json:"project_id"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	ClientEmail  string `json:"client_email"`
	TokenURI     string `json:"token_uri"`
}

// FCM sends data messages to Android apps through Firebase Cloud Messaging
// HTTP v1. It gets OAuth 2.0 access tokens with a JWT-bearer grant signed
// by the service account (RS256), and caches each until shortly before it
// expires.
//
// The message is data-only, so the app decides how to show it: the data
// keys are the JSON field names of parley.PushNotification (every value a
// string, as FCM requires). android.collapse_key is the collapse key.
type FCM struct {
	key      *rsa.PrivateKey // nil: tokens from the metadata server
	metadata string          // the metadata server's base URL
	keyID    string
	email    string
	tokenURL string
	sendURL  string
	ttl      string
	client   *http.Client
	clock    parley.Clock

	// fetching is held while a token is fetched, so one fetch serves all
	// waiting pushes; a channel rather than a mutex lets a waiter give up
	// when its context ends.
	fetching chan struct{}
	mu       sync.Mutex
	access   string
	expires  time.Time
}

var _ parley.Pusher = (*FCM)(nil)

// NewFCM returns an FCM channel. It returns EINVALID if the credentials
// are not a usable service-account key.
func NewFCM(cfg FCMConfig) (*FCM, error) {
	if len(cfg.Credentials) == 0 {
		return newMetadataFCM(cfg)
	}
	var sa serviceAccount
	if err := json.Unmarshal(cfg.Credentials, &sa); err != nil {
		return nil, parley.WrapError(parley.EINVALID, "fcm: credentials are not a service-account JSON file", err)
	}
	if sa.Type != "" && sa.Type != "service_account" {
		return nil, parley.Errorf(parley.EINVALID, "fcm: credentials are of type %q, not service_account", sa.Type)
	}
	if sa.ProjectID == "" || sa.ClientEmail == "" || sa.PrivateKey == "" {
		return nil, parley.Errorf(parley.EINVALID, "fcm: credentials lack project_id, client_email or private_key")
	}
	key, err := parseRSAKey([]byte(sa.PrivateKey))
	if err != nil {
		return nil, err
	}
	if cfg.TokenURL == "" {
		cfg.TokenURL = sa.TokenURI
	}
	if cfg.TokenURL == "" {
		cfg.TokenURL = "https://oauth2.googleapis.com/token"
	}
	if err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	return &FCM{
		key:      key,
		keyID:    sa.PrivateKeyID,
		email:    sa.ClientEmail,
		tokenURL: cfg.TokenURL,
		sendURL:  strings.TrimRight(cfg.BaseURL, "/") + "/v1/projects/" + url.PathEscape(sa.ProjectID) + "/messages:send",
		ttl:      strconv.FormatInt(int64(cfg.TTL/time.Second), 10) + "s",
		client:   cfg.HTTPClient,
		clock:    cfg.Clock,
		fetching: make(chan struct{}, 1),
	}, nil
}

func parseRSAKey(p []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(p)
	if block == nil {
		return nil, parley.Errorf(parley.EINVALID, "fcm: private_key is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		// Older tools wrote PKCS #1.
		if k1, err1 := x509.ParsePKCS1PrivateKey(block.Bytes); err1 == nil {
			return k1, nil
		}
		return nil, parley.WrapError(parley.EINVALID, "fcm: private_key is not an RSA key", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, parley.Errorf(parley.EINVALID, "fcm: private_key is not an RSA key")
	}
	return rk, nil
}

// Kind returns parley.PushFCM.
func (f *FCM) Kind() parley.PushKind { return parley.PushFCM }

// Push sends n as a data message to the registration token in
// reg.Endpoint. It returns an error wrapping parley.ErrPushGone when FCM
// answers UNREGISTERED, or INVALID_ARGUMENT about the token, and a
// *StatusError for other refusals. An UNAUTHENTICATED answer is temporary:
// the access token is dropped and fetched again on the next attempt.
func (f *FCM) Push(ctx context.Context, reg *parley.PushRegistration, n *parley.PushNotification) error {
	if reg.Endpoint == "" {
		return gone(parley.PushFCM, parley.Errorf(parley.EINVALID, "fcm: empty registration token"))
	}
	data, err := fitPayload(n, fcmMaxPayload, marshalFCMData)
	if err != nil {
		return fmt.Errorf("fcm: %w", err)
	}
	msg := map[string]any{"message": map[string]any{
		"token": reg.Endpoint,
		"data":  json.RawMessage(data),
		"android": map[string]any{
			"collapse_key": n.CollapseKey,
			"priority":     "HIGH",
			"ttl":          f.ttl,
		},
	}}
	body, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("fcm: %w", err)
	}
	access, err := f.accessToken(ctx)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.sendURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("fcm: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+access)
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return fmt.Errorf("fcm: post: %w", err)
	}
	answer := readAnswer(resp)
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	ge := parseGoogleError(answer)
	reason := ge.code()
	if reason == "" {
		reason = excerpt(answer)
	}
	se := newStatusError(parley.PushFCM, resp, reason, f.clock.Now())
	switch {
	case ge.code() == "UNREGISTERED":
		return gone(parley.PushFCM, se)
	case resp.StatusCode == http.StatusBadRequest && ge.code() == "INVALID_ARGUMENT" && ge.aboutToken():
		return gone(parley.PushFCM, se)
	case resp.StatusCode == http.StatusUnauthorized && ge.Error.Status == "UNAUTHENTICATED":
		f.dropAccessToken(access)
		se.Temporary = true
	}
	return se
}

// marshalFCMData renders n as FCM data: a flat object of strings.
func marshalFCMData(n *parley.PushNotification) ([]byte, error) {
	d := map[string]string{
		"conversation_id": n.ConversationID.String(),
		"seq":             strconv.FormatInt(n.Seq, 10),
		"sender_id":       n.SenderID.String(),
		"sender_name":     n.SenderName,
		"collapse_key":    n.CollapseKey,
	}
	if n.Title != "" {
		d["title"] = n.Title
	}
	if n.Preview != "" {
		d["preview"] = n.Preview
	}
	if n.Unread != 0 {
		d["unread"] = strconv.FormatInt(n.Unread, 10)
	}
	return json.Marshal(d)
}

// googleError is the error body of Google APIs (google.rpc.Status), with
// FCM's own error code in its details.
type googleError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []struct {
			Type            string `json:"@type"`
			ErrorCode       string `json:"errorCode"`
			FieldViolations []struct {
				Field string `json:"field"`
			} `json:"fieldViolations"`
		} `json:"details"`
	} `json:"error"`
}

func parseGoogleError(b []byte) *googleError {
	var ge googleError
	json.Unmarshal(b, &ge) // an unparsable body leaves ge empty: the status code decides
	return &ge
}

// code is FCM's error code when it gave one, else the RPC status.
func (ge *googleError) code() string {
	for _, d := range ge.Error.Details {
		if d.ErrorCode != "" {
			return d.ErrorCode
		}
	}
	return ge.Error.Status
}

// aboutToken reports whether an INVALID_ARGUMENT names the registration
// token rather than another part of the message; only then is the
// registration to blame.
func (ge *googleError) aboutToken() bool {
	for _, d := range ge.Error.Details {
		for _, v := range d.FieldViolations {
			if v.Field == "message.token" {
				return true
			}
		}
	}
	return strings.Contains(strings.ToLower(ge.Error.Message), "registration token")
}

// accessToken returns a cached OAuth 2.0 access token, or fetches one with
// a JWT-bearer grant (RFC 7523) when none is left with a few minutes of
// validity.
func (f *FCM) accessToken(ctx context.Context) (string, error) {
	if tok := f.cachedToken(); tok != "" {
		return tok, nil
	}
	select {
	case f.fetching <- struct{}{}:
		defer func() { <-f.fetching }()
	case <-ctx.Done():
		return "", fmt.Errorf("fcm: token: %w", ctx.Err())
	}
	// Another push may have fetched one while this one waited.
	if tok := f.cachedToken(); tok != "" {
		return tok, nil
	}
	now := f.clock.Now()
	if f.key == nil {
		return f.metadataToken(ctx, now)
	}
	assertion, err := signJWT(
		map[string]string{"alg": "RS256", "typ": "JWT", "kid": f.keyID},
		map[string]any{
			"iss":   f.email,
			"scope": fcmScope,
			"aud":   f.tokenURL,
			"iat":   now.Unix(),
			"exp":   now.Add(time.Hour).Unix(),
		},
		rs256(f.key),
	)
	if err != nil {
		return "", fmt.Errorf("fcm: token assertion: %w", err)
	}
	form := url.Values{
		"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"},
		"assertion":  {assertion},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("fcm: token: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := f.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("fcm: token: %w", err)
	}
	answer := readAnswer(resp)
	if resp.StatusCode != http.StatusOK {
		// OAuth errors ({"error": "invalid_grant", ...}) mean bad
		// credentials: permanent, like any 4xx; 5xx and 429 pass.
		var oe struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(answer, &oe) != nil || oe.Error == "" {
			oe.Error = excerpt(answer)
		}
		return "", fmt.Errorf("fcm: token: %w", newStatusError(parley.PushFCM, resp, oe.Error, now))
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(answer, &tr); err != nil || tr.AccessToken == "" {
		return "", fmt.Errorf("fcm: token: unexpected answer %q", excerpt(answer))
	}
	f.keep(tr.AccessToken, tr.ExpiresIn, now)
	return tr.AccessToken, nil
}

// keep caches an access token that lives expiresIn seconds from now.
func (f *FCM) keep(tok string, expiresIn int64, now time.Time) {
	life := time.Duration(expiresIn) * time.Second
	if life <= 0 {
		life = time.Hour
	}
	// Stop using a token a little before it expires (at most 5 minutes
	// early), so it never lapses in flight.
	f.mu.Lock()
	f.access, f.expires = tok, now.Add(life-min(5*time.Minute, life/10))
	f.mu.Unlock()
}

func (f *FCM) cachedToken() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.access != "" && f.clock.Now().Before(f.expires) {
		return f.access
	}
	return ""
}

// dropAccessToken forgets tok so the next push fetches a new one.
func (f *FCM) dropAccessToken(tok string) {
	f.mu.Lock()
	if f.access == tok {
		f.access = ""
	}
	f.mu.Unlock()
}

// CloseIdleConnections closes the channel's idle connections.
func (f *FCM) CloseIdleConnections() { f.client.CloseIdleConnections() }

// withDefaults fills what both ways of authenticating share: the base URL,
// the TTL (checked against FCM's range) and the HTTP client.
func (cfg *FCMConfig) withDefaults() error {
	if cfg.BaseURL == "" {
		cfg.BaseURL = FCMBaseURL
	}
	if cfg.TTL == 0 {
		cfg.TTL = 24 * time.Hour
	}
	if cfg.TTL < 0 || cfg.TTL > 28*24*time.Hour {
		return parley.Errorf(parley.EINVALID, "fcm: TTL %s is outside 0 to 4 weeks", cfg.TTL)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = newHTTPClient(defaultTransport())
	}
	return nil
}
