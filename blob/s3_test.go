package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/blob/blobtest"
)

const (
	testBucket    = "parley-media"
	testAccessKey = "parley-test"
	testSecretKey = "parley-test-secret"
)

// fakeS3 is an in-memory S3-compatible service on 127.0.0.1 that also
// checks the signature of every request, which gofakes3 itself does not.
type fakeS3 struct {
	srv     *httptest.Server
	backend *s3mem.Backend
	// fail, if set, answers a request instead of the service.
	fail     atomic.Pointer[func(http.ResponseWriter, *http.Request) bool]
	requests atomic.Int64
}

// MustFakeS3 starts a fake service with the test bucket; hostBucket makes
// it take the bucket from the host name (virtual-host style).
func MustFakeS3(tb testing.TB, hostBucket bool) *fakeS3 {
	tb.Helper()
	f := &fakeS3{backend: s3mem.New()}
	if err := f.backend.CreateBucket(testBucket); err != nil {
		tb.Fatal(err)
	}
	opts := []gofakes3.Option{gofakes3.WithAutoBucket(false)}
	if hostBucket {
		opts = append(opts, gofakes3.WithHostBucket(true))
	}
	service := gofakes3.New(f.backend, opts...).Server()
	verifier := &signer{accessKey: testAccessKey, secretKey: testSecretKey, region: DefaultS3Region}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		if fail := f.fail.Load(); fail != nil && (*fail)(w, r) {
			return
		}
		if err := checkSignature(r, verifier); err != nil {
			tb.Errorf("%s %s: %v", r.Method, r.URL, err)
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, "<Error><Code>SignatureDoesNotMatch</Code><Message>%s</Message></Error>", err)
			return
		}
		service.ServeHTTP(w, r)
	}))
	tb.Cleanup(f.srv.Close)
	return f
}

// checkSignature recomputes the signature of a received request from the
// headers it says it signed, and checks the payload hash against the body:
// it proves that what went over the wire is what was signed.
func checkSignature(r *http.Request, s *signer) error {
	auth := r.Header.Get("Authorization")
	_, signed, ok := strings.Cut(auth, "SignedHeaders=")
	if !ok {
		return fmt.Errorf("no SignedHeaders in Authorization %q", auth)
	}
	signed, _, _ = strings.Cut(signed, ",")
	// S3 requires host and the x-amz-* headers to be signed; Parley also
	// signs every header that changes what is stored or returned.
	names := strings.Split(signed, ";")
	for name := range r.Header {
		lower := strings.ToLower(name)
		mustSign := lower == "host" || strings.HasPrefix(lower, "x-amz-") ||
			lower == "range" || lower == "content-type" || lower == "content-md5"
		if mustSign && !slices.Contains(names, lower) {
			return fmt.Errorf("header %s is not signed", name)
		}
	}
	when, err := time.Parse(amzDateFmt, r.Header.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("X-Amz-Date: %v", err)
	}
	payloadHash := r.Header.Get("X-Amz-Content-Sha256")
	if payloadHash != unsignedPayload {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		if hex.EncodeToString(sum[:]) != payloadHash {
			return fmt.Errorf("payload hash %s does not match the body", payloadHash)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	wirePath, _, _ := strings.Cut(r.RequestURI, "?")
	again := &http.Request{
		Method: r.Method,
		Host:   r.Host,
		URL:    &url.URL{Path: r.URL.Path, RawQuery: r.URL.RawQuery},
		Header: http.Header{},
	}
	for _, name := range names {
		if name != "host" && name != "x-amz-date" && name != "x-amz-content-sha256" {
			again.Header[http.CanonicalHeaderKey(name)] = r.Header.Values(name)
		}
	}
	s.sign(again, payloadHash, when)
	if again.URL.RawPath != wirePath {
		return fmt.Errorf("path sent %q, signed %q", wirePath, again.URL.RawPath)
	}
	if got := again.Header.Get("Authorization"); got != auth {
		return fmt.Errorf("signature mismatch:\n got %s\nwant %s", auth, got)
	}
	return nil
}

// onRequest makes the fake answer requests with fn while it returns true.
func (f *fakeS3) onRequest(fn func(http.ResponseWriter, *http.Request) bool) {
	f.fail.Store(&fn)
}

func (f *fakeS3) config() S3Config {
	return S3Config{
		Endpoint:  f.srv.URL,
		PathStyle: true,
		Bucket:    testBucket,
		AccessKey: testAccessKey,
		SecretKey: testSecretKey,
		Prefix:    "parley/media",
	}
}

// MustS3 returns an S3 store in a fresh fake service.
func MustS3(tb testing.TB) (*S3, *fakeS3) {
	tb.Helper()
	f := MustFakeS3(tb, false)
	s, err := NewS3(f.config())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s, f
}

func TestS3Conformance(t *testing.T) {
	blobtest.Run(t, func(tb testing.TB) parley.BlobStore {
		s, _ := MustS3(tb)
		return s
	})
}

func TestS3VirtualHostConformance(t *testing.T) {
	blobtest.Run(t, func(tb testing.TB) parley.BlobStore {
		f := MustFakeS3(tb, true)
		// The bucket goes into the host name, which the test resolves to
		// the fake by dialing it whatever the name.
		addr := f.srv.Listener.Addr().String()
		_, port, _ := net.SplitHostPort(addr)
		transport := &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			},
		}
		tb.Cleanup(transport.CloseIdleConnections)
		cfg := f.config()
		cfg.Endpoint = "http://s3.parley.test:" + port
		cfg.PathStyle = false
		cfg.Prefix = ""
		cfg.HTTPClient = &http.Client{Transport: transport}
		s, err := NewS3(cfg)
		if err != nil {
			tb.Fatal(err)
		}
		return s
	})
}

func TestS3ObjectNames(t *testing.T) {
	s, f := MustS3(t)
	data := []byte("where is it")
	key := blobtest.Key(data)
	blobtest.MustPut(t, s, key, data)
	obj, err := f.backend.GetObject(testBucket, "parley/media/"+key, nil)
	if err != nil {
		t.Fatalf("object under the prefix: %v", err)
	}
	defer obj.Contents.Close()
	if got, _ := io.ReadAll(obj.Contents); !bytes.Equal(got, data) {
		t.Errorf("object holds %q", got)
	}
	if ct := obj.Metadata["Content-Type"]; ct != "application/octet-stream" {
		t.Errorf("content type %q", ct)
	}
}

// slowDown answers with the throttling error of S3.
func slowDown(w http.ResponseWriter) {
	w.WriteHeader(http.StatusServiceUnavailable)
	io.WriteString(w, "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>")
}

func TestS3RetriesTransientErrors(t *testing.T) {
	s, f := MustS3(t)
	ctx := context.Background()
	var n atomic.Int64
	f.onRequest(func(w http.ResponseWriter, r *http.Request) bool {
		if n.Add(1)%2 == 1 { // every first attempt fails
			slowDown(w)
			return true
		}
		return false
	})
	data := []byte("persistent")
	key := blobtest.Key(data)
	blobtest.MustPut(t, s, key, data)
	if got := blobtest.MustRead(t, s, key, 2, 3); string(got) != "rsi" {
		t.Errorf("read %q", got)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Errorf("Delete: %v", err)
	}
	if got := n.Load(); got != 6 {
		t.Errorf("%d requests, want 6 (each twice)", got)
	}
}

func TestS3ErrUnavailable(t *testing.T) {
	s, f := MustS3(t)
	ctx := context.Background()
	f.onRequest(func(w http.ResponseWriter, r *http.Request) bool { slowDown(w); return true })
	key := blobtest.Key([]byte("x"))

	f.requests.Store(0)
	err := s.Put(ctx, key, strings.NewReader("x"), 1, "")
	if parley.ErrorCode(err) != parley.EUNAVAILABLE || !parley.IsRetryable(err) {
		t.Errorf("Put: %v, want a retryable EUNAVAILABLE", err)
	}
	if got := f.requests.Load(); got != s3Attempts {
		t.Errorf("seekable Put: %d attempts, want %d", got, s3Attempts)
	}

	f.requests.Store(0)
	err = s.Put(ctx, key, onlyReader{strings.NewReader("x")}, 1, "")
	if parley.ErrorCode(err) != parley.EUNAVAILABLE {
		t.Errorf("unseekable Put: %v, want EUNAVAILABLE", err)
	}
	if got := f.requests.Load(); got != 1 {
		t.Errorf("unseekable Put: %d attempts, want 1: its body cannot be replayed", got)
	}

	if _, err := s.Open(ctx, key, 0, -1); parley.ErrorCode(err) != parley.EUNAVAILABLE {
		t.Errorf("Open: %v, want EUNAVAILABLE", err)
	}
	if err := s.Delete(ctx, key); parley.ErrorCode(err) != parley.EUNAVAILABLE {
		t.Errorf("Delete: %v, want EUNAVAILABLE", err)
	}

	// A service that is not there at all.
	cfg := f.config()
	f.srv.Close()
	s, err = NewS3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(ctx, key, 0, -1); parley.ErrorCode(err) != parley.EUNAVAILABLE {
		t.Errorf("Open with the service down: %v, want EUNAVAILABLE", err)
	}
}

// onlyReader hides the Seek of a reader.
type onlyReader struct{ io.Reader }

func TestS3ContextCanceledDuringBackoff(t *testing.T) {
	s, f := MustS3(t)
	ctx, cancel := context.WithCancel(context.Background())
	f.onRequest(func(w http.ResponseWriter, r *http.Request) bool { cancel(); slowDown(w); return true })
	_, err := s.Open(ctx, blobtest.Key([]byte("x")), 0, -1)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Open: %v, want the context's error", err)
	}
}

func TestS3ConfigErrors(t *testing.T) {
	f := MustFakeS3(t, false)
	ctx := context.Background()
	key := blobtest.Key([]byte("x"))

	// Wrong credentials and a missing bucket are internal errors (for the
	// log), not "not found".
	cfg := f.config()
	cfg.SecretKey = "wrong"
	s, err := NewS3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.onRequest(func(w http.ResponseWriter, r *http.Request) bool {
		if checkSignature(r, &signer{accessKey: testAccessKey, secretKey: testSecretKey, region: DefaultS3Region}) != nil {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, "<Error><Code>SignatureDoesNotMatch</Code></Error>")
			return true
		}
		return false
	})
	if _, err := s.Open(ctx, key, 0, -1); parley.ErrorCode(err) != parley.EINTERNAL || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Errorf("Open with a wrong secret: %v", err)
	}

	cfg = f.config()
	cfg.Bucket = "no-such-bucket"
	s, err = NewS3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(ctx, key, 0, -1); parley.ErrorCode(err) != parley.EINTERNAL || !strings.Contains(err.Error(), "NoSuchBucket") {
		t.Errorf("Open in a missing bucket: %v", err)
	}
	if err := s.Delete(ctx, key); parley.ErrorCode(err) != parley.EINTERNAL {
		t.Errorf("Delete in a missing bucket: %v", err)
	}
}

func TestNewS3(t *testing.T) {
	good := S3Config{Endpoint: "https://s3.eu-west-1.amazonaws.com", Bucket: "media", AccessKey: "a", SecretKey: "s"}
	tests := []struct {
		name   string
		change func(*S3Config)
		ok     bool
		host   string
		path   string
	}{
		{"VirtualHost", func(*S3Config) {}, true, "media.s3.eu-west-1.amazonaws.com", "/"},
		{"PathStyle", func(c *S3Config) { c.PathStyle = true }, true, "s3.eu-west-1.amazonaws.com", "/media/"},
		{"Prefix", func(c *S3Config) { c.Prefix = "/parley/media/" }, true, "media.s3.eu-west-1.amazonaws.com", "/parley/media/"},
		{"EndpointPath", func(c *S3Config) { c.Endpoint = "http://127.0.0.1:9000/s3/"; c.PathStyle = true }, true, "127.0.0.1:9000", "/s3/media/"},
		{"DottedBucketPathStyle", func(c *S3Config) { c.Bucket = "media.example.com"; c.PathStyle = true }, true, "s3.eu-west-1.amazonaws.com", "/media.example.com/"},
		{"ErrVirtualHostOnIP", func(c *S3Config) { c.Endpoint = "http://127.0.0.1:9000" }, false, "", ""},
		{"ErrVirtualHostOnLocalhost", func(c *S3Config) { c.Endpoint = "http://localhost:9000" }, false, "", ""},
		{"ErrNoEndpoint", func(c *S3Config) { c.Endpoint = "" }, false, "", ""},
		{"ErrNoScheme", func(c *S3Config) { c.Endpoint = "s3.amazonaws.com" }, false, "", ""},
		{"ErrScheme", func(c *S3Config) { c.Endpoint = "ftp://s3.amazonaws.com" }, false, "", ""},
		{"ErrQuery", func(c *S3Config) { c.Endpoint = "https://s3.amazonaws.com/?x=1" }, false, "", ""},
		{"ErrNoBucket", func(c *S3Config) { c.Bucket = "" }, false, "", ""},
		{"ErrBucketName", func(c *S3Config) { c.Bucket = "Media" }, false, "", ""},
		{"ErrDottedBucketVirtualHost", func(c *S3Config) { c.Bucket = "media.example.com" }, false, "", ""},
		{"ErrNoSecret", func(c *S3Config) { c.SecretKey = "" }, false, "", ""},
		{"ErrPrefixDots", func(c *S3Config) { c.Prefix = "a/../b" }, false, "", ""},
		{"ErrPrefixChars", func(c *S3Config) { c.Prefix = "a b" }, false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.change(&cfg)
			s, err := NewS3(cfg)
			if !tt.ok {
				if err == nil {
					t.Fatal("NewS3 succeeded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.host != tt.host || s.path != tt.path || s.sig.region != DefaultS3Region {
				t.Errorf("host %q path %q region %q, want %q %q", s.host, s.path, s.sig.region, tt.host, tt.path)
			}
		})
	}
}
