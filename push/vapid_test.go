package push_test

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/parleyhq/parley/push"
)

func TestLoadOrCreateVAPIDKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), push.DefaultVAPIDKeyFile)
	k1, err := push.LoadOrCreateVAPIDKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, want 0600", fi.Mode().Perm())
	}
	raw, err := b64.DecodeString(k1.PublicKey())
	if err != nil || len(raw) != 65 || raw[0] != 0x04 {
		t.Errorf("public key %q is not an uncompressed P-256 point in base64url", k1.PublicKey())
	}

	k2, err := push.LoadOrCreateVAPIDKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if k2.PublicKey() != k1.PublicKey() {
		t.Error("second start made a new key")
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".vapid-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestLoadOrCreateVAPIDKeyConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), push.DefaultVAPIDKeyFile)
	keys := make([]string, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := push.LoadOrCreateVAPIDKey(path)
			if err != nil {
				t.Error(err)
				return
			}
			keys[i] = k.PublicKey()
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if k != keys[0] {
			t.Fatal("concurrent first starts ended with different keys")
		}
	}
}

func TestParseVAPIDKey(t *testing.T) {
	k := MustVAPIDKey(t)
	pemBytes, err := k.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("PKCS8", func(t *testing.T) {
		back, err := push.ParseVAPIDKey(pemBytes)
		if err != nil || back.PublicKey() != k.PublicKey() {
			t.Fatalf("round trip: %v", err)
		}
	})
	t.Run("RawBase64URL", func(t *testing.T) {
		// The form `web-push generate-vapid-keys` prints: the RFC 8291
		// example's private key stands in for one.
		back, err := push.ParseVAPIDKey([]byte("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw\n"))
		if err != nil {
			t.Fatal(err)
		}
		want := "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
		if back.PublicKey() != want {
			t.Errorf("public key = %s, want %s", back.PublicKey(), want)
		}
	})
	t.Run("ErrGarbage", func(t *testing.T) {
		if _, err := push.ParseVAPIDKey([]byte("not a key!")); err == nil {
			t.Fatal("garbage parsed")
		}
	})
}
