// Package httpapi serves Parley's HTTP JSON API (DESIGN §4): one route
// table, bearer-token authentication, body limits, and one table from
// error codes to statuses. It holds no business rules; it calls the
// services of package parley.
package httpapi

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/parleyhq/parley"
)

// Services are what the API calls.
type Services struct {
	Accounts      parley.AccountService
	Conversations parley.ConversationService
	Messages      parley.MessageService
	Friends       parley.FriendService
	Presence      parley.PresenceService
	// Media serves uploads and downloads; without it those endpoints are
	// not found.
	Media parley.MediaService
	// Push manages push registrations; without it those endpoints are not
	// found.
	Push parley.PushService
	// Search is full-text search over messages; without it the endpoint
	// is not found.
	Search parley.SearchService
	// Ready reports whether the node can serve (for /readyz).
	Ready func(ctx context.Context) error
}

// Config holds the API's limits.
type Config struct {
	// MaxBodyBytes bounds a message body; request bodies that carry one
	// may be this much larger than MaxJSONBytes.
	MaxBodyBytes int
	// MaxJSONBytes bounds every other JSON request body.
	MaxJSONBytes int64
	// MaxUploadBytes bounds a media upload: a request that says it is
	// larger is refused before it is read.
	MaxUploadBytes int64
	// VAPIDPublicKey is the server's Web Push public key, served to
	// browsers; empty when Web Push is not configured.
	VAPIDPublicKey string
	// TrustedProxies are the proxies (HAProxy, a load balancer) whose
	// X-Forwarded-For is believed: behind them, limits per client address
	// count the client's address rather than the proxy's. Empty trusts
	// nobody, and the peer's address is the client's.
	TrustedProxies []netip.Prefix
	// BodyGrace and MinBodyRate (bytes per second) bound how slowly a
	// request body may arrive: after the grace, it must keep up with the
	// rate or the request is cut (400 invalid).
	BodyGrace   time.Duration
	MinBodyRate int64
	// OnRequest, when set, is told of every finished request with the
	// route pattern that served it (for metrics).
	OnRequest func(method, route string, status int, d time.Duration)
}

// Handler is the API's http.Handler.
type Handler struct {
	svc    Services
	cfg    Config
	logger *slog.Logger
	mux    *http.ServeMux
	table  []string // the route table's patterns, in order
}

type ctxKey struct{}

// New returns the API handler.
func New(svc Services, cfg Config, logger *slog.Logger) *Handler {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = parley.DefaultMaxBodyBytes
	}
	if cfg.MaxJSONBytes <= 0 {
		cfg.MaxJSONBytes = 64 << 10
	}
	if cfg.MaxUploadBytes <= 0 {
		cfg.MaxUploadBytes = parley.DefaultMaxUploadBytes
	}
	if cfg.BodyGrace <= 0 {
		cfg.BodyGrace = defaultBodyGrace
	}
	if cfg.MinBodyRate <= 0 {
		cfg.MinBodyRate = defaultMinBodyRate
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{svc: svc, cfg: cfg, logger: logger, mux: http.NewServeMux()}
	h.routes()
	return h
}

// routes is the one route table.
func (h *Handler) routes() {
	pub := func(pattern string, fn http.HandlerFunc) {
		h.table = append(h.table, pattern)
		h.mux.HandleFunc(pattern, fn)
	}
	auth := func(pattern string, fn func(http.ResponseWriter, *http.Request, parley.Caller)) {
		h.table = append(h.table, pattern)
		h.mux.HandleFunc(pattern, h.authenticated(fn))
	}
	pub("GET /healthz", h.healthz)
	pub("GET /readyz", h.readyz)

	pub("POST /v1/users", h.register)
	pub("POST /v1/sessions", h.login)
	auth("DELETE /v1/sessions/current", h.logout)
	auth("GET /v1/sessions", h.sessions)
	auth("DELETE /v1/sessions", h.revokeSessions)
	auth("DELETE /v1/sessions/{id}", h.revokeSession)
	auth("GET /v1/me", h.me)
	auth("PATCH /v1/me", h.updateMe)
	auth("DELETE /v1/me", h.deleteMe)
	auth("PUT /v1/me/password", h.changePassword)
	auth("GET /v1/users", h.searchUsers)
	auth("GET /v1/users/{id}", h.user)
	auth("GET /v1/presence", h.presence)

	auth("GET /v1/conversation", h.listConversations)
	auth("POST /v1/conversation", h.createConversation)
	auth("DELETE /v1/conversation", h.removeConversation)
	auth("GET /v1/conversation/{id}", h.conversation)
	auth("PATCH /v1/conversation/{id}", h.updateConversation)
	auth("GET /v1/conversation/{id}/details", h.details)
	auth("POST /v1/conversation/{id}/messages", h.send)
	auth("DELETE /v1/conversation/{id}/messages/{mid}", h.recall)
	auth("PATCH /v1/conversation/{id}/messages/{mid}", h.edit)
	auth("PUT /v1/conversation/{id}/messages/{mid}/reaction", h.react)
	auth("POST /v1/conversation/{id}/delivered", h.delivered)
	auth("POST /v1/conversation/{id}/read", h.read)
	auth("GET /v1/conversation/{id}/receipts", h.receipts)
	auth("PUT /v1/conversation/{id}/mute", h.mute)
	auth("PUT /v1/conversation/{id}/pin", h.pin)
	auth("PUT /v1/conversation/{id}/archive", h.archive)
	auth("POST /v1/conversation/{id}/members", h.addMembers)
	auth("DELETE /v1/conversation/{id}/members/{uid}", h.removeMember)
	auth("PATCH /v1/conversation/{id}/members/{uid}", h.setRole)

	auth("GET /v1/search", h.search)

	auth("GET /v1/friends", h.friends)
	auth("POST /v1/friends", h.requestFriend)
	auth("POST /v1/friends/{uid}/accept", h.acceptFriend)
	auth("DELETE /v1/friends/{uid}", h.removeFriend)
	auth("POST /v1/friends/{uid}/block", h.block)
	auth("DELETE /v1/friends/{uid}/block", h.unblock)
	auth("GET /v1/blocks", h.blocks)

	auth("POST /v1/media", h.upload)
	auth("GET /v1/media/{id}", h.media)
	auth("GET /v1/media/{id}/thumbnail", h.thumbnail)

	pub("GET /v1/push/vapid-public-key", h.vapidPublicKey)
	auth("POST /v1/push/subscriptions", h.subscribeWebPush)
	auth("DELETE /v1/push/subscriptions", h.unsubscribeWebPush)
	auth("GET /v1/push/registrations", h.pushRegistrations)
	auth("POST /v1/push/registrations", h.registerPush)
	auth("DELETE /v1/push/registrations", h.unregisterPush)

	pub("/v1/", h.unmatched)
}

// unmatched answers a /v1/ request no route took: 405 with Allow when the
// path exists for other methods, 404 otherwise.
func (h *Handler) unmatched(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if method == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = method
		if _, pattern := h.mux.Handler(probe); pattern != "/v1/" && pattern != "" {
			allow = append(allow, method)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		var body errorBody
		body.Error.Code, body.Error.Message = parley.EINVALID, "method not allowed"
		writeJSON(w, http.StatusMethodNotAllowed, body)
		return
	}
	h.writeError(w, r, parley.Errorf(parley.ENOTFOUND, "no such endpoint"))
}

// Routes returns the patterns of the route table ("GET /v1/me", …), for
// the API description's tests; handlers added with Handle are not in it.
func (h *Handler) Routes() []string { return append([]string(nil), h.table...) }

// Handle lets other packages' handlers share the API's mux (the realtime
// endpoint, the web client, metrics).
func (h *Handler) Handle(pattern string, handler http.Handler) { h.mux.Handle(pattern, handler) }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if a := clientAddr(r, h.cfg.TrustedProxies); a.IsValid() {
		r = r.WithContext(parley.WithClientAddr(r.Context(), a))
	}
	if strings.HasPrefix(r.URL.Path, "/v1/") {
		r.Body = paceBody(w, r.Body, h.cfg.BodyGrace, h.cfg.MinBodyRate)
		defer paceWrites(w)()
	}
	sw := &statusWriter{ResponseWriter: w, h: h, r: r}
	h.mux.ServeHTTP(sw, r)
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	d := time.Since(start)
	if h.cfg.OnRequest != nil {
		h.cfg.OnRequest(r.Method, r.Pattern, sw.status, d)
	}
	if strings.HasPrefix(r.URL.Path, "/v1/") {
		h.logger.Debug("http request", "method", r.Method, "path", r.URL.Path, "status", sw.status, "duration", d)
	}
}

// statusWriter records the status and turns the mux's plain-text 405
// answers into the API's JSON errors.
type statusWriter struct {
	http.ResponseWriter
	h       *Handler
	r       *http.Request
	status  int
	swallow bool
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status != 0 {
		return
	}
	s.status = code
	if code == http.StatusMethodNotAllowed && strings.HasPrefix(s.Header().Get("Content-Type"), "text/plain") {
		s.swallow = true
		s.Header().Del("X-Content-Type-Options")
		var body errorBody
		body.Error.Code, body.Error.Message = parley.EINVALID, "method not allowed"
		writeJSON(s.ResponseWriter, code, body)
		return
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.WriteHeader(http.StatusOK)
	}
	if s.swallow {
		return len(b), nil
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap gives http.ResponseController access to the connection (the
// realtime endpoint hijacks it for WebSocket and flushes polling answers).
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Hijack hands the connection to the realtime endpoint's WebSocket.
func (s *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := s.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	if s.status == 0 {
		s.status = http.StatusSwitchingProtocols
	}
	return hj.Hijack()
}

// Flush lets long-polling answers be flushed through the wrapper.
func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// authenticated resolves the bearer token to a caller, and refuses a uid
// query parameter that names someone else.
func (h *Handler) authenticated(fn func(http.ResponseWriter, *http.Request, parley.Caller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		if !ok {
			h.writeError(w, r, parley.Errorf(parley.EUNAUTHORIZED, "an Authorization: Bearer token is required"))
			return
		}
		c, err := h.svc.Accounts.Authenticate(r.Context(), tok)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		if uid := r.URL.Query().Get("uid"); uid != "" && uid != c.UserID.String() {
			h.writeError(w, r, parley.Errorf(parley.EFORBIDDEN, "uid must be your own user id"))
			return
		}
		fn(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, c)), c)
	}
}

func bearer(r *http.Request) (string, bool) {
	v := r.Header.Get("Authorization")
	const p = "Bearer "
	if len(v) <= len(p) || !strings.EqualFold(v[:len(p)], p) {
		return "", false
	}
	return strings.TrimSpace(v[len(p):]), true
}

// CallerFrom returns the caller an authenticated request carries.
func CallerFrom(ctx context.Context) (parley.Caller, bool) {
	c, ok := ctx.Value(ctxKey{}).(parley.Caller)
	return c, ok
}

func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (h *Handler) readyz(w http.ResponseWriter, r *http.Request) {
	if h.svc.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := h.svc.Ready(ctx); err != nil {
			h.logger.Warn("not ready", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
