package app

import (
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

// limiter applies a Rate per key (a user, a handle). Buckets that have
// refilled completely are forgotten, so memory follows active keys only.
// Limits are per node: with N nodes behind a balancer a user may reach up
// to N times the rate, which is acceptable for abuse protection.
type limiter struct {
	rate Rate
	now  parley.Clock
	mu   sync.Mutex
	m    map[string]*bucket
	seen int
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(r Rate, now parley.Clock) *limiter {
	return &limiter{rate: r, now: now, m: make(map[string]*bucket)}
}

// allow takes a token for key, reporting false when none is left.
func (l *limiter) allow(key string) bool {
	if l == nil || l.rate.PerSecond <= 0 || l.rate.Burst <= 0 {
		return true
	}
	now := l.now.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen++; l.seen >= 10_000 {
		l.seen = 0
		l.sweep(now)
	}
	b := l.m[key]
	if b == nil {
		b = &bucket{tokens: float64(l.rate.Burst), at: now}
		l.m[key] = b
	}
	b.tokens = min(float64(l.rate.Burst), b.tokens+now.Sub(b.at).Seconds()*l.rate.PerSecond)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// sweep forgets buckets that are full again.
func (l *limiter) sweep(now time.Time) {
	for k, b := range l.m {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate.PerSecond >= float64(l.rate.Burst) {
			delete(l.m, k)
		}
	}
}
