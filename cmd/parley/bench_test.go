package main

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/loadgen"
	"github.com/parleyhq/parley/internal/testenv"
)

// BenchmarkEndToEnd runs the load generator against one node on SQLite and
// one node on PostgreSQL (fsync on), one after the other in the same run,
// and reports durable messages/s end to end (send → commit → ack →
// delivered to the peer) for each. PARLEY_BENCH_PAIRS and
// PARLEY_BENCH_DURATION tune the load.
//
//	go test ./cmd/parley -run '^$' -bench EndToEnd -benchtime 1x
func BenchmarkEndToEnd(b *testing.B) {
	pairs, dur := 100, 10*time.Second
	if v := os.Getenv("PARLEY_BENCH_PAIRS"); v != "" {
		pairs = atoi(b, v)
	}
	if v := os.Getenv("PARLEY_BENCH_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatal(err)
		}
		dur = d
	}
	pg := testenv.MustPostgres(b)
	for _, store := range []string{"sqlite", "postgres"} {
		b.Run(store, func(b *testing.B) {
			cfg := testConfig(b)
			cfg.LogLevel = "error"
			if store == "postgres" {
				cfg.Store, cfg.PostgresDSN = "postgres", pg.DSN()
			}
			m := MustRunMain(b, cfg)
			b.ResetTimer()
			var last loadgen.Result
			for i := 0; i < b.N; i++ {
				res, err := loadgen.Run(context.Background(), loadgen.Config{
					URL: "http://" + m.Addr(), Pairs: pairs, Duration: dur, WarmUp: 2 * time.Second, InFlight: 8,
					HandlePrefix: "b" + store,
				})
				if err != nil {
					b.Fatal(err)
				}
				if err := res.Check(); err != nil {
					b.Fatal(err)
				}
				last = res
			}
			b.ReportMetric(last.DeliveryRate, "msgs/s")
			b.ReportMetric(last.AckLatency.P99, "ack-p99-ms")
			b.ReportMetric(last.DeliveryLatency.P99, "delivery-p99-ms")
		})
	}
}

func atoi(tb testing.TB, s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			tb.Fatalf("not a number: %q", s)
		}
		n = n*10 + int(c-'0')
	}
	return n
}
