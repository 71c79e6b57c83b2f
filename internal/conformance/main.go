// Command conformance serves the endpoints that the official Engine.IO and
// Socket.IO protocol test suites expect, with the settings they assert: an
// Engine.IO echo server at /engine.io/ and the suite's Socket.IO behaviour at
// /socket.io/. It listens on 127.0.0.1 only. See README.md for how to run the
// suites against it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/parleyhq/parley/engineio"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:3000", "listen address (loopback only)")
	flag.Parse()
	if err := run(*addr); err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		os.Exit(1)
	}
}

// suiteEngine is the configuration both suites assert.
var suiteEngine = engineio.Config{
	PingInterval: 300 * time.Millisecond,
	PingTimeout:  200 * time.Millisecond,
	MaxPayload:   1_000_000,
	AllowOrigin:  engineio.AllowAllOrigins,
}

func run(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("refusing to listen on %s: loopback addresses only", addr)
	}
	echo, err := engineio.NewServer(suiteEngine, engineio.HandlerFuncs{
		OnMessage: func(s *engineio.Session, data []byte, binary bool) {
			if binary {
				_ = s.SendBinary(data)
			} else {
				_ = s.Send(data)
			}
		},
	})
	if err != nil {
		return err
	}
	defer echo.Close()
	sio, err := newSocketIO()
	if err != nil {
		return err
	}
	defer sio.Close()

	mux := http.NewServeMux()
	mux.Handle("/engine.io/", echo)
	mux.Handle("/socket.io/", sio)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	log.Printf("conformance server on http://%s", ln.Addr())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = hs.Close()
	}()
	if err := hs.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}
