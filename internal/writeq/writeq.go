// Package writeq is the front both stores' group-commit writers share: a
// bounded FIFO of write requests that callers join and that a store's
// writer goroutines drain, with one rule for a store that is closing and
// one for a caller that stops waiting before its request found a place.
package writeq

import (
	"context"
	"sync"

	"github.com/parleyhq/parley"
)

// Queue is a FIFO of write requests of type T.
type Queue[T any] struct {
	ch chan T

	mu     sync.RWMutex
	closed bool
}

// New returns a queue that holds up to n waiting requests.
func New[T any](n int) *Queue[T] {
	return &Queue[T]{ch: make(chan T, n)}
}

// ErrClosed is what Put answers once the queue is closed.
var ErrClosed = parley.Errorf(parley.EUNAVAILABLE, "store is closed")

// Put appends v to the queue, waiting while it is full. Once v has its
// place — the order in which the store will write it — it calls queued,
// if not nil. It returns ErrClosed when the queue is closed and an
// EUNAVAILABLE error when ctx ends while the queue is full; queued is then
// called too, so a caller waiting for it never waits forever. Requests put
// one after the other from one goroutine are taken in that order.
func (q *Queue[T]) Put(ctx context.Context, v T, queued func()) error {
	q.mu.RLock()
	if q.closed {
		q.mu.RUnlock()
		call(queued)
		return ErrClosed
	}
	select {
	case q.ch <- v:
	case <-ctx.Done():
		q.mu.RUnlock()
		call(queued)
		return parley.WrapError(parley.EUNAVAILABLE, "store is busy", ctx.Err())
	}
	q.mu.RUnlock()
	call(queued)
	return nil
}

func call(fn func()) {
	if fn != nil {
		fn()
	}
}

// Requests is where the writer takes requests from; it is closed, once
// drained, after Close.
func (q *Queue[T]) Requests() <-chan T { return q.ch }

// Take returns the next request and then every other one waiting, up to
// max in all, to write as one group. ok is false once the queue is closed
// and drained. buf is reused for the result.
func (q *Queue[T]) Take(buf []T, max int) (group []T, ok bool) {
	v, ok := <-q.ch
	if !ok {
		return buf[:0], false
	}
	group = append(buf[:0], v)
	for len(group) < max {
		select {
		case v, ok := <-q.ch:
			if !ok {
				return group, true
			}
			group = append(group, v)
		default:
			return group, true
		}
	}
	return group, true
}

// Len returns how many requests wait to be taken.
func (q *Queue[T]) Len() int { return len(q.ch) }

// Close refuses new requests; those queued already are still taken. It
// reports false when the queue was closed before.
func (q *Queue[T]) Close() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	q.closed = true
	close(q.ch)
	return true
}

// Closed reports whether Close was called.
func (q *Queue[T]) Closed() bool {
	q.mu.RLock()
	defer q.mu.RUnlock()
	return q.closed
}
