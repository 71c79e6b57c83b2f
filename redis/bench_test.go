package redis

import (
	"context"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testenv"
)

// benchPayload is the size of a typical message event on the bus.
const benchPayload = 200

// benchTopics is how many user topics the publishes spread over.
const benchTopics = 10000

// BenchmarkPublish measures publishes per second from one node, with many
// goroutines publishing at once as a busy node's send pipeline does, to a
// single Redis server and to a 3-master cluster started for the benchmark
// (on this machine, so Redis shares its cores with the benchmark).
func BenchmarkPublish(b *testing.B) {
	for _, mode := range []string{"Standalone", "Cluster"} {
		b.Run(mode, func(b *testing.B) {
			cfg := benchConfig(b, mode)
			for _, publishers := range []int{16, 256, 1024} {
				b.Run("publishers="+strconv.Itoa(publishers), func(b *testing.B) {
					benchPublish(b, cfg, publishers, false)
				})
			}
			b.Run("publishers=256/subscribed", func(b *testing.B) {
				benchPublish(b, cfg, 256, true)
			})
		})
	}
}

// BenchmarkPublishFlushDelay shows the effect of Config.MaxFlushDelay, to
// choose its default.
func BenchmarkPublishFlushDelay(b *testing.B) {
	cfg := benchConfig(b, "Standalone")
	for _, d := range []time.Duration{-1, 20 * time.Microsecond, 100 * time.Microsecond, 200 * time.Microsecond} {
		b.Run("delay="+max(d, 0).String(), func(b *testing.B) {
			c := cfg
			c.MaxFlushDelay = d
			benchPublish(b, c, 256, false)
		})
	}
}

func benchConfig(b *testing.B, mode string) Config {
	if mode == "Cluster" {
		return Config{Addrs: testenv.MustRedisCluster(b, 3).Addrs(), Cluster: true}
	}
	return Config{Addrs: []string{testenv.MustRedis(b).Addr()}}
}

// benchPublish publishes b.N payloads from publishers goroutines. With
// subscribed, a second node subscribes every topic, so Redis also delivers
// each message and that node receives it.
func benchPublish(b *testing.B, cfg Config, publishers int, subscribed bool) {
	bus := mustBus(b, cfg)
	topics := make([]string, benchTopics)
	for i := range topics {
		topics[i] = "u:" + strconv.Itoa(i)
	}
	var received atomic.Int64
	if subscribed {
		sub := mustBus(b, cfg)
		for _, t := range topics {
			if _, err := sub.Subscribe(context.Background(), t, func([]byte) { received.Add(1) }); err != nil {
				b.Fatal(err)
			}
		}
	}
	payload := make([]byte, benchPayload)
	var next, failed atomic.Int64
	b.SetParallelism(max(1, publishers/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		i := int(next.Add(1)) * 7919
		for pb.Next() {
			if err := bus.Publish(ctx, topics[i%benchTopics], payload); err != nil {
				failed.Add(1)
			}
			i++
		}
	})
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d publishes failed", n)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "publishes/s")
	if subscribed {
		// Deliveries still in flight finish before the node closes.
		deadline := time.Now().Add(10 * time.Second)
		for received.Load() < int64(b.N) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		b.ReportMetric(float64(received.Load())/float64(b.N), "delivered/publish")
	}
}
