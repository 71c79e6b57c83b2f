package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/parleyhq/parley/sqlite"
	"github.com/parleyhq/parley/storetest"
)

// BenchmarkWriteFloor sets what the store spends on a message beside the
// least any durable log on the same engine could: the process's CPU
// (user and kernel, from getrusage) per message, in commits of about
// `group` messages spread over many conversations, as a node under load
// writes them.
//
//   - store: twice `group` senders, each in its own 1:1 conversation,
//     send through AppendMessage one message at a time; while the writer
//     commits what half of them sent, the other half's messages queue for
//     the next commit, so commits hold about `group` (the metric
//     msgs/commit says how many they did).
//   - bare-log: the same connection settings (WAL, synchronous=FULL), one
//     table holding a row per message with only its (conversation, seq)
//     index, `group` rows per transaction over 50 conversations. No
//     idempotency key, counters, watermarks or full-text entries: what a
//     store must at least pay to keep messages durable and readable per
//     conversation.
//
// go test ./sqlite -run '^$' -bench WriteFloor -benchtime 20000x
func BenchmarkWriteFloor(b *testing.B) {
	for _, group := range []int{6, 48} {
		b.Run(fmt.Sprintf("store/group=%d", group), func(b *testing.B) { benchStoreCPU(b, 2*group) })
		b.Run(fmt.Sprintf("bare-log/group=%d", group), func(b *testing.B) { benchBareLogCPU(b, group) })
	}
}

// processCPU is the CPU time the process has used, user and kernel.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, cpu time.Duration, commits int64) {
	b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(b.N), "cpu-µs/msg")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	if commits > 0 {
		b.ReportMetric(float64(b.N)/float64(commits), "msgs/commit")
	}
}

func benchStoreCPU(b *testing.B, senders int) {
	var commits atomic.Int64
	var counting atomic.Bool
	db, err := sqlite.Open(context.Background(), sqlite.Config{
		Path: filepath.Join(b.TempDir(), "parley.db"),
		OnCommit: func(int, time.Duration) {
			if counting.Load() {
				commits.Add(1)
			}
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	l := storetest.NewAppendLoad(b, db, senders)
	l.Send(b, 5000) // warm: the indexes past their first pages
	counting.Store(true)
	b.ResetTimer()
	cpu := processCPU(b)
	l.Send(b, b.N)
	cpu = processCPU(b) - cpu
	b.StopTimer()
	reportCPU(b, cpu, commits.Load())
}

func benchBareLogCPU(b *testing.B, group int) {
	db, err := sql.Open("sqlite", sqlite.DSN(filepath.Join(b.TempDir(), "floor.db")))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	exec := func(q string, args ...any) {
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			b.Fatal(err)
		}
	}
	exec(`CREATE TABLE log (id INTEGER PRIMARY KEY, conversation_id INTEGER NOT NULL, seq INTEGER NOT NULL,
		sender_id INTEGER NOT NULL, body TEXT NOT NULL, created_at INTEGER NOT NULL)`)
	exec(`CREATE UNIQUE INDEX log_seq ON log (conversation_id, seq)`)
	ins, err := db.PrepareContext(ctx, `INSERT INTO log (conversation_id, seq, sender_id, body, created_at) VALUES `+
		strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?), ", group), ", "))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ins.Close() })
	const convs = 50
	seq := make([]int64, convs)
	args := make([]any, 0, 5*group)
	next := 0
	write := func(n int) (commits int64) {
		for done := 0; done < n; done += group {
			args = args[:0]
			for range group {
				c := next % convs
				next++
				seq[c]++
				args = append(args, c, seq[c], c, "benchmark message body of ordinary length", time.Now().UnixMicro())
			}
			exec("BEGIN IMMEDIATE")
			if _, err := ins.ExecContext(ctx, args...); err != nil {
				b.Fatal(err)
			}
			exec("COMMIT")
			commits++
		}
		return commits
	}
	write(5000)
	b.ResetTimer()
	cpu := processCPU(b)
	commits := write(b.N)
	cpu = processCPU(b) - cpu
	b.StopTimer()
	reportCPU(b, cpu, commits)
}
