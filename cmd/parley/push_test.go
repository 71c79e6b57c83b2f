package main

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	parleyclient "github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/internal/loadgen"
	"github.com/parleyhq/parley/push"
)

var b64 = base64.RawURLEncoding

// received is one request a loopback push service got.
type received struct {
	key    string // the registration it was for
	proto  int
	header http.Header
	body   []byte
}

// inbox is what a loopback push service received, per registration, and
// which registrations it declares dead.
type inbox struct {
	mu   sync.Mutex
	got  []received
	dead map[string]bool
}

func newInbox() *inbox { return &inbox{dead: map[string]bool{}} }

func (ib *inbox) add(key string, r *http.Request, body []byte) (dead bool) {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	ib.got = append(ib.got, received{key: key, proto: r.ProtoMajor, header: r.Header.Clone(), body: body})
	return ib.dead[key]
}

func (ib *inbox) kill(key string) {
	ib.mu.Lock()
	ib.dead[key] = true
	ib.mu.Unlock()
}

func (ib *inbox) requests(key string) []received {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	var out []received
	for _, r := range ib.got {
		if r.key == key {
			out = append(out, r)
		}
	}
	return out
}

// wait waits until key has n requests and returns them.
func (ib *inbox) wait(tb testing.TB, key string, n int) []received {
	tb.Helper()
	var got []received
	waitFor(tb, fmt.Sprintf("%d pushes to %s", n, key), func() bool {
		got = ib.requests(key)
		return len(got) >= n
	})
	return got
}

// count returns how many requests key got.
func (ib *inbox) count(key string) int { return len(ib.requests(key)) }

// webPushService is a push service on loopback (TLS): each path is a
// subscription's endpoint.
func webPushService(tb testing.TB, ib *inbox) *httptest.Server {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if ib.add(r.URL.Path, r, body) {
			w.WriteHeader(http.StatusGone)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	tb.Cleanup(srv.Close)
	return srv
}

// browser is a browser's push subscription: its key pair and auth secret.
type browser struct {
	priv     *ecdh.PrivateKey
	auth     []byte
	endpoint string
}

func newBrowser(tb testing.TB, endpoint string) *browser {
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	return &browser{priv: priv, auth: auth, endpoint: endpoint}
}

func (b *browser) subscription() map[string]any {
	return map[string]any{"endpoint": b.endpoint, "expirationTime": nil,
		"keys": map[string]string{"p256dh": b64.EncodeToString(b.priv.PublicKey().Bytes()), "auth": b64.EncodeToString(b.auth)}}
}

// decrypt opens an aes128gcm push message as the browser does (RFC 8291
// section 3.4 and RFC 8188), written here apart from package push.
func (b *browser) decrypt(body []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("short body")
	}
	salt, idlen := body[:16], int(body[20])
	if binary.BigEndian.Uint32(body[16:20]) < 18 || len(body) < 21+idlen {
		return nil, errors.New("bad header")
	}
	keyID, ciphertext := body[21:21+idlen], body[21+idlen:]
	asPublic, err := ecdh.P256().NewPublicKey(keyID)
	if err != nil {
		return nil, err
	}
	secret, err := b.priv.ECDH(asPublic)
	if err != nil {
		return nil, err
	}
	prkKey, _ := hkdf.Extract(sha256.New, secret, b.auth)
	ikm, _ := hkdf.Expand(sha256.New, prkKey, "WebPush: info\x00"+string(b.priv.PublicKey().Bytes())+string(keyID), 32)
	prk, _ := hkdf.Extract(sha256.New, ikm, salt)
	cek, _ := hkdf.Expand(sha256.New, prk, "Content-Encoding: aes128gcm\x00", 16)
	nonce, _ := hkdf.Expand(sha256.New, prk, "Content-Encoding: nonce\x00", 12)
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	padded, err := gcm.Open(nil, nonce, ciphertext, nil)
	if err != nil {
		return nil, err
	}
	i := len(padded) - 1
	for i >= 0 && padded[i] == 0 {
		i--
	}
	if i < 0 || padded[i] != 2 {
		return nil, errors.New("no record delimiter")
	}
	return padded[:i], nil
}

// verifyES256 checks a compact ES256 JWT and returns its header and claims.
func verifyES256(token string, pub *ecdsa.PublicKey) (header, claims map[string]any, err error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, nil, errors.New("not a JWT")
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		raw, err := b64.DecodeString(parts[i])
		if err != nil || json.Unmarshal(raw, dst) != nil {
			return nil, nil, fmt.Errorf("JWT part %d does not decode", i)
		}
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return nil, nil, errors.New("bad ES256 signature")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return nil, nil, errors.New("ES256 signature does not verify")
	}
	return header, claims, nil
}

// apnsService is APNs on loopback: HTTP/2 over TLS, one path per device
// token; a dead token is answered 410 Unregistered.
func apnsService(tb testing.TB, ib *inbox) *httptest.Server {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if ib.add(strings.TrimPrefix(r.URL.Path, "/3/device/"), r, body) {
			w.WriteHeader(http.StatusGone)
			fmt.Fprintf(w, `{"reason":"Unregistered","timestamp":%d}`, time.Now().UnixMilli())
			return
		}
		w.Header().Set("apns-id", "8E2B5A3C-0000-0000-0000-000000000000")
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	tb.Cleanup(srv.Close)
	return srv
}

// fcmService is FCM HTTP v1 and Google's OAuth token endpoint on
// loopback; a dead token is answered 404 UNREGISTERED.
func fcmService(tb testing.TB, ib *inbox) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/token" {
			form, _ := url.ParseQuery(string(body))
			if form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" || form.Get("assertion") == "" {
				http.Error(w, `{"error":"unsupported_grant_type"}`, 400)
				return
			}
			fmt.Fprint(w, `{"access_token":"ya29.test-access","expires_in":3600,"token_type":"Bearer"}`)
			return
		}
		var msg struct {
			Message struct {
				Token string `json:"token"`
			} `json:"message"`
		}
		json.Unmarshal(body, &msg)
		if r.URL.Path != "/v1/projects/parley-test/messages:send" || r.Header.Get("Authorization") != "Bearer ya29.test-access" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":{"code":401,"status":"UNAUTHENTICATED"}}`)
			return
		}
		if ib.add(msg.Message.Token, r, body) {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND",
				"details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}`)
			return
		}
		fmt.Fprint(w, `{"name":"projects/parley-test/messages/1"}`)
	}))
	tb.Cleanup(srv.Close)
	return srv
}

// webhookGateway is a custom push gateway that checks every signature.
func webhookGateway(tb testing.TB, ib *inbox, secret []byte) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := push.VerifyWebhookSignature(secret, r.Header.Get(push.WebhookSignatureHeader), body, time.Now(), 0); err != nil {
			tb.Errorf("webhook signature: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var p push.WebhookPayload
		json.Unmarshal(body, &p)
		if ib.add(p.Token, r, body) {
			w.WriteHeader(http.StatusGone)
		}
	}))
	tb.Cleanup(srv.Close)
	return srv
}

func writeFile(tb testing.TB, name string, data []byte) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// pushNode is a node with every push channel on, each pointed at a
// loopback service.
type pushNode struct {
	m                    *Main
	web, apns, fcm, hook *inbox
	webURL               string
	apnsKey              *ecdsa.PrivateKey
	delay                time.Duration
	anon, alice          *client
	aliceSession         session
	webSrv               *httptest.Server
	apnsTeam, apnsKeyID  string
}

const testPushDelay = time.Second

func mustPushNode(t *testing.T) *pushNode {
	t.Helper()
	n := &pushNode{web: newInbox(), apns: newInbox(), fcm: newInbox(), hook: newInbox(), delay: testPushDelay, apnsTeam: "TEAM123456", apnsKeyID: "KEY1234567"}
	n.webSrv = webPushService(t, n.web)
	n.webURL = n.webSrv.URL
	apnsSrv := apnsService(t, n.apns)
	fcmSrv := fcmService(t, n.fcm)
	secret := []byte("0123456789abcdef0123456789abcdef-webhook")
	hookSrv := webhookGateway(t, n.hook, secret)

	var err error
	if n.apnsKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(n.apnsKey)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaDER, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	creds, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "parley-test", "private_key_id": "k1",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: rsaDER})),
		"client_email": "push@parley-test.iam.gserviceaccount.com", "token_uri": fcmSrv.URL + "/token",
	})

	cfg := testConfig(t)
	cfg.PushDelay = n.delay
	cfg.WebPushSubject, cfg.WebPushHosts = "mailto:ops@parley.example", "127.0.0.1"
	cfg.APNsKeyFile = writeFile(t, "AuthKey.p8", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	cfg.APNsKeyID, cfg.APNsTeamID, cfg.APNsTopic, cfg.APNsURL = n.apnsKeyID, n.apnsTeam, "chat.parley.test", apnsSrv.URL
	cfg.FCMCredentialsFile, cfg.FCMURL = writeFile(t, "fcm.json", creds), fcmSrv.URL
	cfg.PushWebhookURL, cfg.PushWebhookSecretFile = hookSrv.URL, writeFile(t, "webhook.secret", append(secret, '\n'))
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	m := NewMain()
	m.Config, m.Stderr = cfg, io.Discard
	// Every httptest TLS server has the same certificate: the APNs
	// server's client (HTTP/2) trusts the Web Push service too.
	m.PushClient = apnsSrv.Client()
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	n.m = m
	n.anon = newClient(t, m.Addr())
	n.anon.record = openAPIRecorder(t)
	n.alice, n.aliceSession = n.anon.mustSignUp("alice")
	return n
}

// checks returns how many push checks the node decided.
func (n *pushNode) checks() uint64 { return n.m.app.Stats().PushChecks.Load() }

// settle waits until the node decided more than before push checks and
// the channels finished every push it queued: then whatever was to be
// pushed has reached the loopback services.
func (n *pushNode) settle(t *testing.T, before uint64) {
	t.Helper()
	waitFor(t, "the push check", func() bool { return n.checks() > before })
	waitFor(t, "the queued pushes", func() bool {
		s := n.m.push.Stats()
		return s.Sent+s.Failed+s.Removed+s.Dropped >= n.m.app.Stats().PushesQueued.Load()
	})
}

// never sends nothing itself: it settles the burst that started after
// before and checks that key got no more than want pushes.
func (n *pushNode) never(t *testing.T, ib *inbox, key string, want int, before uint64) {
	t.Helper()
	n.settle(t, before)
	if got := ib.count(key); got != want {
		t.Fatalf("%s got %d pushes, want %d", key, got, want)
	}
}

// recipient signs up a user with a direct conversation with alice.
func (n *pushNode) recipient(t *testing.T, handle string) (*client, session, string) {
	t.Helper()
	c, s := n.anon.mustSignUp(handle)
	return c, s, directConversation(t, n.alice, s.User.ID)
}

func (n *pushNode) send(t *testing.T, conv, body string) {
	t.Helper()
	var msg message
	if s := n.alice.do("POST", "/v1/conversation/"+conv+"/messages", map[string]string{"client_msg_id": fmt.Sprint(time.Now().UnixNano()), "body": body}, &msg); s != 201 {
		t.Fatalf("send: %d", s)
	}
}

// registrations returns the caller's device's registrations.
func registrations(t *testing.T, c *client) []parley.PushRegistration {
	t.Helper()
	var out struct {
		Registrations []parley.PushRegistration `json:"registrations"`
	}
	if s := c.do("GET", "/v1/push/registrations", nil, &out); s != 200 {
		t.Fatalf("list registrations: %d", s)
	}
	return out.Registrations
}

func waitUnregistered(t *testing.T, c *client) {
	t.Helper()
	waitFor(t, "the dead registration to be removed", func() bool { return len(registrations(t, c)) == 0 })
}

func (n *pushNode) metric(t *testing.T, line string) bool {
	t.Helper()
	_, body := n.anon.raw("GET", "/metrics", nil)
	return strings.Contains(string(body), line)
}

func TestPushWebPush(t *testing.T) {
	t.Parallel() // each waits out push delays on a node of its own
	n := mustPushNode(t)
	bob, _, conv := n.recipient(t, "bob")
	br := newBrowser(t, n.webURL+"/sub/bob")

	var public string
	t.Run("VAPIDKey", func(t *testing.T) {
		defer bind(t, n.anon)()
		var got struct {
			PublicKey string `json:"public_key"`
		}
		if s := n.anon.do("GET", "/v1/push/vapid-public-key", nil, &got); s != 200 {
			t.Fatalf("GET vapid-public-key = %d", s)
		}
		raw, err := b64.DecodeString(got.PublicKey)
		if err != nil || len(raw) != 65 || raw[0] != 4 {
			t.Fatalf("public key %q is not an uncompressed P-256 point", got.PublicKey)
		}
		public = got.PublicKey
		kept, err := push.LoadVAPIDKey(filepath.Join(n.m.Config.DataDir, push.DefaultVAPIDKeyFile))
		if err != nil || kept.PublicKey() != public {
			t.Fatalf("the key was not kept in the data dir: %v", err)
		}
	})
	t.Run("Subscribe", func(t *testing.T) {
		defer bind(t, bob)()
		bob.want("POST", "/v1/push/subscriptions", br.subscription(), 201, "")
		bob.want("POST", "/v1/push/subscriptions", br.subscription(), 200, "") // the same subscription again
		if rs := registrations(t, bob); len(rs) != 1 || rs[0].Kind != parley.PushWeb || rs[0].Endpoint != br.endpoint {
			t.Fatalf("registrations = %+v", rs)
		}
		bad := br.subscription()
		bad["endpoint"] = "https://evil.example/steal"
		bob.want("POST", "/v1/push/subscriptions", bad, 400, "invalid")
		bad = br.subscription()
		bad["keys"] = map[string]string{}
		bob.want("POST", "/v1/push/subscriptions", bad, 400, "invalid")
		n.anon.want("POST", "/v1/push/subscriptions", br.subscription(), 401, "unauthorized")
	})
	t.Run("OfflineGetsOneDecryptablePushPerBurst", func(t *testing.T) {
		before := n.checks()
		n.send(t, conv, "first")
		n.send(t, conv, "second")
		n.send(t, conv, "third: the newest")
		n.never(t, n.web, "/sub/bob", 1, before)
		r := n.web.requests("/sub/bob")[0]
		plain, err := br.decrypt(r.body)
		if err != nil {
			t.Fatalf("decrypt: %v", err)
		}
		var note parley.PushNotification
		if err := json.Unmarshal(plain, &note); err != nil {
			t.Fatalf("notification %q: %v", plain, err)
		}
		if note.Seq != 3 || note.Preview != "third: the newest" || note.SenderName != "alice" || note.CollapseKey != "conv-"+conv || note.Unread != 3 {
			t.Fatalf("notification = %+v", note)
		}
		h := r.header
		if h.Get("Content-Encoding") != "aes128gcm" || h.Get("Topic") != "conv-"+conv || h.Get("Urgency") != "high" || h.Get("TTL") == "" {
			t.Fatalf("headers = %v", h)
		}
		// Authorization: vapid t=<JWT signed with the key>, k=<public key>.
		auth := h.Get("Authorization")
		tok, k, ok := strings.Cut(strings.TrimPrefix(auth, "vapid t="), ", k=")
		if !ok || k != public {
			t.Fatalf("Authorization = %q", auth)
		}
		raw, _ := b64.DecodeString(public)
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
		if err != nil {
			t.Fatal(err)
		}
		_, claims, err := verifyES256(tok, pub)
		if err != nil || claims["aud"] != n.webURL || claims["sub"] != "mailto:ops@parley.example" {
			t.Fatalf("VAPID token claims %v, %v", claims, err)
		}
	})
	t.Run("ConnectedAndAckingGetsNone", func(t *testing.T) {
		before, checks := n.web.count("/sub/bob"), n.checks()
		sock := connectAcking(t, n.m.Addr(), bob.token)
		defer sock.Close()
		n.send(t, conv, "while bob is here")
		n.never(t, n.web, "/sub/bob", before, checks)
		sock.Close()
		n.send(t, conv, "after bob left")
		n.web.wait(t, "/sub/bob", before+1)
	})
	t.Run("MutedGetsNone", func(t *testing.T) {
		defer bind(t, bob)()
		before, checks := n.web.count("/sub/bob"), n.checks()
		bob.want("PUT", "/v1/conversation/"+conv+"/mute", map[string]bool{"muted": true}, 204, "")
		n.send(t, conv, "quiet please")
		n.never(t, n.web, "/sub/bob", before, checks)
		bob.want("PUT", "/v1/conversation/"+conv+"/mute", map[string]bool{"muted": false}, 204, "")
	})
	t.Run("GoneSubscriptionIsRemoved", func(t *testing.T) {
		defer bind(t, bob)()
		before := n.web.count("/sub/bob")
		n.web.kill("/sub/bob")
		n.send(t, conv, "into the void")
		n.web.wait(t, "/sub/bob", before+1)
		waitUnregistered(t, bob)
		if !n.metric(t, `parley_push_removed_total{channel="webpush"} 1`) || !n.metric(t, `parley_push_sent_total{channel="webpush"} 2`) {
			_, body := n.anon.raw("GET", "/metrics", nil)
			t.Fatalf("metrics:\n%s", body)
		}
	})
	t.Run("Unsubscribe", func(t *testing.T) {
		defer bind(t, bob)()
		other := newBrowser(t, n.webURL+"/sub/bob-2")
		bob.want("POST", "/v1/push/subscriptions", other.subscription(), 201, "")
		bob.want("DELETE", "/v1/push/subscriptions", map[string]string{"endpoint": other.endpoint}, 204, "")
		bob.want("DELETE", "/v1/push/subscriptions", map[string]string{"endpoint": other.endpoint}, 404, "not_found")
		if rs := registrations(t, bob); len(rs) != 0 {
			t.Fatalf("registrations = %+v", rs)
		}
	})
}

// connectAcking opens a realtime connection that acknowledges every
// message it receives with `delivered`, as a client in the foreground
// does, and waits until it is connected.
func connectAcking(t *testing.T, addr, token string) *parleyclient.Socket {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var sock *parleyclient.Socket
	ready := make(chan struct{})
	s, err := parleyclient.New("http://"+addr, nil).WithToken(token).Dial(ctx, parleyclient.SocketConfig{
		Handler: func(ev parleyclient.Event) {
			m, ok := ev.Data.(*parley.Message)
			if !ok {
				return
			}
			go func() {
				<-ready
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				sock.Delivered(ctx, m.ConversationID, m.Seq)
			}()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	sock = s
	close(ready)
	return s
}

func TestPushAPNs(t *testing.T) {
	t.Parallel() // each waits out push delays on a node of its own
	n := mustPushNode(t)
	carl, _, conv := n.recipient(t, "carl")
	token := strings.Repeat("a1b2c3d4", 8)
	defer bind(t, carl)()
	carl.want("POST", "/v1/push/registrations", map[string]string{"kind": "apns", "token": "not-a-token"}, 400, "invalid")
	carl.want("POST", "/v1/push/registrations", map[string]string{"kind": "apns", "token": token}, 201, "")

	checks := n.checks()
	n.send(t, conv, "hi carl")
	n.never(t, n.apns, token, 1, checks)
	r := n.apns.requests(token)[0]
	if r.proto != 2 {
		t.Fatalf("APNs was spoken to over HTTP/%d", r.proto)
	}
	h := r.header
	if h.Get("apns-topic") != "chat.parley.test" || h.Get("apns-push-type") != "alert" || h.Get("apns-collapse-id") != "conv-"+conv {
		t.Fatalf("headers = %v", h)
	}
	jwt, ok := strings.CutPrefix(h.Get("Authorization"), "bearer ")
	if !ok {
		t.Fatalf("Authorization = %q", h.Get("Authorization"))
	}
	header, claims, err := verifyES256(jwt, &n.apnsKey.PublicKey)
	if err != nil || header["kid"] != n.apnsKeyID || claims["iss"] != n.apnsTeam {
		t.Fatalf("provider token %v %v: %v", header, claims, err)
	}
	var payload struct {
		APS struct {
			Alert    struct{ Title, Body string } `json:"alert"`
			ThreadID string                       `json:"thread-id"`
		} `json:"aps"`
		ConversationID string `json:"conversation_id"`
		Seq            int64  `json:"seq"`
	}
	if err := json.Unmarshal(r.body, &payload); err != nil || payload.APS.Alert.Title != "alice" || payload.APS.Alert.Body != "hi carl" ||
		payload.ConversationID != conv || payload.Seq != 1 || payload.APS.ThreadID != conv {
		t.Fatalf("payload %s: %v", r.body, err)
	}

	t.Run("UnregisteredTokenIsRemoved", func(t *testing.T) {
		defer bind(t, carl)()
		n.apns.kill(token)
		n.send(t, conv, "gone?")
		n.apns.wait(t, token, 2)
		waitUnregistered(t, carl)
		if !n.metric(t, `parley_push_removed_total{channel="apns"} 1`) {
			t.Fatal("removal not counted")
		}
	})
}

func TestPushFCM(t *testing.T) {
	t.Parallel() // each waits out push delays on a node of its own
	n := mustPushNode(t)
	dora, _, conv := n.recipient(t, "dora")
	const token = "fcm-registration-token-of-dora"
	defer bind(t, dora)()
	dora.want("POST", "/v1/push/registrations", map[string]string{"kind": "fcm", "token": token}, 201, "")
	dora.want("POST", "/v1/push/registrations", map[string]string{"kind": "fcm", "token": token}, 200, "")

	checks := n.checks()
	n.send(t, conv, "hi dora")
	n.never(t, n.fcm, token, 1, checks)
	r := n.fcm.requests(token)[0]
	var msg struct {
		Message struct {
			Token   string            `json:"token"`
			Data    map[string]string `json:"data"`
			Android struct {
				CollapseKey string `json:"collapse_key"`
				Priority    string `json:"priority"`
			} `json:"android"`
		} `json:"message"`
	}
	if err := json.Unmarshal(r.body, &msg); err != nil {
		t.Fatal(err)
	}
	m := msg.Message
	if m.Android.CollapseKey != "conv-"+conv || m.Data["preview"] != "hi dora" || m.Data["conversation_id"] != conv || m.Data["seq"] != "1" || m.Data["sender_name"] != "alice" {
		t.Fatalf("message %s", r.body)
	}

	t.Run("UnregisteredTokenIsRemoved", func(t *testing.T) {
		defer bind(t, dora)()
		n.fcm.kill(token)
		n.send(t, conv, "gone?")
		n.fcm.wait(t, token, 2)
		waitUnregistered(t, dora)
		if !n.metric(t, `parley_push_removed_total{channel="fcm"} 1`) {
			t.Fatal("removal not counted")
		}
	})
}

func TestPushWebhook(t *testing.T) {
	t.Parallel() // each waits out push delays on a node of its own
	n := mustPushNode(t)
	eve, es, conv := n.recipient(t, "eve")
	const token = "gateway-token-eve"
	defer bind(t, eve)()
	eve.want("POST", "/v1/push/registrations", map[string]string{"kind": "webhook", "token": token}, 201, "")
	n.send(t, conv, "hi eve")
	r := n.hook.wait(t, token, 1)[0]
	var p push.WebhookPayload
	if err := json.Unmarshal(r.body, &p); err != nil || p.UserID.String() != es.User.ID || p.DeviceID.String() != es.DeviceID ||
		p.Notification == nil || p.Notification.Preview != "hi eve" {
		t.Fatalf("payload %s: %v", r.body, err)
	}
	t.Run("GoneTokenIsRemoved", func(t *testing.T) {
		defer bind(t, eve)()
		n.hook.kill(token)
		n.send(t, conv, "gone?")
		n.hook.wait(t, token, 2)
		waitUnregistered(t, eve)
	})
	t.Run("LogoutRemoves", func(t *testing.T) {
		defer bind(t, eve)()
		eve.want("POST", "/v1/push/registrations", map[string]string{"kind": "webhook", "token": token}, 201, "")
		eve.want("DELETE", "/v1/sessions/current", nil, 204, "")
		before, checks := n.hook.count(token), n.checks()
		n.send(t, conv, "eve logged out")
		n.never(t, n.hook, token, before, checks)
	})
}

// TestPushPreviewSetting checks the setting on /v1/me and that a push then
// carries no preview.
func TestPushPreviewSetting(t *testing.T) {
	t.Parallel() // each waits out push delays on a node of its own
	n := mustPushNode(t)
	fay, _, conv := n.recipient(t, "fay")
	defer bind(t, fay)()
	var me struct {
		PushPreviews *bool `json:"push_previews"`
	}
	if s := fay.do("GET", "/v1/me", nil, &me); s != 200 || me.PushPreviews == nil || !*me.PushPreviews {
		t.Fatalf("GET /v1/me = %d, push_previews %v", s, me.PushPreviews)
	}
	if s := fay.do("PATCH", "/v1/me", map[string]bool{"push_previews": false}, &me); s != 200 || *me.PushPreviews {
		t.Fatalf("PATCH /v1/me = %d, push_previews %v", s, *me.PushPreviews)
	}
	var other map[string]any
	n.alice.do("GET", "/v1/users/"+n.aliceSession.User.ID, nil, &other)
	if _, shown := other["push_previews"]; shown {
		t.Fatal("a user's settings show on its public profile")
	}
	fay.want("POST", "/v1/push/registrations", map[string]string{"kind": "webhook", "token": "fay"}, 201, "")
	n.send(t, conv, "a secret")
	r := n.hook.wait(t, "fay", 1)[0]
	var p push.WebhookPayload
	if err := json.Unmarshal(r.body, &p); err != nil || p.Notification.Preview != "" || p.Notification.SenderName != "alice" || bytes.Contains(r.body, []byte("a secret")) {
		t.Fatalf("payload %s", r.body)
	}
}

// BenchmarkEndToEndWithPush is BenchmarkEndToEnd's SQLite run with a push
// channel configured, so every message schedules and runs push checks
// (the load's users register no address, so a check is one read): compare
// its msgs/s with BenchmarkEndToEnd/sqlite of the same run.
// PARLEY_BENCH_PUSH_DELAY sets --push-delay (default 3s).
//
//	go test ./cmd/parley -run '^$' -bench 'EndToEnd' -benchtime 1x
func BenchmarkEndToEndWithPush(b *testing.B) {
	pairs, dur, delay := 100, 10*time.Second, 3*time.Second
	if v := os.Getenv("PARLEY_BENCH_PAIRS"); v != "" {
		pairs = atoi(b, v)
	}
	for name, dst := range map[string]*time.Duration{"PARLEY_BENCH_DURATION": &dur, "PARLEY_BENCH_PUSH_DELAY": &delay} {
		if v := os.Getenv(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				b.Fatal(err)
			}
			*dst = d
		}
	}
	sink := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	b.Cleanup(sink.Close)
	cfg := testConfig(b)
	cfg.LogLevel = "error"
	cfg.PushDelay = delay
	cfg.PushWebhookURL, cfg.PushWebhookSecretFile = sink.URL, writeFile(b, "secret", []byte("0123456789abcdef0123456789abcdef"))
	m := MustRunMain(b, cfg)
	b.ResetTimer()
	var last loadgen.Result
	for i := 0; i < b.N; i++ {
		res, err := loadgen.Run(context.Background(), loadgen.Config{
			URL: "http://" + m.Addr(), Pairs: pairs, Duration: dur, WarmUp: 2 * time.Second, InFlight: 8, HandlePrefix: "bpush",
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := res.Check(); err != nil {
			b.Fatal(err)
		}
		last = res
	}
	b.ReportMetric(last.DeliveryRate, "msgs/s")
	b.ReportMetric(last.AckLatency.P99, "ack-p99-ms")
	b.ReportMetric(last.DeliveryLatency.P99, "delivery-p99-ms")
	b.ReportMetric(float64(m.app.Stats().PushChecks.Load()), "push-checks")
}
