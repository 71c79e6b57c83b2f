package loadgen_test

import (
	"context"
	"flag"
	"os"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/loadgen"
)

// Flags of BenchmarkLoad, so one command runs any load shape:
//
//	go test ./internal/loadgen -run '^$' -bench Load -benchtime 1x \
//	    -loadgen.pairs 200 -loadgen.duration 10s [-loadgen.rate 20000] [-loadgen.url http://…]
var (
	benchURL      = flag.String("loadgen.url", "", "server to load; empty starts a node of this checkout")
	benchPairs    = flag.Int("loadgen.pairs", 100, "user pairs (two sockets each)")
	benchRate     = flag.Float64("loadgen.rate", 0, "target messages/s over all senders; 0: as fast as possible")
	benchInFlight = flag.Int("loadgen.inflight", 8, "sends in flight per sender")
	benchDuration = flag.Duration("loadgen.duration", 5*time.Second, "measured time")
	benchWarmUp   = flag.Duration("loadgen.warmup", time.Second, "unmeasured time before it")
	benchBody     = flag.Int("loadgen.body", 64, "message body bytes")
	benchOneWay   = flag.Bool("loadgen.oneway", false, "only the first user of each pair sends")
	benchJSON     = flag.Bool("loadgen.json", false, "also print the result as JSON")
)

// BenchmarkLoad runs one load (whatever b.N: use -benchtime 1x) against a
// node it starts, or -loadgen.url, and reports the end-to-end figures.
func BenchmarkLoad(b *testing.B) {
	url := *benchURL
	if url == "" {
		url = mustNode(b).URL
	}
	res, err := loadgen.Run(context.Background(), loadgen.Config{
		URL: url, Pairs: *benchPairs, Rate: *benchRate, InFlight: *benchInFlight,
		Duration: *benchDuration, WarmUp: *benchWarmUp, BodySize: *benchBody, OneWay: *benchOneWay,
		SetupConcurrency: 32,
	})
	if err != nil {
		b.Fatal(err)
	}
	res.WriteTable(os.Stdout)
	if *benchJSON {
		j, _ := res.JSON()
		os.Stdout.Write(append(j, '\n'))
	}
	b.ReportMetric(res.AckRate, "acks/s")
	b.ReportMetric(res.DeliveryRate, "deliveries/s")
	b.ReportMetric(res.AckLatency.P99, "p99-ack-ms")
	b.ReportMetric(res.DeliveryLatency.P99, "p99-delivery-ms")
	b.ReportMetric(0, "ns/op")
	if err := res.Check(); err != nil {
		b.Error(err)
	}
}
