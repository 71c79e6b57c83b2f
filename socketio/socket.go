package socketio

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/parleyhq/parley/engineio"
)

// Socket is one client in one namespace. Its methods are safe from any
// goroutine; emits never block on the client.
type Socket struct {
	c     *client
	nsp   *Namespace
	id    [15]byte // raw: an idle socket keeps no id string
	state atomic.Uint32

	mu   sync.Mutex
	data any
	// Allocated only while needed: an idle connected socket is four words
	// smaller without them.
	joining *joining  // until the CONNECT reply is sent
	acks    *ackTable // from the first EmitWithAck
}

// joining is a socket's state while its OnConnect runs.
type joining struct {
	pending []queued // emits made before the CONNECT reply went out
	reason  Reason   // why the socket left meanwhile
}

type ackTable struct {
	seq     int64
	pending map[int64]*pendingAck
}

const (
	stateConnecting uint32 = iota
	stateConnected
	stateGone
)

type queued struct {
	msg  []byte
	bins [][]byte
}

// maxPending bounds what OnConnect may emit before the reply; more is a bug.
const maxPending = 256

func newSocket(c *client, nsp *Namespace) *Socket {
	s := &Socket{c: c, nsp: nsp, joining: &joining{}}
	_, _ = rand.Read(s.id[:])
	return s
}

// ID returns the socket id, which the client sees as socket.id. It differs
// from the Engine.IO session id on purpose.
func (s *Socket) ID() string { return base64.RawURLEncoding.EncodeToString(s.id[:]) }

// Namespace returns the socket's namespace.
func (s *Socket) Namespace() *Namespace { return s.nsp }

// Session returns the Engine.IO session the socket rides on, shared by the
// client's sockets in other namespaces.
func (s *Socket) Session() *engineio.Session { return s.c.sess }

// Connected reports whether the socket is in its namespace: accepted and not
// yet disconnected.
func (s *Socket) Connected() bool { return s.state.Load() == stateConnected }

// SetData attaches application data, typically the authenticated user in
// OnConnect.
func (s *Socket) SetData(v any) {
	s.mu.Lock()
	s.data = v
	s.mu.Unlock()
}

// Data returns what SetData attached, or nil.
func (s *Socket) Data() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
}

// Disconnect removes the socket from its namespace and tells the client,
// which does not reconnect by itself. OnDisconnect gets
// ReasonServerDisconnect.
func (s *Socket) Disconnect() { s.leave(ReasonServerDisconnect, true) }

// CloseConnection drops the client's whole connection without a DISCONNECT,
// so the client reconnects (and, in Parley, resyncs). Every socket of the
// connection gets ReasonForcedClose.
func (s *Socket) CloseConnection() { s.c.sess.CloseWith(engineio.ReasonForcedClose) }

// accept sends the CONNECT reply and what OnConnect emitted, then opens the
// socket to direct sends.
func (s *Socket) accept() {
	s.mu.Lock()
	if s.state.Load() == stateGone {
		// The connection ended while OnConnect ran; it accepted the socket,
		// so it is owed its OnDisconnect.
		reason := s.joining.reason
		s.joining = nil
		s.mu.Unlock()
		if s.nsp.OnDisconnect != nil {
			s.nsp.OnDisconnect(s, reason)
		}
		return
	}
	b := appendHeader(make([]byte, 0, 48), typeConnect, 0, s.nsp.name, noAck)
	b = append(b, `{"sid":"`...)
	b = base64.RawURLEncoding.AppendEncode(b, s.id[:])
	b = append(b, `"}`...)
	_ = s.c.sess.Send(b)
	for _, q := range s.joining.pending {
		_ = s.c.sess.SendWithBinary(q.msg, q.bins)
	}
	s.joining = nil
	s.state.Store(stateConnected)
	s.mu.Unlock()
}

// refuse marks a socket whose OnConnect said no; it never gets OnDisconnect.
func (s *Socket) refuse() {
	s.mu.Lock()
	s.state.Store(stateGone)
	s.joining = nil
	s.mu.Unlock()
}

// leave takes the socket out of its namespace once. notify sends DISCONNECT.
func (s *Socket) leave(reason Reason, notify bool) {
	s.mu.Lock()
	was := s.state.Load()
	if was == stateGone {
		s.mu.Unlock()
		return
	}
	s.state.Store(stateGone)
	if s.joining != nil {
		// accept will see it and run OnDisconnect with this reason.
		s.joining.reason = reason
		s.joining.pending = nil
	}
	var acks map[int64]*pendingAck
	if s.acks != nil {
		acks = s.acks.pending
		s.acks = nil
	}
	s.mu.Unlock()

	s.c.detach(s)
	if notify {
		_ = s.c.sess.Send(appendHeader(make([]byte, 0, 16), typeDisconnect, 0, s.nsp.name, noAck))
	}
	for _, a := range acks {
		a.timer.Stop()
		a.cb(nil, ErrDisconnected)
	}
	if was == stateConnected && s.nsp.OnDisconnect != nil {
		s.nsp.OnDisconnect(s, reason)
	}
}

// send writes one encoded packet (and its attachments). msg is not kept.
func (s *Socket) send(msg []byte, bins [][]byte) error {
	if s.state.Load() != stateConnected {
		s.mu.Lock()
		switch s.state.Load() {
		case stateConnecting:
			defer s.mu.Unlock()
			j := s.joining
			if len(j.pending) >= maxPending {
				return ErrDisconnected
			}
			j.pending = append(j.pending, queued{append([]byte(nil), msg...), bins})
			return nil
		case stateGone:
			s.mu.Unlock()
			return ErrDisconnected
		}
		s.mu.Unlock()
	}
	var err error
	if len(bins) > 0 {
		err = s.c.sess.SendWithBinary(msg, bins)
	} else {
		err = s.c.sess.Send(msg)
	}
	if err != nil {
		return ErrDisconnected
	}
	return nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(bp *[]byte) {
	if cap(*bp) <= 64<<10 {
		*bp = (*bp)[:0]
		bufPool.Put(bp)
	}
}

// Emit sends an event. Each argument is JSON-encoded, except json.RawMessage
// (sent as is, and trusted to be valid JSON), a JSONAppender (appended by its
// AppendJSON, its output trusted likewise) and []byte (sent as a binary
// attachment). It returns ErrDisconnected if the socket is gone.
func (s *Socket) Emit(event string, args ...any) error {
	bp := getBuf()
	defer putBuf(bp)
	b, bins, err := encodeEvent((*bp)[:0], s.nsp.name, event, noAck, args)
	*bp = b
	if err != nil {
		return err
	}
	return s.send(b, bins)
}

// EmitRaw sends an event with one argument that is already JSON, writing
// 42["event",<data>] without re-encoding. data is trusted to be valid JSON
// and is not kept after the call. Empty data sends the event alone.
func (s *Socket) EmitRaw(event string, data []byte) error {
	bp := getBuf()
	defer putBuf(bp)
	b := appendRawEvent((*bp)[:0], s.nsp, event, data)
	*bp = b
	return s.send(b, nil)
}

func appendRawEvent(b []byte, nsp *Namespace, event string, data []byte) []byte {
	b = append(b, typeEvent)
	b = append(b, nsp.prefix...)
	b = append(b, '[')
	b = appendString(b, event)
	if len(data) > 0 {
		b = append(b, ',')
		b = append(b, data...)
	}
	return append(b, ']')
}

// Prepared is an event encoded once to be sent to many sockets of one
// namespace, for fan-out.
type Prepared struct {
	nsp *Namespace
	msg []byte
}

// PrepareEvent encodes event with one JSON argument, as EmitRaw would.
func (n *Namespace) PrepareEvent(event string, data []byte) *Prepared {
	return &Prepared{nsp: n, msg: appendRawEvent(nil, n, event, data)}
}

// EmitPrepared sends a prepared event. It returns ErrNamespace for an event
// prepared for another namespace.
func (s *Socket) EmitPrepared(p *Prepared) error {
	if p.nsp != s.nsp {
		return ErrNamespace
	}
	return s.send(p.msg, nil)
}

// AckFunc answers a client's event. Arguments are encoded as for Emit. It may
// be called once, from any goroutine; later calls return ErrAckUsed.
type AckFunc func(args ...any) error

func (s *Socket) ackFunc(id int64) AckFunc {
	var used atomic.Bool
	return func(args ...any) error {
		if used.Swap(true) {
			return ErrAckUsed
		}
		bp := getBuf()
		defer putBuf(bp)
		b, bins, err := encodeAck((*bp)[:0], s.nsp.name, id, args)
		*bp = b
		if err != nil {
			return err
		}
		return s.send(b, bins)
	}
}

// timedAck reports the time from now until ack answers.
func timedAck(ack AckFunc, event string, onAck func(string, time.Duration)) AckFunc {
	start := time.Now()
	return func(args ...any) error {
		err := ack(args...)
		if err == nil {
			onAck(event, time.Since(start))
		}
		return err
	}
}

// AckCallback receives a client's answer to EmitWithAck, or ErrAckTimeout or
// ErrDisconnected. Binary arguments arrive as placeholders only.
type AckCallback func(args []json.RawMessage, err error)

type pendingAck struct {
	cb    AckCallback
	timer *time.Timer
}

// EmitWithAck sends an event whose client handler answers through a
// callback. cb runs exactly once: with the answer, or with ErrAckTimeout
// after timeout, or with ErrDisconnected.
func (s *Socket) EmitWithAck(event string, timeout time.Duration, cb AckCallback, args ...any) error {
	s.mu.Lock()
	if s.state.Load() == stateGone {
		s.mu.Unlock()
		return ErrDisconnected
	}
	if s.acks == nil {
		s.acks = &ackTable{pending: make(map[int64]*pendingAck)}
	}
	s.acks.seq++
	id := s.acks.seq
	a := &pendingAck{cb: cb}
	a.timer = time.AfterFunc(timeout, func() {
		if s.takeAck(id) != nil {
			cb(nil, ErrAckTimeout)
		}
	})
	s.acks.pending[id] = a
	s.mu.Unlock()

	bp := getBuf()
	defer putBuf(bp)
	b, bins, err := encodeEvent((*bp)[:0], s.nsp.name, event, id, args)
	*bp = b
	if err == nil {
		err = s.send(b, bins)
	}
	if err != nil && s.takeAck(id) != nil {
		a.timer.Stop()
	}
	return err
}

func (s *Socket) takeAck(id int64) *pendingAck {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.acks == nil {
		return nil
	}
	a := s.acks.pending[id]
	delete(s.acks.pending, id)
	return a
}

func (s *Socket) onEvent(p packet, attachments [][]byte) bool {
	args, err := splitArray(p.payload, s.c.srv.lim.maxDepth, make([]json.RawMessage, 0, 4))
	if err != nil || len(args) == 0 {
		return false
	}
	name, ok := eventName(args[0])
	if !ok {
		return false
	}
	h := s.nsp.handler(name)
	fn := s.nsp.OnUnknown
	ev := Event{Args: args[1:], Attachments: attachments}
	if h != nil {
		fn, ev.Name = h.fn, h.name
	} else {
		ev.Name = string(name)
	}
	if fn == nil {
		return true
	}
	if p.id != noAck {
		ev.Ack = s.ackFunc(p.id)
		if onAck := s.c.srv.cfg.OnAck; onAck != nil && h != nil {
			ev.Ack = timedAck(ev.Ack, h.name, onAck)
		}
	}
	ev.InvalidUTF8 = !utf8.Valid(p.payload)
	if a := s.nsp.Admit; a != nil && !a(s, ev) {
		return true
	}
	fn(s, ev)
	return true
}

func (s *Socket) onAck(p packet, _ [][]byte) bool {
	args, err := splitArray(p.payload, s.c.srv.lim.maxDepth, nil)
	if err != nil || p.id == noAck {
		return false
	}
	if a := s.takeAck(p.id); a != nil {
		a.timer.Stop()
		a.cb(args, nil)
	}
	return true
}
