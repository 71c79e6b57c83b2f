package push_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/push"
)

const (
	testTeamID = "TEAM123456"
	testKeyID  = "KEY1234567"
	testTopic  = "chat.parley.ios"
)

// apnsRequest is what the APNs test server saw of one push.
type apnsRequest struct {
	token   string
	header  http.Header
	claims  map[string]any
	payload map[string]any
}

// apnsServer is APNs on loopback: HTTP/2 over TLS, checking the provider
// token with the key's public half and answering per device token.
type apnsServer struct {
	tb  testing.TB
	srv *httptest.Server
	pub *ecdsa.PublicKey

	mu      sync.Mutex
	answers map[string][2]string // device token -> status, reason
	got     []apnsRequest
}

func newAPNsServer(tb testing.TB, pub *ecdsa.PublicKey) *apnsServer {
	tb.Helper()
	s := &apnsServer{tb: tb, pub: pub, answers: map[string][2]string{}}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.EnableHTTP2 = true
	s.srv.StartTLS()
	tb.Cleanup(s.srv.Close)
	return s
}

func (s *apnsServer) Answer(token string, status int, reason string) {
	s.mu.Lock()
	s.answers[token] = [2]string{strconv.Itoa(status), reason}
	s.mu.Unlock()
}

func (s *apnsServer) Requests() []apnsRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]apnsRequest(nil), s.got...)
}

func (s *apnsServer) serve(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, reason string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"reason":%q}`, reason)
	}
	if r.ProtoMajor != 2 {
		s.tb.Errorf("apns: request over %s, want HTTP/2", r.Proto)
		fail(http.StatusBadRequest, "BadProtocol")
		return
	}
	token, ok := strings.CutPrefix(r.URL.Path, "/3/device/")
	if r.Method != http.MethodPost || !ok {
		fail(http.StatusMethodNotAllowed, "MethodNotAllowed")
		return
	}
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "bearer ")
	if !ok {
		fail(http.StatusForbidden, "MissingProviderToken")
		return
	}
	header, claims, err := verifyES256(bearer, s.pub)
	if err != nil {
		s.tb.Errorf("apns: provider token: %v", err)
		fail(http.StatusForbidden, "InvalidProviderToken")
		return
	}
	if header["kid"] != testKeyID || claims["iss"] != testTeamID {
		s.tb.Errorf("apns: token kid=%v iss=%v", header["kid"], claims["iss"])
	}
	for h, want := range map[string]string{"apns-topic": testTopic, "apns-push-type": "alert", "apns-priority": "10"} {
		if v := r.Header.Get(h); v != want {
			s.tb.Errorf("apns: %s = %q, want %q", h, v, want)
		}
	}
	body, _ := io.ReadAll(r.Body)
	var payload map[string]any
	if err := json.Unmarshal(body, &payload); err != nil || len(body) > 4096 {
		fail(http.StatusBadRequest, "BadPayload")
		return
	}
	s.mu.Lock()
	s.got = append(s.got, apnsRequest{token: token, header: r.Header.Clone(), claims: claims, payload: payload})
	answer := s.answers[token]
	s.mu.Unlock()
	if answer[0] != "" {
		status, _ := strconv.Atoi(answer[0])
		fail(status, answer[1])
		return
	}
	w.Header().Set("apns-id", "00000000-0000-0000-0000-000000000001")
	w.WriteHeader(http.StatusOK)
}

// MustP8 returns a new APNs signing key as Apple ships it (.p8: PKCS #8
// PEM) and its private key.
func MustP8(tb testing.TB) ([]byte, *ecdsa.PrivateKey) {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), k
}

func MustAPNs(tb testing.TB, s *apnsServer, p8 []byte, clk *clock) *push.APNs {
	tb.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(s.srv.Certificate())
	a, err := push.NewAPNs(push.APNsConfig{
		AuthKey:    p8,
		KeyID:      testKeyID,
		TeamID:     testTeamID,
		Topic:      testTopic,
		BaseURL:    s.srv.URL,
		HTTPClient: push.NewHTTP2Client(&tls.Config{RootCAs: roots}),
		Clock:      clk.Now,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(a.CloseIdleConnections)
	return a
}

func apnsReg(token string) *parley.PushRegistration {
	return &parley.PushRegistration{ID: 9, UserID: 2, DeviceID: 3, Kind: parley.PushAPNs, Endpoint: token}
}

func TestAPNs(t *testing.T) {
	p8, key := MustP8(t)
	s := newAPNsServer(t, &key.PublicKey)
	clk := newClock()
	a := MustAPNs(t, s, p8, clk)
	ctx := context.Background()
	tok := strings.Repeat("ab", 32)

	t.Run("OK", func(t *testing.T) {
		if err := a.Push(ctx, apnsReg(tok), testNotification()); err != nil {
			t.Fatal(err)
		}
		got := s.Requests()
		r := got[len(got)-1]
		if r.token != tok {
			t.Errorf("device token = %q", r.token)
		}
		if v := r.header.Get("apns-collapse-id"); v != "conv-42" {
			t.Errorf("apns-collapse-id = %q", v)
		}
		if v := r.header.Get("apns-expiration"); v != strconv.FormatInt(clk.Now().Add(24*time.Hour).Unix(), 10) {
			t.Errorf("apns-expiration = %q, want now + 1 day", v)
		}
		if iat := claimTime(r.claims, "iat"); !iat.Equal(clk.Now()) {
			t.Errorf("iat = %v, want %v", iat, clk.Now())
		}
		aps, _ := r.payload["aps"].(map[string]any)
		alert, _ := aps["alert"].(map[string]any)
		if alert["title"] != "Climbing club" || alert["subtitle"] != "Alice" || alert["body"] != "See you at the wall at 6 ☺" {
			t.Errorf("alert = %v", alert)
		}
		if aps["thread-id"] != "42" || r.payload["conversation_id"] != "42" || r.payload["seq"] != float64(7) {
			t.Errorf("payload = %v", r.payload)
		}
	})

	t.Run("ProviderTokenCached", func(t *testing.T) {
		first := len(s.Requests())
		for range 2 {
			if err := a.Push(ctx, apnsReg(tok), testNotification()); err != nil {
				t.Fatal(err)
			}
		}
		clk.Advance(51 * time.Minute) // past the 50-minute refresh, before Apple's hour
		if err := a.Push(ctx, apnsReg(tok), testNotification()); err != nil {
			t.Fatal(err)
		}
		got := s.Requests()[first:]
		if got[0].header.Get("Authorization") != got[1].header.Get("Authorization") {
			t.Error("provider token re-signed within the hour")
		}
		if got[1].header.Get("Authorization") == got[2].header.Get("Authorization") {
			t.Error("provider token not refreshed after 50 minutes")
		}
	})

	for _, c := range []struct {
		name   string
		status int
		reason string
	}{
		{"ErrPushGoneUnregistered", http.StatusGone, "Unregistered"},
		{"ErrPushGoneBadDeviceToken", http.StatusBadRequest, "BadDeviceToken"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dead := strings.Repeat("cd", 32)
			s.Answer(dead, c.status, c.reason)
			err := a.Push(ctx, apnsReg(dead), testNotification())
			if !errors.Is(err, parley.ErrPushGone) {
				t.Fatalf("err = %v, want ErrPushGone", err)
			}
		})
	}

	t.Run("ErrPushGoneMalformedToken", func(t *testing.T) {
		before := len(s.Requests())
		err := a.Push(ctx, apnsReg("../../3/device/x"), testNotification())
		if !errors.Is(err, parley.ErrPushGone) {
			t.Fatalf("err = %v, want ErrPushGone", err)
		}
		if len(s.Requests()) != before {
			t.Error("a malformed token reached the server")
		}
	})

	t.Run("ErrRetryable", func(t *testing.T) {
		busy := strings.Repeat("ef", 32)
		s.Answer(busy, http.StatusInternalServerError, "InternalServerError")
		err := a.Push(ctx, apnsReg(busy), testNotification())
		if errors.Is(err, parley.ErrPushGone) || !push.Retryable(err) {
			t.Fatalf("err = %v, want retryable", err)
		}
	})

	t.Run("ErrPermanent", func(t *testing.T) {
		bad := strings.Repeat("01", 32)
		s.Answer(bad, http.StatusBadRequest, "DeviceTokenNotForTopic")
		err := a.Push(ctx, apnsReg(bad), testNotification())
		var se *push.StatusError
		if !errors.As(err, &se) || se.Reason != "DeviceTokenNotForTopic" || push.Retryable(err) || errors.Is(err, parley.ErrPushGone) {
			t.Fatalf("err = %v, want permanent DeviceTokenNotForTopic", err)
		}
	})

	t.Run("ExpiredProviderTokenRenewed", func(t *testing.T) {
		exp := strings.Repeat("23", 32)
		s.Answer(exp, http.StatusForbidden, "ExpiredProviderToken")
		err := a.Push(ctx, apnsReg(exp), testNotification())
		if !push.Retryable(err) {
			t.Fatalf("err = %v, want retryable", err)
		}
		clk.Advance(time.Minute) // a new token differs only by its iat
		if err := a.Push(ctx, apnsReg(tok), testNotification()); err != nil {
			t.Fatal(err)
		}
		got := s.Requests()
		if got[len(got)-1].header.Get("Authorization") == got[len(got)-2].header.Get("Authorization") {
			t.Error("expired provider token used again")
		}
	})
}

func TestNewAPNsErrInvalid(t *testing.T) {
	p8, _ := MustP8(t)
	for name, cfg := range map[string]push.APNsConfig{
		"NoTopic":     {AuthKey: p8, KeyID: testKeyID, TeamID: testTeamID},
		"NotPEM":      {AuthKey: []byte("nope"), KeyID: testKeyID, TeamID: testTeamID, Topic: testTopic},
		"BadPriority": {AuthKey: p8, KeyID: testKeyID, TeamID: testTeamID, Topic: testTopic, Priority: 7},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := push.NewAPNs(cfg); parley.ErrorCode(err) != parley.EINVALID {
				t.Errorf("err = %v, want EINVALID", err)
			}
		})
	}
}
