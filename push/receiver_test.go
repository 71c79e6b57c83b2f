package push_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley"
)

// This file is the browser and push-service side of Web Push, written from
// RFC 8291 and RFC 8292 independently of the package, so that the package's
// pushes are checked by a second implementation.

// intermediates are the values RFC 8291 Appendix A lists, for checking
// the receiver against the RFC.
type intermediates struct {
	ecdhSecret, prkKey, ikm, prk, cek, nonce []byte
}

// hkdfExtract and hkdfExpand are RFC 5869 spelled out with HMAC, so the
// receiver does not share the package's HKDF calls.
func hkdfExtract(salt, ikm []byte) []byte {
	m := hmac.New(sha256.New, salt)
	m.Write(ikm)
	return m.Sum(nil)
}

// hkdfExpand handles only outputs of one block (at most 32 bytes), which
// is all Web Push needs.
func hkdfExpand(prk, info []byte, n int) []byte {
	m := hmac.New(sha256.New, prk)
	m.Write(info)
	m.Write([]byte{1})
	return m.Sum(nil)[:n]
}

// decryptPush decrypts an aes128gcm push message body the way a user agent
// does (RFC 8291 section 3.4, RFC 8188 section 2).
func decryptPush(body []byte, uaPriv *ecdh.PrivateKey, authSecret []byte) ([]byte, intermediates, error) {
	var iv intermediates
	if len(body) < 21 {
		return nil, iv, errors.New("body shorter than the header")
	}
	salt := body[:16]
	rs := binary.BigEndian.Uint32(body[16:20])
	idlen := int(body[20])
	if idlen != 65 || len(body) < 21+idlen {
		return nil, iv, fmt.Errorf("keyid of %d bytes, want an uncompressed P-256 key", idlen)
	}
	keyID := body[21 : 21+idlen]
	ciphertext := body[21+idlen:]
	if rs < 18 || len(ciphertext) > int(rs) {
		return nil, iv, fmt.Errorf("record of %d bytes does not fit rs %d (one record only)", len(ciphertext), rs)
	}
	asPublic, err := ecdh.P256().NewPublicKey(keyID)
	if err != nil {
		return nil, iv, fmt.Errorf("as_public: %w", err)
	}
	iv.ecdhSecret, err = uaPriv.ECDH(asPublic)
	if err != nil {
		return nil, iv, err
	}
	iv.prkKey = hkdfExtract(authSecret, iv.ecdhSecret)
	keyInfo := append([]byte("WebPush: info\x00"), uaPriv.PublicKey().Bytes()...)
	keyInfo = append(keyInfo, keyID...)
	iv.ikm = hkdfExpand(iv.prkKey, keyInfo, 32)
	iv.prk = hkdfExtract(salt, iv.ikm)
	iv.cek = hkdfExpand(iv.prk, []byte("Content-Encoding: aes128gcm\x00"), 16)
	iv.nonce = hkdfExpand(iv.prk, []byte("Content-Encoding: nonce\x00"), 12)

	block, err := aes.NewCipher(iv.cek)
	if err != nil {
		return nil, iv, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, iv, err
	}
	// The only record is record 0, so the nonce is used as derived.
	padded, err := gcm.Open(nil, iv.nonce, ciphertext, nil)
	if err != nil {
		return nil, iv, fmt.Errorf("open: %w", err)
	}
	i := len(padded) - 1
	for i >= 0 && padded[i] == 0 {
		i--
	}
	if i < 0 || padded[i] != 0x02 {
		return nil, iv, errors.New("last record lacks the 0x02 delimiter")
	}
	return padded[:i], iv, nil
}

// subscription is a browser's push subscription: its key pair and auth
// secret, kept by the test to decrypt what arrives.
type subscription struct {
	priv *ecdh.PrivateKey
	auth []byte
}

func newSubscription(tb testing.TB) *subscription {
	tb.Helper()
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	return &subscription{priv: priv, auth: auth}
}

// delivery is one push the push service accepted.
type delivery struct {
	header    http.Header
	claims    map[string]any
	body      []byte
	plaintext []byte
}

// pushService is a push service on loopback TLS: it checks the VAPID
// authorization (signature, audience, expiry) and decrypts each push with
// the subscription it was addressed to.
type pushService struct {
	tb       testing.TB
	srv      *httptest.Server
	vapidKey string // the application server key browsers subscribed with
	now      func() time.Time

	mu     sync.Mutex
	subs   map[string]*subscription // by path
	status map[string]int           // answer override by path
	retry  string                   // Retry-After sent with overrides
	got    []delivery
}

func newPushService(tb testing.TB, vapidKey string, now func() time.Time) *pushService {
	tb.Helper()
	ps := &pushService{tb: tb, vapidKey: vapidKey, now: now, subs: map[string]*subscription{}, status: map[string]int{}}
	ps.srv = httptest.NewTLSServer(http.HandlerFunc(ps.serve))
	tb.Cleanup(ps.srv.Close)
	return ps
}

// Subscribe makes a subscription whose endpoint is on this service.
func (ps *pushService) Subscribe(id string) (*parley.PushRegistration, *subscription) {
	s := newSubscription(ps.tb)
	ps.mu.Lock()
	ps.subs["/push/"+id] = s
	ps.mu.Unlock()
	return &parley.PushRegistration{
		ID:       1,
		UserID:   2,
		DeviceID: 3,
		Kind:     parley.PushWeb,
		Endpoint: ps.srv.URL + "/push/" + id,
		P256dh:   b64.EncodeToString(s.priv.PublicKey().Bytes()),
		Auth:     b64.EncodeToString(s.auth),
	}, s
}

// Answer makes the service refuse pushes to id with status.
func (ps *pushService) Answer(id string, status int, retryAfter string) {
	ps.mu.Lock()
	ps.status["/push/"+id] = status
	ps.retry = retryAfter
	ps.mu.Unlock()
}

func (ps *pushService) Deliveries() []delivery {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return append([]delivery(nil), ps.got...)
}

func (ps *pushService) refuse(w http.ResponseWriter, format string, args ...any) {
	ps.tb.Errorf("push service: "+format, args...)
	http.Error(w, fmt.Sprintf(format, args...), http.StatusBadRequest)
}

func (ps *pushService) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ps.mu.Lock()
	sub, status, retry := ps.subs[r.URL.Path], ps.status[r.URL.Path], ps.retry
	ps.mu.Unlock()
	if status != 0 {
		if retry != "" {
			w.Header().Set("Retry-After", retry)
		}
		http.Error(w, "refused by test", status)
		return
	}
	if sub == nil {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		ps.refuse(w, "method %s", r.Method)
		return
	}
	claims, err := ps.checkVAPID(r.Header.Get("Authorization"))
	if err != nil {
		ps.refuse(w, "vapid: %v", err)
		return
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "aes128gcm" {
		ps.refuse(w, "Content-Encoding %q", ce)
		return
	}
	if r.Header.Get("TTL") == "" {
		ps.refuse(w, "no TTL header") // RFC 8030 section 5.2: required
		return
	}
	if len(body) > 4096 {
		ps.refuse(w, "body of %d bytes is over 4096", len(body))
		return
	}
	plaintext, _, err := decryptPush(body, sub.priv, sub.auth)
	if err != nil {
		ps.refuse(w, "decrypt: %v", err)
		return
	}
	ps.mu.Lock()
	ps.got = append(ps.got, delivery{header: r.Header.Clone(), claims: claims, body: body, plaintext: plaintext})
	ps.mu.Unlock()
	w.Header().Set("Location", ps.srv.URL+"/message/1")
	w.WriteHeader(http.StatusCreated)
}

// checkVAPID verifies "vapid t=<jwt>, k=<key>" (RFC 8292 section 3).
func (ps *pushService) checkVAPID(h string) (map[string]any, error) {
	rest, ok := strings.CutPrefix(h, "vapid ")
	if !ok {
		return nil, fmt.Errorf("scheme of %q is not vapid", h)
	}
	params := map[string]string{}
	for p := range strings.SplitSeq(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		params[k] = v
	}
	if params["k"] != ps.vapidKey {
		return nil, fmt.Errorf("k = %q, want the key the browser subscribed with", params["k"])
	}
	raw, err := b64.DecodeString(params["k"])
	if err != nil {
		return nil, err
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	if err != nil {
		return nil, err
	}
	_, claims, err := verifyES256(params["t"], pub)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(ps.srv.URL)
	if aud := claims["aud"]; aud != u.Scheme+"://"+u.Host {
		return nil, fmt.Errorf("aud = %v, want the endpoint's origin", aud)
	}
	exp := claimTime(claims, "exp")
	if now := ps.now(); !exp.After(now) || exp.After(now.Add(24*time.Hour)) {
		return nil, fmt.Errorf("exp %v is not within 24h after %v", exp, now)
	}
	if sub, _ := claims["sub"].(string); !strings.HasPrefix(sub, "mailto:") && !strings.HasPrefix(sub, "https:") {
		return nil, fmt.Errorf("sub = %q", sub)
	}
	return claims, nil
}

// TestReceiverRFC8291 checks the receiver itself against the example of
// RFC 8291 section 5 and the intermediate values of its Appendix A, so
// that the receiver can be trusted to judge the package's pushes.
func TestReceiverRFC8291(t *testing.T) {
	v := rfc8291Example(t)
	plaintext, iv, err := decryptPush(v.body, v.uaPriv, v.auth)
	if err != nil {
		t.Fatal(err)
	}
	if string(plaintext) != "When I grow up, I want to be a watermelon" {
		t.Errorf("plaintext = %q", plaintext)
	}
	for _, c := range []struct {
		name     string
		got      []byte
		wantB64u string
	}{
		{"ecdh_secret", iv.ecdhSecret, "kyrL1jIIOHEzg3sM2ZWRHDRB62YACZhhSlknJ672kSs"},
		{"PRK_key", iv.prkKey, "Snr3JMxaHVDXHWJn5wdC52WjpCtd2EIEGBykDcZW32k"},
		{"IKM", iv.ikm, "S4lYMb_L0FxCeq0WhDx813KgSYqU26kOyzWUdsXYyrg"},
		{"PRK", iv.prk, "09_eUZGrsvxChDCGRCdkLiDXrReGOEVeSCdCcPBSJSc"},
		{"CEK", iv.cek, "oIhVW04MRdy2XN9CiKLxTg"},
		{"NONCE", iv.nonce, "4h_95klXJ5E_qnoN"},
	} {
		if got := b64.EncodeToString(c.got); got != c.wantB64u {
			t.Errorf("%s = %s, want %s", c.name, got, c.wantB64u)
		}
	}

	t.Run("ErrTampered", func(t *testing.T) {
		bad := bytes.Clone(v.body)
		bad[len(bad)-1] ^= 1
		if _, _, err := decryptPush(bad, v.uaPriv, v.auth); err == nil {
			t.Fatal("tampered body decrypted")
		}
	})
}
