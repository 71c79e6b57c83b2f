package push

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// b64 is the base64url alphabet without padding, used by JWTs and by the
// Web Push key formats alike.
var b64 = base64.RawURLEncoding

// signJWT returns the compact serialisation of a JWS over the JSON of
// header and claims. Three channels need only signing with a key they
// already hold, so a few lines here replace a JWT library.
func signJWT(header, claims any, sign func(digest []byte) ([]byte, error)) (string, error) {
	h, err := json.Marshal(header)
	if err != nil {
		return "", fmt.Errorf("jwt header: %w", err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("jwt claims: %w", err)
	}
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
	digest := sha256.Sum256([]byte(input))
	sig, err := sign(digest[:])
	if err != nil {
		return "", fmt.Errorf("jwt sign: %w", err)
	}
	return input + "." + b64.EncodeToString(sig), nil
}

// es256 signs for alg ES256: JWS wants the fixed-size r||s form (RFC 7518
// section 3.4), not the ASN.1 form Go's SignASN1 produces.
func es256(key *ecdsa.PrivateKey) func([]byte) ([]byte, error) {
	return func(digest []byte) ([]byte, error) {
		r, s, err := ecdsa.Sign(rand.Reader, key, digest)
		if err != nil {
			return nil, err
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig, nil
	}
}

// rs256 signs for alg RS256 (RSASSA-PKCS1-v1_5 with SHA-256).
func rs256(key *rsa.PrivateKey) func([]byte) ([]byte, error) {
	return func(digest []byte) ([]byte, error) {
		return rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest)
	}
}
