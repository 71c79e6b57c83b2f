// Package testenv starts real Redis and PostgreSQL servers for tests: each
// from the installed binaries, on a free 127.0.0.1 port, with its data in a
// temporary directory, stopped and removed when the test ends. Nothing here
// touches the machine's own services or Docker.
//
// A missing binary fails the test with the Debian package to install; it is
// never a skip, so a CI machine without the servers cannot pass by running
// nothing.
//
// Servers are started per call, except that a package whose TestMain calls
// Main shares one PostgreSQL server per test binary (a fresh database per
// MustPostgres call), because initdb and start-up dominate the cost of small
// store tests. Tests that stop or crash a server take their own with
// MustPostgresServer or MustRedis.
package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// startTimeout bounds how long a server may take to answer after start.
const startTimeout = 30 * time.Second

// Main runs the tests of a package and exits: call it from TestMain. It lets
// MustPostgres share one server across the binary's tests, stops shared
// servers at the end, and then fails the run if goroutines leaked (the
// goleak check every package of Parley runs); opts are passed to goleak,
// for a library's goroutine that is known to outlive its Close.
func Main(m *testing.M, opts ...goleak.Option) {
	procEnv.mu.Lock()
	procEnv.sharing = true
	procEnv.mu.Unlock()

	code := m.Run()
	procEnv.close()
	if code == 0 {
		if err := goleak.Find(opts...); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: leaked goroutines: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// procEnv is what one test binary shares between its tests. It is the one
// package-level variable: sharing across tests is its purpose, and only
// Main turns it on.
var procEnv sharedEnv

type sharedEnv struct {
	mu       sync.Mutex
	sharing  bool
	postgres *pgServer // started on first use
	template string    // initdb output copied by later servers
	tmpDirs  []string
}

func (e *sharedEnv) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.postgres != nil {
		e.postgres.proc.stop(syscall.SIGINT)
		e.postgres = nil
	}
	for _, d := range e.tmpDirs {
		os.RemoveAll(d)
	}
	e.tmpDirs = nil
	e.template = ""
}

// lookBinary finds a server binary on PATH or in extra directories, or
// fails the test naming the Debian package that provides it.
func lookBinary(tb testing.TB, name, pkg string, extra ...string) string {
	tb.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range extra {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	tb.Fatalf("testenv: %s not found on PATH; install the Debian package %s (apt-get install %s)", name, pkg, pkg)
	return ""
}

// postgresBinDirs lists Debian's versioned PostgreSQL binary directories,
// newest version first.
func postgresBinDirs() []string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) int {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		return v
	}
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	return dirs
}

// freePort returns a TCP port on 127.0.0.1 that nothing listens on now.
// The port could be taken between this call and the server's start; callers
// retry the start with a new port when that happens.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// portFree reports whether 127.0.0.1:port can be bound now.
func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// proc is one running server process.
type proc struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited and been reaped
	err     error         // exit status, valid after done
}

// startProc starts argv with its output appended to logPath. The child gets
// SIGKILL if the test binary dies, so a crashed test run leaves no server
// behind. cred, when set, runs the child as that user.
func startProc(argv []string, dir, logPath string, cred *syscall.Credential) (*proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own copy
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Pdeathsig:  syscall.SIGKILL,
		Setpgid:    true, // a ^C in the terminal goes to the test, which cleans up
		Credential: cred,
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	p := &proc{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig and waits for the process to exit; after 15 seconds it
// sends SIGKILL. Stopping an exited process is a no-op.
func (p *proc) stop(sig syscall.Signal) {
	if p.exited() {
		return
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// logTail returns the end of the process log, for failure messages.
func (p *proc) logTail() string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return strings.TrimSpace(string(b))
}

// waitReady polls ready until it returns nil, the process exits or the
// start timeout passes.
func waitReady(p *proc, ready func() error) error {
	deadline := time.Now().Add(startTimeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("server exited (%v) before it answered: %w\n%s", p.err, err, p.logTail())
		}
		if time.Now().After(deadline) {
			p.stop(syscall.SIGKILL)
			return fmt.Errorf("server did not answer within %v: %w\n%s", startTimeout, err, p.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// errAddrInUse reports whether a failed start was a port clash, which a
// retry on a fresh port fixes.
func errAddrInUse(err error) bool {
	return err != nil && strings.Contains(strings.ToLower(err.Error()), "address already in use")
}

// RestartOnSamePort runs start, and runs it again while it fails because
// another process took the port during the downtime (an outgoing
// connection's local port, say), for up to startTimeout. Clients keep the
// address, so a restart cannot move to a fresh port.
func RestartOnSamePort(start func() error) error {
	deadline := time.Now().Add(startTimeout)
	for {
		err := start()
		if !errAddrInUse(err) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var errNotRunning = errors.New("testenv: server is not running")
