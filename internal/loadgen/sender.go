package loadgen

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/client"
)

// sender sends on one socket into its pair's conversation and keeps a
// record per message, indexed by the number in its client_msg_id
// (<tag><n>), so that the ack (on its own socket's reader) and the delivery
// (on the peer's) find the record without a map.
type sender struct {
	r        *run
	tag      string
	from, to *endpoint
	// window bounds the sends awaiting their ack.
	window chan struct{}
	// phase spreads the senders' schedules over one period, so a paced
	// load arrives evenly rather than in bursts of every sender at once.
	phase float64

	mu   sync.Mutex
	recs []record
}

// record is one message's life, in time since the load started.
type record struct {
	sent, acked, delivered time.Duration
	seq                    int64 // from the ack
	dseq                   int64 // from the first delivery
	deliveries             int32
	failed                 bool
}

// counters are the run-wide totals the drain watches.
type counters struct {
	sent           atomic.Int64
	resolved       atomic.Int64 // acked or failed
	acked          atomic.Int64
	ackedDelivered atomic.Int64 // acked and delivered at least once
}

// load runs every sender until the warm-up and the duration have passed,
// MaxMessages sends were made, or ctx ends.
func (r *run) load(ctx context.Context) {
	cfg := r.cfg
	r.body = bodyOf(cfg.BodySize)
	stop := make(chan struct{})
	var once sync.Once
	r.stopSending = func() { once.Do(func() { close(stop) }) }
	r.start = time.Now()
	r.warmEnd = cfg.WarmUp
	t := time.AfterFunc(cfg.WarmUp+cfg.Duration, r.stopSending)
	defer t.Stop()
	if cfg.OnWindow != nil {
		w := time.AfterFunc(cfg.WarmUp, func() {
			select {
			case <-stop:
			default:
				cfg.OnWindow(true)
			}
		})
		defer w.Stop()
	}
	cancel := context.AfterFunc(ctx, r.stopSending)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range r.senders {
		wg.Go(func() { s.loop(stop) })
	}
	wg.Wait()
	r.end = r.since()
	if cfg.OnWindow != nil {
		cfg.OnWindow(false)
	}
	r.log.Info("load sent", "messages", r.n.sent.Load(), "elapsed", r.end)
}

// drain waits for the outstanding acks and for every acked message to be
// delivered, up to the Drain time.
func (r *run) drain(ctx context.Context) {
	deadline := time.Now().Add(r.cfg.Drain)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if r.n.resolved.Load() == r.n.sent.Load() && r.n.ackedDelivered.Load() == r.n.acked.Load() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (s *sender) loop(stop <-chan struct{}) {
	cfg := s.r.cfg
	rate := cfg.Rate / float64(len(s.r.senders))
	pace := time.NewTimer(time.Hour)
	pace.Stop()
	defer pace.Stop()
	conv := s.from.pair.conv
	for n := 0; ; n++ {
		if rate > 0 {
			// Catch-up pacing: the n-th send is due at n/rate; a sender
			// that fell behind sends at once until it is back on schedule.
			due := time.Duration((float64(n) + s.phase) / rate * float64(time.Second))
			if d := due - s.r.since(); d > 0 {
				pace.Reset(d)
				select {
				case <-pace.C:
				case <-stop:
					return
				}
			}
		}
		select {
		case s.window <- struct{}{}:
		case <-stop:
			return
		}
		select {
		case <-stop:
			<-s.window
			return
		default:
		}
		if s.r.n.sent.Add(1) > cfg.MaxMessages {
			s.r.n.sent.Add(-1)
			<-s.window
			s.r.stopSending()
			return
		}
		s.mu.Lock()
		i := len(s.recs)
		s.recs = append(s.recs, record{sent: s.r.since()})
		s.mu.Unlock()
		req := parley.SendRequest{ConversationID: conv, ClientMsgID: s.tag + strconv.Itoa(i), Type: parley.TextMessage, Body: s.r.body}
		err := s.from.sock.SendAsync(&req, cfg.AckTimeout, func(m *parley.Message, err error) { s.acked(i, m, err) })
		if err != nil {
			s.acked(i, nil, err)
			if errors.Is(err, client.ErrDisconnected) {
				// Reconnecting: do not spin through the schedule.
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
}

// acked records a send's outcome; it runs on the sending socket's reader.
func (s *sender) acked(i int, m *parley.Message, err error) {
	now := s.r.since()
	s.mu.Lock()
	rec := &s.recs[i]
	both := false
	if err == nil {
		rec.acked, rec.seq = now, m.Seq
		both = rec.deliveries > 0
	} else {
		rec.failed = true
	}
	s.mu.Unlock()
	if err != nil {
		s.r.errs.add(codeOf(err))
	} else {
		s.r.n.acked.Add(1)
		if both {
			s.r.n.ackedDelivered.Add(1)
		}
	}
	s.r.n.resolved.Add(1)
	<-s.window
}

// delivered records the peer's receipt of m, on the peer's reader. known
// is false for a message this sender did not send; first for its first
// delivery.
func (s *sender) delivered(m *parley.Message) (known, first bool) {
	rest, ok := strings.CutPrefix(m.ClientMsgID, s.tag)
	if !ok {
		return false, false
	}
	i, err := strconv.Atoi(rest)
	if err != nil || i < 0 {
		return false, false
	}
	now := s.r.since()
	s.mu.Lock()
	if i >= len(s.recs) {
		s.mu.Unlock()
		return false, false
	}
	rec := &s.recs[i]
	rec.deliveries++
	first = rec.deliveries == 1
	both := false
	if first {
		rec.delivered, rec.dseq = now, m.Seq
		both = rec.seq > 0 // acked already
	}
	s.mu.Unlock()
	if both {
		s.r.n.ackedDelivered.Add(1)
	}
	return true, first
}

// errorCounts counts failed sends by code.
type errorCounts struct {
	mu sync.Mutex
	m  map[string]int64
}

func newErrorCounts() *errorCounts { return &errorCounts{m: make(map[string]int64)} }

func (e *errorCounts) add(code string) {
	e.mu.Lock()
	e.m[code]++
	e.mu.Unlock()
}

func (e *errorCounts) snapshot() map[string]int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]int64, len(e.m))
	for k, v := range e.m {
		out[k] = v
	}
	return out
}
