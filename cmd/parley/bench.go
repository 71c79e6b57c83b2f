package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/parleyhq/parley/internal/loadgen"
)

// runBench is `parley bench`: the end-to-end load generator against a
// running server. Each pair of users shares a 1:1 conversation and both
// send; every send is timed to its ack (stored durably) and to its
// delivery at the peer, and the run checks that nothing was lost,
// duplicated or reordered.
func runBench(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg := loadgen.Config{URL: "http://127.0.0.1:8080", Pairs: 50, Duration: 10 * time.Second, WarmUp: 2 * time.Second, InFlight: 8, BodySize: 64}
	var asJSON bool
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.URL, "url", cfg.URL, "base URL of the server (or load balancer) to load")
	fs.IntVar(&cfg.Pairs, "pairs", cfg.Pairs, "user pairs, each with a 1:1 conversation and one realtime connection per user")
	fs.BoolVar(&cfg.OneWay, "one-way", cfg.OneWay, "only the first user of each pair sends")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "target messages per second over all senders (0: as fast as --in-flight allows)")
	fs.IntVar(&cfg.InFlight, "in-flight", cfg.InFlight, "sends awaiting their ack per sender")
	fs.DurationVar(&cfg.WarmUp, "warmup", cfg.WarmUp, "load before measuring")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measured time")
	fs.Int64Var(&cfg.MaxMessages, "max-messages", 0, "stop after this many sends (0: the generator's cap)")
	fs.IntVar(&cfg.BodySize, "body-size", cfg.BodySize, "message body size in bytes")
	fs.StringVar(&cfg.HandlePrefix, "handle-prefix", "bench", "handles of the load's users (existing users are reused)")
	fs.StringVar(&cfg.Password, "password", "bench-password", "password of the load's users")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: parley bench [flags]\n\nLoads a running Parley server end to end (send → durable commit → ack → delivery to the peer)")
		fmt.Fprintln(stderr, "and reports throughput and latency. The server should run with --send-rate 0 --event-rate 0")
		fmt.Fprintln(stderr, "--user-event-rate 0, and --max-sockets-per-address above twice --pairs when the load comes from one")
		fmt.Fprintln(stderr, "address, so its abuse limits do not throttle the load.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if asJSON {
		b, err := res.JSON()
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, string(b))
	} else if err := res.WriteTable(stdout); err != nil {
		return err
	}
	return res.Check()
}
