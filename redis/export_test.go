package redis

import (
	"log/slog"
	"strings"
	"testing"
)

// crash stops the node as a crash would: no more heartbeats, nothing
// written on the way out.
func (p *Presence) crash() {
	p.closeOnce.Do(func() {
		close(p.stop)
		<-p.stopped
		p.closed.Store(true)
		p.client.Close()
	})
}

// testLogger returns a logger that writes to the test log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tbWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tbWriter struct{ t testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
