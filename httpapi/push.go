package httpapi

import (
	"net/http"

	"github.com/parleyhq/parley"
)

// vapidPublicKey answers the key browsers subscribe with
// (PushManager.subscribe's applicationServerKey).
func (h *Handler) vapidPublicKey(w http.ResponseWriter, r *http.Request) {
	if h.cfg.VAPIDPublicKey == "" {
		h.writeError(w, r, parley.Errorf(parley.ENOTFOUND, "web push is not configured on this server"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"public_key": h.cfg.VAPIDPublicKey})
}

// webSubscription is a browser's PushSubscription as its toJSON() writes
// it; expirationTime is ignored (a push service answers 404 or 410 once a
// subscription expired, and the registration is deleted then).
type webSubscription struct {
	Endpoint string `json:"endpoint"`
	Keys     struct {
		P256dh string `json:"p256dh"`
		Auth   string `json:"auth"`
	} `json:"keys"`
}

func (h *Handler) subscribeWebPush(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	var sub webSubscription
	if err := decode(w, r, h.cfg.MaxJSONBytes, &sub); err != nil {
		h.writeError(w, r, err)
		return
	}
	h.savePush(w, r, c, parley.PushRegistration{Kind: parley.PushWeb, Endpoint: sub.Endpoint, P256dh: sub.Keys.P256dh, Auth: sub.Keys.Auth})
}

func (h *Handler) unsubscribeWebPush(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	endpoint := r.URL.Query().Get("endpoint")
	if endpoint == "" {
		var sub webSubscription
		if err := decode(w, r, h.cfg.MaxJSONBytes, &sub); err != nil {
			h.writeError(w, r, err)
			return
		}
		endpoint = sub.Endpoint
	}
	h.deletePush(w, r, c, parley.PushWeb, endpoint)
}

// registration is the body of the /v1/push/registrations endpoints: a
// device token of a native channel or a gateway's token (or, for
// completeness, a Web Push subscription with its keys).
type registration struct {
	Kind     parley.PushKind `json:"kind"`
	Token    string          `json:"token"`
	Endpoint string          `json:"endpoint"` // the same as token, for Web Push
	P256dh   string          `json:"p256dh"`
	Auth     string          `json:"auth"`
}

func (req *registration) address() string {
	if req.Token != "" {
		return req.Token
	}
	return req.Endpoint
}

func (h *Handler) registerPush(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	var req registration
	if err := decode(w, r, h.cfg.MaxJSONBytes, &req); err != nil {
		h.writeError(w, r, err)
		return
	}
	h.savePush(w, r, c, parley.PushRegistration{Kind: req.Kind, Endpoint: req.address(), P256dh: req.P256dh, Auth: req.Auth})
}

func (h *Handler) unregisterPush(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	var req registration
	if err := decode(w, r, h.cfg.MaxJSONBytes, &req); err != nil {
		h.writeError(w, r, err)
		return
	}
	h.deletePush(w, r, c, req.Kind, req.address())
}

func (h *Handler) pushRegistrations(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	if h.svc.Push == nil {
		h.writeError(w, r, parley.Errorf(parley.ENOTFOUND, "no such endpoint"))
		return
	}
	regs, err := h.svc.Push.PushRegistrations(r.Context(), c)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"registrations": regs})
}

func (h *Handler) savePush(w http.ResponseWriter, r *http.Request, c parley.Caller, reg parley.PushRegistration) {
	if h.svc.Push == nil {
		h.writeError(w, r, parley.Errorf(parley.ENOTFOUND, "no such endpoint"))
		return
	}
	saved, created, err := h.svc.Push.RegisterPush(r.Context(), c, reg)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, saved)
}

func (h *Handler) deletePush(w http.ResponseWriter, r *http.Request, c parley.Caller, kind parley.PushKind, endpoint string) {
	if h.svc.Push == nil {
		h.writeError(w, r, parley.Errorf(parley.ENOTFOUND, "no such endpoint"))
		return
	}
	if endpoint == "" {
		h.writeError(w, r, parley.Errorf(parley.EINVALID, "the endpoint or token to remove is required"))
		return
	}
	if err := h.svc.Push.UnregisterPush(r.Context(), c, kind, endpoint); err != nil {
		h.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
