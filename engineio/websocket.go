package engineio

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// wsUpgrader is a WebSocket implementation, the one part of the package that
// knows a WebSocket library (nbioTransport is the one in use). upgrade
// completes the handshake of r and returns the connection's wsTransport for
// sess and p, with conn set and, when p is not nil, p.t set, before the
// connection can deliver a frame. close stops the implementation once every
// session is closed.
type wsUpgrader interface {
	upgrade(w http.ResponseWriter, r *http.Request, sess *Session, p *probe) (*wsTransport, error)
	close()
}

// wsConn is what the protocol needs from a WebSocket connection. An
// implementation delivers inbound frames to its wsTransport's onFrame, one at a
// time and in order, and calls onClose once when the connection ends.
type wsConn interface {
	// writePacket writes one Engine.IO packet as one frame: a text frame
	// "<typ><data>", or a binary frame of data when binary is set. It must not
	// block on the peer; past the configured buffer it fails with
	// errSlowConsumer. The frame may wait a moment to be written with
	// others; flush writes what waits at once.
	writePacket(typ byte, binary bool, data []byte) error
	flush()
	// close sends a close frame with code when it can and closes the
	// connection, releasing what it held from the server's count.
	close(code int)
	// queued returns the bytes written to the connection that the kernel
	// has not taken yet.
	queued() int64
}

// WebSocket close codes.
const (
	closeNormal    = 1000
	closeGoingAway = 1001
	closePolicy    = 1008
)

var errSlowConsumer = errors.New("engineio: write buffer full")

func reasonForWriteError(err error) Reason {
	if errors.Is(err, errSlowConsumer) {
		return ReasonSlowConsumer
	}
	return ReasonTransportError
}

func closeCodeFor(r Reason) int {
	switch r {
	case ReasonServerShutdown:
		return closeGoingAway
	case ReasonParseError, ReasonSlowConsumer, ReasonInputOverflow:
		return closePolicy
	}
	return closeNormal
}

// wsTransport is one WebSocket's protocol state: the session it carries and,
// for the WebSocket of an upgrade, the probe state.
type wsTransport struct {
	sess  *Session
	conn  wsConn
	probe *probe // nil for a WebSocket that opened its session
}

// probe is an upgrade in progress. It is attached to the session before its
// WebSocket exists, so that the client's "2probe", which may follow the
// handshake at once, finds it.
type probe struct {
	mu     sync.Mutex
	t      *wsTransport // set by the transport before the socket can be read
	active bool         // has not received "5" yet
	timer  *time.Timer  // bounds the probe; nil once it is decided
}

// conn returns the probe's WebSocket, or nil if it has none yet.
func (p *probe) conn() wsConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.t == nil {
		return nil
	}
	return p.t.conn
}

// probing reports whether t is an upgrade that has not completed.
func (t *wsTransport) probing() bool {
	if t.probe == nil {
		return false
	}
	t.probe.mu.Lock()
	defer t.probe.mu.Unlock()
	return t.probe.active
}

func isWebSocketRequest(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// handshakeWebSocket opens a session directly on WebSocket.
func (srv *Server) handshakeWebSocket(w http.ResponseWriter, r *http.Request) {
	if !isWebSocketRequest(r) {
		writeError(w, errBadRequest)
		return
	}
	s := srv.newSession()
	s.addr = srv.cfg.clientAddr(r)
	// recvMu is held until Open has run, so a frame that arrives early
	// waits for it.
	s.recvMu.Lock()
	defer s.recvMu.Unlock()
	t, err := srv.ws.upgrade(w, r, s, nil)
	if err != nil {
		srv.cfg.Logger.Debug("engineio: websocket upgrade", "err", err)
		return
	}
	s.mu.Lock()
	s.ws = t.conn
	err = t.conn.writePacket(typeOpen, false, srv.openPacket(s, false))
	if err != nil {
		// Never opened, so never reported closed.
		s.closed = true
		s.mu.Unlock()
		t.conn.close(closeGoingAway)
		return
	}
	s.mu.Unlock()
	srv.register(s, false)
	srv.handler.Open(s, r)
}

// upgrade attaches a probe WebSocket to a polling session.
func (srv *Server) upgrade(w http.ResponseWriter, r *http.Request, s *Session) {
	if !isWebSocketRequest(r) {
		writeError(w, errBadRequest)
		return
	}
	p := &probe{active: true}
	s.mu.Lock()
	busy := s.closed || s.poll == nil || s.poll.probe != nil
	if !busy {
		s.poll.probe = p
	}
	s.mu.Unlock()
	if busy {
		// Already upgraded or upgrading. Like the reference, complete the
		// handshake and close at once: a browser client reports an HTTP
		// error as an uncatchable failure, a close as an ordinary event.
		if t, err := srv.ws.upgrade(w, r, nil, nil); err == nil {
			t.conn.close(closePolicy)
		}
		return
	}
	t, err := srv.ws.upgrade(w, r, s, p)
	if err != nil {
		srv.cfg.Logger.Debug("engineio: websocket upgrade", "err", err)
		s.mu.Lock()
		if s.poll != nil && s.poll.probe == p {
			s.poll.probe = nil
			s.poll.wakeGet()
		}
		s.mu.Unlock()
		return
	}
	p.mu.Lock()
	if p.active {
		p.timer = time.AfterFunc(srv.cfg.UpgradeTimeout, t.abortProbe)
	}
	p.mu.Unlock()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		// The session closed while the probe had no socket to close.
		t.abortProbe()
	}
}

// abortProbe gives up on an upgrade; the session stays on polling.
func (t *wsTransport) abortProbe() {
	if !t.endProbe() {
		return
	}
	s := t.sess
	s.mu.Lock()
	if p := s.poll; p != nil && p.probe == t.probe {
		p.probe = nil
		p.upgrading = false
		p.wakeGet()
	}
	s.mu.Unlock()
	t.conn.close(closeNormal)
}

// endProbe marks the probe decided and reports whether this call did it.
func (t *wsTransport) endProbe() bool {
	p := t.probe
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.active {
		return false
	}
	p.active = false
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	return true
}

// onFrame handles one inbound frame.
func (t *wsTransport) onFrame(binary bool, data []byte) {
	s := t.sess
	if s == nil {
		return
	}
	if t.probing() {
		t.probeFrame(binary, data)
		return
	}
	s.recvMu.Lock()
	defer s.recvMu.Unlock()
	p := packet{typ: typeMessage, binary: true, data: data}
	if !binary {
		var err error
		if p, err = decodeText(data); err != nil {
			s.close(ReasonParseError, false)
			return
		}
	}
	s.receive(p)
}

// probeFrame runs the upgrade: "2probe" is answered "3probe" and the pending
// GET is released with a noop; "5" moves the session onto this WebSocket and
// flushes what was queued meanwhile. Anything else ends the probe.
func (t *wsTransport) probeFrame(binary bool, data []byte) {
	s := t.sess
	switch {
	case !binary && string(data) == "2probe":
		s.mu.Lock()
		p := s.poll
		if s.closed || p == nil || p.probe != t.probe {
			s.mu.Unlock()
			t.abortProbe()
			return
		}
		p.upgrading = true
		err := t.conn.writePacket(typePong, false, []byte("probe"))
		// On the poller, ahead of anything the client does next on
		// its other connections.
		t.conn.flush()
		p.wakeGet()
		s.mu.Unlock()
		if err != nil {
			t.abortProbe()
		}
	case !binary && string(data) == "5":
		s.mu.Lock()
		p := s.poll
		if s.closed || p == nil || p.probe != t.probe || !p.upgrading {
			s.mu.Unlock()
			t.abortProbe()
			return
		}
		if !t.endProbe() {
			// The upgrade timer fired first and is tearing the probe down.
			s.mu.Unlock()
			return
		}
		// The session moves to the WebSocket: what was queued goes out
		// first, in order, and the polling state is dropped.
		s.ws = t.conn
		s.poll = nil
		var err error
		for _, q := range p.queue {
			if err == nil {
				err = s.ws.writePacket(q.typ, q.binary, q.data)
			}
		}
		p.dropQueue(s.srv.out)
		p.probe, p.upgrading = nil, false
		p.wakeGet()
		s.mu.Unlock()
		if err != nil {
			s.close(reasonForWriteError(err), false)
		}
	default:
		t.abortProbe()
	}
}

// onClose handles the end of the connection, whoever closed it.
func (t *wsTransport) onClose(err error) {
	if t.sess == nil {
		return
	}
	if t.probing() {
		t.abortProbe()
		return
	}
	s := t.sess
	s.mu.Lock()
	mine := s.ws == t.conn && t.conn != nil
	s.mu.Unlock()
	if mine {
		reason := ReasonTransportClose
		switch {
		case errors.Is(err, errSlowConsumer):
			reason = ReasonSlowConsumer
		case err != nil && !errors.Is(err, io.EOF):
			// A reset, or a write the flusher could not make.
			reason = ReasonTransportError
		}
		s.close(reason, false)
	}
}
