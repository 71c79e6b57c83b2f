package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleyhq/parley/internal/benchcompare"
	"github.com/parleyhq/parley/internal/loadgen"
)

// runBench is `parley bench`: the end-to-end load generator against a
// running server. Each pair of users shares a 1:1 conversation and both
// send; every send is timed to its ack (stored durably) and to its
// delivery at the peer, and the run checks that nothing was lost,
// duplicated or reordered.
func runBench(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg := loadgen.Config{URL: "http://127.0.0.1:8080", Pairs: 50, Duration: 10 * time.Second, WarmUp: 2 * time.Second, InFlight: 8, BodySize: 64}
	var (
		asJSON                     bool
		against, rates, parleyPath string
		postgresDSN                string
		cmp                        = benchcompare.Config{Repeats: 3}
	)
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
	fs.StringVar(&against, "against", "", "relay: ignore --url; start a fresh Parley node (embedded SQLite, temp data dir, no abuse limits) and the reference Node Socket.IO relay, run the load against each in turn and print both and their ratio")
	fs.IntVar(&cmp.Repeats, "repeats", cmp.Repeats, "with --against: runs per server and rate (alternating the servers); the table shows medians")
	fs.StringVar(&rates, "rates", "", "with --against: comma-separated target rates in msgs/s to measure, 0 for the closed loop (default: --rate)")
	fs.StringVar(&parleyPath, "parley", "", "with --against: the parley program to start (default: this one)")
	fs.StringVar(&cmp.Node, "node", "node", "with --against: the node program")
	fs.StringVar(&postgresDSN, "postgres-dsn", "", "with --against: also measure Parley on this PostgreSQL server, each run in a database of its own that it creates and drops (the user needs CREATEDB)")
	fs.StringVar(&cmp.RelayScript, "relay-script", "internal/jstest/relay.mjs", "with --against: the relay (its packages installed with npm ci --prefix internal/jstest)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: parley bench [flags]\n\nLoads a running Parley server end to end (send → durable commit → ack → delivery to the peer)")
		fmt.Fprintln(stderr, "and reports throughput and latency. The server should run with --send-rate 0 --event-rate 0")
		fmt.Fprintln(stderr, "--user-event-rate 0, and --max-sockets-per-address above twice --pairs when the load comes from one")
		fmt.Fprintln(stderr, "address, so its abuse limits do not throttle the load.\n\nWith --against relay it starts the servers itself and compares a fresh Parley node with the")
		fmt.Fprintln(stderr, "reference Node Socket.IO relay under the same load (DESIGN §6), for example:")
		fmt.Fprintln(stderr, "  parley bench --against relay --pairs 50 --one-way --in-flight 10 --duration 20s\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if against != "" {
		if against != "relay" {
			return fmt.Errorf("bench: --against %q: the only comparison is relay", against)
		}
		if asJSON {
			return errors.New("bench: --json does not apply to --against")
		}
		if postgresDSN != "" {
			cmp.FreshPostgres = freshPostgres(postgresDSN)
		}
		return runCompare(ctx, cmp, cfg, rates, parleyPath, stdout, stderr)
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

// runCompare is `parley bench --against relay`.
func runCompare(ctx context.Context, cmp benchcompare.Config, load loadgen.Config, rates, parleyPath string, stdout, stderr io.Writer) error {
	if parleyPath == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("bench: find this program: %w", err)
		}
		parleyPath = exe
	}
	cmp.ParleyArgv = []string{parleyPath, "serve"}
	for f := range strings.SplitSeq(rates, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		r, err := strconv.ParseFloat(f, 64)
		if err != nil || r < 0 {
			return fmt.Errorf("bench: --rates: %q is not a rate", f)
		}
		cmp.Rates = append(cmp.Rates, r)
	}
	if len(cmp.Rates) == 0 && load.Rate > 0 {
		cmp.Rates = []float64{load.Rate}
	}
	cmp.Load = load
	cmp.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	rep, err := benchcompare.Run(ctx, cmp)
	if err != nil {
		return err
	}
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	if rep.Failed() {
		return errors.New("bench: a run lost, duplicated or reordered messages")
	}
	return nil
}

// freshPostgres returns benchcompare's FreshPostgres for the server at dsn:
// each call creates an empty database there, named after this process and
// a count, and its drop removes it.
func freshPostgres(dsn string) func(ctx context.Context) (string, func(), error) {
	var n atomic.Int64
	return func(ctx context.Context) (string, func(), error) {
		name := fmt.Sprintf("parley_bench_%d_%d", os.Getpid(), n.Add(1))
		exec := func(ctx context.Context, sql string) error {
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				return err
			}
			defer conn.Close(context.Background())
			_, err = conn.Exec(ctx, sql)
			return err
		}
		if err := exec(ctx, "CREATE DATABASE "+name); err != nil {
			return "", nil, err
		}
		drop := func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_ = exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		}
		db, err := withDatabase(dsn, name)
		if err != nil {
			drop()
			return "", nil, err
		}
		return db, drop, nil
	}
}

// withDatabase returns dsn naming database name instead of its own, in
// either of PostgreSQL's forms (URL or key=value).
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("--postgres-dsn: %w", err)
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	// In the key=value form a later key wins.
	return dsn + " dbname=" + name, nil
}
