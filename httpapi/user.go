package httpapi

import (
	"net/http"
	"strings"

	"github.com/parleyhq/parley"
)

func (h *Handler) register(w http.ResponseWriter, r *http.Request) {
	var req parley.RegisterRequest
	if err := decode(w, r, h.cfg.MaxJSONBytes, &req); err != nil {
		h.writeError(w, r, err)
		return
	}
	u, err := h.svc.Accounts.Register(r.Context(), req)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, u)
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	var req parley.LoginRequest
	if err := decode(w, r, h.cfg.MaxJSONBytes, &req); err != nil {
		h.writeError(w, r, err)
		return
	}
	s, err := h.svc.Accounts.Login(r.Context(), req)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, s)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	if err := h.svc.Accounts.Logout(r.Context(), c); err != nil {
		h.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// meView is the caller's own user: the profile and the caller's settings,
// which nobody else sees.
type meView struct {
	*parley.User
	PushPreviews bool `json:"push_previews"`
}

func (h *Handler) me(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	u, err := h.svc.Accounts.User(r.Context(), c, c.UserID)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, meView{u, u.PushPreviews})
}

func (h *Handler) updateMe(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	var upd parley.UserUpdate
	if err := decode(w, r, h.cfg.MaxJSONBytes, &upd); err != nil {
		h.writeError(w, r, err)
		return
	}
	u, err := h.svc.Accounts.UpdateProfile(r.Context(), c, upd)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, meView{u, u.PushPreviews})
}

func (h *Handler) searchUsers(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	limit, err := queryInt(r, "limit", 20)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	us, err := h.svc.Accounts.SearchUsers(r.Context(), c, r.URL.Query().Get("handle"), int(limit))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": us})
}

func (h *Handler) user(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	id, err := pathID(r, "id")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	u, err := h.svc.Accounts.User(r.Context(), c, id)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

func (h *Handler) presence(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	var ids []parley.ID
	for _, s := range strings.Split(r.URL.Query().Get("user_ids"), ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		id, err := parley.ParseID(s)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		ids = append(ids, id)
	}
	st, err := h.svc.Presence.Presence(r.Context(), c, ids)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"presence": st})
}
