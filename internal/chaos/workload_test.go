package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/client"
)

// retryable reports whether a failed call may be tried again: transport
// failures and the server's retryable codes.
func retryable(err error) bool {
	var pe *parley.Error
	if errors.As(err, &pe) {
		return parley.IsRetryable(err)
	}
	return true
}

// sendsOpen reports whether sends still retry.
func (w *world) sendsOpen() bool { return time.Now().UnixNano() < w.sendsUntil.Load() }

// send sends one message (the device's n-th) and retries it, with the
// same client_msg_id, until it is acknowledged or the run's recovery ends.
func (d *device) send(conv parley.ID, n int) {
	w := d.w
	rec := &sendRec{cmid: fmt.Sprintf("%s-%d", d.name, n), dev: d, conv: conv, issued: time.Now()}
	w.mu.Lock()
	w.sends[rec.cmid] = rec
	w.mu.Unlock()
	req := parley.SendRequest{ConversationID: conv, ClientMsgID: rec.cmid, Type: parley.TextMessage, Body: "chaos " + rec.cmid}
	// One send in five goes over HTTP (the same pipeline, as a bot or an
	// integration sends): the device's socket has it neither in an ack
	// nor in an event, and its stream must move past it all the same.
	viaHTTP := n%5 == 4
	var err error
	for w.sendsOpen() {
		s := d.socket()
		if s == nil && !viaHTTP {
			err = client.ErrDisconnected
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			var m *parley.Message
			if viaHTTP {
				m, _, err = d.http.Send(ctx, req)
			} else {
				m, err = s.Send(ctx, req)
			}
			cancel()
			if err == nil {
				rec.mu.Lock()
				rec.acked = m
				rec.mu.Unlock()
				d.mu.Lock()
				d.recordLocked(m)
				d.own = append(d.own, m)
				d.mu.Unlock()
				return
			}
		}
		if !retryable(err) {
			w.violate(kindRefused, "%s: send %s to %s refused with an error a client does not retry: %v", d.name, rec.cmid, conv, err)
			return
		}
		time.Sleep(50 * time.Millisecond) // retry pace, as a client's
	}
	w.violate(kindStuck, "%s: send %s to %s never acknowledged, even after recovery: %v", d.name, rec.cmid, conv, err)
}

// recall withdraws one of the device's acknowledged messages, retrying
// like send.
func (d *device) recall(m *parley.Message) {
	w := d.w
	w.mu.Lock()
	if _, ok := w.recalls[m.ID]; ok {
		w.mu.Unlock()
		return
	}
	w.recalls[m.ID] = time.Now()
	w.mu.Unlock()
	var err error
	for w.sendsOpen() {
		s := d.socket()
		if s == nil {
			err = client.ErrDisconnected
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err = s.Recall(ctx, m.ConversationID, m.ID)
			cancel()
			if err == nil {
				return
			}
		}
		if !retryable(err) {
			w.violate(kindRefused, "%s: recall of %s (seq %d of %s, the device's own) refused with an error a client does not retry: %v", d.name, m.ID, m.Seq, m.ConversationID, err)
			return
		}
		time.Sleep(50 * time.Millisecond) // retry pace
	}
	w.violate(kindStuck, "%s: recall of %s never acknowledged, even after recovery: %v", d.name, m.ID, err)
}

// mark sends a delivered (and sometimes read) mark for what the device
// holds without a gap.
func (d *device) mark(conv parley.ID, read bool) {
	d.mu.Lock()
	seq := d.contiguousLocked(conv)
	s := d.sock
	d.mu.Unlock()
	if seq == 0 || s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if read {
		_ = s.Read(ctx, conv, seq-d.rng.Int64N(min(seq, 5)))
		return
	}
	_ = s.Delivered(ctx, conv, seq)
}

// work runs the device's share of the workload until ctx ends: sends
// (sometimes several at once), marks, recalls and reconnections, chosen by
// the device's own generator.
func (d *device) work(ctx context.Context) {
	n := 0
	for ctx.Err() == nil {
		conv := d.user.convs[d.rng.IntN(len(d.user.convs))]
		d.w.ops.Add(1)
		switch op := d.rng.IntN(100); {
		case op < 60:
			burst := 1 + d.rng.IntN(4)
			var wg sync.WaitGroup
			for i := 0; i < burst; i++ {
				n++
				wg.Add(1)
				d.w.inflight.Add(1)
				go func(n int) {
					defer wg.Done()
					defer d.w.inflight.Done()
					d.send(conv, n)
				}(n)
			}
			wg.Wait()
		case op < 75:
			// Devices that never sync mark rarely: their cursor falls
			// far behind, and a new socket's stream must still start
			// right.
			if !d.neverSync || d.rng.IntN(8) == 0 {
				d.mark(conv, false)
			}
		case op < 85:
			d.mark(conv, true)
		case op < 92:
			d.mu.Lock()
			var m *parley.Message
			if len(d.own) > 0 {
				m = d.own[d.rng.IntN(len(d.own))]
			}
			d.mu.Unlock()
			if m != nil {
				d.w.inflight.Add(1)
				d.recall(m)
				d.w.inflight.Done()
			}
		default:
			d.reconnect()
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(d.rng.IntN(30)) * time.Millisecond): // think time
		}
	}
}
