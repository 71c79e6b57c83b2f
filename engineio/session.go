package engineio

import (
	"net/netip"
	"sync"
	"time"
)

// lingerTime is how long a session closed by its client stays findable for
// the client's last GET.
const lingerTime = time.Second

// Session is one Engine.IO connection, whatever its transport. Its methods are
// safe to call from any goroutine.
//
// Its size matters: it is most of what an idle connection costs. State that
// only polling needs lives in poll, which WebSocket sessions never allocate
// and upgraded ones drop.
type Session struct {
	srv    *Server
	id     sessionID
	closed bool // fills id's padding

	mu   sync.Mutex
	ws   wsConn   // the active WebSocket; nil while on polling
	poll *polling // nil once on WebSocket
	data any
	addr netip.Addr // the client's, from the handshake; set before Open

	// recvMu serialises delivery to the Handler: WebSocket frames and polling
	// POSTs of one session never reach it concurrently, and Close comes
	// after the last Message.
	recvMu sync.Mutex

	// The heartbeat deadline, on the scheduler's clock, and the session's
	// place in its heap; both guarded by the scheduler's lock.
	timerWhen int64
	timerIdx  int32

	// Guarded by mu, like closed; here they fill timerIdx's padding.
	awaitingPong bool // a ping was sent; the deadline is the pong's
	registered   bool // counted in Server.Len
}

// polling is the state of a session on long-polling or upgrading from it.
type polling struct {
	queue        []outPacket   // waiting for a GET or for the upgrade to end
	bytes        int           // the payload bytes in queue, counted in the server's budget
	getWake      chan struct{} // the pending GET's wake-up; nil when none waits
	probe        *probe        // an upgrade in progress
	getActive    bool          // a GET is being served
	postActive   bool          // a POST is being served
	upgrading    bool          // the probe was answered; GETs only get noops
	clientClosed bool          // the client sent close: a pending GET gets noop
	lingering    bool          // closed by the client with no GET pending; see close
}

// outPacket is a packet waiting in a session's queue.
type outPacket struct {
	typ    byte
	binary bool
	data   []byte
}

// ID returns the session id the client sees as "sid".
func (s *Session) ID() string { return s.srv.cfg.SIDPrefix + s.id.String() }

// RemoteAddr returns the client's address as the handshake request gave it:
// the peer's, or the one a trusted proxy forwarded (Config.TrustedProxies).
// It is the zero Addr when the peer's address is not an IP address.
func (s *Session) RemoteAddr() netip.Addr { return s.addr }

// SetData attaches application data to the session.
func (s *Session) SetData(v any) {
	s.mu.Lock()
	s.data = v
	s.mu.Unlock()
}

// Data returns what SetData attached, or nil.
func (s *Session) Data() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
}

// Transport returns "polling" or "websocket": the transport packets currently
// go out on.
func (s *Session) Transport() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ws != nil {
		return "websocket"
	}
	return "polling"
}

// Send sends one text message. It does not block on the client and does not
// keep msg after it returns. It returns ErrClosed on a closed session; a
// session whose queue overflows is closed with ReasonSlowConsumer and the
// send returns ErrClosed.
func (s *Session) Send(msg []byte) error { return s.send(typeMessage, false, msg, nil) }

// SendBinary sends one binary message, like Send.
func (s *Session) SendBinary(msg []byte) error { return s.send(typeMessage, true, msg, nil) }

// SendWithBinary sends a text message directly followed by binary messages,
// with no message from another goroutine in between: Socket.IO needs its
// attachments right after the packet that announces them.
func (s *Session) SendWithBinary(msg []byte, binaries [][]byte) error {
	return s.send(typeMessage, false, msg, binaries)
}

// Close closes the session with ReasonForcedClose, telling the client first.
func (s *Session) Close() { s.close(ReasonForcedClose, false) }

// CloseWith closes the session and reports reason to the Handler; layers
// above use it to close for their own protocol errors (ReasonParseError). The
// client is sent a close packet for ReasonForcedClose and
// ReasonServerShutdown only.
func (s *Session) CloseWith(reason Reason) { s.close(reason, false) }

func (s *Session) send(typ byte, binary bool, data []byte, more [][]byte) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.ws != nil {
		// Writing under the lock keeps one goroutine's packets in order
		// across the switch to WebSocket; nbio's write never blocks.
		err := s.ws.writePacket(typ, binary, data)
		for i := 0; err == nil && i < len(more); i++ {
			err = s.ws.writePacket(typeMessage, true, more[i])
		}
		s.mu.Unlock()
		if err != nil {
			// Closed on another goroutine: close runs the Handler's Close,
			// and a sender (a fan-out holding its own locks) must never
			// find itself called back from inside Send.
			go s.close(reasonForWriteError(err), false)
			return ErrClosed
		}
		return nil
	}
	p := s.poll
	cost := len(data)
	for _, b := range more {
		cost += len(b)
	}
	if len(p.queue)+1+len(more) > s.srv.cfg.MaxBufferedPackets ||
		p.bytes > 0 && p.bytes+cost > s.srv.cfg.MaxWriteBuffer {
		s.mu.Unlock()
		go s.close(ReasonSlowConsumer, false) // as above: never call back from Send
		return ErrClosed
	}
	p.queue = append(p.queue, outPacket{typ, binary, clone(data)})
	for _, b := range more {
		p.queue = append(p.queue, outPacket{typeMessage, true, clone(b)})
	}
	p.bytes += cost
	s.srv.out.add(int64(cost))
	p.wakeGet()
	s.mu.Unlock()
	return nil
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// dropQueue empties the queue and takes its bytes off the server's count.
func (p *polling) dropQueue(out *outBudget) {
	p.queue = nil
	out.add(-int64(p.bytes))
	p.bytes = 0
}

// wakeGet makes a pending GET look at the session again.
func (p *polling) wakeGet() {
	if p.getWake != nil {
		select {
		case p.getWake <- struct{}{}:
		default:
		}
	}
}

// close ends the session once, whoever asks first. clientClose means the
// client sent the close packet, which changes what a pending GET receives.
func (s *Session) close(reason Reason, clientClose bool) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	registered := s.registered
	ws := s.ws
	var probe *probe
	lingering := false
	if p := s.poll; p != nil {
		p.clientClosed = clientClose
		// A client closing over polling may have its GET still in flight:
		// the requests travel on separate connections and can be served
		// out of order. The closed session stays findable briefly so that
		// GET gets the noop it would have had, not an unknown-session error.
		p.lingering = clientClose && !p.getActive
		lingering = p.lingering
		probe, p.probe = p.probe, nil
		p.dropQueue(s.srv.out)
		p.wakeGet()
	}
	if ws != nil && (reason == ReasonForcedClose || reason == ReasonServerShutdown) {
		_ = ws.writePacket(typeClose, false, nil)
	}
	s.mu.Unlock()

	s.srv.sched.cancel(s)
	if registered {
		s.srv.open.Add(-1)
	}
	if lingering {
		time.AfterFunc(lingerTime, func() { s.srv.forget(s) })
	} else {
		s.srv.forget(s)
	}
	if ws != nil {
		ws.close(closeCodeFor(reason))
	}
	if probe != nil {
		if c := probe.conn(); c != nil {
			c.close(closeNormal)
		}
	}
	// The Handler hears of the close after the last message it was given.
	// If a message is being handled (possibly by this very goroutine, when
	// the message closed the session), Close is delivered once it is done,
	// from another goroutine, so a closer such as a fan-out writer never
	// waits for a handler.
	if s.recvMu.TryLock() {
		s.notifyClosed(reason, registered)
		return
	}
	go func() {
		s.recvMu.Lock()
		s.notifyClosed(reason, registered)
	}()
}

// notifyClosed tells the Handler of the close; it runs holding recvMu, which
// it releases.
func (s *Session) notifyClosed(reason Reason, registered bool) {
	s.srv.handler.Close(s, reason)
	s.recvMu.Unlock()
	if registered {
		s.srv.live.Done()
	}
}

// heartbeat runs when the session's deadline passes: send a ping, or give up
// waiting for the pong.
func (s *Session) heartbeat(when int64) {
	s.mu.Lock()
	if s.closed || when != s.srv.sched.deadline(s) {
		s.mu.Unlock()
		return
	}
	if s.awaitingPong {
		s.mu.Unlock()
		// Not on the scheduler's goroutine: the close may have to wait.
		go s.close(ReasonPingTimeout, false)
		return
	}
	s.awaitingPong = true
	// From the planned ping time, not from now: a late timer must not
	// stretch the timeout the client and the suites count on.
	s.srv.sched.setAt(s, when+int64(s.srv.cfg.PingTimeout))
	s.mu.Unlock()
	_ = s.send(typePing, false, nil, nil)
}

// expired closes the session if its pong is overdue and reports whether it
// did. A request can arrive just after the deadline and before the scheduler's
// goroutine runs; checking here makes the timeout exact for it.
func (s *Session) expired() bool {
	s.mu.Lock()
	late := s.awaitingPong && !s.closed && s.srv.sched.now() >= s.srv.sched.deadline(s)
	s.mu.Unlock()
	if late {
		s.close(ReasonPingTimeout, false)
	}
	return late
}

func (s *Session) pong() {
	s.mu.Lock()
	if s.awaitingPong && !s.closed {
		s.awaitingPong = false
		s.srv.sched.set(s, s.srv.cfg.PingInterval)
	}
	s.mu.Unlock()
}

// receive handles one inbound packet from the active transport; the caller
// holds recvMu. It reports false when the packet closed the session.
func (s *Session) receive(p packet) bool {
	switch p.typ {
	case typeMessage:
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if !closed {
			s.srv.handler.Message(s, p.data, p.binary)
		}
	case typePong:
		s.pong()
	case typeClose:
		s.close(ReasonTransportClose, true)
		return false
	case typeNoop:
	default:
		// open, upgrade outside an upgrade, and client pings (v4 reversed
		// the heartbeat) are protocol errors.
		s.close(ReasonParseError, false)
		return false
	}
	return true
}
