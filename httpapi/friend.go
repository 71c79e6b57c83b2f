package httpapi

import (
	"context"
	"net/http"

	"github.com/parleyhq/parley"
)

func (h *Handler) friends(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	fs, err := h.svc.Friends.Friends(r.Context(), c)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"friends": fs})
}

func (h *Handler) requestFriend(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	var body struct {
		UserID parley.ID `json:"user_id"`
	}
	if err := decode(w, r, h.cfg.MaxJSONBytes, &body); err != nil {
		h.writeError(w, r, err)
		return
	}
	if body.UserID == 0 {
		h.writeError(w, r, parley.Errorf(parley.EINVALID, "user_id is required"))
		return
	}
	f, err := h.svc.Friends.RequestFriend(r.Context(), c, body.UserID)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, f)
}

func (h *Handler) acceptFriend(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	uid, err := pathID(r, "uid")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	f, err := h.svc.Friends.AcceptFriend(r.Context(), c, uid)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, f)
}

func (h *Handler) removeFriend(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	h.userAction(w, r, c, h.svc.Friends.RemoveFriend)
}

func (h *Handler) block(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	h.userAction(w, r, c, h.svc.Friends.Block)
}

func (h *Handler) unblock(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	h.userAction(w, r, c, h.svc.Friends.Unblock)
}

// userAction runs a friend action on the {uid} path parameter and answers
// 204.
func (h *Handler) userAction(w http.ResponseWriter, r *http.Request, c parley.Caller, fn func(ctx context.Context, c parley.Caller, id parley.ID) error) {
	uid, err := pathID(r, "uid")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if err := fn(r.Context(), c, uid); err != nil {
		h.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) blocks(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	ids, err := h.svc.Friends.BlockedUsers(r.Context(), c)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user_ids": ids})
}
