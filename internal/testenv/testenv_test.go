package testenv

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

func TestMain(m *testing.M) { Main(m) }

func TestRedis(t *testing.T) {
	var pid int
	t.Run("OK", func(t *testing.T) {
		r := MustRedis(t)
		pid = r.Pid()
		mustPing(t, r.Addr())

		addr := r.Addr()
		r.Stop()
		if err := redisPing(addr); err == nil {
			t.Fatal("PING answered after Stop")
		}
		r.Restart()
		if r.Addr() != addr {
			t.Fatalf("Restart moved the server from %s to %s", addr, r.Addr())
		}
		mustPing(t, addr)

		r.Kill()
		if err := redisPing(addr); err == nil {
			t.Fatal("PING answered after Kill")
		}
		r.Restart()
		mustPing(t, addr)
		pid = r.Pid()
	})
	t.Run("CleanupStopsServer", func(t *testing.T) {
		if pid == 0 {
			t.Fatal("no server pid recorded")
		}
		mustBeGone(t, pid)
	})
}

func TestRedisCluster(t *testing.T) {
	var pids []int
	t.Run("OK", func(t *testing.T) {
		c := MustRedisCluster(t, 3)
		if len(c.Addrs()) != 3 {
			t.Fatalf("got %d addresses, want 3", len(c.Addrs()))
		}
		for _, n := range c.Nodes() {
			info, err := redisDo(n.Addr(), "CLUSTER", "INFO")
			if err != nil || !strings.Contains(info, "cluster_state:ok") {
				t.Fatalf("CLUSTER INFO on %s: %v\n%s", n.Addr(), err, info)
			}
			pids = append(pids, n.Pid())
		}
	})
	t.Run("CleanupStopsServers", func(t *testing.T) {
		for _, pid := range pids {
			mustBeGone(t, pid)
		}
	})
}

func TestPostgresServer(t *testing.T) {
	var pid int
	var dir string
	t.Run("OK", func(t *testing.T) {
		p := MustPostgresServer(t)
		pid, dir = p.Pid(), p.srv.dir
		if got := mustExec(t, p, "SHOW fsync"); got != "on" {
			t.Fatalf("fsync = %q, want on", got)
		}
		mustExec(t, p, "CREATE TABLE t (v int); INSERT INTO t VALUES (42)")

		addr := p.Addr()
		p.Kill()
		if _, err := p.Exec("SELECT 1"); err == nil {
			t.Fatal("query succeeded after Kill")
		}
		p.Restart()
		if p.Addr() != addr {
			t.Fatalf("Restart moved the server from %s to %s", addr, p.Addr())
		}
		if got := mustExec(t, p, "SELECT v FROM t"); got != "42" {
			t.Fatalf("after crash and restart: got %q, want the committed row 42", got)
		}
		p.Stop()
		p.Restart()
		if got := mustExec(t, p, "SELECT v FROM t"); got != "42" {
			t.Fatalf("after stop and restart: got %q, want 42", got)
		}
		pid = p.Pid()
	})
	t.Run("CleanupStopsServer", func(t *testing.T) {
		mustBeGone(t, pid)
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("server directory %s still there: %v", dir, err)
		}
	})
}

func TestMustPostgres(t *testing.T) {
	t.Run("SharedServerFreshDatabase", func(t *testing.T) {
		a, b := MustPostgres(t), MustPostgres(t)
		if a.Addr() != b.Addr() {
			t.Fatalf("two servers (%s, %s); want one shared under Main", a.Addr(), b.Addr())
		}
		if a.Database() == b.Database() {
			t.Fatalf("both calls got database %s", a.Database())
		}
		mustExec(t, a, "CREATE TABLE only_in_a (v int)")
		if _, err := b.Exec("SELECT * FROM only_in_a"); err == nil {
			t.Fatal("a table of one database is visible in the other")
		}
	})
	t.Run("ErrStopShared", func(t *testing.T) {
		p := MustPostgres(t)
		msg := fatalMessage(t, func(tb *fakeTB) {
			q := *p
			q.tb = tb
			q.Stop()
		})
		if !strings.Contains(msg, "MustPostgresServer") {
			t.Fatalf("Stop on the shared server: got %q, want a failure naming MustPostgresServer", msg)
		}
		mustExec(t, p, "SELECT 1")
	})
}

func TestLookBinary(t *testing.T) {
	t.Run("ErrMissingNamesPackage", func(t *testing.T) {
		msg := fatalMessage(t, func(tb *fakeTB) {
			lookBinary(tb, "parley-no-such-server", "parley-pkg")
		})
		if !strings.Contains(msg, "apt-get install parley-pkg") {
			t.Fatalf("got %q, want a failure naming the package to install", msg)
		}
	})
}

// fakeTB records a Fatalf instead of failing the real test.
type fakeTB struct {
	testing.TB
	msg string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// fatalMessage runs fn with a fakeTB on its own goroutine and returns the
// message it failed with, or fails t when it did not fail.
func fatalMessage(t *testing.T, fn func(tb *fakeTB)) string {
	t.Helper()
	tb := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(tb)
	}()
	<-done
	if tb.msg == "" {
		t.Fatal("no failure reported")
	}
	return tb.msg
}

func mustPing(t *testing.T, addr string) {
	t.Helper()
	if err := redisPing(addr); err != nil {
		t.Fatalf("PING %s: %v", addr, err)
	}
}

func mustExec(t *testing.T, p *Postgres, sql string) string {
	t.Helper()
	out, err := p.Exec(sql)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// mustBeGone fails unless no process has the pid any more (the server
// exited and was reaped).
func mustBeGone(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("process %d still exists after cleanup (kill 0: %v)", pid, err)
	}
}
