package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/engineio/wstest"
)

// BenchmarkIdleConnections measures the server memory held per idle,
// authenticated realtime connection of the whole Parley node (gateway,
// per-user bus subscription, presence, Socket.IO and Engine.IO session,
// epoll WebSocket): a node runs in a child process on SQLite, N distinct
// users each open one WebSocket connection and join "/" with their token,
// then idle; the node's resident set size is read from /proc. It reports
// RSS ÷ connections (the DESIGN §6 measure) and the growth of RSS from
// before the connections ÷ connections. PARLEY_BENCH_CONNS sets N
// (default 19,000; this process's open-file limit is 20,000).
// Both readings are taken after the same 10 s of idling. PARLEY_BENCH_NODE
// names another test binary of this package (built from an older commit
// with go test -c) to run as the node, for a before/after in one sitting.
// PARLEY_BENCH_PROFILE names a directory where the node's heap profiles
// (heap-before.pb.gz, heap-after.pb.gz, taken after a GC), its /metrics
// and its /proc/<pid>/smaps before and after are written; the node then
// serves /metrics and pprof on an admin address of its own.
//
//	go test ./cmd/parley -run '^$' -bench IdleConnections -benchtime 1x
func BenchmarkIdleConnections(b *testing.B) {
	n := 19000
	if v := os.Getenv("PARLEY_BENCH_CONNS"); v != "" {
		n = atoi(b, v)
	}
	profDir := os.Getenv("PARLEY_BENCH_PROFILE")
	var extra []string
	if profDir != "" {
		extra = append(extra, "--admin-addr", freeAddr(b))
	}
	bin := os.Args[0]
	if v := os.Getenv("PARLEY_BENCH_NODE"); v != "" {
		bin = v
	}
	srv := startChildOf(b, bin, b.TempDir(), extra...)
	base := newClient(b, srv.addr)
	admin := base
	if profDir != "" {
		admin = newClient(b, extra[1])
	}
	snapshot := func(name string) {
		if profDir == "" {
			return
		}
		_, heap := admin.raw("GET", "/debug/pprof/heap?gc=1", nil)
		_, metrics := admin.raw("GET", "/metrics", nil)
		smaps, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", srv.cmd.Process.Pid))
		if err != nil {
			b.Fatal(err)
		}
		for file, data := range map[string][]byte{"heap-" + name + ".pb.gz": heap, "smaps-" + name + ".txt": smaps, "metrics-" + name + ".txt": metrics} {
			if err := os.WriteFile(filepath.Join(profDir, file), data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	tokens := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				c, _ := base.mustSignUp(fmt.Sprintf("idle%05d", i))
				tokens[i] = c.token
			}
		}()
	}
	wg.Wait()
	time.Sleep(10 * time.Second) // idle, as before the second reading
	before := rssKB(b, srv.cmd.Process.Pid)
	snapshot("before")
	_, m0 := admin.raw("GET", "/metrics", nil)
	for _, line := range strings.Split(string(m0), "\n") {
		if strings.HasPrefix(line, "go_memstats_heap_alloc_bytes ") {
			b.Log("before: ", line)
		}
	}
	b.ResetTimer()
	conns := make([]*wstest.Conn, n)
	next.Store(0)
	var failed atomic.Int64
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				// Several source addresses, so no one address runs out of
				// ephemeral ports.
				d := wstest.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%4))}}
				ws, err := d.Dial("ws://" + srv.addr + "/socket.io/?EIO=4&transport=websocket")
				if err == nil {
					ws.SetReadDeadline(time.Now().Add(30 * time.Second))
					_, _, err = ws.Read() // open packet
				}
				if err == nil {
					err = ws.WriteText(`40{"token":"` + tokens[i] + `"}`)
				}
				if err == nil {
					var ok []byte
					_, ok, err = ws.Read()
					if err == nil && !strings.HasPrefix(string(ok), "40{") {
						err = fmt.Errorf("connect answer %q", ok)
					}
				}
				if err != nil {
					failed.Add(1)
					continue
				}
				conns[i] = ws
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d of %d connections failed", f, n)
	}
	b.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	time.Sleep(10 * time.Second) // idle (below the 25 s ping interval)
	after := rssKB(b, srv.cmd.Process.Pid)
	snapshot("after")
	_, metrics := admin.raw("GET", "/metrics", nil)
	for _, line := range strings.Split(string(metrics), "\n") {
		if strings.HasPrefix(line, "go_memstats_heap_alloc_bytes ") || strings.HasPrefix(line, "go_goroutines ") {
			b.Log(line)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(after)*1024/float64(n), "B/conn")
	b.ReportMetric(float64(after-before)*1024/float64(n), "B/conn-added")
	b.Logf("%d connections: node RSS %d MiB before, %d MiB after", n, before/1024, after/1024)
}

// rssKB reads a process's resident set size.
func rssKB(tb testing.TB, pid int) int64 { return procStatusKB(tb, pid, "VmRSS") }

// peakRSSKB reads a process's peak resident set size.
func peakRSSKB(tb testing.TB, pid int) int64 { return procStatusKB(tb, pid, "VmHWM") }

// procStatusKB reads one kB field of /proc/<pid>/status.
func procStatusKB(tb testing.TB, pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return n
		}
	}
	tb.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
