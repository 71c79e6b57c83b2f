package blob

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// The worked examples of the Amazon S3 documentation ("Signature
// Calculations for the Authorization Header: Transferring Payload in a
// Single Chunk"): a published answer, not one computed by this code.
func TestSignDocumentedExamples(t *testing.T) {
	s := &signer{
		accessKey: "AKIAIOSFODNN7EXAMPLE",
		secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		region:    "us-east-1",
	}
	when := time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		method, url string
		headers     map[string]string
		payloadHash string
		wantSigned  string
		wantSig     string
	}{
		{
			name:        "GetObject",
			method:      http.MethodGet,
			url:         "https://examplebucket.s3.amazonaws.com/test.txt",
			headers:     map[string]string{"Range": "bytes=0-9"},
			payloadHash: emptySHA256,
			wantSigned:  "host;range;x-amz-content-sha256;x-amz-date",
			wantSig:     "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
		},
		{
			name:   "PutObject",
			method: http.MethodPut,
			// "$" must be sent and signed as %24.
			url: "https://examplebucket.s3.amazonaws.com/test$file.text",
			headers: map[string]string{
				"Date":                "Fri, 24 May 2013 00:00:00 GMT",
				"X-Amz-Storage-Class": "REDUCED_REDUNDANCY",
			},
			payloadHash: "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072", // "Welcome to Amazon S3."
			wantSigned:  "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
			wantSig:     "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
		},
		{
			name:        "GetBucketLifecycle",
			method:      http.MethodGet,
			url:         "https://examplebucket.s3.amazonaws.com/?lifecycle",
			payloadHash: emptySHA256,
			wantSigned:  "host;x-amz-content-sha256;x-amz-date",
			wantSig:     "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
		},
		{
			name:        "ListObjects",
			method:      http.MethodGet,
			url:         "https://examplebucket.s3.amazonaws.com/?prefix=J&max-keys=2",
			payloadHash: emptySHA256,
			wantSigned:  "host;x-amz-content-sha256;x-amz-date",
			wantSig:     "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			s.sign(req, tt.payloadHash, when)
			want := "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, " +
				"SignedHeaders=" + tt.wantSigned + ", Signature=" + tt.wantSig
			if got := req.Header.Get("Authorization"); got != want {
				canon, _ := canonicalRequest(req, encodePath(req.URL.Path), tt.payloadHash)
				t.Errorf("Authorization:\n got %s\nwant %s\ncanonical request:\n%s", got, want, canon)
			}
			if got := req.Header.Get("X-Amz-Date"); got != "20130524T000000Z" {
				t.Errorf("X-Amz-Date = %q", got)
			}
		})
	}
}

func TestSignSentPathIsSignedPath(t *testing.T) {
	req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:9000/bucket/a$b c~d", nil)
	if err != nil {
		t.Fatal(err)
	}
	(&signer{accessKey: "k", secretKey: "s", region: "r"}).sign(req, emptySHA256, time.Unix(0, 0))
	if got, want := req.URL.EscapedPath(), "/bucket/a%24b%20c~d"; got != want {
		t.Errorf("sent path %q, want %q", got, want)
	}
	if got := req.URL.RequestURI(); !strings.HasPrefix(got, "/bucket/a%24b%20c~d") {
		t.Errorf("request URI %q", got)
	}
}

func TestSignSessionToken(t *testing.T) {
	req, err := http.NewRequest(http.MethodGet, "https://b.s3.amazonaws.com/k", nil)
	if err != nil {
		t.Fatal(err)
	}
	(&signer{accessKey: "k", secretKey: "s", sessionToken: "tok", region: "r"}).sign(req, emptySHA256, time.Unix(0, 0))
	if req.Header.Get("X-Amz-Security-Token") != "tok" {
		t.Error("session token header missing")
	}
	if !strings.Contains(req.Header.Get("Authorization"), "x-amz-security-token") {
		t.Error("session token not signed")
	}
}

// TestSignOnlyS3Headers: headers a transport or a proxy adds or rewrites
// are not signed, so rewriting them does not break the signature.
func TestSignOnlyS3Headers(t *testing.T) {
	req, err := http.NewRequest(http.MethodPut, "https://b.s3.amazonaws.com/k", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("User-Agent", "parley")
	req.Header.Set("Content-Type", "image/png")
	req.Header.Set("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg==")
	req.Header.Set("X-Amz-Meta-Owner", "1")
	(&signer{accessKey: "k", secretKey: "s", region: "r"}).sign(req, emptySHA256, time.Unix(0, 0))
	_, signed, _ := strings.Cut(req.Header.Get("Authorization"), "SignedHeaders=")
	signed, _, _ = strings.Cut(signed, ",")
	if want := "content-md5;content-type;host;x-amz-content-sha256;x-amz-date;x-amz-meta-owner"; signed != want {
		t.Errorf("signed headers %q, want %q", signed, want)
	}
}

func TestCanonicalQuerySortsNamesThenValues(t *testing.T) {
	req, err := http.NewRequest(http.MethodGet, "https://b.s3.amazonaws.com/?a-b=1&a=2&a=1&list-type=2&prefix=x%20y", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := canonicalQuery(req), "a=1&a=2&a-b=1&list-type=2&prefix=x%20y"; got != want {
		t.Errorf("canonical query %q, want %q", got, want)
	}
}
