package socketio

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/parleyhq/parley/engineio"
)

// Config tunes a Server; zero fields take their defaults.
type Config struct {
	// Engine configures the Engine.IO layer: heartbeats, payload limit,
	// queue bounds, origins.
	Engine engineio.Config
	// ConnectTimeout closes a connection that has joined no namespace in
	// this time (default 45s).
	ConnectTimeout time.Duration
	// MaxAttachments bounds the binary attachments of one packet (default
	// 10, the reference parser's).
	MaxAttachments int
	// MaxJSONDepth bounds the nesting of inbound payloads (default 32).
	MaxJSONDepth int
	// MaxAttachmentBytes bounds the bytes of all the binary attachments of
	// one packet together (default Engine.MaxPayload, so a binary event
	// holds no more than one message could).
	MaxAttachmentBytes int
	// OnAck, when set, is called each time a handler answers a registered
	// event, with the event's name and the time from the event's arrival to
	// its answer being queued for the client (for latency metrics).
	OnAck func(event string, elapsed time.Duration)
}

func (c Config) withDefaults() Config {
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 45 * time.Second
	}
	if c.MaxAttachments <= 0 {
		c.MaxAttachments = 10
	}
	if c.MaxJSONDepth <= 0 {
		c.MaxJSONDepth = 32
	}
	if c.MaxAttachmentBytes <= 0 {
		c.MaxAttachmentBytes = c.Engine.MaxPayload
	}
	if c.MaxAttachmentBytes <= 0 {
		c.MaxAttachmentBytes = 1_000_000 // engineio's default MaxPayload
	}
	return c
}

// Server is a Socket.IO server: an http.Handler to mount at the endpoint path,
// normally "/socket.io/".
type Server struct {
	cfg Config
	lim limits
	eio *engineio.Server

	mu   sync.RWMutex
	nsps map[string]*Namespace
}

// NewServer starts a server. Register namespaces with Of before serving.
func NewServer(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:  cfg,
		lim:  limits{maxAttachments: cfg.MaxAttachments, maxDepth: cfg.MaxJSONDepth},
		nsps: make(map[string]*Namespace),
	}
	eio, err := engineio.NewServer(cfg.Engine, (*engineHandler)(s))
	if err != nil {
		return nil, fmt.Errorf("start engine.io: %w", err)
	}
	s.eio = eio
	return s, nil
}

// ServeHTTP serves the Engine.IO endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.eio.ServeHTTP(w, r) }

// Close disconnects every client with ReasonServerShutdown and stops the
// server's goroutines.
func (s *Server) Close() error { return s.eio.Close() }

// Engine returns the Engine.IO server underneath, for metrics.
func (s *Server) Engine() *engineio.Server { return s.eio }

// Of returns the namespace with the given name ("/", "/admin"), registering
// it on first use. Clients can join registered namespaces only.
func (s *Server) Of(name string) *Namespace {
	if name == "" || name[0] != '/' {
		name = "/" + name
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.nsps[name]; n != nil {
		return n
	}
	n := &Namespace{name: name}
	if name != "/" {
		n.prefix = []byte(name + ",")
	}
	s.nsps[name] = n
	return n
}

func (s *Server) namespace(name string) *Namespace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.nsps[name]
}

// engineHandler receives the Engine.IO sessions.
type engineHandler Server

func (h *engineHandler) Open(sess *engineio.Session, r *http.Request) {
	srv := (*Server)(h)
	c := &client{srv: srv, sess: sess}
	c.mu.Lock()
	c.rareLocked().connectTimer = time.AfterFunc(srv.cfg.ConnectTimeout, c.connectTimeout)
	c.mu.Unlock()
	sess.SetData(c)
}

func (h *engineHandler) Message(sess *engineio.Session, data []byte, binary bool) {
	if c, ok := sess.Data().(*client); ok {
		c.receive(data, binary)
	}
}

func (h *engineHandler) Close(sess *engineio.Session, reason engineio.Reason) {
	if c, ok := sess.Data().(*client); ok {
		c.closed(reasonFromEngine(reason))
	}
}

// connectErrorPayload is CONNECT_ERROR's JSON.
func connectErrorPayload(err error) []byte {
	v := struct {
		Message string `json:"message"`
		Data    any    `json:"data,omitempty"`
	}{Message: err.Error()}
	if ce, ok := err.(*ConnectError); ok {
		v.Data = ce.Data
	}
	b, mErr := json.Marshal(v)
	if mErr != nil {
		b, _ = json.Marshal(struct {
			Message string `json:"message"`
		}{err.Error()})
	}
	return b
}
