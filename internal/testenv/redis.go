package testenv

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Redis is a redis-server process started for a test. Stop, Kill and
// Restart let a test take it away mid-traffic and bring it back on the same
// address.
type Redis struct {
	tb   testing.TB
	bin  string
	dir  string
	port int
	args []string // mode arguments, kept for Restart

	mu   sync.Mutex
	proc *proc
}

// MustRedis starts a standalone redis-server on a free 127.0.0.1 port with
// no persistence, waits until it answers PING, and stops it when the test
// ends.
func MustRedis(tb testing.TB) *Redis {
	tb.Helper()
	r := &Redis{
		tb:  tb,
		bin: lookBinary(tb, "redis-server", "redis-server"),
		dir: tb.TempDir(),
	}
	var err error
	for range 5 {
		if r.port, err = freePort(); err != nil {
			break
		}
		if err = r.start(); !errAddrInUse(err) {
			break
		}
	}
	if err != nil {
		tb.Fatalf("testenv: start redis-server: %v", err)
	}
	tb.Cleanup(func() { r.stop(syscall.SIGKILL) })
	return r
}

// Addr returns the server's host:port.
func (r *Redis) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// Stop shuts the server down and waits for it to exit; clients see their
// connections closed.
func (r *Redis) Stop() { r.stop(syscall.SIGTERM) }

// Kill ends the server abruptly, as a crash would.
func (r *Redis) Kill() { r.stop(syscall.SIGKILL) }

// Restart starts the server again on the same address, with empty data (it
// keeps none), and waits until it answers. A running server is stopped first.
func (r *Redis) Restart() {
	r.tb.Helper()
	r.stop(syscall.SIGTERM)
	if err := RestartOnSamePort(r.start); err != nil {
		r.tb.Fatalf("testenv: restart redis-server on %s: %v", r.Addr(), err)
	}
}

func (r *Redis) stop(sig syscall.Signal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != nil {
		r.proc.stop(sig)
		r.proc = nil
	}
}

// start runs redis-server on r.port with r.args after the common ones, and
// waits until it answers PING.
func (r *Redis) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	argv := append([]string{r.bin,
		"--port", strconv.Itoa(r.port),
		"--bind", "127.0.0.1",
		"--dir", r.dir,
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--logfile", "",
		// Tests open many clients; the default keeps room for them and the
		// process file limit bounds it anyway.
		"--maxclients", "4000",
	}, r.args...)
	p, err := startProc(argv, r.dir, filepath.Join(r.dir, "redis.log"), nil)
	if err != nil {
		return err
	}
	if err := waitReady(p, func() error { return redisPing(r.Addr()) }); err != nil {
		return err
	}
	r.proc = p
	return nil
}

// Pid returns the server's process id, or 0 when it is not running.
func (r *Redis) Pid() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil || r.proc.exited() {
		return 0
	}
	return r.proc.cmd.Process.Pid
}

func redisPing(addr string) error {
	reply, err := redisDo(addr, "PING")
	if err != nil {
		return err
	}
	if reply != "PONG" {
		return fmt.Errorf("PING answered %q", reply)
	}
	return nil
}

// redisDo sends one command on a new connection and returns its reply when
// it is a simple or bulk string; error replies are returned as errors.
// It is all testenv needs to tell that a server is up.
func redisDo(addr string, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	rd := bufio.NewReader(c)
	line, err := rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	switch {
	case strings.HasPrefix(line, "+"):
		return line[1:], nil
	case strings.HasPrefix(line, "-"):
		return "", fmt.Errorf("redis: %s", line[1:])
	case strings.HasPrefix(line, "$"):
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", fmt.Errorf("redis: bad bulk length %q", line)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("redis: unexpected reply %q", line)
}

// removeAll is used by cleanups of directories made outside tb.TempDir.
func removeAll(tb testing.TB, dir string) {
	if err := os.RemoveAll(dir); err != nil {
		tb.Logf("testenv: remove %s: %v", dir, err)
	}
}
