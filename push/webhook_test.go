package push_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/push"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// gateway is a custom push gateway that verifies each request the way the
// package documents for gateway authors.
type gateway struct {
	tb     testing.TB
	srv    *httptest.Server
	now    func() time.Time
	mu     sync.Mutex
	status int
	got    []push.WebhookPayload
	ids    []string
}

func newGateway(tb testing.TB, now func() time.Time) *gateway {
	tb.Helper()
	g := &gateway{tb: tb, now: now}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	tb.Cleanup(g.srv.Close)
	return g
}

func (g *gateway) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err := push.VerifyWebhookSignature(testSecret, r.Header.Get(push.WebhookSignatureHeader), body, g.now(), 0); err != nil {
		g.tb.Errorf("gateway: %v", err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var p push.WebhookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.status != 0 {
		w.WriteHeader(g.status)
		return
	}
	g.got = append(g.got, p)
	g.ids = append(g.ids, r.Header.Get(push.WebhookDeliveryHeader))
	w.WriteHeader(http.StatusAccepted)
}

func (g *gateway) Received() ([]push.WebhookPayload, []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]push.WebhookPayload(nil), g.got...), append([]string(nil), g.ids...)
}

func (g *gateway) Answer(status int) {
	g.mu.Lock()
	g.status = status
	g.mu.Unlock()
}

func TestWebhook(t *testing.T) {
	clk := newClock()
	g := newGateway(t, clk.Now)
	w, err := push.NewWebhook(push.WebhookConfig{URL: g.srv.URL + "/push", Secret: testSecret, Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer w.CloseIdleConnections()
	reg := &parley.PushRegistration{ID: 11, UserID: 2, DeviceID: 3, Kind: parley.PushWebhook, Endpoint: "gw-token-abc"}
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		n := testNotification()
		if err := w.Push(ctx, reg, n); err != nil {
			t.Fatal(err)
		}
		got, ids := g.Received()
		want := push.WebhookPayload{Token: "gw-token-abc", RegistrationID: 11, DeviceID: 3, UserID: 2, Notification: n}
		if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
			t.Fatalf("gateway got %+v, want %+v", got, want)
		}
		if ids[0] != "11-42-7" {
			t.Errorf("delivery id = %q", ids[0])
		}
	})

	t.Run("ErrPushGone", func(t *testing.T) {
		g.Answer(http.StatusGone)
		defer g.Answer(0)
		if err := w.Push(ctx, reg, testNotification()); !errors.Is(err, parley.ErrPushGone) {
			t.Fatalf("err = %v, want ErrPushGone", err)
		}
	})

	t.Run("ErrRetryable", func(t *testing.T) {
		g.Answer(http.StatusBadGateway)
		defer g.Answer(0)
		if err := w.Push(ctx, reg, testNotification()); !push.Retryable(err) {
			t.Fatalf("err = %v, want retryable", err)
		}
	})
}

func TestVerifyWebhookSignature(t *testing.T) {
	now := time.Unix(1_770_000_000, 0)
	body := []byte(`{"token":"gw-token-abc","notification":{"conversation_id":"42","seq":7}}`)
	header := push.SignWebhook(testSecret, now, body)

	t.Run("OK", func(t *testing.T) {
		if err := push.VerifyWebhookSignature(testSecret, header, body, now.Add(time.Minute), 0); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("OKRotatedSecret", func(t *testing.T) {
		old := []byte("an older secret of thirty-two bytes!")
		rotated := header + "," + strings.SplitN(push.SignWebhook(old, now, body), ",", 2)[1]
		for _, secret := range [][]byte{testSecret, old} {
			if err := push.VerifyWebhookSignature(secret, rotated, body, now, 0); err != nil {
				t.Fatal(err)
			}
		}
	})
	for _, c := range []struct {
		name   string
		secret []byte
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"ErrTamperedBody", testSecret, header, bytes.Replace(body, []byte(`"seq":7`), []byte(`"seq":8`), 1), now, push.ErrWebhookSignature},
		{"ErrWrongSecret", []byte("another secret, also 32 bytes long"), header, body, now, push.ErrWebhookSignature},
		{"ErrReplayed", testSecret, header, body, now.Add(6 * time.Minute), push.ErrWebhookStale},
		{"ErrFuture", testSecret, header, body, now.Add(-6 * time.Minute), push.ErrWebhookStale},
		{"ErrTamperedTimestamp", testSecret, strings.Replace(header, "t=1770000000", "t=1770000001", 1), body, now, push.ErrWebhookSignature},
		{"ErrNoSignature", testSecret, "t=1770000000", body, now, push.ErrWebhookMalformed},
		{"ErrGarbage", testSecret, "sha256=abc", body, now, push.ErrWebhookMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := push.VerifyWebhookSignature(c.secret, c.header, c.body, c.now, 0); !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

func TestNewWebhookErrInvalid(t *testing.T) {
	for name, cfg := range map[string]push.WebhookConfig{
		"ShortSecret": {URL: "https://gw.example/push", Secret: []byte("short")},
		"BadURL":      {URL: "ftp://gw.example/push", Secret: testSecret},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := push.NewWebhook(cfg); parley.ErrorCode(err) != parley.EINVALID {
				t.Errorf("err = %v, want EINVALID", err)
			}
		})
	}
}
