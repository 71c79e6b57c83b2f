package blob

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley"
)

var _ parley.BlobStore = (*S3)(nil)

// DefaultS3Region is the signing region used when S3Config.Region is
// empty; MinIO and most self-hosted services accept it whatever their
// setup.
const DefaultS3Region = "us-east-1"

// Retries of transient failures (network errors, 5xx, throttling): three
// attempts in all, about 0.1 s and 0.4 s apart.
const (
	s3Attempts = 3
	s3Backoff  = 100 * time.Millisecond
)

// s3ResponseTimeout bounds the wait for response headers once a request
// is sent, with the default HTTP client.
const s3ResponseTimeout = 30 * time.Second

// S3Config says where an S3 blob store keeps its blobs. Endpoint, Bucket,
// AccessKey and SecretKey are required.
type S3Config struct {
	// Endpoint is the base URL of the service, with scheme:
	// "https://s3.eu-west-1.amazonaws.com", "http://127.0.0.1:9000". A
	// path after the host is kept (a service behind a reverse proxy).
	Endpoint string
	// PathStyle addresses objects as Endpoint/Bucket/key instead of
	// https://Bucket.<endpoint host>/key. MinIO, Ceph and most self-hosted
	// services need it; AWS prefers virtual-host style.
	PathStyle bool
	// Region is the region requests are signed for; default "us-east-1".
	Region string
	// Bucket must exist; the store does not create it.
	Bucket string
	// AccessKey and SecretKey are the static credentials of an identity
	// allowed s3:PutObject, s3:GetObject and s3:DeleteObject on the
	// bucket (and the prefix).
	AccessKey string
	SecretKey string
	// SessionToken is set with temporary credentials only.
	SessionToken string
	// Credentials, when set instead of AccessKey and SecretKey, gives the
	// credentials of each request (AWSCredentials: environment, ECS task
	// role, EC2 instance role).
	Credentials func(context.Context) (Credentials, error)
	// Prefix is an optional folder inside the bucket: "parley/media"
	// stores key k as "parley/media/k". Segments of [0-9A-Za-z._-].
	Prefix string
	// HTTPClient sends the requests; nil means a client of its own on
	// http.DefaultTransport. Deadlines come from the contexts passed in.
	HTTPClient *http.Client
	// Now is the clock signatures are dated with; nil means time.Now.
	Now func() time.Time
}

// S3 is a BlobStore in a bucket of an S3-compatible object store. Blob
// key k is the object Prefix/k.
//
// Puts of a seekable reader (a file, a bytes.Reader) are read twice: once
// to compute the SHA-256 and MD5 that the request carries, so the service
// refuses a body damaged in transit, and once to send; such puts are also
// retried. A reader that is not seekable is sent once, unsigned
// (UNSIGNED-PAYLOAD), and not retried.
type S3 struct {
	client    *http.Client
	ownClient bool // client made here, closed by Close
	now       func() time.Time
	sig       signer
	creds     func(context.Context) (Credentials, error) // nil: sig's static keys
	scheme    string
	host      string // bucket host in virtual-host style
	path      string // path before the key, ending in "/"
}

// NewS3 returns an S3 store for cfg. It checks the configuration but does
// not contact the service.
func NewS3(cfg S3Config) (*S3, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" || (cfg.Credentials == nil && (cfg.AccessKey == "" || cfg.SecretKey == "")) {
		return nil, errors.New("blob: s3 endpoint, bucket, and an access key and secret key or a credentials source are required")
	}
	u, err := url.Parse(cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("blob: s3 endpoint: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("blob: s3 endpoint %q: want http(s)://host[:port][/path]", cfg.Endpoint)
	}
	if err := checkBucket(cfg.Bucket, cfg.PathStyle); err != nil {
		return nil, err
	}
	prefix, err := cleanPrefix(cfg.Prefix)
	if err != nil {
		return nil, err
	}
	s := &S3{
		client: cfg.HTTPClient,
		now:    cfg.Now,
		sig: signer{
			accessKey:    cfg.AccessKey,
			secretKey:    cfg.SecretKey,
			sessionToken: cfg.SessionToken,
			region:       cfg.Region,
		},
		creds:  cfg.Credentials,
		scheme: u.Scheme,
		host:   u.Host,
		path:   strings.TrimSuffix(u.Path, "/") + "/",
	}
	if s.client == nil {
		s.ownClient = true
		transport := http.DefaultTransport.(*http.Transport).Clone()
		// A service that accepted a request but never answers must not
		// hold a media request forever when its context has no deadline.
		transport.ResponseHeaderTimeout = s3ResponseTimeout
		s.client = &http.Client{
			Transport: transport,
			// A redirect from S3 means a wrong endpoint or region; its
			// error document says which, and following it with the
			// signature of another host could not succeed anyway.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.sig.region == "" {
		s.sig.region = DefaultS3Region
	}
	if cfg.PathStyle {
		s.path += cfg.Bucket + "/"
	} else {
		if host := u.Hostname(); host == "localhost" || net.ParseIP(host) != nil {
			return nil, fmt.Errorf("blob: s3 endpoint %q is an address, where the bucket cannot be a subdomain: use path style", cfg.Endpoint)
		}
		s.host = cfg.Bucket + "." + u.Host
	}
	s.path += prefix
	return s, nil
}

// Close releases the idle connections of the store's own HTTP client; a
// client passed in S3Config is left to its owner. The store must not be
// used afterwards.
func (s *S3) Close() error {
	if s.ownClient {
		s.client.CloseIdleConnections()
	}
	return nil
}

// checkBucket accepts the bucket names S3 allows; in virtual-host style
// the name is also a DNS label, so dots (which break TLS wildcard
// certificates) are refused there.
func checkBucket(b string, pathStyle bool) error {
	ok := len(b) >= 3 && len(b) <= 63
	for i := 0; ok && i < len(b); i++ {
		c := b[i]
		ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' && pathStyle
	}
	if !ok {
		return fmt.Errorf("blob: s3 bucket %q: want 3 to 63 characters of [a-z0-9-] (and \".\" with path style)", b)
	}
	return nil
}

// cleanPrefix checks a key prefix and returns it with a trailing "/".
func cleanPrefix(p string) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", nil
	}
	for _, seg := range strings.Split(p, "/") {
		ok := seg != "" && seg != "." && seg != ".."
		for i := 0; ok && i < len(seg); i++ {
			c := seg[i]
			ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		}
		if !ok {
			return "", fmt.Errorf("blob: s3 prefix %q: want segments of [0-9A-Za-z._-] separated by /", p)
		}
	}
	return p + "/", nil
}

// Put stores size bytes from r under key, replacing an earlier blob.
// Returns EINVALID for a bad key or a body that does not match size,
// EUNAVAILABLE when the service cannot be reached or is overloaded.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if size < 0 {
		return parley.Errorf(parley.EINVALID, "invalid blob size %d", size)
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	payloadHash, contentMD5 := unsignedPayload, ""
	rs, seekable := r.(io.ReadSeeker)
	var start int64
	if seekable {
		var err error
		if start, err = rs.Seek(0, io.SeekCurrent); err != nil {
			seekable = false // a pipe behind an *os.File, say
		}
	}
	if seekable {
		sum256, sumMD5 := sha256.New(), md5.New()
		if _, err := io.Copy(io.MultiWriter(sum256, sumMD5), newExactReader(ctx, rs, size)); err != nil {
			return fmt.Errorf("put blob %s: %w", key, err)
		}
		payloadHash = hex.EncodeToString(sum256.Sum(nil))
		contentMD5 = base64.StdEncoding.EncodeToString(sumMD5.Sum(nil))
	}

	if size == 0 && !seekable {
		// No body will be read from r: check here that it has none.
		if _, err := newExactReader(ctx, r, 0).Read(nil); !errors.Is(err, io.EOF) {
			return fmt.Errorf("put blob %s: %w", key, err)
		}
	}

	var body *exactReader // this attempt's body, to tell its errors apart
	newReq := func() (*http.Request, error) {
		if seekable {
			if _, err := rs.Seek(start, io.SeekStart); err != nil {
				return nil, err
			}
		}
		body = newExactReader(ctx, r, size)
		var rd io.Reader = body
		if size == 0 {
			rd = http.NoBody // else Go would send an unknown length, chunked
		}
		req, err := s.request(ctx, http.MethodPut, key, rd)
		if err != nil {
			return nil, err
		}
		req.ContentLength = size
		req.Header.Set("Content-Type", contentType)
		if contentMD5 != "" {
			req.Header.Set("Content-MD5", contentMD5)
		}
		return req, s.sign(ctx, req, payloadHash)
	}
	bodyErr := func() error {
		if body == nil {
			return nil
		}
		return body.Err()
	}
	resp, err := s.roundTrip(ctx, "put", key, newReq, seekable, bodyErr)
	if err != nil {
		return err
	}
	defer drain(resp)
	if resp.StatusCode/100 != 2 {
		return s.statusError("put", key, resp)
	}
	return nil
}

// Open returns a reader of length bytes of the blob from offset (to the end
// if length < 0) with one ranged GET. Returns ENOTFOUND if there is no such
// blob, EINVALID for a bad key or an offset beyond the end, EUNAVAILABLE
// when the service cannot be reached.
func (s *S3) Open(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if err := checkRange(offset); err != nil {
		return nil, err
	}
	if length == 0 {
		// HTTP cannot ask for zero bytes; check the blob and the offset.
		return s.openEnd(ctx, key, offset)
	}
	if length > math.MaxInt64-offset {
		length = -1 // to the end is as far as any range goes
	}
	rangeHdr := ""
	switch {
	case length > 0:
		rangeHdr = "bytes=" + strconv.FormatInt(offset, 10) + "-" + strconv.FormatInt(offset+length-1, 10)
	case offset > 0:
		rangeHdr = "bytes=" + strconv.FormatInt(offset, 10) + "-"
	}
	newReq := func() (*http.Request, error) {
		req, err := s.request(ctx, http.MethodGet, key, nil)
		if err != nil {
			return nil, err
		}
		if rangeHdr != "" {
			req.Header.Set("Range", rangeHdr)
		}
		return req, s.sign(ctx, req, emptySHA256)
	}
	resp, err := s.roundTrip(ctx, "open", key, newReq, true, nil)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusPartialContent:
		if length > 0 {
			return readCloser{io.LimitReader(resp.Body, length), resp.Body}, nil
		}
		return resp.Body, nil
	case resp.StatusCode == http.StatusOK:
		if rangeHdr == "" {
			return resp.Body, nil
		}
		// The service ignored Range: skip to the offset ourselves.
		if n, err := io.CopyN(io.Discard, resp.Body, offset); err != nil {
			resp.Body.Close()
			if errors.Is(err, io.EOF) && n < offset {
				return nil, parley.Errorf(parley.EINVALID, "blob range not satisfiable: offset %d, size %d", offset, n)
			}
			return nil, fmt.Errorf("open blob %s: %w", key, err)
		}
		if length > 0 {
			return readCloser{io.LimitReader(resp.Body, length), resp.Body}, nil
		}
		return resp.Body, nil
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		// The offset is at or past the end; which one decides.
		drain(resp)
		return s.openEnd(ctx, key, offset)
	}
	defer drain(resp)
	return nil, s.statusError("open", key, resp)
}

// openEnd answers a read of no bytes at offset: an empty reader if the
// blob exists and offset is within it or at its end.
func (s *S3) openEnd(ctx context.Context, key string, offset int64) (io.ReadCloser, error) {
	newReq := func() (*http.Request, error) {
		req, err := s.request(ctx, http.MethodHead, key, nil)
		if err != nil {
			return nil, err
		}
		return req, s.sign(ctx, req, emptySHA256)
	}
	resp, err := s.roundTrip(ctx, "open", key, newReq, true, nil)
	if err != nil {
		return nil, err
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		return nil, s.statusError("open", key, resp)
	}
	if resp.ContentLength < 0 {
		return nil, fmt.Errorf("open blob %s: HEAD answered without a Content-Length", key)
	}
	if offset > resp.ContentLength {
		return nil, parley.Errorf(parley.EINVALID, "blob range not satisfiable: offset %d, size %d", offset, resp.ContentLength)
	}
	return io.NopCloser(strings.NewReader("")), nil
}

// Delete removes the blob under key; a missing blob is not an error.
// Returns EINVALID for a bad key, EUNAVAILABLE when the service cannot be
// reached.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	newReq := func() (*http.Request, error) {
		req, err := s.request(ctx, http.MethodDelete, key, nil)
		if err != nil {
			return nil, err
		}
		return req, s.sign(ctx, req, emptySHA256)
	}
	resp, err := s.roundTrip(ctx, "delete", key, newReq, true, nil)
	if err != nil {
		return err
	}
	defer drain(resp)
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = s.statusError("delete", key, resp)
	if parley.ErrorCode(err) == parley.ENOTFOUND {
		return nil // S3 answers 204 here, some compatible services 404
	}
	return err
}

// sign signs req with the static credentials or, with a credentials
// source, with the current ones.
func (s *S3) sign(ctx context.Context, req *http.Request, payloadHash string) error {
	sig := s.sig
	if s.creds != nil {
		c, err := s.creds(ctx)
		if err != nil {
			return err
		}
		sig.accessKey, sig.secretKey, sig.sessionToken = c.AccessKey, c.SecretKey, c.SessionToken
	}
	sig.sign(req, payloadHash, s.now())
	return nil
}
