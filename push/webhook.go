package push

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley"
)

// Webhook request headers.
const (
	// WebhookSignatureHeader carries "t=<unix seconds>,v1=<hex>", where
	// the hex is HMAC-SHA256, keyed with the shared secret, of the
	// timestamp, a ".", and the raw request body.
	WebhookSignatureHeader = "X-Parley-Signature"
	// WebhookDeliveryHeader names the push: the same value on every retry
	// of one notification to one registration, so a gateway can drop
	// duplicates.
	WebhookDeliveryHeader = "X-Parley-Delivery"
)

// DefaultWebhookTolerance is how old a signature VerifyWebhookSignature
// accepts by default: long enough for clock skew and a slow network, short
// enough that a captured request cannot be replayed later.
const DefaultWebhookTolerance = 5 * time.Minute

// WebhookConfig configures the webhook channel.
type WebhookConfig struct {
	// URL is the gateway's endpoint; https unless the gateway runs on the
	// same host or network. Required.
	URL string
	// Secret is the shared HMAC key, at least 32 bytes. Required.
	Secret []byte
	// HTTPClient sends the requests; nil means a client of this package.
	HTTPClient *http.Client
	// Clock is the time source; nil means the system clock.
	Clock parley.Clock
}

// WebhookPayload is the JSON body the webhook channel posts.
type WebhookPayload struct {
	// Token is the registration's endpoint: the opaque token the gateway
	// gave the device.
	Token          string                   `json:"token"`
	RegistrationID parley.ID                `json:"registration_id"`
	DeviceID       parley.ID                `json:"device_id"`
	UserID         parley.ID                `json:"user_id"`
	Notification   *parley.PushNotification `json:"notification"`
}

// Webhook hands notifications to a custom push gateway (a self-hosted
// relay, UnifiedPush distributor, SMS bridge, …): a JSON WebhookPayload
// POSTed to one URL and signed with a shared secret.
//
// The gateway answers 2xx when it took the push, 410 Gone when it no
// longer knows the token (the registration is then deleted), 429 or 5xx
// (with Retry-After if it likes) to have the push retried; any other
// answer is a permanent failure.
//
// A gateway checks each request with VerifyWebhookSignature on the raw
// body before parsing it, then drops duplicates by WebhookDeliveryHeader.
// In Go:
//
//	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
//	err := push.VerifyWebhookSignature(secret, r.Header.Get(push.WebhookSignatureHeader), body, time.Now(), 0)
//
// In any other language: split the header on "," into k=v pairs; compute
// hex(HMAC-SHA256(secret, t + "." + body)); compare it in constant time
// with each v1 value; and refuse t further than five minutes from now.
type Webhook struct {
	url    string
	secret []byte
	client *http.Client
	clock  parley.Clock
}

var _ parley.Pusher = (*Webhook)(nil)

// NewWebhook returns a webhook channel. It returns EINVALID if the URL is
// not http(s) or the secret is shorter than 32 bytes.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, parley.Errorf(parley.EINVALID, "webhook: URL must be http(s), not %q", cfg.URL)
	}
	if len(cfg.Secret) < 32 {
		return nil, parley.Errorf(parley.EINVALID, "webhook: secret must be at least 32 bytes")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = newHTTPClient(defaultTransport())
	}
	return &Webhook{url: cfg.URL, secret: bytes.Clone(cfg.Secret), client: cfg.HTTPClient, clock: cfg.Clock}, nil
}

// Kind returns parley.PushWebhook.
func (w *Webhook) Kind() parley.PushKind { return parley.PushWebhook }

// Push posts n for reg to the gateway. It returns an error wrapping
// parley.ErrPushGone when the gateway answers 410, and a *StatusError for
// other refusals.
func (w *Webhook) Push(ctx context.Context, reg *parley.PushRegistration, n *parley.PushNotification) error {
	body, err := json.Marshal(WebhookPayload{
		Token:          reg.Endpoint,
		RegistrationID: reg.ID,
		DeviceID:       reg.DeviceID,
		UserID:         reg.UserID,
		Notification:   n,
	})
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	now := w.clock.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(WebhookSignatureHeader, SignWebhook(w.secret, now, body))
	req.Header.Set(WebhookDeliveryHeader, fmt.Sprintf("%s-%s-%d", reg.ID, n.ConversationID, n.Seq))
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: post: %w", err)
	}
	answer := readAnswer(resp)
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusGone:
		return gone(parley.PushWebhook, newStatusError(parley.PushWebhook, resp, excerpt(answer), now))
	default:
		return newStatusError(parley.PushWebhook, resp, excerpt(answer), now)
	}
}

// CloseIdleConnections closes the channel's idle connections.
func (w *Webhook) CloseIdleConnections() { w.client.CloseIdleConnections() }

// SignWebhook returns the WebhookSignatureHeader value for body sent at t.
func SignWebhook(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(webhookMAC(secret, ts, body))
}

func webhookMAC(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Errors of VerifyWebhookSignature.
var (
	ErrWebhookSignature = errors.New("webhook: signature does not match")
	ErrWebhookStale     = errors.New("webhook: signature timestamp outside the tolerance")
	ErrWebhookMalformed = errors.New("webhook: malformed signature header")
)

// VerifyWebhookSignature checks a WebhookSignatureHeader value against the
// raw request body: a gateway calls it before trusting a request. The
// timestamp must be within tolerance of now (zero means
// DefaultWebhookTolerance), which bounds replays. Any one of several v1
// values may match, so a sender may sign with an old and a new secret while
// the secret is rotated. It returns ErrWebhookMalformed, ErrWebhookStale or
// ErrWebhookSignature.
func VerifyWebhookSignature(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultWebhookTolerance
	}
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrWebhookMalformed
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil {
				return ErrWebhookMalformed
			}
			sigs = append(sigs, sig)
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrWebhookMalformed
	}
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
		return ErrWebhookStale
	}
	want := webhookMAC(secret, ts, body)
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			return nil
		}
	}
	return ErrWebhookSignature
}
