package blob

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sort"
	"strings"
	"time"
)

// AWS Signature Version 4, the request signing every S3-compatible
// service accepts. It is written here rather than taken from an SDK
// because Parley needs three plain requests (PUT, GET, DELETE, plus HEAD)
// and the algorithm is a fixed, published one: sigv4_test.go checks it
// against the worked examples of the S3 documentation.

const (
	sigAlgorithm = "AWS4-HMAC-SHA256"
	sigService   = "s3"
	amzDateFmt   = "20060102T150405Z"
	// emptySHA256 is the hex SHA-256 of no bytes, the payload hash of
	// requests without a body.
	emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	// unsignedPayload tells the service the body is not covered by the
	// signature: used when the body can only be read once.
	unsignedPayload = "UNSIGNED-PAYLOAD"
)

// signer holds the credentials and region requests are signed for.
type signer struct {
	accessKey    string
	secretKey    string
	sessionToken string
	region       string
}

// sign adds X-Amz-Date, X-Amz-Content-Sha256, X-Amz-Security-Token (with
// temporary credentials) and Authorization to req. It signs the host and
// the headers S3 defines for signing that req carries (see signedHeader),
// never those a client library or a proxy may add or rewrite on the way,
// such as Accept-Encoding or User-Agent. It also fixes req.URL.RawPath to
// the encoding it signed, so that what is sent is what was signed.
func (s *signer) sign(req *http.Request, payloadHash string, now time.Time) {
	now = now.UTC()
	amzDate := now.Format(amzDateFmt)
	req.Header.Set("X-Amz-Date", amzDate)
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	if s.sessionToken != "" {
		req.Header.Set("X-Amz-Security-Token", s.sessionToken)
	}
	uri := encodePath(req.URL.Path)
	req.URL.RawPath = uri

	canonReq, signedHeaders := canonicalRequest(req, uri, payloadHash)
	scope := now.Format("20060102") + "/" + s.region + "/" + sigService + "/aws4_request"
	reqHash := sha256.Sum256([]byte(canonReq))
	stringToSign := sigAlgorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(reqHash[:])

	key := hmacSHA256([]byte("AWS4"+s.secretKey), now.Format("20060102"))
	key = hmacSHA256(key, s.region)
	key = hmacSHA256(key, sigService)
	key = hmacSHA256(key, "aws4_request")
	signature := hex.EncodeToString(hmacSHA256(key, stringToSign))

	req.Header.Set("Authorization", sigAlgorithm+" Credential="+s.accessKey+"/"+scope+
		", SignedHeaders="+signedHeaders+", Signature="+signature)
}

// canonicalRequest returns the canonical form of req and the list of
// signed header names.
func canonicalRequest(req *http.Request, uri, payloadHash string) (canon, signedHeaders string) {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	headers := map[string]string{"host": host}
	for name, values := range req.Header {
		lower := strings.ToLower(name)
		if !signedHeader(lower) {
			continue
		}
		trimmed := make([]string, len(values))
		for i, v := range values {
			trimmed[i] = strings.Join(strings.Fields(v), " ")
		}
		headers[lower] = strings.Join(trimmed, ",")
	}
	names := make([]string, 0, len(headers))
	for name := range headers {
		names = append(names, name)
	}
	sort.Strings(names)

	var b strings.Builder
	b.WriteString(req.Method)
	b.WriteByte('\n')
	b.WriteString(uri)
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(req))
	b.WriteByte('\n')
	for _, name := range names {
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(headers[name])
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	signedHeaders = strings.Join(names, ";")
	b.WriteString(signedHeaders)
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String(), signedHeaders
}

// signedHeader reports whether a header (lower case) is signed: the ones
// S3 requires or defines for signing. host is signed apart.
func signedHeader(name string) bool {
	switch name {
	case "content-type", "content-md5", "date", "range":
		return true
	}
	return strings.HasPrefix(name, "x-amz-")
}

// canonicalQuery returns the query parameters sorted by encoded name,
// then encoded value (not as whole "name=value" strings, which order
// "a-b" before "a" since '-' sorts before '='), each encoded the strict
// SigV4 way ("=" even for an empty value).
func canonicalQuery(req *http.Request) string {
	if req.URL.RawQuery == "" {
		return ""
	}
	q := req.URL.Query()
	type pair struct{ name, value string }
	pairs := make([]pair, 0, len(q))
	for name, values := range q {
		for _, v := range values {
			pairs = append(pairs, pair{encodeComponent(name, true), encodeComponent(v, true)})
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].name != pairs[j].name {
			return pairs[i].name < pairs[j].name
		}
		return pairs[i].value < pairs[j].value
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.name)
		b.WriteByte('=')
		b.WriteString(p.value)
	}
	return b.String()
}

// encodePath percent-encodes a path the way S3 signs it: every byte but
// the RFC 3986 unreserved characters and "/" is escaped, once.
func encodePath(p string) string {
	if p == "" {
		return "/"
	}
	return encodeComponent(p, false)
}

// encodeComponent percent-encodes s, keeping A-Z a-z 0-9 - _ . ~ and,
// unless encodeSlash, "/".
func encodeComponent(s string, encodeSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '~' || c == '/' && !encodeSlash {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}
