// Package argon2id implements parley.PasswordHasher with Argon2id, encoded
// in the PHC string format ($argon2id$v=19$m=…,t=…,p=…$salt$hash) so the
// parameters travel with each hash and can be raised later without
// invalidating stored passwords.
package argon2id

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/parleyhq/parley"
	"golang.org/x/crypto/argon2"
)

// Params are Argon2id's cost parameters.
type Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// OWASP is the OWASP Password Storage Cheat Sheet minimum for Argon2id
// (m=19 MiB, t=2, p=1), Parley's default.
var OWASP = Params{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32
)

// Hasher hashes with its Params and verifies hashes made with any params.
type Hasher struct {
	Params Params
	// slots bounds the hashes computed at once (each holds its memory
	// cost); nil does not bound them.
	slots chan struct{}
	wait  time.Duration
}

var _ parley.PasswordHasher = (*Hasher)(nil)

// New returns a Hasher with the given params that computes any number of
// hashes at once.
func New(p Params) *Hasher { return &Hasher{Params: p} }

// NewBounded returns a Hasher that computes at most concurrency hashes at
// once, so anonymous requests cannot make a node hold more than
// concurrency × MemoryKiB for hashing. A call that finds every slot taken
// waits up to wait, then fails with EUNAVAILABLE (and a RetryAfter).
func NewBounded(p Params, concurrency int, wait time.Duration) *Hasher {
	return &Hasher{Params: p, slots: make(chan struct{}, max(1, concurrency)), wait: wait}
}

// busyRetryAfter is the wait suggested to a client turned away because
// every hashing slot stayed taken.
const busyRetryAfter = 2 * time.Second

// acquire takes a hashing slot, waiting up to h.wait for one.
func (h *Hasher) acquire() error {
	if h.slots == nil {
		return nil
	}
	select {
	case h.slots <- struct{}{}:
		return nil
	default:
	}
	if h.wait > 0 {
		t := time.NewTimer(h.wait)
		defer t.Stop()
		select {
		case h.slots <- struct{}{}:
			return nil
		case <-t.C:
		}
	}
	return &parley.Error{Code: parley.EUNAVAILABLE, Message: "the server is busy; try again in a moment", RetryAfter: busyRetryAfter}
}

func (h *Hasher) release() {
	if h.slots != nil {
		<-h.slots
	}
}

// Hash implements parley.PasswordHasher. It returns EUNAVAILABLE when the
// hasher is bounded and no slot freed up in time.
func (h *Hasher) Hash(password string) (string, error) {
	if err := h.acquire(); err != nil {
		return "", err
	}
	defer h.release()
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	p := h.Params
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// Verify implements parley.PasswordHasher. It returns EUNAVAILABLE when
// the hasher is bounded and no slot freed up in time.
func (h *Hasher) Verify(password, encoded string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, fmt.Errorf("not an argon2id hash")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, fmt.Errorf("unsupported argon2id version %q", parts[2])
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil {
		return false, fmt.Errorf("bad argon2id parameters %q: %w", parts[3], err)
	}
	if p.MemoryKiB == 0 || p.Time == 0 || p.Threads == 0 || p.MemoryKiB > 1<<22 || p.Time > 100 {
		return false, fmt.Errorf("argon2id parameters out of range %q", parts[3])
	}
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(parts[4])
	if err != nil {
		return false, fmt.Errorf("bad argon2id salt: %w", err)
	}
	want, err := enc.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, fmt.Errorf("bad argon2id key")
	}
	if err := h.acquire(); err != nil {
		return false, err
	}
	defer h.release()
	got := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
