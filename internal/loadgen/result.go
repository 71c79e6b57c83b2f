package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is what a run measured. Rates and latencies cover the measured
// window (after the warm-up, until sending stopped); the accounting
// (Lost, Duplicates, OutOfOrder, …) covers every message of the run.
type Result struct {
	Pairs       int     `json:"pairs"`
	Senders     int     `json:"senders"`
	Connections int     `json:"connections"`
	TargetRate  float64 `json:"target_rate"` // messages/s, 0: as fast as possible
	InFlight    int     `json:"in_flight"`
	BodySize    int     `json:"body_size"`

	SetupSeconds  float64 `json:"setup_seconds"`
	WarmUpSeconds float64 `json:"warm_up_seconds"`
	// MeasuredSeconds is the measured window: shorter than the configured
	// duration when MaxMessages stopped the run.
	MeasuredSeconds float64 `json:"measured_seconds"`

	// Sent counts every send of the run; Acked and Delivered the acks and
	// first deliveries that happened inside the measured window, and
	// AckRate and DeliveryRate are those divided by its length.
	Sent         int64   `json:"sent"`
	Acked        int64   `json:"acked"`
	Delivered    int64   `json:"delivered"`
	AckRate      float64 `json:"ack_rate"`
	DeliveryRate float64 `json:"delivery_rate"`

	// AckLatency is emit → ack, DeliveryLatency emit → the peer's message
	// event, over the messages sent in the measured window.
	AckLatency      Latency `json:"ack_latency"`
	DeliveryLatency Latency `json:"delivery_latency"`

	// Errors counts failed sends by code: the server's error codes, and
	// ack_timeout, disconnected, closed, client_error.
	Errors map[string]int64 `json:"errors"`

	// Lost: acked but never delivered (by the end of the drain).
	Lost int64 `json:"lost"`
	// Duplicates: deliveries beyond the first of a message.
	Duplicates int64 `json:"duplicates"`
	// OutOfOrder: first deliveries with a seq below one delivered before.
	OutOfOrder int64 `json:"out_of_order"`
	// SeqMismatch: delivered with another seq than the ack gave.
	SeqMismatch int64 `json:"seq_mismatch"`
	// Unresolved: neither acked nor failed by the end of the drain.
	Unresolved int64 `json:"unresolved"`
	// DeliveredUnacked: delivered although the send failed (a timeout or a
	// dropped connection after the commit): not an error, a retry would
	// have returned the original.
	DeliveredUnacked int64 `json:"delivered_unacked"`
	// Foreign: message events that no sender of this run sent.
	Foreign int64 `json:"foreign"`
	// Echoed: a socket's own sends delivered back to it as message events
	// (the ack carries them already; clients drop them by seq).
	Echoed     int64 `json:"echoed"`
	Reconnects int64 `json:"reconnects"`
	Resyncs    int64 `json:"resyncs"`
}

// Latency summarises a latency distribution, in milliseconds.
type Latency struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}

// summarize sorts the samples (exact percentiles: the run keeps every
// sample, which the message cap bounds) and returns the summary.
func summarize(samples []time.Duration) Latency {
	if len(samples) == 0 {
		return Latency{}
	}
	slices.Sort(samples)
	var sum float64
	for _, d := range samples {
		sum += float64(d)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	q := func(p float64) float64 {
		// Nearest rank.
		i := int(math.Ceil(p*float64(len(samples)))) - 1
		return ms(samples[max(0, min(i, len(samples)-1))])
	}
	return Latency{
		Count: int64(len(samples)),
		Mean:  sum / float64(len(samples)) / float64(time.Millisecond),
		P50:   q(0.50), P90: q(0.90), P99: q(0.99), P999: q(0.999),
		Max: ms(samples[len(samples)-1]),
	}
}

// result walks every record once.
func (r *run) result() Result {
	cfg := r.cfg
	res := Result{
		Pairs: cfg.Pairs, Senders: len(r.senders), Connections: len(r.sockets),
		TargetRate: cfg.Rate, InFlight: cfg.InFlight, BodySize: cfg.BodySize,
		Sent: r.n.sent.Load(), Errors: r.errs.snapshot(),
	}
	from, to := r.warmEnd, r.end
	if to <= from {
		// Stopped during the warm-up: measure what there is.
		from = 0
	}
	res.WarmUpSeconds = from.Seconds()
	res.MeasuredSeconds = (to - from).Seconds()
	in := func(t time.Duration) bool { return t >= from && t <= to }
	var ackLat, delLat []time.Duration
	for _, s := range r.senders {
		s.mu.Lock()
		for i := range s.recs {
			rec := &s.recs[i]
			acked := rec.seq > 0
			if rec.deliveries > 1 {
				res.Duplicates += int64(rec.deliveries - 1)
			}
			switch {
			case acked && rec.deliveries == 0:
				res.Lost++
			case !acked && rec.deliveries > 0:
				res.DeliveredUnacked++
			case acked && rec.dseq != rec.seq:
				res.SeqMismatch++
			}
			if !acked && !rec.failed {
				res.Unresolved++
			}
			if acked && in(rec.acked) {
				res.Acked++
			}
			if rec.deliveries > 0 && in(rec.delivered) {
				res.Delivered++
			}
			if !in(rec.sent) {
				continue
			}
			if acked {
				ackLat = append(ackLat, rec.acked-rec.sent)
			}
			if rec.deliveries > 0 {
				delLat = append(delLat, rec.delivered-rec.sent)
			}
		}
		s.mu.Unlock()
	}
	for _, e := range r.sockets {
		res.OutOfOrder += e.outOfOrder.Load()
		res.Foreign += e.foreign.Load()
		res.Echoed += e.echoed.Load()
		res.Resyncs += e.resyncs.Load()
		if e.sock != nil {
			res.Reconnects += e.sock.Reconnects()
		}
	}
	if secs := res.MeasuredSeconds; secs > 0 {
		res.AckRate = float64(res.Acked) / secs
		res.DeliveryRate = float64(res.Delivered) / secs
	}
	res.AckLatency = summarize(ackLat)
	res.DeliveryLatency = summarize(delLat)
	return res
}

// Check returns an error describing any breach of the delivery
// guarantees: an acked message lost, delivered twice, out of seq order or
// under another seq. Failed sends are not breaches; Errors counts them.
func (r *Result) Check() error {
	var bad []string
	for _, f := range []struct {
		n    int64
		what string
	}{
		{r.Lost, "acked but never delivered"},
		{r.Duplicates, "duplicate deliveries"},
		{r.OutOfOrder, "delivered out of seq order"},
		{r.SeqMismatch, "delivered under another seq than acked"},
		{r.Unresolved, "never acked nor failed"},
	} {
		if f.n > 0 {
			bad = append(bad, fmt.Sprintf("%d %s", f.n, f.what))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("loadgen: %s", strings.Join(bad, ", "))
	}
	return nil
}

// JSON returns the result as indented JSON.
func (r *Result) JSON() ([]byte, error) { return json.MarshalIndent(r, "", "  ") }

// WriteTable writes the result for people.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	target := "as fast as possible"
	if r.TargetRate > 0 {
		target = fmt.Sprintf("%.0f msg/s", r.TargetRate)
	}
	fmt.Fprintf(tw, "pairs\t%d (%d senders, %d connections)\n", r.Pairs, r.Senders, r.Connections)
	fmt.Fprintf(tw, "target\t%s, %d in flight per sender, %d-byte bodies\n", target, r.InFlight, r.BodySize)
	fmt.Fprintf(tw, "time\tsetup %.1fs, warm-up %.1fs, measured %.1fs\n", r.SetupSeconds, r.WarmUpSeconds, r.MeasuredSeconds)
	fmt.Fprintf(tw, "sent\t%d\n", r.Sent)
	fmt.Fprintf(tw, "throughput\t%.0f acks/s, %.0f deliveries/s\n", r.AckRate, r.DeliveryRate)
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "latency (ms)\tcount\tmean\tp50\tp90\tp99\tp99.9\tmax")
	for _, l := range []struct {
		name string
		l    Latency
	}{{"ack", r.AckLatency}, {"delivery", r.DeliveryLatency}} {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\n", l.name, l.l.Count, l.l.Mean, l.l.P50, l.l.P90, l.l.P99, l.l.P999, l.l.Max)
	}
	fmt.Fprintln(tw)
	codes := make([]string, 0, len(r.Errors))
	for c := range r.Errors {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	errs := "none"
	if len(codes) > 0 {
		parts := make([]string, len(codes))
		for i, c := range codes {
			parts[i] = fmt.Sprintf("%s %d", c, r.Errors[c])
		}
		errs = strings.Join(parts, ", ")
	}
	fmt.Fprintf(tw, "errors\t%s\n", errs)
	fmt.Fprintf(tw, "accounting\tlost %d, duplicates %d, out of order %d, seq mismatch %d, unresolved %d\n",
		r.Lost, r.Duplicates, r.OutOfOrder, r.SeqMismatch, r.Unresolved)
	fmt.Fprintf(tw, "\tdelivered unacked %d, echoed %d, foreign %d, reconnects %d, resyncs %d\n",
		r.DeliveredUnacked, r.Echoed, r.Foreign, r.Reconnects, r.Resyncs)
	verdict := "ok: every acked message delivered once, in order"
	if err := r.Check(); err != nil {
		verdict = "FAILED: " + strings.TrimPrefix(err.Error(), "loadgen: ")
	}
	fmt.Fprintf(tw, "check\t%s\n", verdict)
	return tw.Flush()
}
