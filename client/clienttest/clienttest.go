// Package clienttest runs real Parley nodes for the tests of the client
// and of the tools built on it (the load generator): the parley command is
// built once per test binary and each node runs as a child process on a
// free loopback port with its data in a temp dir, so tests exercise the
// same program users run.
package clienttest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Build compiles the parley command of the module that contains the
// current directory into dir and returns the binary's path. Call it from
// TestMain.
func Build(dir string) (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find the module root: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("find the module root: not inside a module")
	}
	bin := filepath.Join(dir, "parley")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/parley")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build parley: %w\n%s", err, out)
	}
	return bin, nil
}

// DefaultArgs returns the flags every test node gets besides its address
// and data dir: cheap password hashing and no send or login rate limits,
// since tests send in bursts.
func DefaultArgs() []string {
	return []string{"--argon2-memory-kib", "64", "--argon2-time", "1", "--send-rate", "0", "--login-rate", "0"}
}

// Node is a running parley process.
type Node struct {
	// URL is the node's base URL, such as http://127.0.0.1:41234.
	URL string
	// DataDir holds its database.
	DataDir string

	cmd  *exec.Cmd
	log  *logBuffer
	done chan struct{}
	err  error
}

// Start runs the binary as a node on 127.0.0.1:0 with DefaultArgs and
// extra flags, waits until it serves, and stops it when the test ends.
// The node's log is shown if the test fails.
func Start(tb testing.TB, bin string, extra ...string) *Node {
	tb.Helper()
	n, err := StartNode(bin, tb.TempDir(), extra...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := n.Stop(); err != nil {
			tb.Errorf("stop parley node: %v", err)
		}
		if tb.Failed() {
			tb.Logf("parley node log:\n%s", n.Log())
		}
	})
	return n
}

// StartNode is Start without a test: the caller stops the node.
func StartNode(bin, dataDir string, extra ...string) (*Node, error) {
	args := append([]string{"--addr", "127.0.0.1:0", "--data-dir", dataDir}, DefaultArgs()...)
	args = append(args, extra...)
	cmd := exec.Command(bin, args...)
	addr := make(chan string, 1)
	n := &Node{DataDir: dataDir, cmd: cmd, log: &logBuffer{addr: addr}, done: make(chan struct{})}
	// exec copies the log into n.log and Wait waits for the copy, so no
	// line is lost at exit.
	cmd.Stderr = n.log
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start parley: %w", err)
	}
	go func() {
		n.err = cmd.Wait()
		close(n.done)
	}()
	select {
	case a := <-addr:
		n.URL = "http://" + a
		return n, nil
	case <-n.done:
		return nil, fmt.Errorf("parley exited before serving: %v\n%s", n.err, n.Log())
	case <-time.After(30 * time.Second):
		n.Stop()
		return nil, fmt.Errorf("parley did not serve within 30s\n%s", n.Log())
	}
}

// Log returns what the node has logged so far.
func (n *Node) Log() string { return n.log.String() }

// Stop asks the node to shut down gracefully and waits for it; if the
// shutdown takes over 20 seconds it has the process dump its goroutines
// and ends it. It is safe to call more
// than once.
func (n *Node) Stop() error {
	select {
	case <-n.done:
		return nil
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(20 * time.Second):
		// SIGQUIT makes the Go runtime write every goroutine's stack to
		// the log: what a stuck shutdown is waiting for.
		_ = n.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-n.done:
		case <-time.After(5 * time.Second):
			_ = n.cmd.Process.Kill()
			<-n.done
		}
		return fmt.Errorf("parley did not stop within 20s (goroutine dump in its log)")
	}
	var ee *exec.ExitError
	if n.err != nil && !(asExitError(n.err, &ee) && ee.ExitCode() == 0) {
		return fmt.Errorf("parley exited: %w", n.err)
	}
	return nil
}

// Kill stops the node at once, as a crash would.
func (n *Node) Kill() {
	_ = n.cmd.Process.Kill()
	<-n.done
}

// Wait blocks until the node has exited or ctx ends.
func (n *Node) Wait(ctx context.Context) error {
	select {
	case <-n.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func asExitError(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*target = e
	}
	return ok
}

// logBuffer keeps the node's log, bounded so a chatty node cannot exhaust
// the test's memory, and reports the address of the
// `msg="parley is serving" addr=…` line.
type logBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	partial []byte
	addr    chan<- string
}

const maxLog = 1 << 20

// Write implements io.Writer for the node's stderr.
func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.line(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	l.partial = append([]byte(nil), l.partial...)
	return len(p), nil
}

func (l *logBuffer) line(line string) {
	if l.buf.Len() < maxLog {
		l.buf.WriteString(line)
		l.buf.WriteByte('\n')
	}
	if l.addr == nil || !strings.Contains(line, `msg="parley is serving"`) {
		return
	}
	for _, f := range strings.Fields(line) {
		if a, ok := strings.CutPrefix(f, "addr="); ok {
			l.addr <- strings.Trim(a, `"`)
			l.addr = nil
			return
		}
	}
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String() + string(l.partial)
}
