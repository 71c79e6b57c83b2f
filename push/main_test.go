package push_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parleyhq/parley"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var b64 = base64.RawURLEncoding

// clock is a settable time source shared between a channel and its test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// jwtParts splits a compact JWS and decodes its header and claims; the
// signature check is left to the caller's algorithm.
func jwtParts(token string) (header, claims map[string]any, signingInput string, sig []byte, err error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, nil, "", nil, fmt.Errorf("jwt has %d parts", len(parts))
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		raw, err := b64.DecodeString(parts[i])
		if err != nil {
			return nil, nil, "", nil, fmt.Errorf("jwt part %d: %w", i, err)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return nil, nil, "", nil, fmt.Errorf("jwt part %d: %w", i, err)
		}
	}
	if sig, err = b64.DecodeString(parts[2]); err != nil {
		return nil, nil, "", nil, fmt.Errorf("jwt signature: %w", err)
	}
	return header, claims, parts[0] + "." + parts[1], sig, nil
}

// verifyES256 checks an ES256 JWT's signature with pub and returns its
// header and claims. Test servers call it from their handlers, so it
// reports rather than fails.
func verifyES256(token string, pub *ecdsa.PublicKey) (header, claims map[string]any, err error) {
	header, claims, input, sig, err := jwtParts(token)
	if err != nil {
		return nil, nil, err
	}
	if header["alg"] != "ES256" {
		return nil, nil, fmt.Errorf("jwt alg = %v, want ES256", header["alg"])
	}
	if len(sig) != 64 {
		return nil, nil, fmt.Errorf("ES256 signature is %d bytes, want 64", len(sig))
	}
	digest := sha256.Sum256([]byte(input))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(pub, digest[:], r, s) {
		return nil, nil, errors.New("ES256 signature does not verify")
	}
	return header, claims, nil
}

// verifyRS256 checks an RS256 JWT's signature with pub and returns its
// header and claims.
func verifyRS256(token string, pub *rsa.PublicKey) (header, claims map[string]any, err error) {
	header, claims, input, sig, err := jwtParts(token)
	if err != nil {
		return nil, nil, err
	}
	if header["alg"] != "RS256" {
		return nil, nil, fmt.Errorf("jwt alg = %v, want RS256", header["alg"])
	}
	digest := sha256.Sum256([]byte(input))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
		return nil, nil, fmt.Errorf("RS256 signature does not verify: %w", err)
	}
	return header, claims, nil
}

// claimTime reads a NumericDate claim; a missing one is the zero time.
func claimTime(claims map[string]any, name string) time.Time {
	v, ok := claims[name].(float64)
	if !ok {
		return time.Time{}
	}
	return time.Unix(int64(v), 0)
}

func testNotification() *parley.PushNotification {
	return &parley.PushNotification{
		ConversationID: 42,
		Seq:            7,
		SenderID:       3,
		SenderName:     "Alice",
		Title:          "Climbing club",
		Preview:        "See you at the wall at 6 ☺",
		CollapseKey:    "conv-42",
		Unread:         2,
	}
}
