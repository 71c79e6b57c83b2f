package push

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// DefaultVAPIDKeyFile is the suggested name of the VAPID key file in the
// server's data directory.
const DefaultVAPIDKeyFile = "vapid_private_key.pem"

// VAPIDKey is the server's identity towards Web Push services (RFC 8292):
// browsers bind each subscription to its public key, and every push is
// signed with its private key. Changing the key invalidates every existing
// Web Push subscription, so it is created once and kept.
type VAPIDKey struct {
	priv   *ecdsa.PrivateKey
	public string
}

// GenerateVAPIDKey returns a new random P-256 key.
func GenerateVAPIDKey() (*VAPIDKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate vapid key: %w", err)
	}
	return newVAPIDKey(priv)
}

func newVAPIDKey(priv *ecdsa.PrivateKey) (*VAPIDKey, error) {
	if priv.Curve != elliptic.P256() {
		return nil, errors.New("vapid key: not a P-256 key")
	}
	pub, err := priv.PublicKey.Bytes()
	if err != nil {
		return nil, fmt.Errorf("vapid key: %w", err)
	}
	return &VAPIDKey{priv: priv, public: b64.EncodeToString(pub)}, nil
}

// PublicKey returns the public key as browsers' PushManager.subscribe takes
// it in applicationServerKey: the uncompressed P-256 point (65 bytes)
// in unpadded base64url.
func (k *VAPIDKey) PublicKey() string { return k.public }

// MarshalPEM returns the private key as a PKCS #8 PEM block, the format
// LoadVAPIDKey reads and openssl understands.
func (k *VAPIDKey) MarshalPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		return nil, fmt.Errorf("marshal vapid key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseVAPIDKey reads a P-256 private key in any of the forms operators are
// likely to have: PKCS #8 PEM ("PRIVATE KEY"), SEC 1 PEM ("EC PRIVATE
// KEY"), or the bare base64url private scalar that Web Push tools such as
// `web-push generate-vapid-keys` print, so a key can be carried over from
// another server without invalidating its subscriptions.
func ParseVAPIDKey(data []byte) (*VAPIDKey, error) {
	if block, _ := pem.Decode(data); block != nil {
		var key any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		default:
			return nil, fmt.Errorf("parse vapid key: unexpected PEM block %q", block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("parse vapid key: %w", err)
		}
		priv, ok := key.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("parse vapid key: %T is not an ECDSA key", key)
		}
		return newVAPIDKey(priv)
	}
	raw, err := b64.DecodeString(strings.TrimRight(strings.TrimSpace(string(data)), "="))
	if err != nil {
		return nil, errors.New("parse vapid key: neither PEM nor base64url")
	}
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), raw)
	if err != nil {
		return nil, fmt.Errorf("parse vapid key: %w", err)
	}
	return newVAPIDKey(priv)
}

// LoadVAPIDKey reads the key file at path.
func LoadVAPIDKey(path string) (*VAPIDKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load vapid key: %w", err)
	}
	k, err := ParseVAPIDKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// LoadOrCreateVAPIDKey reads the key file at path, or on first start
// generates a key and saves it there readable by the owner only (0600).
// Several processes starting at once on a shared directory end up with the
// same key: the file appears atomically and is never overwritten.
//
// Every node of a deployment must use the same key; give them one file
// rather than letting each create its own.
func LoadOrCreateVAPIDKey(path string) (*VAPIDKey, error) {
	k, err := LoadVAPIDKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	k, err = GenerateVAPIDKey()
	if err != nil {
		return nil, err
	}
	pemBytes, err := k.MarshalPEM()
	if err != nil {
		return nil, err
	}
	if err := createFileOnce(path, pemBytes); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another process won the race; its key is the key.
			return LoadVAPIDKey(path)
		}
		return nil, fmt.Errorf("save vapid key: %w", err)
	}
	return k, nil
}

// createFileOnce writes data to path with mode 0600 unless path exists. The
// data is written and synced under a temporary name and then hard-linked
// into place, so no reader ever sees a partial key and a concurrent creator
// gets fs.ErrExist instead of overwriting.
func createFileOnce(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".vapid-*.tmp") // CreateTemp uses mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // make the new name durable; failure here loses nothing already written
		d.Close()
	}
	return nil
}

// vapidSigner makes the Authorization header of Web Push requests.
// Tokens are cached per push service origin: one signature serves every
// push to that service for hours instead of one signature per push.
type vapidSigner struct {
	key      *VAPIDKey
	subject  string
	lifetime time.Duration

	mu    sync.Mutex
	cache map[string]vapidToken
}

type vapidToken struct {
	header  string
	expires time.Time
}

// maxVAPIDLifetime is the longest exp RFC 8292 section 2 allows.
const maxVAPIDLifetime = 24 * time.Hour

// authorization returns the "vapid t=…, k=…" header value (RFC 8292
// section 3) for pushes to audience, an origin such as
// "https://fcm.googleapis.com".
func (s *vapidSigner) authorization(audience string, now time.Time) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Reuse a token while at least half of its lifetime is left, so a
	// token never expires between signing and the service checking it.
	if t, ok := s.cache[audience]; ok && t.expires.Sub(now) > s.lifetime/2 {
		return t.header, nil
	}
	exp := now.Add(s.lifetime)
	jwt, err := signJWT(
		map[string]string{"typ": "JWT", "alg": "ES256"},
		map[string]any{"aud": audience, "exp": exp.Unix(), "sub": s.subject},
		es256(s.key.priv),
	)
	if err != nil {
		return "", fmt.Errorf("vapid: %w", err)
	}
	h := "vapid t=" + jwt + ", k=" + s.key.public
	if s.cache == nil {
		s.cache = make(map[string]vapidToken)
	}
	// Audiences are the handful of push services browsers use, so the
	// cache stays small; expired entries are dropped when it grows anyway.
	if len(s.cache) >= 64 {
		for a, t := range s.cache {
			if !t.expires.After(now) {
				delete(s.cache, a)
			}
		}
	}
	s.cache[audience] = vapidToken{header: h, expires: exp}
	return h, nil
}
