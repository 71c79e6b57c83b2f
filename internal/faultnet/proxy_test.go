package faultnet_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/faultnet"
	"github.com/parleyhq/parley/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// echoServer answers every line with the same line, until the test ends.
type echoServer struct {
	ln net.Listener
	wg sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
}

func mustEcho(t *testing.T) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &echoServer{ln: ln}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.mu.Lock()
			e.conns = append(e.conns, c)
			e.mu.Unlock()
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				io.Copy(c, c)
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		e.mu.Lock()
		for _, c := range e.conns {
			c.Close()
		}
		e.mu.Unlock()
		e.wg.Wait()
	})
	return e
}

func (e *echoServer) Addr() string { return e.ln.Addr().String() }

func mustProxy(t *testing.T, target string) *faultnet.Proxy {
	t.Helper()
	p, err := faultnet.Listen(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

type peer struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func mustDial(t *testing.T, addr string) *peer {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &peer{t: t, c: c, r: bufio.NewReader(c)}
}

func (p *peer) send(line string) {
	p.t.Helper()
	if _, err := io.WriteString(p.c, line+"\n"); err != nil {
		p.t.Fatalf("write: %v", err)
	}
}

// recv reads one line, waiting at most d.
func (p *peer) recv(d time.Duration) (string, error) {
	p.c.SetReadDeadline(time.Now().Add(d))
	s, err := p.r.ReadString('\n')
	return strings.TrimSuffix(s, "\n"), err
}

func (p *peer) mustEcho(line string) {
	p.t.Helper()
	p.send(line)
	got, err := p.recv(10 * time.Second)
	if err != nil || got != line {
		p.t.Fatalf("echo of %q = %q, %v", line, got, err)
	}
}

func timedOut(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// mustBeRefused checks that a connection to addr ends at once: the reset
// may come before the dial returns or on the first read.
func mustBeRefused(t *testing.T, addr string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	defer c.Close()
	p := &peer{t: t, c: c, r: bufio.NewReader(c)}
	if _, err := io.WriteString(c, "refused\n"); err != nil {
		return
	}
	if got, err := p.recv(10 * time.Second); err == nil || timedOut(err) {
		t.Fatalf("read on a refused connection = %q, %v; want it closed", got, err)
	}
}

func TestForward(t *testing.T) {
	p := mustProxy(t, mustEcho(t).Addr())
	c := mustDial(t, p.Addr())
	for _, s := range []string{"one", "two", strings.Repeat("x", 200_000)} {
		c.mustEcho(s)
	}
	if st := p.Stats(); st.Accepted != 1 {
		t.Errorf("stats = %+v, want one accepted connection", st)
	}
}

func TestDelay(t *testing.T) {
	p := mustProxy(t, mustEcho(t).Addr())
	c := mustDial(t, p.Addr())
	c.mustEcho("warm")
	for _, dir := range []faultnet.Direction{faultnet.Up, faultnet.Down} {
		t.Run(dir.String(), func(t *testing.T) {
			const d = 150 * time.Millisecond
			p.Delay(dir, d)
			start := time.Now()
			c.mustEcho("late")
			// The injected latency is a lower bound the proxy guarantees.
			if got := time.Since(start); got < d {
				t.Errorf("round trip with %v of delay %s took %v", d, dir, got)
			}
			p.Delay(faultnet.Both, 0)
		})
	}
	t.Run("KeepsOrder", func(t *testing.T) {
		p.Delay(faultnet.Up, 20*time.Millisecond)
		defer p.Delay(faultnet.Both, 0)
		for i := 0; i < 20; i++ {
			c.send(strings.Repeat("y", i+1))
		}
		for i := 0; i < 20; i++ {
			got, err := c.recv(10 * time.Second)
			if err != nil || got != strings.Repeat("y", i+1) {
				t.Fatalf("line %d = %q, %v", i, got, err)
			}
		}
	})
}

func TestPause(t *testing.T) {
	for _, dir := range []faultnet.Direction{faultnet.Up, faultnet.Down, faultnet.Both} {
		t.Run(dir.String(), func(t *testing.T) {
			p := mustProxy(t, mustEcho(t).Addr())
			c := mustDial(t, p.Addr())
			c.mustEcho("before")
			p.Pause(dir)
			c.send("held")
			if got, err := c.recv(200 * time.Millisecond); !timedOut(err) {
				t.Fatalf("paused %s: read %q, %v; want nothing", dir, got, err)
			}
			if p.Conns() != 1 {
				t.Fatalf("paused proxy has %d connections, want the one kept open", p.Conns())
			}
			p.Resume(dir)
			got, err := c.recv(10 * time.Second)
			if err != nil || got != "held" {
				t.Fatalf("after resume: %q, %v", got, err)
			}
			c.mustEcho("after")
		})
	}
}

func TestCut(t *testing.T) {
	p := mustProxy(t, mustEcho(t).Addr())
	a, b := mustDial(t, p.Addr()), mustDial(t, p.Addr())
	a.mustEcho("a")
	b.mustEcho("b")
	if n := p.Cut(); n != 2 {
		t.Fatalf("Cut ended %d connections, want 2", n)
	}
	for _, c := range []*peer{a, b} {
		if got, err := c.recv(10 * time.Second); err == nil || timedOut(err) {
			t.Fatalf("read after cut = %q, %v; want the connection gone", got, err)
		}
	}
	// New connections work at once.
	mustDial(t, p.Addr()).mustEcho("again")
	if st := p.Stats(); st.Cut != 2 {
		t.Errorf("stats = %+v, want 2 cut", st)
	}
}

func TestRefuse(t *testing.T) {
	p := mustProxy(t, mustEcho(t).Addr())
	open := mustDial(t, p.Addr())
	open.mustEcho("open")
	p.Refuse(true)
	mustBeRefused(t, p.Addr())
	// Refusing new connections leaves the open ones alone.
	open.mustEcho("still open")
	p.Refuse(false)
	mustDial(t, p.Addr()).mustEcho("accepted")
}

func TestTargetDown(t *testing.T) {
	e := mustEcho(t)
	p := mustProxy(t, e.Addr())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()
	p.SetTarget(down)
	mustBeRefused(t, p.Addr())
	p.SetTarget(e.Addr())
	mustDial(t, p.Addr()).mustEcho("back")
}

func TestHealAndClose(t *testing.T) {
	p := mustProxy(t, mustEcho(t).Addr())
	c := mustDial(t, p.Addr())
	p.Delay(faultnet.Both, time.Hour)
	p.Pause(faultnet.Down)
	p.Refuse(true)
	p.Heal()
	c.mustEcho("healed")
	mustDial(t, p.Addr()).mustEcho("new")

	// Close ends paused connections too; goleak in TestMain checks that
	// every goroutine of the proxy has ended.
	p.Pause(faultnet.Both)
	c.send("never")
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.recv(10 * time.Second); err == nil || timedOut(err) {
		t.Fatalf("connection still open after Close: %v", err)
	}
	if _, err := net.Dial("tcp", p.Addr()); err == nil {
		t.Error("a closed proxy still accepts")
	}
}
