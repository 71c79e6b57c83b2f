package httpapi

import (
	"context"
	"net/http"

	"github.com/parleyhq/parley"
)

type conversationList struct {
	Conversations []*parley.ConversationView `json:"conversations"`
	PageSize      int                        `json:"page_size"`
	PageNumber    int                        `json:"page_number"`
}

func (h *Handler) listConversations(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	size, err := queryInt(r, "page_size", 20)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	page, err := queryInt(r, "page_number", 1)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if size == 0 || size > 100 {
		h.writeError(w, r, parley.Errorf(parley.EINVALID, "page_size must be 1 to 100"))
		return
	}
	if page == 0 || page > 1_000_000 {
		h.writeError(w, r, parley.Errorf(parley.EINVALID, "page_number starts at 1"))
		return
	}
	archived, err := queryBool(r, "archived")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	vs, err := h.svc.Conversations.Conversations(r.Context(), c, parley.ConversationListQuery{PageNumber: int(page), PageSize: int(size), Archived: archived})
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if vs == nil {
		vs = []*parley.ConversationView{}
	}
	writeJSON(w, http.StatusOK, conversationList{vs, int(size), int(page)})
}

func (h *Handler) conversation(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	id, err := pathID(r, "id")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	v, err := h.svc.Conversations.Conversation(r.Context(), c, id)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// updateConversation changes a conversation's settings: a group's title,
// the disappearing-messages timer, or both at once.
func (h *Handler) updateConversation(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	id, err := pathID(r, "id")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var upd parley.ConversationUpdate
	if err := decode(w, r, h.cfg.MaxJSONBytes, &upd); err != nil {
		h.writeError(w, r, err)
		return
	}
	if upd.Title == nil && upd.DisappearAfter == nil {
		h.writeError(w, r, parley.Errorf(parley.EINVALID, "title or disappear_after is required"))
		return
	}
	v, err := h.svc.Conversations.UpdateConversation(r.Context(), c, id, upd)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (h *Handler) details(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	id, err := pathID(r, "id")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var q parley.HistoryQuery
	if q.BeforeSeq, err = queryInt(r, "before_seq", 0); err != nil {
		h.writeError(w, r, err)
		return
	}
	if q.AfterSeq, err = queryInt(r, "after_seq", 0); err != nil {
		h.writeError(w, r, err)
		return
	}
	q.Ascending = r.URL.Query().Has("after_seq")
	limit, err := queryInt(r, "limit", parley.DefaultHistoryLimit)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	// An explicit limit=0 is refused; the default applies when it is absent.
	if q.Limit, err = parley.PageLimit(int(min(limit, 1<<31)), 0, parley.MaxHistoryLimit); err != nil {
		h.writeError(w, r, err)
		return
	}
	ms, err := h.svc.Conversations.History(r.Context(), c, id, q)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"conversation_id": id, "messages": ms})
}

func (h *Handler) removeConversation(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	raw := r.URL.Query().Get("id")
	if raw == "" {
		h.writeError(w, r, parley.Errorf(parley.EINVALID, "id is required"))
		return
	}
	id, err := parley.ParseID(raw)
	if err != nil {
		h.writeError(w, r, parley.Errorf(parley.ENOTFOUND, "conversation not found"))
		return
	}
	if err := h.svc.Conversations.RemoveConversation(r.Context(), c, id); err != nil {
		h.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) createConversation(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	var req parley.CreateConversationRequest
	if err := decode(w, r, h.cfg.MaxJSONBytes, &req); err != nil {
		h.writeError(w, r, err)
		return
	}
	v, created, err := h.svc.Conversations.CreateConversation(r.Context(), c, req)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, v)
}

func (h *Handler) send(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	id, err := pathID(r, "id")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var req parley.SendRequest
	if err := decode(w, r, int64(h.cfg.MaxBodyBytes)+h.cfg.MaxJSONBytes, &req); err != nil {
		h.writeError(w, r, err)
		return
	}
	req.ConversationID = id
	m, created, err := h.svc.Messages.Send(r.Context(), c, req, nil)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, m)
}

// messagePath returns the conversation and message ids a message's path
// names.
func messagePath(r *http.Request) (id, mid parley.ID, err error) {
	if id, err = pathID(r, "id"); err != nil {
		return 0, 0, err
	}
	mid, err = pathID(r, "mid")
	return id, mid, err
}

func (h *Handler) recall(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	id, mid, err := messagePath(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	m, err := h.svc.Messages.Recall(r.Context(), c, id, mid)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (h *Handler) edit(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	id, mid, err := messagePath(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var req struct {
		Body *string `json:"body"`
	}
	if err := decode(w, r, int64(h.cfg.MaxBodyBytes)+h.cfg.MaxJSONBytes, &req); err != nil {
		h.writeError(w, r, err)
		return
	}
	if req.Body == nil {
		h.writeError(w, r, parley.Errorf(parley.EINVALID, "body is required"))
		return
	}
	m, _, err := h.svc.Messages.Edit(r.Context(), c, id, mid, *req.Body)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (h *Handler) react(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	id, mid, err := messagePath(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var req struct {
		Emoji *string `json:"emoji"`
	}
	if err := decode(w, r, h.cfg.MaxJSONBytes, &req); err != nil {
		h.writeError(w, r, err)
		return
	}
	if req.Emoji == nil {
		h.writeError(w, r, parley.Errorf(parley.EINVALID, "emoji is required (empty to remove the reaction)"))
		return
	}
	if _, err := h.svc.Messages.React(r.Context(), c, id, mid, *req.Emoji); err != nil {
		h.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type seqBody struct {
	Seq *int64 `json:"seq"`
}

func (h *Handler) delivered(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	h.mark(w, r, c, h.svc.Messages.MarkDelivered)
}

func (h *Handler) read(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	h.mark(w, r, c, h.svc.Messages.MarkRead)
}

func (h *Handler) mark(w http.ResponseWriter, r *http.Request, c parley.Caller, fn func(ctx context.Context, c parley.Caller, id parley.ID, seq int64) error) {
	id, err := pathID(r, "id")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var body seqBody
	if err := decode(w, r, h.cfg.MaxJSONBytes, &body); err != nil {
		h.writeError(w, r, err)
		return
	}
	if body.Seq == nil {
		h.writeError(w, r, parley.Errorf(parley.EINVALID, "seq is required"))
		return
	}
	if err := fn(r.Context(), c, id, *body.Seq); err != nil {
		h.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) receipts(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	id, err := pathID(r, "id")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	rs, err := h.svc.Conversations.Receipts(r.Context(), c, id)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"receipts": rs})
}

func (h *Handler) mute(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	id, err := pathID(r, "id")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var body struct {
		Muted *bool `json:"muted"`
	}
	if err := decode(w, r, h.cfg.MaxJSONBytes, &body); err != nil {
		h.writeError(w, r, err)
		return
	}
	if body.Muted == nil {
		h.writeError(w, r, parley.Errorf(parley.EINVALID, "muted is required"))
		return
	}
	if err := h.svc.Conversations.SetMuted(r.Context(), c, id, *body.Muted); err != nil {
		h.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) pin(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	h.setFlag(w, r, c, "pinned", h.svc.Conversations.SetPinned)
}

func (h *Handler) archive(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	h.setFlag(w, r, c, "archived", h.svc.Conversations.SetArchived)
}

// setFlag answers a PUT of one required boolean field of the caller's own
// state of a conversation, {<name>: true|false}, with 204.
func (h *Handler) setFlag(w http.ResponseWriter, r *http.Request, c parley.Caller, name string,
	set func(ctx context.Context, c parley.Caller, id parley.ID, on bool) error) {
	id, err := pathID(r, "id")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var body map[string]*bool
	if err := decode(w, r, h.cfg.MaxJSONBytes, &body); err != nil {
		h.writeError(w, r, err)
		return
	}
	if body[name] == nil {
		h.writeError(w, r, parley.Errorf(parley.EINVALID, "%s (true or false) is required", name))
		return
	}
	if err := set(r.Context(), c, id, *body[name]); err != nil {
		h.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) addMembers(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	id, err := pathID(r, "id")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var body struct {
		UserIDs []parley.ID `json:"user_ids"`
	}
	if err := decode(w, r, h.cfg.MaxJSONBytes, &body); err != nil {
		h.writeError(w, r, err)
		return
	}
	v, err := h.svc.Conversations.AddMembers(r.Context(), c, id, body.UserIDs)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (h *Handler) removeMember(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	id, err := pathID(r, "id")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	uid, err := pathID(r, "uid")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if err := h.svc.Conversations.RemoveMember(r.Context(), c, id, uid); err != nil {
		h.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) setRole(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	id, err := pathID(r, "id")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	uid, err := pathID(r, "uid")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var body struct {
		Role parley.Role `json:"role"`
	}
	if err := decode(w, r, h.cfg.MaxJSONBytes, &body); err != nil {
		h.writeError(w, r, err)
		return
	}
	if err := h.svc.Conversations.SetRole(r.Context(), c, id, uid, body.Role); err != nil {
		h.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
