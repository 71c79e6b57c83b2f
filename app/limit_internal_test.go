package app

import (
	"fmt"
	"testing"
	"time"
)

type fixedClock struct{ t time.Time }

func (c *fixedClock) Now() time.Time { return c.t }

// TestLimiterMemoryBounded: a flood of distinct keys (random handles or
// addresses) never makes a limiter remember more than maxLimiterKeys.
func TestLimiterMemoryBounded(t *testing.T) {
	clk := &fixedClock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	l := newLimiter(Rate{PerSecond: 0.001, Burst: 2}, clk.Now)
	b := newBackoff(1, time.Second, time.Hour, clk.Now)
	for i := 0; i < maxLimiterKeys*3/2; i++ {
		key := fmt.Sprint("k", i)
		l.take(key)
		l.take(key) // drained: a sweep cannot forget it
		b.attempt(key)
		b.attempt(key)
	}
	if n := len(l.m.m); n > maxLimiterKeys {
		t.Errorf("limiter remembers %d keys, over %d", n, maxLimiterKeys)
	}
	if n := len(b.m.m); n > maxLimiterKeys {
		t.Errorf("back-off remembers %d keys, over %d", n, maxLimiterKeys)
	}
}
