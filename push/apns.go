package push

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parleyhq/parley"
)

// APNs servers (Apple: "Sending notification requests to APNs").
const (
	APNsProduction = "https://api.push.apple.com"
	APNsSandbox    = "https://api.sandbox.push.apple.com" // development builds
)

// apnsMaxPayload is APNs' limit for an alert notification.
const apnsMaxPayload = 4096

// apnsTokenRefresh is how long a provider token is used. Apple rejects
// tokens older than one hour (ExpiredProviderToken) and a new token more
// often than every 20 minutes (TooManyProviderTokenUpdates); 50 minutes
// sits safely between.
const apnsTokenRefresh = 50 * time.Minute

// APNsConfig configures the APNs channel with token-based authentication.
type APNsConfig struct {
	// AuthKey is the content of the .p8 signing key downloaded from the
	// Apple Developer account (a PKCS #8 PEM P-256 key). Required.
	AuthKey []byte
	// KeyID is the 10-character id of that key. Required.
	KeyID string
	// TeamID is the Apple Developer team id. Required.
	TeamID string
	// Topic is the app's bundle id, sent as apns-topic. Required.
	Topic string
	// BaseURL is APNsProduction (default) or APNsSandbox, or a test server.
	BaseURL string
	// Priority is the apns-priority: 10 (default) delivers at once, 5
	// lets the device batch it to save power.
	Priority int
	// TTL sets apns-expiration: how long APNs keeps a push for an offline
	// device. Zero means one day.
	TTL time.Duration
	// HTTPClient sends the pushes and must speak HTTP/2, the only
	// protocol APNs accepts; nil means an HTTP/2-only client of this
	// package.
	HTTPClient *http.Client
	// Clock is the time source; nil means the system clock.
	Clock parley.Clock
}

// APNs sends alert notifications to iOS and macOS apps through the Apple
// Push Notification service over HTTP/2, authenticating with a provider
// token (an ES256 JWT) that is cached and renewed before it expires.
//
// The payload carries the alert (sender, group title, preview), the
// conversation as thread-id so iOS groups notifications per conversation,
// mutable-content so a notification service extension may rewrite it, and
// conversation_id, seq and sender_id for the app.
type APNs struct {
	key      *ecdsa.PrivateKey
	keyID    string
	teamID   string
	topic    string
	baseURL  string
	priority string
	ttl      time.Duration
	client   *http.Client
	clock    parley.Clock

	mu       sync.Mutex
	token    string
	issuedAt time.Time
}

var _ parley.Pusher = (*APNs)(nil)

// NewAPNs returns an APNs channel. It returns EINVALID if a required field
// is missing or the key is not a P-256 PKCS #8 key.
func NewAPNs(cfg APNsConfig) (*APNs, error) {
	if cfg.KeyID == "" || cfg.TeamID == "" || cfg.Topic == "" {
		return nil, parley.Errorf(parley.EINVALID, "apns: key id, team id and topic are required")
	}
	key, err := parseAPNsKey(cfg.AuthKey)
	if err != nil {
		return nil, err
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = APNsProduction
	}
	switch cfg.Priority {
	case 0:
		cfg.Priority = 10
	case 5, 10:
	default:
		return nil, parley.Errorf(parley.EINVALID, "apns: priority must be 5 or 10, not %d", cfg.Priority)
	}
	if cfg.TTL == 0 {
		cfg.TTL = 24 * time.Hour
	}
	if cfg.TTL < 0 {
		return nil, parley.Errorf(parley.EINVALID, "apns: negative TTL")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = newHTTP2Client(nil)
	}
	return &APNs{
		key:      key,
		keyID:    cfg.KeyID,
		teamID:   cfg.TeamID,
		topic:    cfg.Topic,
		baseURL:  strings.TrimRight(cfg.BaseURL, "/"),
		priority: strconv.Itoa(cfg.Priority),
		ttl:      cfg.TTL,
		client:   cfg.HTTPClient,
		clock:    cfg.Clock,
	}, nil
}

func parseAPNsKey(p8 []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(p8)
	if block == nil {
		return nil, parley.Errorf(parley.EINVALID, "apns: auth key is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, parley.WrapError(parley.EINVALID, "apns: auth key is not a PKCS #8 key", err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, parley.Errorf(parley.EINVALID, "apns: auth key is not a P-256 key")
	}
	return ek, nil
}

// APNs health pings: after apnsPingIdle without a frame a ping is sent,
// and the connection is closed if it is not answered in apnsPingTimeout.
const (
	apnsPingIdle    = 15 * time.Second
	apnsPingTimeout = 5 * time.Second
)

// newHTTP2Client returns a client that speaks only HTTP/2 over TLS.
// tlsConf may carry extra root CAs; nil means the system roots.
func newHTTP2Client(tlsConf *tls.Config) *http.Client {
	t := defaultTransport()
	t.TLSClientConfig = tlsConf
	t.Protocols = new(http.Protocols)
	t.Protocols.SetHTTP2(true)
	// Health pings: a connection that has been silent for a while is
	// pinged and closed when the ping goes unanswered, so a half-dead
	// connection (a NAT or a load balancer that dropped it) is noticed in
	// seconds instead of after a push's 30 s timeout.
	t.HTTP2 = &http.HTTP2Config{SendPingTimeout: apnsPingIdle, PingTimeout: apnsPingTimeout}
	return newHTTPClient(t)
}

// Kind returns parley.PushAPNs.
func (a *APNs) Kind() parley.PushKind { return parley.PushAPNs }

// providerToken returns the cached provider token, signing a new one when
// it is due.
func (a *APNs) providerToken(now time.Time) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token != "" && now.Sub(a.issuedAt) < apnsTokenRefresh && !now.Before(a.issuedAt) {
		return a.token, nil
	}
	tok, err := signJWT(
		map[string]string{"alg": "ES256", "kid": a.keyID},
		map[string]any{"iss": a.teamID, "iat": now.Unix()},
		es256(a.key),
	)
	if err != nil {
		return "", fmt.Errorf("apns: provider token: %w", err)
	}
	a.token, a.issuedAt = tok, now
	return tok, nil
}

// dropToken forgets tok so the next push signs a new one; a newer token
// signed meanwhile by another push is kept.
func (a *APNs) dropToken(tok string) {
	a.mu.Lock()
	if a.token == tok {
		a.token = ""
	}
	a.mu.Unlock()
}

type apnsAlert struct {
	Title    string `json:"title,omitempty"`
	Subtitle string `json:"subtitle,omitempty"`
	Body     string `json:"body"`
}

type apnsAPS struct {
	Alert          apnsAlert `json:"alert"`
	Sound          string    `json:"sound,omitempty"`
	ThreadID       string    `json:"thread-id,omitempty"`
	MutableContent int       `json:"mutable-content,omitempty"`
}

type apnsPayload struct {
	APS            apnsAPS   `json:"aps"`
	ConversationID parley.ID `json:"conversation_id"`
	Seq            int64     `json:"seq"`
	SenderID       parley.ID `json:"sender_id"`
}

func marshalAPNs(n *parley.PushNotification) ([]byte, error) {
	title, subtitle, body := alertText(n)
	return json.Marshal(apnsPayload{
		APS: apnsAPS{
			Alert:          apnsAlert{Title: title, Subtitle: subtitle, Body: body},
			Sound:          "default",
			ThreadID:       n.ConversationID.String(),
			MutableContent: 1,
		},
		ConversationID: n.ConversationID,
		Seq:            n.Seq,
		SenderID:       n.SenderID,
	})
}

// isDeviceToken reports whether tok looks like an APNs device token: hex
// digits (32 bytes today; Apple warns the length may grow).
func isDeviceToken(tok string) bool {
	if len(tok) < 32 || len(tok) > 200 {
		return false
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// Push sends n to the device token in reg.Endpoint. It returns an error
// wrapping parley.ErrPushGone when APNs answers 410 Unregistered or 400
// BadDeviceToken (or the token is not a device token at all), and a
// *StatusError for other refusals. ExpiredProviderToken is temporary: the
// token is renewed for the next attempt.
func (a *APNs) Push(ctx context.Context, reg *parley.PushRegistration, n *parley.PushNotification) error {
	if !isDeviceToken(reg.Endpoint) {
		// APNs would answer BadDeviceToken; the token is also put in the
		// request path, so it must not carry anything else.
		return gone(parley.PushAPNs, parley.Errorf(parley.EINVALID, "apns: %q is not a device token", reg.Endpoint))
	}
	body, err := fitPayload(n, apnsMaxPayload, marshalAPNs)
	if err != nil {
		return fmt.Errorf("apns: %w", err)
	}
	now := a.clock.Now()
	tok, err := a.providerToken(now)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.baseURL+"/3/device/"+reg.Endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("apns: %w", err)
	}
	req.Header.Set("Authorization", "bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("apns-topic", a.topic)
	req.Header.Set("apns-push-type", "alert")
	req.Header.Set("apns-priority", a.priority)
	req.Header.Set("apns-expiration", strconv.FormatInt(now.Add(a.ttl).Unix(), 10))
	if n.CollapseKey != "" {
		req.Header.Set("apns-collapse-id", shortKey(n.CollapseKey, 64))
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("apns: post: %w", err)
	}
	answer := readAnswer(resp)
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	var e struct {
		Reason string `json:"reason"`
	}
	if json.Unmarshal(answer, &e) != nil || e.Reason == "" {
		e.Reason = excerpt(answer)
	}
	se := newStatusError(parley.PushAPNs, resp, e.Reason, now)
	switch {
	case resp.StatusCode == http.StatusGone, e.Reason == "Unregistered",
		resp.StatusCode == http.StatusBadRequest && e.Reason == "BadDeviceToken":
		return gone(parley.PushAPNs, se)
	case e.Reason == "ExpiredProviderToken":
		a.dropToken(tok)
		se.Temporary = true
	}
	return se
}

// CloseIdleConnections closes the channel's idle connections.
func (a *APNs) CloseIdleConnections() { a.client.CloseIdleConnections() }
