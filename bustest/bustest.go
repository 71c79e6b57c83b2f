// Package bustest is the conformance suite of parley.Bus and
// parley.Presence. Every implementation (package inmem, package redis on
// a single server and on a cluster) runs the same cases from its own tests,
// so they all keep the contract the gateway relies on: delivery to every
// subscriber of a topic on any node, order per topic, no call after
// Subscription.Close, payloads as opaque bytes, nothing left running after
// Close.
//
// Cases create topics and user ids of their own, so one backend (one Redis
// server) can serve the whole suite.
package bustest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// waitTimeout bounds how long a case waits for deliveries before it fails.
// It is a hang guard, not a performance assertion.
const waitTimeout = 30 * time.Second

// uniqueTopic returns a topic no other case uses.
func uniqueTopic(t *testing.T, name string) string {
	return fmt.Sprintf("bustest:%s:%s:%x", t.Name(), name, rand.Uint64())
}

// recorder collects the payloads a subscription receives. It keeps them
// without copying: the bus hands fn payloads it may retain.
type recorder struct {
	mu     sync.Mutex
	got    [][]byte
	notify chan struct{}
	// closed is set once the subscription's Close has returned; late counts
	// the calls made after that.
	closed bool
	late   int
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 1)} }

func (r *recorder) fn(p []byte) {
	r.mu.Lock()
	if r.closed {
		r.late++
	}
	r.got = append(r.got, p)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// markClosed records that the subscription's Close has returned.
func (r *recorder) markClosed() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
}

// lateCalls returns how many calls came after markClosed.
func (r *recorder) lateCalls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.late
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func (r *recorder) payloads() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.got...)
}

// wait returns the payloads once at least n arrived, or fails the test.
func (r *recorder) wait(t *testing.T, n int) [][]byte {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		if r.count() >= n {
			return r.payloads()
		}
		select {
		case <-r.notify:
		case <-deadline.C:
			t.Fatalf("received %d payloads, want %d", r.count(), n)
		}
	}
}

// waitFor waits until want is among the payloads, or fails the test.
func (r *recorder) waitFor(t *testing.T, want []byte) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		for _, p := range r.payloads() {
			if bytes.Equal(p, want) {
				return
			}
		}
		select {
		case <-r.notify:
		case <-deadline.C:
			t.Fatalf("payload %q never arrived", want)
		}
	}
}

// checkSeq checks that got is exactly msg(0), msg(1), ... msg(n-1).
func checkSeq(t *testing.T, what string, got [][]byte, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("%s: got %d payloads, want %d", what, len(got), n)
	}
	for i, p := range got {
		if want := msg(i); !bytes.Equal(p, want) {
			t.Fatalf("%s: payload %d is %q, want %q (order per topic broken or payload changed)", what, i, p, want)
		}
	}
}

func msg(i int) []byte { return fmt.Appendf(nil, "m%06d", i) }
