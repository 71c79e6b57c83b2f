package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/push"
)

// pushQueue is the app's parley.PushQueue: the dispatcher, and what each
// configured channel accepts as an address.
type pushQueue struct {
	*push.Dispatcher
	checks map[parley.PushKind]func(*parley.PushRegistration) error
}

// Check implements parley.PushQueue.
func (q *pushQueue) Check(reg *parley.PushRegistration) error {
	check, ok := q.checks[reg.Kind]
	if !ok {
		return parley.Errorf(parley.EINVALID, "%s push notifications are not configured on this server", reg.Kind)
	}
	return check(reg)
}

// openPush builds the configured push channels and their dispatcher, or
// returns nil when no channel is configured. The dispatcher reports dead
// registrations to gone. It also returns the Web Push public key ("" when
// Web Push is off).
func (m *Main) openPush(gone func(context.Context, *parley.PushRegistration)) (*pushQueue, string, error) {
	cfg := m.Config
	client := m.pushClient()
	q := &pushQueue{checks: make(map[parley.PushKind]func(*parley.PushRegistration) error)}
	var pushers []parley.Pusher
	var public string
	if cfg.WebPushSubject != "" {
		key, err := push.LoadOrCreateVAPIDKey(cfg.vapidKeyFile())
		if err != nil {
			return nil, "", err
		}
		var hosts []string
		if extra := list(cfg.WebPushHosts); len(extra) > 0 {
			hosts = append(push.DefaultWebPushHosts(), extra...)
		}
		wp, err := push.NewWebPush(push.WebPushConfig{Key: key, Subject: cfg.WebPushSubject, Hosts: hosts, HTTPClient: client})
		if err != nil {
			return nil, "", err
		}
		pushers, public = append(pushers, wp), key.PublicKey()
		q.checks[parley.PushWeb] = wp.CheckSubscription
	}
	if cfg.APNsKeyFile != "" {
		p8, err := os.ReadFile(cfg.APNsKeyFile)
		if err != nil {
			return nil, "", fmt.Errorf("apns key: %w", err)
		}
		base := push.APNsProduction
		if cfg.APNsEnv == "sandbox" {
			base = push.APNsSandbox
		}
		if cfg.APNsURL != "" {
			base = cfg.APNsURL
		}
		a, err := push.NewAPNs(push.APNsConfig{AuthKey: p8, KeyID: cfg.APNsKeyID, TeamID: cfg.APNsTeamID, Topic: cfg.APNsTopic, BaseURL: base, HTTPClient: client})
		if err != nil {
			return nil, "", err
		}
		pushers = append(pushers, a)
		q.checks[parley.PushAPNs] = checkAPNsToken
	}
	if fc, on, err := m.fcmConfig(); err != nil {
		return nil, "", err
	} else if on {
		fc.BaseURL, fc.HTTPClient = cfg.FCMURL, client
		f, err := push.NewFCM(fc)
		if err != nil {
			return nil, "", err
		}
		pushers = append(pushers, f)
		q.checks[parley.PushFCM] = func(*parley.PushRegistration) error { return nil }
	}
	if cfg.PushWebhookURL != "" {
		secret, err := os.ReadFile(cfg.PushWebhookSecretFile)
		if err != nil {
			return nil, "", fmt.Errorf("push webhook secret: %w", err)
		}
		wh, err := push.NewWebhook(push.WebhookConfig{URL: cfg.PushWebhookURL, Secret: []byte(strings.TrimSpace(string(secret))), HTTPClient: client})
		if err != nil {
			return nil, "", err
		}
		pushers = append(pushers, wh)
		q.checks[parley.PushWebhook] = func(*parley.PushRegistration) error { return nil }
	}
	if len(pushers) == 0 {
		return nil, "", nil
	}
	d, err := push.NewDispatcher(push.DispatcherConfig{Pushers: m.nm.timePushers(pushers), OnGone: gone, Logger: m.Logger})
	if err != nil {
		return nil, "", err
	}
	q.Dispatcher = d
	return q, public, nil
}

// pushClient returns the HTTP client every channel uses, nil for each
// channel's own. Main.PushClient is for tests whose push services run on
// loopback with a test certificate; redirects stay refused.
func (m *Main) pushClient() *http.Client {
	if m.PushClient == nil {
		return nil
	}
	c := *m.PushClient
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// checkAPNsToken accepts what APNs device tokens look like: hex digits.
func checkAPNsToken(reg *parley.PushRegistration) error {
	tok := reg.Endpoint
	if len(tok) < 32 || len(tok) > 200 || strings.Trim(tok, "0123456789abcdefABCDEF") != "" {
		return parley.Errorf(parley.EINVALID, "an APNs device token is 32 or more hex digits")
	}
	return nil
}

// pushMetrics exports the dispatcher's counts per channel.
func (m *Main) pushMetrics(q *pushQueue) {
	st := m.app.Stats()
	m.Metrics.CounterFunc("parley_push_checks_total", "Message bursts whose recipients were checked for push notifications.", st.PushChecks.Load)
	m.Metrics.CounterFunc("parley_push_queued_total", "Push notifications handed to the channels.", st.PushesQueued.Load)
	m.Metrics.CounterFunc("parley_push_overflow_total", "Push checks or notifications dropped before reaching a channel: too many checks pending, or a channel queue full.", st.PushesDropped.Load)
	if q == nil {
		return
	}
	for _, c := range []struct {
		name, help string
		get        func(push.Stats) uint64
	}{
		{"parley_push_sent_total", "Push notifications a push service accepted, by channel.", func(s push.Stats) uint64 { return s.Sent }},
		{"parley_push_failed_total", "Push notifications given up on (permanent error or attempts exhausted), by channel.", func(s push.Stats) uint64 { return s.Failed }},
		{"parley_push_removed_total", "Push registrations removed because their channel reported them gone, by channel.", func(s push.Stats) uint64 { return s.Removed }},
		{"parley_push_dropped_total", "Push notifications dropped by a channel: queue full or shutting down, by channel.", func(s push.Stats) uint64 { return s.Dropped }},
		{"parley_push_retried_total", "Push retries after a temporary failure, by channel.", func(s push.Stats) uint64 { return s.Retried }},
	} {
		m.Metrics.CounterVecFunc(c.name, c.help, []string{"channel"}, func(emit func(uint64, ...string)) {
			for kind, s := range q.StatsByKind() {
				emit(c.get(s), string(kind))
			}
		})
	}
}
