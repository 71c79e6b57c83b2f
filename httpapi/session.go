package httpapi

import (
	"net/http"

	"github.com/parleyhq/parley"
)

func (h *Handler) sessions(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	ss, err := h.svc.Accounts.Sessions(r.Context(), c)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": ss})
}

// revokeSessions answers DELETE /v1/sessions?others=true: every session
// but the current one. Without others=true it refuses, so that a client
// cannot end all other sessions by a mistaken bare DELETE.
func (h *Handler) revokeSessions(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	if r.URL.Query().Get("others") != "true" {
		h.writeError(w, r, parley.Errorf(parley.EINVALID, "say others=true to end every session but this one, or name a session: DELETE /v1/sessions/{device_id}"))
		return
	}
	n, err := h.svc.Accounts.RevokeOtherSessions(r.Context(), c)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"revoked": n})
}

func (h *Handler) revokeSession(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	id, err := pathID(r, "id")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if id == c.DeviceID {
		err = h.svc.Accounts.Logout(r.Context(), c)
	} else {
		err = h.svc.Accounts.RevokeSession(r.Context(), c, id)
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) changePassword(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	var req parley.ChangePasswordRequest
	if err := decode(w, r, h.cfg.MaxJSONBytes, &req); err != nil {
		h.writeError(w, r, err)
		return
	}
	if err := h.svc.Accounts.ChangePassword(r.Context(), c, req); err != nil {
		h.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) deleteMe(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	var req struct {
		Password string `json:"password"`
	}
	if err := decode(w, r, h.cfg.MaxJSONBytes, &req); err != nil {
		h.writeError(w, r, err)
		return
	}
	if err := h.svc.Accounts.DeleteAccount(r.Context(), c, req.Password); err != nil {
		h.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
