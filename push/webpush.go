package push

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley"
)

// DefaultWebPushHosts returns the push services of the major browsers:
// Chrome and other Chromium browsers (FCM), Firefox (Mozilla autopush),
// Safari (Apple) and Edge (WNS). A host matches itself and its subdomains.
func DefaultWebPushHosts() []string {
	return []string{
		"fcm.googleapis.com",
		"push.services.mozilla.com",
		"push.apple.com",
		"notify.windows.com",
	}
}

// WebPushConfig configures the Web Push channel.
type WebPushConfig struct {
	// Key signs every push (VAPID); see LoadOrCreateVAPIDKey. Required.
	Key *VAPIDKey
	// Subject is the VAPID "sub" claim, a contact for the push service's
	// operators: a "mailto:" or "https:" URL. Required.
	Subject string
	// TTL is how long a push service keeps a push for an offline browser.
	// Zero means one day; the most push services keep is four weeks.
	TTL time.Duration
	// Urgency is the RFC 8030 Urgency: "very-low", "low", "normal" or
	// "high". Empty means "high": a new message is what a user wants to
	// be woken for.
	Urgency string
	// Hosts are the push service hosts that subscription endpoints may
	// name; nil means DefaultWebPushHosts. Endpoints come from clients, so
	// without this list a registration could make the server post to any
	// host, including internal ones.
	Hosts []string
	// VAPIDLifetime is the lifetime of the signed VAPID tokens; zero
	// means 12 hours. RFC 8292 allows at most 24 hours.
	VAPIDLifetime time.Duration
	// HTTPClient sends the pushes; nil means a client of this package. A
	// client given here should refuse redirects, as the default one does,
	// or an endpoint could redirect pushes past Hosts.
	HTTPClient *http.Client
	// Clock is the time source; nil means the system clock.
	Clock parley.Clock
}

// WebPush sends notifications to browsers through their push services: RFC
// 8030 delivery, RFC 8291 encryption, RFC 8292 (VAPID) authentication.
//
// The push body is the JSON of the parley.PushNotification, encrypted; the
// web client's service worker decodes it. Long previews are shortened to
// fit the 4 KB push services accept.
type WebPush struct {
	ttl     time.Duration
	urgency string
	hosts   []string
	signer  *vapidSigner
	client  *http.Client
	clock   parley.Clock
}

var _ parley.Pusher = (*WebPush)(nil)

// NewWebPush returns a Web Push channel. It returns EINVALID if a required
// field is missing or a value is out of range.
func NewWebPush(cfg WebPushConfig) (*WebPush, error) {
	if cfg.Key == nil {
		return nil, parley.Errorf(parley.EINVALID, "web push: no VAPID key")
	}
	if !strings.HasPrefix(cfg.Subject, "mailto:") && !strings.HasPrefix(cfg.Subject, "https://") {
		return nil, parley.Errorf(parley.EINVALID, "web push: VAPID subject must be a mailto: or https: URL, not %q", cfg.Subject)
	}
	if cfg.TTL == 0 {
		cfg.TTL = 24 * time.Hour
	}
	if cfg.TTL < 0 || cfg.TTL > 28*24*time.Hour {
		return nil, parley.Errorf(parley.EINVALID, "web push: TTL %s is outside 0 to 4 weeks", cfg.TTL)
	}
	switch cfg.Urgency {
	case "":
		cfg.Urgency = "high"
	case "very-low", "low", "normal", "high":
	default:
		return nil, parley.Errorf(parley.EINVALID, "web push: unknown urgency %q", cfg.Urgency)
	}
	if cfg.Hosts == nil {
		cfg.Hosts = DefaultWebPushHosts()
	}
	if cfg.VAPIDLifetime == 0 {
		cfg.VAPIDLifetime = 12 * time.Hour
	}
	if cfg.VAPIDLifetime < time.Minute || cfg.VAPIDLifetime > maxVAPIDLifetime {
		return nil, parley.Errorf(parley.EINVALID, "web push: VAPID lifetime %s is outside 1m to 24h", cfg.VAPIDLifetime)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = newHTTPClient(defaultTransport())
	}
	return &WebPush{
		ttl:     cfg.TTL,
		urgency: cfg.Urgency,
		hosts:   cfg.Hosts,
		signer:  &vapidSigner{key: cfg.Key, subject: cfg.Subject, lifetime: cfg.VAPIDLifetime},
		client:  cfg.HTTPClient,
		clock:   cfg.Clock,
	}, nil
}

// Kind returns parley.PushWeb.
func (w *WebPush) Kind() parley.PushKind { return parley.PushWeb }

// CheckSubscription reports whether reg is a subscription this channel can
// push to: an https endpoint on an allowed push service and valid keys. It
// returns EINVALID otherwise. The HTTP API calls it before storing a
// subscription, so bad ones are refused up front rather than failing on
// every message.
func (w *WebPush) CheckSubscription(reg *parley.PushRegistration) error {
	if _, err := w.endpoint(reg.Endpoint); err != nil {
		return err
	}
	_, _, err := subscriptionKeys(reg.P256dh, reg.Auth)
	return err
}

func (w *WebPush) endpoint(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return nil, parley.Errorf(parley.EINVALID, "web push subscription: endpoint must be an https URL")
	}
	host := strings.ToLower(u.Hostname())
	for _, h := range w.hosts {
		h = strings.ToLower(h)
		if host == h || strings.HasSuffix(host, "."+h) {
			// The browsers' services listen on 443: another port there is
			// no push service, and a port that never answers would hold a
			// worker. Self-hosted services (--webpush-hosts) name theirs.
			if p := u.Port(); p != "" && p != "443" && slices.Contains(DefaultWebPushHosts(), h) {
				return nil, parley.Errorf(parley.EINVALID, "web push subscription: %s is served on port 443 only", host)
			}
			return u, nil
		}
	}
	return nil, parley.Errorf(parley.EINVALID, "web push subscription: %s is not an allowed push service", host)
}

// Push encrypts n for the subscription and posts it to its endpoint. It
// returns an error wrapping parley.ErrPushGone when the push service
// answers 404 or 410 (the subscription expired or was withdrawn), EINVALID
// for an unusable subscription, and a *StatusError for other refusals.
func (w *WebPush) Push(ctx context.Context, reg *parley.PushRegistration, n *parley.PushNotification) error {
	u, err := w.endpoint(reg.Endpoint)
	if err != nil {
		return err
	}
	uaPublic, authSecret, err := subscriptionKeys(reg.P256dh, reg.Auth)
	if err != nil {
		return err
	}
	plaintext, err := fitPayload(n, maxWebPushPlaintext, marshalNotification)
	if err != nil {
		return fmt.Errorf("web push: %w", err)
	}
	body, err := encryptWebPush(plaintext, uaPublic, authSecret)
	if err != nil {
		return err
	}
	now := w.clock.Now()
	// RFC 8292 section 2: the audience is the origin of the endpoint.
	auth, err := w.signer.authorization(u.Scheme+"://"+u.Host, now)
	if err != nil {
		return err
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("web push: %w", err)
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Encoding", "aes128gcm")
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("TTL", strconv.FormatInt(int64(w.ttl/time.Second), 10))
	req.Header.Set("Urgency", w.urgency)
	if n.CollapseKey != "" {
		req.Header.Set("Topic", shortKey(n.CollapseKey, 32))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("web push: post: %w", err)
	}
	answer := readAnswer(resp)
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return gone(parley.PushWeb, newStatusError(parley.PushWeb, resp, excerpt(answer), now))
	default:
		return newStatusError(parley.PushWeb, resp, excerpt(answer), now)
	}
}

// CloseIdleConnections closes the channel's idle connections.
func (w *WebPush) CloseIdleConnections() { w.client.CloseIdleConnections() }
