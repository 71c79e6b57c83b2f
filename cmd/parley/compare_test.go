package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleyhq/parley/internal/testenv"
)

// benchAgainstRelay runs a brief `parley bench --against relay` with the
// extra flags and returns its table.
func benchAgainstRelay(t *testing.T, extra ...string) string {
	t.Helper()
	node, dir := mustJSTest(t, "socket.io")
	// The child parley is this binary, which TestMain turns into the server.
	t.Setenv("PARLEY_TEST_CHILD", "serve")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	args := append([]string{"bench", "--against", "relay", "--parley", os.Args[0], "--node", node,
		"--relay-script", filepath.Join(dir, "relay.mjs"),
		"--pairs", "4", "--one-way", "--in-flight", "4", "--warmup", "300ms", "--duration", "1500ms",
		"--repeats", "1"}, extra...)
	if err := run(ctx, args, func(string) string { return "" }, &stdout, &stderr); err != nil {
		t.Fatalf("parley %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, &stdout, &stderr)
	}
	out := stdout.String()
	t.Log("\n" + out)
	return out
}

// TestBenchAgainstRelay runs `parley bench --against relay` very briefly:
// both servers start (Parley as this test binary in a child process), the
// load runs against each at the closed loop and at a fixed rate, both rows
// print with the accounting passed, and the ratio is computed. It asserts
// what the comparison does, not how fast either server is.
func TestBenchAgainstRelay(t *testing.T) {
	out := benchAgainstRelay(t, "--rates", "0,400")
	for _, row := range []*regexp.Regexp{
		regexp.MustCompile(`closed loop\s+parley\s+yes\s+1\s+[1-9]\d*\s.*\sok`),
		regexp.MustCompile(`closed loop\s+relay\s+no\s+1\s+[1-9]\d*\s.*\sok`),
		regexp.MustCompile(`400 msgs/s\s+parley\s+yes\s+1\s+[1-9]\d*\s.*\sok`),
		regexp.MustCompile(`400 msgs/s\s+relay\s+no\s+1\s+[1-9]\d*\s.*\sok`),
	} {
		if !row.MatchString(out) {
			t.Errorf("no row matching %s", row)
		}
	}
	for _, load := range []string{"closed loop", "400 msgs/s"} {
		m := regexp.MustCompile(`parley/relay at ` + load + `: msgs/s ([0-9.]+)×`).FindStringSubmatch(out)
		if m == nil {
			t.Errorf("no ratio at %s", load)
			continue
		}
		if r, err := strconv.ParseFloat(m[1], 64); err != nil || r <= 0 {
			t.Errorf("ratio at %s is %q, want a positive number", load, m[1])
		}
	}
	if strings.Contains(out, "failed") {
		t.Error("a run's accounting failed")
	}
}

// TestBenchAgainstRelayOnPostgres adds Parley on PostgreSQL to the
// comparison: its row prints with the accounting passed, it gets its own
// ratio, and every database the runs created is dropped afterwards.
func TestBenchAgainstRelayOnPostgres(t *testing.T) {
	pg := testenv.MustPostgres(t)
	out := benchAgainstRelay(t, "--postgres-dsn", pg.DSN())
	for _, row := range []*regexp.Regexp{
		regexp.MustCompile(`closed loop\s+parley\s+yes\s+1\s+[1-9]\d*\s.*\sok`),
		regexp.MustCompile(`closed loop\s+parley-pg\s+yes\s+1\s+[1-9]\d*\s.*\sok`),
		regexp.MustCompile(`closed loop\s+relay\s+no\s+1\s+[1-9]\d*\s.*\sok`),
		regexp.MustCompile(`parley-pg/relay at closed loop: msgs/s [0-9.]*[1-9][0-9.]*×`),
	} {
		if !row.MatchString(out) {
			t.Errorf("no line matching %s", row)
		}
	}
	left, err := pg.Exec(`SELECT count(*) FROM pg_database WHERE datname LIKE 'parley_bench_%'`)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(left) != "0" {
		t.Errorf("%s benchmark databases left behind", strings.TrimSpace(left))
	}
}

func TestWithDatabase(t *testing.T) {
	for _, dsn := range []string{
		"postgres://bench:secret@127.0.0.1:5433/postgres?sslmode=disable",
		"postgresql://bench:secret@127.0.0.1:5433?sslmode=disable",
		"host=127.0.0.1 port=5433 user=bench password=secret dbname=postgres sslmode=disable",
	} {
		got, err := withDatabase(dsn, "parley_bench_1_2")
		if err != nil {
			t.Fatalf("%s: %v", dsn, err)
		}
		c, err := pgx.ParseConfig(got)
		if err != nil {
			t.Fatalf("%s → %s: %v", dsn, got, err)
		}
		if c.Database != "parley_bench_1_2" || c.User != "bench" || c.Password != "secret" || c.Port != 5433 || c.Host != "127.0.0.1" {
			t.Errorf("%s → %s: database %q user %q port %d host %q", dsn, got, c.Database, c.User, c.Port, c.Host)
		}
	}
}

// TestBenchAgainstErrors checks that a comparison the flags cannot describe
// is refused before any server starts.
func TestBenchAgainstErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"UnknownServer", []string{"--against", "centrifugo"}},
		{"BadRate", []string{"--against", "relay", "--rates", "1000,fast"}},
		{"NegativeRate", []string{"--against", "relay", "--rates", "-5"}},
		{"JSON", []string{"--against", "relay", "--json"}},
		{"NoRelayScript", []string{"--against", "relay", "--relay-script", filepath.Join(t.TempDir(), "missing.mjs")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), append([]string{"bench"}, tc.args...), func(string) string { return "" }, &out, &out)
			if err == nil {
				t.Fatalf("no error; output:\n%s", &out)
			}
		})
	}
}
