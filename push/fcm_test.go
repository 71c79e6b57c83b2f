package push_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/push"
)

const (
	testProject = "parley-test"
	testEmail   = "push@parley-test.iam.gserviceaccount.com"
)

// fcmServer is Google's OAuth 2.0 token endpoint and FCM's send method on
// loopback. The token endpoint checks the RS256 assertion with the service
// account's public key; the send method checks the access token.
type fcmServer struct {
	tb  testing.TB
	srv *httptest.Server
	pub *rsa.PublicKey

	mu       sync.Mutex
	tokens   int               // access tokens issued
	valid    map[string]bool   // issued access tokens not revoked
	answers  map[string]string // registration token -> error body ("" = ok)
	statuses map[string]int
	got      []map[string]any // messages received
}

func newFCMServer(tb testing.TB, pub *rsa.PublicKey) *fcmServer {
	tb.Helper()
	s := &fcmServer{tb: tb, pub: pub, valid: map[string]bool{}, answers: map[string]string{}, statuses: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", s.token)
	mux.HandleFunc("POST /v1/projects/{project}/messages:send", s.send)
	s.srv = httptest.NewServer(mux)
	tb.Cleanup(s.srv.Close)
	return s
}

func (s *fcmServer) token(w http.ResponseWriter, r *http.Request) {
	if r.PostFormValue("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		http.Error(w, `{"error":"unsupported_grant_type"}`, http.StatusBadRequest)
		return
	}
	_, claims, err := verifyRS256(r.PostFormValue("assertion"), s.pub)
	if err != nil {
		// Google answers a bad signature with invalid_grant.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`)
		return
	}
	if claims["iss"] != testEmail || claims["aud"] != s.srv.URL+"/token" ||
		claims["scope"] != "https://www.googleapis.com/auth/firebase.messaging" {
		s.tb.Errorf("fcm token: claims %v", claims)
		http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
		return
	}
	if life := claimTime(claims, "exp").Sub(claimTime(claims, "iat")); life <= 0 || life > time.Hour {
		s.tb.Errorf("fcm token: assertion lifetime %s", life)
	}
	s.mu.Lock()
	s.tokens++
	tok := fmt.Sprintf("ya29.test-%d", s.tokens)
	s.valid[tok] = true
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"access_token":%q,"expires_in":3599,"token_type":"Bearer"}`, tok)
}

func (s *fcmServer) send(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	ok := s.valid[bearer]
	s.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`)
		return
	}
	if p := r.PathValue("project"); p != testProject {
		http.Error(w, `{"error":{"code":404,"status":"NOT_FOUND"}}`, http.StatusNotFound)
		return
	}
	var body struct {
		Message map[string]any `json:"message"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, `{"error":{"code":400,"status":"INVALID_ARGUMENT"}}`, http.StatusBadRequest)
		return
	}
	token, _ := body.Message["token"].(string)
	s.mu.Lock()
	s.got = append(s.got, body.Message)
	answer, status := s.answers[token], s.statuses[token]
	s.mu.Unlock()
	if answer != "" {
		w.WriteHeader(status)
		fmt.Fprint(w, answer)
		return
	}
	fmt.Fprintf(w, `{"name":"projects/%s/messages/0:1"}`, testProject)
}

func (s *fcmServer) Answer(token string, status int, body string) {
	s.mu.Lock()
	s.answers[token], s.statuses[token] = body, status
	s.mu.Unlock()
}

// Revoke makes the server reject every access token issued so far.
func (s *fcmServer) Revoke() {
	s.mu.Lock()
	clear(s.valid)
	s.mu.Unlock()
}

func (s *fcmServer) Stats() (tokens int, messages []map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens, append([]map[string]any(nil), s.got...)
}

func MustRSAKey(tb testing.TB) *rsa.PrivateKey {
	tb.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// MustServiceAccount returns a service-account key file for k pointing at
// tokenURI, as the Firebase console hands it out.
func MustServiceAccount(tb testing.TB, k *rsa.PrivateKey, tokenURI string) []byte {
	tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		tb.Fatal(err)
	}
	j, err := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     testProject,
		"private_key_id": "0123456789abcdef",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   testEmail,
		"client_id":      "1234567890",
		"token_uri":      tokenURI,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return j
}

func newFCMTest(tb testing.TB) (*push.FCM, *fcmServer, *clock) {
	tb.Helper()
	key := MustRSAKey(tb)
	s := newFCMServer(tb, &key.PublicKey)
	creds := MustServiceAccount(tb, key, s.srv.URL+"/token")
	clk := newClock()
	f, err := push.NewFCM(push.FCMConfig{Credentials: creds, BaseURL: s.srv.URL, Clock: clk.Now})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(f.CloseIdleConnections)
	return f, s, clk
}

func fcmReg(token string) *parley.PushRegistration {
	return &parley.PushRegistration{ID: 5, UserID: 2, DeviceID: 3, Kind: parley.PushFCM, Endpoint: token}
}

func TestFCM(t *testing.T) {
	f, s, clk := newFCMTest(t)
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		if err := f.Push(ctx, fcmReg("device-token-1"), testNotification()); err != nil {
			t.Fatal(err)
		}
		_, msgs := s.Stats()
		m := msgs[len(msgs)-1]
		android, _ := m["android"].(map[string]any)
		if android["collapse_key"] != "conv-42" || android["priority"] != "HIGH" || android["ttl"] != "86400s" {
			t.Errorf("android = %v", android)
		}
		data, _ := m["data"].(map[string]any)
		want := map[string]any{
			"conversation_id": "42", "seq": "7", "sender_id": "3", "sender_name": "Alice",
			"title": "Climbing club", "preview": "See you at the wall at 6 ☺", "unread": "2", "collapse_key": "conv-42",
		}
		for k, v := range want {
			if data[k] != v {
				t.Errorf("data[%s] = %v, want %v", k, data[k], v)
			}
		}
		if _, ok := m["notification"]; ok {
			t.Error("message has a notification block; want data only")
		}
	})

	t.Run("AccessTokenCached", func(t *testing.T) {
		before, _ := s.Stats()
		for range 3 {
			if err := f.Push(ctx, fcmReg("device-token-1"), testNotification()); err != nil {
				t.Fatal(err)
			}
		}
		if after, _ := s.Stats(); after != before {
			t.Errorf("%d token requests for pushes within the token's life", after-before)
		}
		clk.Advance(time.Hour)
		if err := f.Push(ctx, fcmReg("device-token-1"), testNotification()); err != nil {
			t.Fatal(err)
		}
		if after, _ := s.Stats(); after != before+1 {
			t.Errorf("%d token requests after expiry, want 1", after-before)
		}
	})

	t.Run("RevokedAccessTokenRenewed", func(t *testing.T) {
		s.Revoke()
		err := f.Push(ctx, fcmReg("device-token-1"), testNotification())
		if !push.Retryable(err) || errors.Is(err, parley.ErrPushGone) {
			t.Fatalf("err = %v, want retryable", err)
		}
		if err := f.Push(ctx, fcmReg("device-token-1"), testNotification()); err != nil {
			t.Fatalf("retry: %v", err)
		}
	})

	t.Run("ErrPushGoneUnregistered", func(t *testing.T) {
		s.Answer("dead", http.StatusNotFound, `{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND",
			"details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}`)
		if err := f.Push(ctx, fcmReg("dead"), testNotification()); !errors.Is(err, parley.ErrPushGone) {
			t.Fatalf("err = %v, want ErrPushGone", err)
		}
	})

	t.Run("ErrPushGoneInvalidToken", func(t *testing.T) {
		s.Answer("garbled", http.StatusBadRequest, `{"error":{"code":400,"message":"The registration token is not a valid FCM registration token","status":"INVALID_ARGUMENT",
			"details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"INVALID_ARGUMENT"}]}}`)
		if err := f.Push(ctx, fcmReg("garbled"), testNotification()); !errors.Is(err, parley.ErrPushGone) {
			t.Fatalf("err = %v, want ErrPushGone", err)
		}
	})

	t.Run("ErrPermanentInvalidMessage", func(t *testing.T) {
		// INVALID_ARGUMENT about another field is our bug, not the
		// registration's: it must not be deleted.
		s.Answer("fine", http.StatusBadRequest, `{"error":{"code":400,"message":"Invalid value at 'message.android.ttl'","status":"INVALID_ARGUMENT",
			"details":[{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":"message.android.ttl","description":"Invalid value"}]}]}}`)
		err := f.Push(ctx, fcmReg("fine"), testNotification())
		if err == nil || errors.Is(err, parley.ErrPushGone) || push.Retryable(err) {
			t.Fatalf("err = %v, want a permanent non-gone error", err)
		}
	})

	t.Run("ErrRetryable", func(t *testing.T) {
		s.Answer("busy", http.StatusServiceUnavailable, `{"error":{"code":503,"message":"The service is currently unavailable.","status":"UNAVAILABLE"}}`)
		err := f.Push(ctx, fcmReg("busy"), testNotification())
		var se *push.StatusError
		if !errors.As(err, &se) || se.Reason != "UNAVAILABLE" || !push.Retryable(err) {
			t.Fatalf("err = %v, want retryable UNAVAILABLE", err)
		}
	})
}

func TestFCMTokenEndpointRefuses(t *testing.T) {
	// The server knows another key than the one that signs, so it
	// refuses the grant, as Google does for a deleted key; the push then
	// fails without a retry.
	s := newFCMServer(t, &MustRSAKey(t).PublicKey)
	creds := MustServiceAccount(t, MustRSAKey(t), s.srv.URL+"/token")
	f, err := push.NewFCM(push.FCMConfig{Credentials: creds, BaseURL: s.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer f.CloseIdleConnections()
	err = f.Push(context.Background(), fcmReg("device-token-1"), testNotification())
	if err == nil || push.Retryable(err) || errors.Is(err, parley.ErrPushGone) {
		t.Fatalf("err = %v, want a permanent failure", err)
	}
}

func TestNewFCMErrInvalid(t *testing.T) {
	for name, creds := range map[string]string{
		"NotJSON":   "nope",
		"NoProject": `{"type":"service_account","client_email":"a@b","private_key":"x"}`,
		"BadKey":    `{"type":"service_account","project_id":"p","client_email":"a@b","private_key":"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}`,
		"WrongType": `{"type":"authorized_user","project_id":"p","client_email":"a@b","private_key":"x"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := push.NewFCM(push.FCMConfig{Credentials: []byte(creds)}); parley.ErrorCode(err) != parley.EINVALID {
				t.Errorf("err = %v, want EINVALID", err)
			}
		})
	}
}
