package push_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/parleyhq/parley/push"
)

// TestFCMMetadataServer: without a key file, FCM takes its access tokens
// from the machine's metadata server (Application Default Credentials on
// Google Cloud), asked with Metadata-Flavor: Google, and caches them.
func TestFCMMetadataServer(t *testing.T) {
	s := newFCMServer(t, nil)
	fetched := 0
	md := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata-Flavor") != "Google" || r.URL.Path != "/computeMetadata/v1/instance/service-accounts/default/token" ||
			r.URL.Query().Get("scopes") != "https://www.googleapis.com/auth/firebase.messaging" {
			http.Error(w, "bad metadata request", http.StatusForbidden)
			return
		}
		fetched++
		tok := fmt.Sprintf("ya29.metadata-%d", fetched)
		s.mu.Lock()
		s.valid[tok] = true
		s.mu.Unlock()
		fmt.Fprintf(w, `{"access_token":%q,"expires_in":3599,"token_type":"Bearer"}`, tok)
	}))
	defer md.Close()
	f, err := push.NewFCM(push.FCMConfig{ProjectID: testProject, MetadataURL: md.URL, BaseURL: s.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer f.CloseIdleConnections()
	for i := range 3 {
		if err := f.Push(context.Background(), fcmReg(fmt.Sprint("device-", i)), testNotification()); err != nil {
			t.Fatal(err)
		}
	}
	if _, msgs := s.Stats(); len(msgs) != 3 || fetched != 1 {
		t.Errorf("%d messages with %d metadata tokens, want 3 with 1", len(msgs), fetched)
	}
	if _, err := push.NewFCM(push.FCMConfig{MetadataURL: md.URL}); err == nil {
		t.Error("FCM without credentials nor project id")
	}
}

// TestAPNsHealthPings: the HTTP/2 client APNs uses pings idle connections.
func TestAPNsHealthPings(t *testing.T) {
	tr, ok := push.NewHTTP2Client(nil).Transport.(*http.Transport)
	if !ok || tr.HTTP2 == nil || tr.HTTP2.SendPingTimeout <= 0 || tr.HTTP2.PingTimeout <= 0 {
		t.Fatalf("APNs transport without HTTP/2 health pings: %+v", tr.HTTP2)
	}
}
