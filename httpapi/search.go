package httpapi

import (
	"net/http"

	"github.com/parleyhq/parley"
)

// search answers GET /v1/search: {results: [{message, conversation_id,
// snippet}]}, newest first.
func (h *Handler) search(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	q := r.URL.Query()
	req := parley.SearchRequest{Q: q.Get("q")}
	for _, p := range []struct {
		name string
		id   *parley.ID
	}{{"conversation_id", &req.ConversationID}, {"before_id", &req.BeforeID}} {
		if s := q.Get(p.name); s != "" {
			id, err := parley.ParseID(s)
			if err != nil {
				h.writeError(w, r, parley.Errorf(parley.EINVALID, "%s must be an id", p.name))
				return
			}
			*p.id = id
		}
	}
	limit, err := queryInt(r, "limit", parley.DefaultSearchLimit)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	// An explicit limit=0 is refused; the default applies when it is absent.
	if req.Limit, err = parley.PageLimit(int(min(limit, 1<<31)), 0, parley.MaxSearchLimit); err != nil {
		h.writeError(w, r, err)
		return
	}
	if h.svc.Search == nil {
		h.writeError(w, r, parley.Errorf(parley.ENOTFOUND, "not found"))
		return
	}
	rs, err := h.svc.Search.Search(r.Context(), c, req)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": rs})
}
