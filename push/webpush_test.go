package push_test

import (
	"context"
	"crypto/ecdh"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/push"
)

// rfc8291 holds the example of RFC 8291 section 5 with the inputs listed
// in its Appendix A (base64url, line breaks of the RFC removed).
type rfc8291 struct {
	uaPriv *ecdh.PrivateKey
	asPriv *ecdh.PrivateKey
	auth   []byte
	salt   []byte
	body   []byte
}

func rfc8291Example(tb testing.TB) rfc8291 {
	tb.Helper()
	dec := func(s string) []byte {
		b, err := b64.DecodeString(s)
		if err != nil {
			tb.Fatalf("decode %q: %v", s, err)
		}
		return b
	}
	key := func(priv, pub string) *ecdh.PrivateKey {
		k, err := ecdh.P256().NewPrivateKey(dec(priv))
		if err != nil {
			tb.Fatal(err)
		}
		if got := b64.EncodeToString(k.PublicKey().Bytes()); got != pub {
			tb.Fatalf("public key of %s = %s, want %s", priv, got, pub)
		}
		return k
	}
	return rfc8291{
		uaPriv: key("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94",
			"BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcx"+"aOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"),
		asPriv: key("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw",
			"BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIg"+"Dll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"),
		auth: dec("BTBZMqHH6r4Tts7J_aSIgg"),
		salt: dec("DGv6ra1nlYgDCS1FRnbzlw"),
		body: dec("DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml" +
			"mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT" +
			"pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"),
	}
}

// TestEncryptRFC8291 reproduces the RFC's message byte for byte from its
// keys and salt.
func TestEncryptRFC8291(t *testing.T) {
	v := rfc8291Example(t)
	got, err := push.EncryptWebPushWith([]byte("When I grow up, I want to be a watermelon"),
		v.uaPriv.PublicKey(), v.auth, v.asPriv, v.salt, 0)
	if err != nil {
		t.Fatal(err)
	}
	if b64.EncodeToString(got) != b64.EncodeToString(v.body) {
		t.Fatalf("body =\n%s\nwant\n%s", b64.EncodeToString(got), b64.EncodeToString(v.body))
	}
}

func MustWebPush(tb testing.TB, ps *pushService, key *push.VAPIDKey, clk *clock) *push.WebPush {
	tb.Helper()
	w, err := push.NewWebPush(push.WebPushConfig{
		Key:        key,
		Subject:    "mailto:ops@parley.example",
		Hosts:      []string{"127.0.0.1"},
		HTTPClient: ps.srv.Client(),
		Clock:      clk.Now,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(w.CloseIdleConnections)
	return w
}

func MustVAPIDKey(tb testing.TB) *push.VAPIDKey {
	tb.Helper()
	k, err := push.GenerateVAPIDKey()
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func TestWebPush(t *testing.T) {
	key := MustVAPIDKey(t)
	clk := newClock()
	ps := newPushService(t, key.PublicKey(), clk.Now)
	w := MustWebPush(t, ps, key, clk)
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		reg, _ := ps.Subscribe("ok")
		n := testNotification()
		if err := w.Push(ctx, reg, n); err != nil {
			t.Fatal(err)
		}
		got := ps.Deliveries()
		if len(got) != 1 {
			t.Fatalf("%d deliveries, want 1", len(got))
		}
		d := got[0]
		var back parley.PushNotification
		if err := json.Unmarshal(d.plaintext, &back); err != nil {
			t.Fatalf("payload %q: %v", d.plaintext, err)
		}
		if !reflect.DeepEqual(&back, n) {
			t.Errorf("payload = %+v, want %+v", back, *n)
		}
		for h, want := range map[string]string{"TTL": "86400", "Urgency": "high", "Topic": "conv-42", "Content-Type": "application/octet-stream"} {
			if v := d.header.Get(h); v != want {
				t.Errorf("%s = %q, want %q", h, v, want)
			}
		}
		if d.claims["sub"] != "mailto:ops@parley.example" {
			t.Errorf("sub = %v", d.claims["sub"])
		}
		// Padding hides the preview's length: the record is a multiple of
		// 256 bytes before the 16-byte tag.
		if rec := len(d.body) - 86 - 16; rec%256 != 0 {
			t.Errorf("record of %d bytes is not padded to 256", rec)
		}
	})

	t.Run("VAPIDTokenReused", func(t *testing.T) {
		reg, _ := ps.Subscribe("reuse")
		for range 2 {
			if err := w.Push(ctx, reg, testNotification()); err != nil {
				t.Fatal(err)
			}
		}
		clk.Advance(7 * time.Hour) // over half of the 12h lifetime: renewed
		if err := w.Push(ctx, reg, testNotification()); err != nil {
			t.Fatal(err)
		}
		got := ps.Deliveries()
		a, b, c := got[len(got)-3], got[len(got)-2], got[len(got)-1]
		if a.header.Get("Authorization") != b.header.Get("Authorization") {
			t.Error("VAPID token not reused within its lifetime")
		}
		if b.header.Get("Authorization") == c.header.Get("Authorization") {
			t.Error("VAPID token not renewed")
		}
	})

	t.Run("LongPreviewShortened", func(t *testing.T) {
		reg, _ := ps.Subscribe("long")
		n := testNotification()
		n.Preview = strings.Repeat("é\"", 3000)
		if err := w.Push(ctx, reg, n); err != nil {
			t.Fatal(err)
		}
		got := ps.Deliveries()
		var back parley.PushNotification
		if err := json.Unmarshal(got[len(got)-1].plaintext, &back); err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(back.Preview, "…") || !utf8.ValidString(back.Preview) || len(back.Preview) < 1000 {
			t.Errorf("preview of %d bytes, want a long valid prefix ending in …", len(back.Preview))
		}
	})

	t.Run("LongCollapseKeyHashed", func(t *testing.T) {
		reg, _ := ps.Subscribe("topic")
		n := testNotification()
		n.CollapseKey = "conversation:1234567890123456789:messages"
		if err := w.Push(ctx, reg, n); err != nil {
			t.Fatal(err)
		}
		got := ps.Deliveries()
		if topic := got[len(got)-1].header.Get("Topic"); topic != push.ShortKey(n.CollapseKey, 32) || len(topic) != 32 {
			t.Errorf("Topic = %q", topic)
		}
	})

	for _, status := range []int{http.StatusNotFound, http.StatusGone} {
		t.Run("ErrPushGone"+http.StatusText(status), func(t *testing.T) {
			reg, _ := ps.Subscribe("gone")
			ps.Answer("gone", status, "")
			err := w.Push(ctx, reg, testNotification())
			if !errors.Is(err, parley.ErrPushGone) {
				t.Fatalf("err = %v, want ErrPushGone", err)
			}
			if push.Retryable(err) {
				t.Error("gone is retryable")
			}
		})
	}

	t.Run("ErrRetryable", func(t *testing.T) {
		reg, _ := ps.Subscribe("busy")
		ps.Answer("busy", http.StatusTooManyRequests, "30")
		err := w.Push(ctx, reg, testNotification())
		if errors.Is(err, parley.ErrPushGone) || !push.Retryable(err) {
			t.Fatalf("err = %v, want retryable", err)
		}
		if ra := push.RetryAfter(err); ra != 30*time.Second {
			t.Errorf("RetryAfter = %s, want 30s", ra)
		}
		ps.Answer("busy", http.StatusServiceUnavailable, "")
		if err := w.Push(ctx, reg, testNotification()); !push.Retryable(err) {
			t.Fatalf("err = %v, want retryable", err)
		}
	})

	t.Run("ErrPermanent", func(t *testing.T) {
		reg, _ := ps.Subscribe("forbidden")
		ps.Answer("forbidden", http.StatusForbidden, "")
		err := w.Push(ctx, reg, testNotification())
		var se *push.StatusError
		if !errors.As(err, &se) || se.StatusCode != http.StatusForbidden || push.Retryable(err) || errors.Is(err, parley.ErrPushGone) {
			t.Fatalf("err = %v, want a permanent StatusError 403", err)
		}
	})
}

func TestWebPushCheckSubscription(t *testing.T) {
	key := MustVAPIDKey(t)
	clk := newClock()
	ps := newPushService(t, key.PublicKey(), clk.Now)
	w := MustWebPush(t, ps, key, clk)
	good, _ := ps.Subscribe("check")
	if err := w.CheckSubscription(good); err != nil {
		t.Fatalf("good subscription: %v", err)
	}
	for name, change := range map[string]func(r *parley.PushRegistration){
		"ErrHostNotAllowed": func(r *parley.PushRegistration) { r.Endpoint = "https://metadata.internal/push/x" },
		"ErrNotHTTPS":       func(r *parley.PushRegistration) { r.Endpoint = strings.Replace(r.Endpoint, "https:", "http:", 1) },
		"ErrP256dh":         func(r *parley.PushRegistration) { r.P256dh = b64.EncodeToString(make([]byte, 65)) },
		"ErrAuth":           func(r *parley.PushRegistration) { r.Auth = "c2hvcnQ" },
	} {
		t.Run(name, func(t *testing.T) {
			reg := *good
			change(&reg)
			if err := w.CheckSubscription(&reg); parley.ErrorCode(err) != parley.EINVALID {
				t.Errorf("CheckSubscription = %v, want EINVALID", err)
			}
			// Push refuses it too, before any request is made.
			before := len(ps.Deliveries())
			if err := w.Push(context.Background(), &reg, testNotification()); parley.ErrorCode(err) != parley.EINVALID || push.Retryable(err) {
				t.Errorf("Push = %v, want permanent EINVALID", err)
			}
			if len(ps.Deliveries()) != before {
				t.Error("a push was sent")
			}
		})
	}
}

func TestNewWebPushErrInvalid(t *testing.T) {
	key := MustVAPIDKey(t)
	for name, cfg := range map[string]push.WebPushConfig{
		"NoKey":         {Subject: "mailto:a@b.example"},
		"BadSubject":    {Key: key, Subject: "ops@parley.example"},
		"BadUrgency":    {Key: key, Subject: "mailto:a@b.example", Urgency: "urgent"},
		"LongVAPIDLife": {Key: key, Subject: "https://parley.example", VAPIDLifetime: 25 * time.Hour},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := push.NewWebPush(cfg); parley.ErrorCode(err) != parley.EINVALID {
				t.Errorf("err = %v, want EINVALID", err)
			}
		})
	}
}

func TestShortKey(t *testing.T) {
	for _, c := range []struct{ in string }{{"conv-42"}, {"a"}, {strings.Repeat("x", 32)}, {strings.Repeat("x", 33)}, {"conv:42"}, {"ünïcode"}} {
		got := push.ShortKey(c.in, 32)
		if len(got) > 32 || strings.ContainsFunc(got, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
		}) {
			t.Errorf("ShortKey(%q) = %q: not ≤32 URL-safe base64 characters", c.in, got)
		}
		if len(c.in) <= 32 && !strings.ContainsAny(c.in, ":ü") && got != c.in {
			t.Errorf("ShortKey(%q) = %q, want it unchanged", c.in, got)
		}
	}
	if push.ShortKey("conv:1", 32) == push.ShortKey("conv:2", 32) {
		t.Error("different keys collapse together")
	}
}

func TestWebPushPort443(t *testing.T) {
	key := MustVAPIDKey(t)
	ps := newPushService(t, key.PublicKey(), newClock().Now)
	good, _ := ps.Subscribe("port")
	w, err := push.NewWebPush(push.WebPushConfig{Key: key, Subject: "mailto:ops@parley.example",
		Hosts: append(push.DefaultWebPushHosts(), "push.selfhosted.example")})
	if err != nil {
		t.Fatal(err)
	}
	for endpoint, ok := range map[string]bool{
		"https://fcm.googleapis.com/fcm/send/x":           true,
		"https://fcm.googleapis.com:443/fcm/send/x":       true,
		"https://fcm.googleapis.com:8443/fcm/send/x":      false,
		"https://updates.push.services.mozilla.com:1/w/x": false,
		"https://push.selfhosted.example:8082/wpush/x":    true, // a configured host names its port
	} {
		reg := *good
		reg.Endpoint = endpoint
		if err := w.CheckSubscription(&reg); (err == nil) != ok {
			t.Errorf("CheckSubscription(%s) = %v, want ok=%v", endpoint, err, ok)
		}
	}
}
