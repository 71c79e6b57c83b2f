package engineio

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Handler receives a Server's session events. For one session, Message calls
// never overlap and come after Open has returned; Close comes once, last.
// Methods may be called from any goroutine and should not block for long: a
// slow Message holds back that session's later messages, not other sessions.
type Handler interface {
	// Open is called for a new session before its first message. r is the
	// handshake request; it must not be kept after Open returns.
	Open(s *Session, r *http.Request)
	// Message is called with one message. data is the handler's to keep.
	Message(s *Session, data []byte, binary bool)
	// Close is called once when the session ends.
	Close(s *Session, reason Reason)
}

// HandlerFuncs adapts functions to a Handler; nil functions do nothing.
type HandlerFuncs struct {
	OnOpen    func(s *Session, r *http.Request)
	OnMessage func(s *Session, data []byte, binary bool)
	OnClose   func(s *Session, reason Reason)
}

// Open calls OnOpen.
func (h HandlerFuncs) Open(s *Session, r *http.Request) {
	if h.OnOpen != nil {
		h.OnOpen(s, r)
	}
}

// Message calls OnMessage.
func (h HandlerFuncs) Message(s *Session, data []byte, binary bool) {
	if h.OnMessage != nil {
		h.OnMessage(s, data, binary)
	}
}

// Close calls OnClose.
func (h HandlerFuncs) Close(s *Session, reason Reason) {
	if h.OnClose != nil {
		h.OnClose(s, reason)
	}
}

// Server is an http.Handler for one Engine.IO endpoint. Mount it on the
// endpoint's path, e.g. mux.Handle("/socket.io/", srv).
type Server struct {
	cfg     Config
	handler Handler
	sched   *scheduler
	ws      wsUpgrader // nil when WebSocket is disabled
	out     *outBudget

	// sessions holds the sessions a request can name by sid: those opened
	// by polling. A WebSocket-only session is never looked up, so it is
	// kept out of the map, which would cost it another entry.
	mu        sync.RWMutex
	sessions  map[sessionID]*Session
	closing   bool
	handshake sync.WaitGroup // handshakes and upgrades under way
	// live counts registered sessions whose Handler has not yet returned
	// from Close; a session closed by its client just before Close may
	// still be in its Handler when Close closes the rest.
	live      sync.WaitGroup
	open      atomic.Int64
	closeOnce sync.Once
}

// NewServer starts a server: its heartbeat scheduler and WebSocket event loop
// run until Close.
func NewServer(cfg Config, h Handler) (*Server, error) {
	cfg = cfg.withDefaults()
	if !validSIDPrefix(cfg.SIDPrefix) {
		return nil, fmt.Errorf("engineio: SIDPrefix %q: want at most 32 characters of [A-Za-z0-9._-]", cfg.SIDPrefix)
	}
	srv := &Server{cfg: cfg, handler: h, sessions: make(map[sessionID]*Session)}
	srv.out = newOutBudget(srv)
	if !cfg.DisableWebSocket {
		ws, err := newNBIOTransport(&srv.cfg, srv.out)
		if err != nil {
			srv.out.close()
			return nil, err
		}
		srv.ws = ws
	}
	srv.sched = newScheduler(func(s *Session, when int64) { s.heartbeat(when) })
	return srv, nil
}

// Close closes every session with ReasonServerShutdown, waits until the
// Handler has returned from Close for every session it opened, whoever
// closed it, and stops the server's goroutines. The http.Server it is
// mounted on is the caller's to stop. Calls after the first do nothing.
func (srv *Server) Close() error {
	srv.closeOnce.Do(srv.shutdown)
	return nil
}

func (srv *Server) shutdown() {
	srv.mu.Lock()
	srv.closing = true
	srv.mu.Unlock()
	// Handshakes under way finish registering (their sessions are closed
	// below with the rest); no new one starts.
	srv.handshake.Wait()
	// Every open session has a heartbeat deadline, so the scheduler knows
	// them all, whatever their transport.
	for _, s := range srv.sched.sessions() {
		s.close(ReasonServerShutdown, false)
	}
	srv.live.Wait()
	srv.out.close()
	srv.sched.close()
	if srv.ws != nil {
		srv.ws.close()
	}
}

// Len returns the number of open sessions.
func (srv *Server) Len() int { return int(srv.open.Load()) }

// lookup returns the polling-born session with the given sid, or nil.
func (srv *Server) lookup(sid string) *Session {
	sid, ok := strings.CutPrefix(sid, srv.cfg.SIDPrefix)
	if !ok {
		return nil
	}
	id, ok := parseSessionID(sid)
	if !ok {
		return nil
	}
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	return srv.sessions[id]
}

// forget runs once per session, when it is closed (or its lingering ends).
func (srv *Server) forget(s *Session) {
	srv.mu.Lock()
	if srv.sessions[s.id] == s {
		delete(srv.sessions, s.id)
	}
	srv.mu.Unlock()
}

// newSession makes a session that is not yet registered.
func (srv *Server) newSession() *Session {
	s := &Session{srv: srv, timerIdx: -1}
	_, _ = rand.Read(s.id[:])
	return s
}

// sessionID is a session id in binary: 15 random bytes, 20 characters of
// URL-safe base64 on the wire. Kept raw, it costs no string per session.
type sessionID [15]byte

func (id sessionID) String() string { return base64.RawURLEncoding.EncodeToString(id[:]) }

func (id sessionID) appendTo(b []byte) []byte { return base64.RawURLEncoding.AppendEncode(b, id[:]) }

// validSIDPrefix reports whether p needs no escaping in a URL or a cookie.
func validSIDPrefix(p string) bool {
	if len(p) > 32 {
		return false
	}
	for _, c := range []byte(p) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func parseSessionID(sid string) (sessionID, bool) {
	var id sessionID
	if base64.RawURLEncoding.EncodedLen(len(id)) != len(sid) {
		return id, false
	}
	n, err := base64.RawURLEncoding.Decode(id[:], []byte(sid))
	return id, err == nil && n == len(id)
}

// enterHandshake admits a handshake or upgrade unless the server is closing;
// Close waits for those admitted. The caller calls srv.handshake.Done.
func (srv *Server) enterHandshake() bool {
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	if srv.closing {
		return false
	}
	srv.handshake.Add(1)
	return true
}

// register starts the session's heartbeat and, when byID, makes it reachable
// by sid. It runs inside an admitted handshake.
func (srv *Server) register(s *Session, byID bool) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if byID {
		srv.sessions[s.id] = s
	}
	srv.open.Add(1)
	srv.live.Add(1)
	s.mu.Lock()
	s.registered = true
	srv.sched.set(s, srv.cfg.PingInterval)
	s.mu.Unlock()
}

// openPacket is the handshake: "0" and the JSON the suites check key by key.
func (srv *Server) openPacket(s *Session, upgrades bool) []byte {
	up := `[]`
	if upgrades && srv.ws != nil {
		up = `["websocket"]`
	}
	b := make([]byte, 0, 128)
	b = append(b, `{"sid":"`...)
	b = append(b, srv.cfg.SIDPrefix...)
	b = s.id.appendTo(b)
	b = append(b, `","upgrades":`...)
	b = append(b, up...)
	b = append(b, `,"pingInterval":`...)
	b = strconv.AppendInt(b, srv.cfg.PingInterval.Milliseconds(), 10)
	b = append(b, `,"pingTimeout":`...)
	b = strconv.AppendInt(b, srv.cfg.PingTimeout.Milliseconds(), 10)
	b = append(b, `,"maxPayload":`...)
	b = strconv.AppendInt(b, int64(srv.cfg.MaxPayload), 10)
	return append(b, '}')
}

// Error codes of the reference server, sent as {"code":N,"message":"..."}.
const (
	errTransportUnknown = iota
	errSessionUnknown
	errBadHandshakeMethod
	errBadRequest
	errForbidden
	errUnsupportedVersion
)

var errMessages = [...]string{"Transport unknown", "Session ID unknown", "Bad handshake method", "Bad request", "Forbidden", "Unsupported protocol version"}

func writeError(w http.ResponseWriter, code int) {
	status := http.StatusBadRequest
	if code == errForbidden {
		status = http.StatusForbidden
	}
	body, _ := json.Marshal(struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{code, errMessages[code]})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// ServeHTTP routes a request to the handshake, a polling request or a
// WebSocket. Unknown query parameters, such as the cache-buster t, are
// ignored.
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("EIO") != "4" {
		writeError(w, errUnsupportedVersion)
		return
	}
	transport := q.Get("transport")
	polling := transport == "polling" && !srv.cfg.DisablePolling
	websocket := transport == "websocket" && srv.ws != nil
	if !polling && !websocket {
		writeError(w, errTransportUnknown)
		return
	}
	origin, ok := srv.cfg.originAllowed(r)
	if !ok {
		writeError(w, errForbidden)
		return
	}
	if polling && origin != "" {
		setCORS(w, r, origin)
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	sid := q.Get("sid")
	if (sid == "" || websocket) && !srv.enterHandshake() {
		writeError(w, errBadRequest)
		return
	} else if sid == "" || websocket {
		defer srv.handshake.Done()
	}
	if sid == "" {
		if r.Method != http.MethodGet {
			writeError(w, errBadHandshakeMethod)
			return
		}
		if polling {
			srv.handshakePolling(w, r)
		} else {
			srv.handshakeWebSocket(w, r)
		}
		return
	}
	s := srv.lookup(sid)
	if s == nil || s.expired() {
		writeError(w, errSessionUnknown)
		return
	}
	switch {
	case websocket:
		srv.upgrade(w, r, s)
	case r.Method == http.MethodGet:
		s.handleGet(w, r)
	case r.Method == http.MethodPost:
		s.handlePost(w, r)
	default:
		writeError(w, errBadRequest)
	}
}

func setCORS(w http.ResponseWriter, r *http.Request, origin string) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Add("Vary", "Origin")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, POST")
		if rh := r.Header.Get("Access-Control-Request-Headers"); rh != "" {
			h.Set("Access-Control-Allow-Headers", rh)
		}
		h.Set("Access-Control-Max-Age", "86400")
	}
}
