package push

// Test hooks: the deterministic core of the Web Push encryption (to
// reproduce RFC 8291's example), the HTTP/2 client constructor (so tests
// exercise the client APNs uses by default, with a test CA), and the
// collapse-key shortener.
var (
	EncryptWebPushWith = encryptWebPushWith
	NewHTTP2Client     = newHTTP2Client
	ShortKey           = shortKey
)

// StatusErrorGone is what a channel returns for a dead registration.
func StatusErrorGone() error {
	return gone("test", &StatusError{Kind: "test", StatusCode: 410})
}
