package app

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/parleyhq/parley"
)

// Rate is a token-bucket rate: Burst actions at once, refilled at PerSecond.
// A zero Rate does not limit.
type Rate struct {
	PerSecond float64
	Burst     int
}

// maxLimiterKeys bounds the keys one limiter remembers, so a flood of
// distinct keys (random handles, many addresses) costs bounded memory.
// Past it, arbitrary keys are forgotten: they start over with a full
// allowance, which loosens the limit for them but never grows the map.
const maxLimiterKeys = 100_000

// limiter applies a Rate per key (a user, a handle). Buckets that have
// refilled completely are forgotten, so memory follows active keys only.
// Limits are per node: with N nodes behind a balancer a user may reach up
// to N times the rate, which is acceptable for abuse protection.
type limiter struct {
	rate Rate
	now  parley.Clock
	mu   sync.Mutex
	m    keyTable[bucket]
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(r Rate, now parley.Clock) *limiter {
	l := &limiter{rate: r, now: now}
	l.m = keyTable[bucket]{
		fresh: func(now time.Time) *bucket { return &bucket{tokens: float64(r.Burst), at: now} },
		// A bucket that refilled completely is as good as none.
		stale: func(b *bucket, now time.Time) bool {
			return b.tokens+now.Sub(b.at).Seconds()*r.PerSecond >= float64(r.Burst)
		},
	}
	return l
}

// keyTable holds per-key state (a bucket, a failure count) in bounded
// memory: entries that went stale are swept now and then, and when the
// table is full anyway, arbitrary entries are forgotten (they start over,
// which loosens a limit for them but never grows the table).
type keyTable[T any] struct {
	m     map[string]*T
	seen  int
	fresh func(now time.Time) *T
	stale func(v *T, now time.Time) bool
}

// get returns key's entry, made fresh if there is none.
func (t *keyTable[T]) get(key string, now time.Time) *T {
	if t.seen++; t.seen >= 10_000 {
		t.seen = 0
		t.sweep(now)
	}
	v := t.m[key]
	if v == nil {
		if len(t.m) >= maxLimiterKeys {
			t.sweep(now)
			evict(t.m, maxLimiterKeys/10)
		}
		if t.m == nil {
			t.m = make(map[string]*T)
		}
		v = t.fresh(now)
		t.m[key] = v
	}
	return v
}

// lookup returns key's entry, or nil.
func (t *keyTable[T]) lookup(key string) *T { return t.m[key] }

func (t *keyTable[T]) forget(key string) { delete(t.m, key) }

func (t *keyTable[T]) sweep(now time.Time) {
	for k, v := range t.m {
		if t.stale(v, now) {
			delete(t.m, k)
		}
	}
}

// forget starts key over with a full allowance.
func (l *limiter) forget(key string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.m.forget(key)
	l.mu.Unlock()
}

// allow takes a token for key, reporting false when none is left.
func (l *limiter) allow(key string) bool { return l.take(key) == 0 }

// take takes a token for key. It returns zero when it could, and otherwise
// how long until one is available.
func (l *limiter) take(key string) time.Duration {
	if l == nil || l.rate.PerSecond <= 0 || l.rate.Burst <= 0 {
		return 0
	}
	now := l.now.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m.get(key, now)
	b.tokens = min(float64(l.rate.Burst), b.tokens+now.Sub(b.at).Seconds()*l.rate.PerSecond)
	b.at = now
	if b.tokens < 1 {
		return time.Duration(math.Ceil((1 - b.tokens) / l.rate.PerSecond * float64(time.Second)))
	}
	b.tokens--
	return 0
}

// evict forgets up to n arbitrary keys of m.
func evict[V any](m map[string]V, n int) {
	for k := range m {
		if n <= 0 {
			return
		}
		delete(m, k)
		n--
	}
}

// backoff counts failures per key: after Free failures in a row each
// further attempt must wait Base, doubling per failure up to Max. A
// success forgets the key. Attempts are counted as failures when they
// start, so concurrent attempts cannot slip past the count.
type backoff struct {
	free      int
	base, max time.Duration
	now       parley.Clock
	mu        sync.Mutex
	m         keyTable[strikes]
}

type strikes struct {
	n     int
	last  time.Time // the latest attempt
	until time.Time // no attempt before this
}

func newBackoff(free int, base, maxWait time.Duration, now parley.Clock) *backoff {
	b := &backoff{free: free, base: base, max: maxWait, now: now}
	b.m = keyTable[strikes]{
		fresh: func(time.Time) *strikes { return &strikes{} },
		// No attempt and no wait for longer than Max: the count starts over.
		stale: func(s *strikes, now time.Time) bool {
			return now.Sub(s.until) > maxWait && now.Sub(s.last) > maxWait
		},
	}
	return b
}

// attempt counts an attempt for key as a failure, unless key must still
// wait: then it returns how long.
func (b *backoff) attempt(key string) time.Duration {
	if b == nil || b.free <= 0 || b.base <= 0 {
		return 0
	}
	now := b.now.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.m.get(key, now)
	if wait := s.until.Sub(now); wait > 0 {
		return wait
	}
	s.n++
	s.last = now
	if over := s.n - b.free; over > 0 {
		wait := b.max
		if over <= 30 && b.base<<(over-1) < b.max {
			wait = b.base << (over - 1)
		}
		s.until = now.Add(wait)
	}
	return 0
}

// succeeded forgets key's failures.
func (b *backoff) succeeded(key string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.m.forget(key)
	b.mu.Unlock()
}

// addrKey returns the key of the client address ctx carries: the address
// itself for IPv4, its /64 for IPv6 (one subscriber's usual allocation).
// Calls that did not come from the network share the key "local".
func addrKey(ctx context.Context) string {
	a, ok := parley.ClientAddr(ctx)
	if !ok {
		return "local"
	}
	if a.Is6() {
		p, err := a.Prefix(64)
		if err == nil {
			return p.String()
		}
	}
	return a.String()
}

// tooMany is the refusal of a rate limit, with the wait it asks for.
func tooMany(wait time.Duration, format string, args ...any) error {
	e := parley.Errorf(parley.ETOOMANY, format, args...)
	e.RetryAfter = max(wait, time.Second)
	return e
}

// charge takes n tokens from key's bucket, going into debt if need be:
// for costs known only afterwards (bytes uploaded).
func (l *limiter) charge(key string, n float64) {
	if l == nil || l.rate.PerSecond <= 0 || l.rate.Burst <= 0 {
		return
	}
	now := l.now.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m.get(key, now)
	b.tokens = min(float64(l.rate.Burst), b.tokens+now.Sub(b.at).Seconds()*l.rate.PerSecond) - n
	b.at = now
}

// left returns the whole tokens key has now, or -1 when l does not limit;
// with none, it also returns how long until there is one.
func (l *limiter) left(key string) (int64, time.Duration) {
	if l == nil || l.rate.PerSecond <= 0 || l.rate.Burst <= 0 {
		return -1, 0
	}
	now := l.now.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m.lookup(key)
	if b == nil {
		return int64(l.rate.Burst), 0
	}
	t := min(float64(l.rate.Burst), b.tokens+now.Sub(b.at).Seconds()*l.rate.PerSecond)
	if t < 1 {
		return 0, time.Duration(math.Ceil((1 - t) / l.rate.PerSecond * float64(time.Second)))
	}
	return int64(t), 0
}
