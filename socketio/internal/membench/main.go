// Command membench measures the server memory held per idle Socket.IO
// connection. It starts a Socket.IO server in a child process (the same
// binary with -role server), opens -conns WebSocket clients from this process,
// connects each to namespace "/" with an auth token as the chat client does,
// lets them idle, and reports the server's resident set size (VmRSS from
// /proc) divided by the number of connections.
//
// Everything runs on loopback. Clients use source addresses 127.0.0.1,
// 127.0.0.2, ... so no single address runs out of ports. The run is bounded
// by -timeout.
//
//	go run ./socketio/internal/membench -conns 19000
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/parleyhq/parley/engineio/wstest"
	"github.com/parleyhq/parley/socketio"
)

func main() {
	role := flag.String("role", "bench", "bench (default) or server (the child process)")
	conns := flag.Int("conns", 19000, "idle connections to open")
	perIP := flag.Int("per-ip", 5000, "connections per client source address")
	settle := flag.Duration("settle", 10*time.Second, "idle time before measuring")
	timeout := flag.Duration("timeout", 5*time.Minute, "bound on the whole run")
	flag.Parse()
	var err error
	if *role == "server" {
		err = serve()
	} else {
		err = bench(*conns, *perIP, *settle, *timeout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "membench:", err)
		os.Exit(1)
	}
}

// user stands for what the chat layer attaches to an authenticated socket.
type user struct {
	ID       string
	DeviceID string
}

// serve runs the server child: it prints its address, then serves until
// stdin closes. SIGUSR1 makes it return freed memory to the OS at once, for
// the second measurement.
func serve() error {
	if os.Getenv("MEMBENCH_HEAPPROFILE") != "" {
		runtime.MemProfileRate = 1
	}
	srv, err := socketio.NewServer(socketio.Config{})
	if err != nil {
		return err
	}
	defer srv.Close()
	root := srv.Of("/")
	root.OnConnect = func(s *socketio.Socket, auth json.RawMessage) error {
		var a struct{ Token string }
		if json.Unmarshal(auth, &a) != nil || a.Token == "" {
			return errors.New("unauthorized")
		}
		s.SetData(&user{ID: a.Token, DeviceID: "d" + a.Token})
		return nil
	}
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	fmt.Println(ln.Addr().String())

	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() {
		for range usr1 {
			debug.FreeOSMemory()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if path := os.Getenv("MEMBENCH_HEAPPROFILE"); path != "" {
				if f, err := os.Create(path); err == nil {
					_ = pprof.WriteHeapProfile(f)
					f.Close()
				}
			}
			fmt.Printf("heap in use %d KB, stacks %d KB, goroutines %d, other runtime %d KB\n",
				ms.HeapInuse>>10, ms.StackInuse>>10, runtime.NumGoroutine(),
				(ms.MSpanInuse+ms.MCacheInuse+ms.BuckHashSys+ms.GCSys+ms.OtherSys)>>10)
		}
	}()
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until the parent goes away
	_ = hs.Close()
	return nil
}

func bench(n, perIP int, settle, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, self, "-role", "server")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		stdin.Close()
		_ = cmd.Wait()
	}()
	out := bufio.NewScanner(stdout)
	if !out.Scan() {
		return errors.New("server did not start")
	}
	addr := out.Text()
	pid := cmd.Process.Pid
	time.Sleep(500 * time.Millisecond)
	base, err := rssKB(pid)
	if err != nil {
		return err
	}
	fmt.Printf("server pid %d on %s, RSS before connections: %d KB\n", pid, addr, base)

	start := time.Now()
	var opened atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	errs := make(chan error, 1)
	clients := make([]*wstest.Conn, n)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := connect(addr, i, perIP)
			if err != nil {
				select {
				case errs <- fmt.Errorf("connection %d: %w", i, err):
				default:
				}
				cancel()
				return
			}
			clients[i] = c
			opened.Add(1)
			go pong(c)
		}(i)
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}()
	fmt.Printf("%d connections open and joined \"/\" in %v; idling %v\n", opened.Load(), time.Since(start).Round(time.Millisecond), settle)
	select {
	case <-time.After(settle):
	case <-ctx.Done():
		return ctx.Err()
	}
	rss, err := rssKB(pid)
	if err != nil {
		return err
	}
	report("as running", rss, base, n)

	_ = cmd.Process.Signal(syscall.SIGUSR1)
	if !out.Scan() {
		return errors.New("server did not answer SIGUSR1")
	}
	fmt.Println("server:", out.Text())
	rss, err = rssKB(pid)
	if err != nil {
		return err
	}
	report("after returning freed memory to the OS", rss, base, n)
	return nil
}

func report(when string, rss, base int64, n int) {
	fmt.Printf("server RSS %s: %d KB = %.2f KB per connection (%.2f KB above the empty server)\n",
		when, rss, float64(rss)/float64(n), float64(rss-base)/float64(n))
}

// connect opens one WebSocket session and joins "/" with a token.
func connect(addr string, i, perIP int) (*wstest.Conn, error) {
	src := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i/perIP))}
	d := wstest.Dialer{LocalAddr: src}
	c, err := d.Dial("ws://" + addr + "/socket.io/?EIO=4&transport=websocket")
	if err != nil {
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, open, err := c.Read(); err != nil || len(open) == 0 || open[0] != '0' {
		c.Close()
		return nil, fmt.Errorf("engine.io handshake: %q %v", open, err)
	}
	if err := c.WriteText(`40{"token":"u` + strconv.Itoa(i) + `"}`); err != nil {
		c.Close()
		return nil, err
	}
	if _, reply, err := c.Read(); err != nil || !strings.HasPrefix(string(reply), "40{") {
		c.Close()
		return nil, fmt.Errorf("socket.io connect: %q %v", reply, err)
	}
	_ = c.SetReadDeadline(time.Time{})
	return c, nil
}

// pong keeps a client alive: it answers every ping until the connection ends.
func pong(c *wstest.Conn) {
	for {
		_, data, err := c.Read()
		if err != nil {
			return
		}
		if string(data) == "2" {
			_ = c.WriteText("3")
		}
	}
}

func rssKB(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				return strconv.ParseInt(f[1], 10, 64)
			}
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}
