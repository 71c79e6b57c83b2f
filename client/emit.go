package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= 64<<10 {
		*b = (*b)[:0]
		bufPool.Put(b)
	}
}

// Emit sends an event without asking for an ack. payload is encoded as
// JSON (a json.RawMessage is sent as it is; nil sends no argument). It
// returns ErrDisconnected while the socket has no connection.
func (s *Socket) Emit(event string, payload any) error {
	c, err := s.current()
	if err != nil {
		return err
	}
	bp := getBuf()
	defer putBuf(bp)
	b, err := appendEvent((*bp)[:0], noAck, event, payload)
	*bp = b
	if err != nil {
		return err
	}
	if err := c.write(b); err != nil {
		return fmt.Errorf("%w: %v", ErrDisconnected, err)
	}
	return nil
}

// EmitAsync sends an event asking for an ack and returns without waiting:
// cb receives the ack's first argument, or an error (ErrAckTimeout after
// timeout when it is positive, ErrDisconnected or ErrClosed when the
// connection ends first). cb runs on the reader goroutine, or on a timer's,
// and must not block. When EmitAsync returns an error cb is never called;
// otherwise it is called exactly once.
//
// It is the way to keep many events in flight without a goroutine each.
func (s *Socket) EmitAsync(event string, payload any, timeout time.Duration, cb func(ack json.RawMessage, err error)) error {
	_, _, err := s.emitAsync(event, payload, timeout, cb)
	return err
}

func (s *Socket) emitAsync(event string, payload any, timeout time.Duration, cb func(json.RawMessage, error)) (*conn, int64, error) {
	c, err := s.current()
	if err != nil {
		return nil, 0, err
	}
	id := s.nextID.Add(1)
	bp := getBuf()
	defer putBuf(bp)
	b, err := appendEvent((*bp)[:0], id, event, payload)
	*bp = b
	if err != nil {
		return nil, 0, err
	}
	a := &pendingAck{cb: cb}
	if !c.addAck(id, a, timeout) {
		return nil, 0, ErrDisconnected
	}
	if err := c.write(b); err != nil {
		if c.takeAck(id) != nil {
			if a.timer != nil {
				a.timer.Stop()
			}
			return nil, 0, fmt.Errorf("%w: %v", ErrDisconnected, err)
		}
		// The connection's shutdown has failed the ack already.
	}
	return c, id, nil
}

type ackResult struct {
	raw json.RawMessage
	err error
}

// EmitWithAck sends an event and waits for its ack, returning the ack's
// first argument. It gives up when ctx ends (or after the socket's
// AckTimeout when ctx has no deadline) and when the connection drops.
func (s *Socket) EmitWithAck(ctx context.Context, event string, payload any) (json.RawMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// A deadline of the context's is the ack's own, so that the ack table
	// applies one rule: an answer read after it is too late.
	timeout := s.cfg.AckTimeout
	deadline, hasDeadline := ctx.Deadline()
	if hasDeadline {
		if timeout = time.Until(deadline); timeout <= 0 {
			return nil, context.DeadlineExceeded
		}
	}
	ch := make(chan ackResult, 1)
	c, id, err := s.emitAsync(event, payload, timeout, func(raw json.RawMessage, err error) {
		ch <- ackResult{raw, err}
	})
	if err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		if hasDeadline && errors.Is(r.err, ErrAckTimeout) {
			return nil, context.DeadlineExceeded
		}
		return r.raw, r.err
	case <-ctx.Done():
		if a := c.takeAck(id); a != nil && a.timer != nil {
			a.timer.Stop()
		}
		return nil, ctx.Err()
	}
}
