package benchcompare

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// Row summarises one server at one rate: medians over its measurements.
type Row struct {
	Server  string
	Durable bool
	Rate    float64
	Runs    int
	// MsgsPerSec is the delivery rate; Min and Max its range.
	MsgsPerSec, MinMsgsPerSec, MaxMsgsPerSec float64
	// Latencies in milliseconds, medians of each run's percentile.
	AckP50, AckP99, DeliveryP50, DeliveryP99 float64
	// ServerCores and LoadCores are CPU time over the measured window;
	// ServerMicrosPerMsg the server's CPU time per delivered message.
	ServerCores, ServerMicrosPerMsg, LoadCores float64
	// Failed counts runs whose accounting failed (lost, duplicated or
	// reordered messages, failed sends).
	Failed int
}

// Ratio compares a Parley row (Server: Parley or ParleyPG) with the
// relay's at one rate.
type Ratio struct {
	Server string
	Rate   float64
	// MsgsPerSec is Parley's median msgs/s over the relay's: the figure
	// DESIGN §6 sets its throughput target on (≥ 1.0).
	MsgsPerSec float64
	// AckP99 and CPUPerMsg are Parley's over the relay's (lower is better
	// for Parley).
	AckP99, CPUPerMsg float64
}

// servers returns the servers of the report, the relay last.
func (r *Report) servers() []string {
	if len(r.Servers) > 0 {
		return r.Servers
	}
	return []string{Parley, Relay}
}

// Rows returns one row per rate and server, in the order of Servers.
func (r *Report) Rows() []Row {
	var rows []Row
	for _, rate := range r.Rates {
		for _, server := range r.servers() {
			var ms []Measurement
			for _, m := range r.Measurements {
				if m.Server == server && m.Rate == rate {
					ms = append(ms, m)
				}
			}
			if len(ms) == 0 {
				continue
			}
			row := Row{Server: server, Durable: server != Relay, Rate: rate, Runs: len(ms)}
			pick := func(f func(Measurement) float64) float64 {
				v := make([]float64, len(ms))
				for i, m := range ms {
					v[i] = f(m)
				}
				return median(v)
			}
			row.MsgsPerSec = pick(func(m Measurement) float64 { return m.Result.DeliveryRate })
			row.MinMsgsPerSec, row.MaxMsgsPerSec = ms[0].Result.DeliveryRate, ms[0].Result.DeliveryRate
			for _, m := range ms {
				row.MinMsgsPerSec = min(row.MinMsgsPerSec, m.Result.DeliveryRate)
				row.MaxMsgsPerSec = max(row.MaxMsgsPerSec, m.Result.DeliveryRate)
				if m.Check != nil {
					row.Failed++
				}
			}
			row.AckP50 = pick(func(m Measurement) float64 { return m.Result.AckLatency.P50 })
			row.AckP99 = pick(func(m Measurement) float64 { return m.Result.AckLatency.P99 })
			row.DeliveryP50 = pick(func(m Measurement) float64 { return m.Result.DeliveryLatency.P50 })
			row.DeliveryP99 = pick(func(m Measurement) float64 { return m.Result.DeliveryLatency.P99 })
			row.ServerCores = pick(func(m Measurement) float64 { return m.cores(m.ServerCPU) })
			row.ServerMicrosPerMsg = pick(Measurement.microsPerMessage)
			row.LoadCores = pick(func(m Measurement) float64 { return m.cores(m.LoadCPU) })
			rows = append(rows, row)
		}
	}
	return rows
}

// Ratios returns each Parley server against the relay at each rate both
// were measured at.
func (r *Report) Ratios() []Ratio {
	rows := r.Rows()
	var out []Ratio
	for _, p := range rows {
		if p.Server == Relay {
			continue
		}
		for _, q := range rows {
			if q.Server == Relay && q.Rate == p.Rate {
				out = append(out, Ratio{
					Server:     p.Server,
					Rate:       p.Rate,
					MsgsPerSec: div(p.MsgsPerSec, q.MsgsPerSec),
					AckP99:     div(p.AckP99, q.AckP99),
					CPUPerMsg:  div(p.ServerMicrosPerMsg, q.ServerMicrosPerMsg),
				})
			}
		}
	}
	return out
}

// Failed reports whether any run's accounting failed.
func (r *Report) Failed() bool {
	for _, m := range r.Measurements {
		if m.Check != nil {
			return true
		}
	}
	return false
}

// WriteTable prints the rows and the ratios.
func (r *Report) WriteTable(w io.Writer) error {
	mode := "both users of each pair send"
	if r.OneWay {
		mode = "one sender per pair"
	}
	fmt.Fprintf(w, "%d pairs in 1:1 conversations, %s, %d sends in flight per sender, %s measured per run, median of %d run(s)\n\n",
		r.Pairs, mode, r.InFlight, r.Duration, r.Repeats)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "load\tserver\tdurable\truns\tmsgs/s\t(range)\tack p50 ms\tack p99 ms\tdelivery p50 ms\tdelivery p99 ms\tserver cores\tserver µs/msg\tloadgen cores\tcheck\t")
	for _, row := range r.Rows() {
		check := "ok"
		if row.Failed > 0 {
			check = fmt.Sprintf("%d failed", row.Failed)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.0f\t%.0f–%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.1f\t%.2f\t%s\t\n",
			rateName(row.Rate), row.Server, yesNo(row.Durable), row.Runs, row.MsgsPerSec, row.MinMsgsPerSec, row.MaxMsgsPerSec,
			row.AckP50, row.AckP99, row.DeliveryP50, row.DeliveryP99, row.ServerCores, row.ServerMicrosPerMsg, row.LoadCores, check)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, q := range r.Ratios() {
		fmt.Fprintf(w, "%s/relay at %s: msgs/s %.2f×, ack p99 %.2f×, server CPU per message %.2f×\n",
			q.Server, rateName(q.Rate), q.MsgsPerSec, q.AckP99, q.CPUPerMsg)
	}
	var bad []string
	for _, m := range r.Measurements {
		if m.Check != nil {
			bad = append(bad, fmt.Sprintf("%s at %s: %v", m.Server, rateName(m.Rate), m.Check))
		}
	}
	if len(bad) > 0 {
		fmt.Fprintf(w, "\nfailed accounting:\n  %s\n", strings.Join(bad, "\n  "))
	}
	return nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func div(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
