package argon2id_test

import (
	"time"

	"github.com/parleyhq/parley"
	"strings"
	"testing"

	"github.com/parleyhq/parley/argon2id"
)

func TestHasher(t *testing.T) {
	h := argon2id.New(argon2id.OWASP)
	enc, err := h.Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("encoded = %q", enc)
	}
	t.Run("OK", func(t *testing.T) {
		if ok, err := h.Verify("correct horse", enc); !ok || err != nil {
			t.Fatalf("Verify = %v, %v", ok, err)
		}
	})
	t.Run("WrongPassword", func(t *testing.T) {
		if ok, err := h.Verify("wrong horse", enc); ok || err != nil {
			t.Fatalf("Verify = %v, %v", ok, err)
		}
	})
	t.Run("SaltIsFresh", func(t *testing.T) {
		again, _ := h.Hash("correct horse")
		if again == enc {
			t.Fatal("two hashes of one password are equal")
		}
	})
	t.Run("OtherParamsStillVerify", func(t *testing.T) {
		cheap := argon2id.New(argon2id.Params{MemoryKiB: 64, Time: 1, Threads: 1})
		old, _ := cheap.Hash("pw")
		if ok, err := h.Verify("pw", old); !ok || err != nil {
			t.Fatalf("Verify of a hash with other params = %v, %v", ok, err)
		}
	})
	t.Run("ErrMalformed", func(t *testing.T) {
		for _, bad := range []string{"", "plain", "$argon2i$v=19$m=1,t=1,p=1$c2FsdA$a2V5", "$argon2id$v=19$m=0,t=1,p=1$c2FsdA$a2V5",
			"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdA$a2V5", "$argon2id$v=19$m=8,t=1,p=1$!!$a2V5", "$argon2id$v=18$m=8,t=1,p=1$c2FsdA$a2V5"} {
			if ok, err := h.Verify("pw", bad); ok || err == nil {
				t.Errorf("Verify(%q) = %v, %v; want error", bad, ok, err)
			}
		}
	})
}

func TestBoundedHasher(t *testing.T) {
	cheap := argon2id.Params{MemoryKiB: 64, Time: 1, Threads: 1}
	h := argon2id.NewBounded(cheap, 1, 0)
	enc, err := h.Hash("pw")
	if err != nil {
		t.Fatal(err)
	}
	release, err := h.Hold()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("ErrUnavailableWhenFull", func(t *testing.T) {
		_, err := h.Hash("pw")
		if parley.ErrorCode(err) != parley.EUNAVAILABLE || parley.RetryAfterOf(err) <= 0 {
			t.Fatalf("Hash while full = %v; want unavailable with a retry-after", err)
		}
		if _, err := h.Verify("pw", enc); parley.ErrorCode(err) != parley.EUNAVAILABLE {
			t.Fatalf("Verify while full = %v; want unavailable", err)
		}
	})
	release()
	t.Run("OKOnceFreed", func(t *testing.T) {
		if ok, err := h.Verify("pw", enc); !ok || err != nil {
			t.Fatalf("Verify = %v, %v", ok, err)
		}
	})
	t.Run("WaitsForASlot", func(t *testing.T) {
		w := argon2id.NewBounded(cheap, 1, time.Minute)
		release, err := w.Hold()
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { _, err := w.Hash("pw"); done <- err }()
		release()
		if err := <-done; err != nil {
			t.Fatalf("Hash after the slot freed = %v", err)
		}
	})
}
