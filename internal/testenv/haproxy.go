package testenv

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// HAProxy is an haproxy process in front of test nodes.
type HAProxy struct {
	port int
	proc *proc
}

var (
	bindRE   = regexp.MustCompile(`(?m)^(\s*bind\s+)\S+`)
	serverRE = regexp.MustCompile(`(?m)^(\s*server\s+\S+\s+)\S+`)
	timingRE = regexp.MustCompile(`inter \S+ fall \d+ rise \d+`)
	crtRE    = regexp.MustCompile(`(\bcrt\s+)\S+`)
)

// MustHAProxy runs haproxy with the configuration file at configPath (the
// project's documented one), its bind address replaced by a free loopback
// port and its server lines, in order, by backends. Health checks are made
// quicker so tests see a dead node within a fraction of a second.
func MustHAProxy(tb testing.TB, configPath string, backends []string) *HAProxy {
	tb.Helper()
	return MustHAProxyTLS(tb, configPath, backends, "")
}

// MustHAProxyTLS is MustHAProxy for a configuration that terminates TLS:
// the certificate file of its bind line's crt option is replaced by
// certFile (PEM: certificate chain and private key), when not empty.
func MustHAProxyTLS(tb testing.TB, configPath string, backends []string, certFile string) *HAProxy {
	tb.Helper()
	bin := lookBinary(tb, "haproxy", "haproxy", "/usr/sbin")
	raw, err := os.ReadFile(configPath)
	if err != nil {
		tb.Fatalf("testenv: read haproxy config: %v", err)
	}
	port, err := freePort()
	if err != nil {
		tb.Fatal(err)
	}
	cfg := bindRE.ReplaceAllString(string(raw), "${1}127.0.0.1:"+strconv.Itoa(port))
	i := 0
	cfg = serverRE.ReplaceAllStringFunc(cfg, func(line string) string {
		if i >= len(backends) {
			tb.Fatalf("testenv: the haproxy config has more servers than the %d backends given", len(backends))
		}
		m := serverRE.FindStringSubmatch(line)
		i++
		return m[1] + backends[i-1]
	})
	if i != len(backends) {
		tb.Fatalf("testenv: the haproxy config has %d servers, %d backends given", i, len(backends))
	}
	cfg = timingRE.ReplaceAllString(cfg, "inter 200ms fall 2 rise 1")
	if certFile != "" {
		cfg = crtRE.ReplaceAllString(cfg, "${1}"+certFile)
	}
	dir := tb.TempDir()
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		tb.Fatal(err)
	}
	p, err := startProc([]string{bin, "-db", "-f", path}, dir, filepath.Join(dir, "haproxy.log"), nil)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	h := &HAProxy{port: port, proc: p}
	tb.Cleanup(func() { p.stop(syscall.SIGKILL) })
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.Dial("tcp", h.Addr())
		if err == nil {
			c.Close()
			return h
		}
		if p.exited() || time.Now().After(deadline) {
			tb.Fatalf("testenv: haproxy did not start: %v\n%s", err, p.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Addr returns the load balancer's host:port.
func (h *HAProxy) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(h.port)) }

// String describes the proxy for logs.
func (h *HAProxy) String() string { return fmt.Sprintf("haproxy on %s", h.Addr()) }
