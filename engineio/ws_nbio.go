package engineio

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/logging"

	"github.com/parleyhq/parley/internal/workers"
)

// nbioTransport runs WebSockets on an nbio epoll loop. net/http accepts the
// connection and parses the handshake as usual; the upgraded socket is then
// taken from net/http and registered with nbio's pollers, so an idle
// WebSocket costs no goroutine and no read buffer. Frames are parsed here
// (wsframe.go) rather than by nbio's websocket package, whose per-connection
// state is several times the size of everything else a session holds.
type nbioTransport struct {
	engine   *nbio.Engine
	cfg      *Config
	out      *outBudget
	workers  *workers.Pool
	flushers []*flusher
}

var (
	_ wsUpgrader = (*nbioTransport)(nil)
	_ wsConn     = (*nbioWS)(nil)
)

func init() {
	// nbio logs at info level by default; this package reports what matters
	// through Config.Logger instead.
	logging.SetLevel(logging.LevelNone)
}

func newNBIOTransport(cfg *Config, out *outBudget) (*nbioTransport, error) {
	g := nbio.NewEngine(nbio.Config{
		Name:               "engineio",
		NPoller:            max(1, runtime.NumCPU()/4),
		MaxWriteBufferSize: cfg.MaxWriteBuffer,
		ReadBufferSize:     32 << 10,
	})
	// Frames are parsed on the poller goroutine; handlers run on a
	// goroutine taken per burst of one connection's messages (nbio's
	// Conn.Execute keeps them in order), so a slow handler never stalls the
	// poller and an idle connection has no goroutine. The goroutines are
	// reused while the node is busy, their stacks already grown.
	pool := workers.New(workerIdle)
	g.Execute = pool.Go
	g.OnData(func(c *nbio.Conn, data []byte) {
		switch w := c.Session().(type) {
		case *nbioWS:
			if w.ready.Load() {
				w.onData(data)
			}
		case *pollerProbe:
			close(w.read)
		}
	})
	// What the kernel took leaves the count of bytes waiting; nbio reports
	// it from inside Write and from its flushes.
	g.OnWrittenSize(func(c *nbio.Conn, _ []byte, n int) {
		if w, ok := c.Session().(*nbioWS); ok {
			w.account(-int64(n))
		}
	})
	g.OnClose(func(c *nbio.Conn, err error) {
		w, ok := c.Session().(*nbioWS)
		if !ok || !w.ready.Load() {
			return
		}
		w.release()
		if errors.Is(err, nbio.ErrOverflow) {
			err = errSlowConsumer
		}
		// After every frame already handed over, and exactly once.
		c.MustExecute(func() { w.onClose(err) })
	})
	if err := g.Start(); err != nil {
		return nil, fmt.Errorf("start websocket event loop: %w", err)
	}
	if err := waitPollers(g, g.NPoller); err != nil {
		g.Stop()
		pool.Stop()
		return nil, fmt.Errorf("start websocket event loop: %w", err)
	}
	return &nbioTransport{engine: g, cfg: cfg, out: out, workers: pool, flushers: newFlushers()}, nil
}

func (n *nbioTransport) close() {
	for _, f := range n.flushers {
		f.close()
	}
	n.engine.Stop()
	n.workers.Stop()
}

// workerIdle is how long a handler goroutine waits for the next burst
// before it ends.
const workerIdle = 10 * time.Second

var (
	errNotWebSocket = errors.New("engineio: not a websocket handshake")
	errEarlyData    = errors.New("engineio: data before the websocket handshake completed")
)

// upgrade completes the handshake and hands the socket to nbio. It returns the
// connection's wsTransport, for sess (nil for a socket to be closed at once)
// and p (nil unless it is an upgrade's probe), which exists before the poller
// can read from the socket.
func (n *nbioTransport) upgrade(w http.ResponseWriter, r *http.Request, sess *Session, p *probe) (*wsTransport, error) {
	key := r.Header.Get("Sec-Websocket-Key")
	if r.Method != http.MethodGet || key == "" || r.Header.Get("Sec-Websocket-Version") != "13" ||
		!headerHasToken(r.Header, "Connection", "upgrade") {
		writeError(w, errBadRequest)
		return nil, errNotWebSocket
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		writeError(w, errBadRequest)
		return nil, errors.New("engineio: response cannot be hijacked")
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return nil, fmt.Errorf("hijack: %w", err)
	}
	tcp, ok := conn.(*net.TCPConn)
	if !ok || brw.Reader.Buffered() > 0 {
		_ = conn.Close()
		if !ok {
			return nil, errors.New("engineio: websocket needs a plain TCP connection")
		}
		return nil, errEarlyData
	}
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		acceptKey(key) + "\r\n\r\n"
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(resp)); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("write handshake: %w", err)
	}
	_ = conn.SetDeadline(time.Time{})
	nbc, err := nbio.NBConn(tcp)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("hand socket to event loop: %w", err)
	}
	dropAddrs(nbc)
	ws := &nbioWS{wsTransport: wsTransport{sess: sess, probe: p}, nbc: nbc, tr: n}
	ws.conn = ws
	if p != nil {
		p.mu.Lock()
		p.t = &ws.wsTransport
		p.mu.Unlock()
	}
	// Publishes ws to the poller goroutine. The epoll registration below
	// already orders it, but through the kernel, which the race detector
	// cannot see.
	ws.ready.Store(true)
	nbc.SetSession(ws)
	if _, err := n.engine.AddConn(nbc); err != nil {
		_ = nbc.Close()
		return nil, fmt.Errorf("hand socket to event loop: %w", err)
	}
	return &ws.wsTransport, nil
}

func acceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte("258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
