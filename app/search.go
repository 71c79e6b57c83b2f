package app

import (
	"context"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/textsearch"
)

// Search implements parley.SearchService. Who may see what is decided
// here, as for history: each membership's window (Member.Floor and
// Member.Ceiling: after joining, up to leaving, above a cleared history),
// read from the stored rows; the store only matches words within those
// windows.
func (a *App) Search(ctx context.Context, c parley.Caller, req parley.SearchRequest) ([]parley.SearchResult, error) {
	var err error
	if req.Limit, err = parley.PageLimit(req.Limit, parley.DefaultSearchLimit, parley.MaxSearchLimit); err != nil {
		return nil, err
	}
	if req.ConversationID < 0 || req.BeforeID < 0 {
		return nil, parley.Errorf(parley.EINVALID, "conversation_id and before_id must be ids")
	}
	terms, err := textsearch.Parse(req.Q)
	if err != nil {
		return nil, err
	}
	windows, err := a.searchWindows(ctx, c, req.ConversationID)
	if err != nil {
		return nil, err
	}
	out := []parley.SearchResult{}
	if len(windows) == 0 {
		return out, nil
	}
	// An expired message the expiry job has not erased yet is not shown:
	// the store leaves it out before it counts the page.
	ms, err := a.store.SearchMessages(ctx, parley.SearchFilter{Terms: terms, Windows: windows, BeforeID: req.BeforeID, Limit: req.Limit, Now: a.now.Now()})
	if err != nil {
		return nil, err
	}
	if err := a.decorate(ctx, ms); err != nil {
		return nil, err
	}
	for _, m := range ms {
		out = append(out, parley.SearchResult{Message: m, ConversationID: m.ConversationID, Snippet: textsearch.Snippet(m.Body, terms)})
	}
	return out, nil
}

// searchWindows returns what the caller may see of the conversation, or of
// every conversation it is or was a member of when conv is zero; ENOTFOUND
// for a conversation it never was a member of.
func (a *App) searchWindows(ctx context.Context, c parley.Caller, conv parley.ID) ([]parley.SearchWindow, error) {
	if conv != 0 {
		floor, ceiling, err := a.visible(ctx, c, conv)
		if err != nil {
			return nil, err
		}
		return []parley.SearchWindow{{ConversationID: conv, Floor: floor, Ceiling: ceiling}}, nil
	}
	ucs, err := a.store.UserConversations(ctx, c.UserID, parley.ConversationFilter{IncludeHidden: true, IncludeLeft: true})
	if err != nil {
		return nil, err
	}
	ws := make([]parley.SearchWindow, 0, len(ucs))
	for _, uc := range ucs {
		w := parley.SearchWindow{ConversationID: uc.Conversation.ID, Floor: uc.Self.Floor(), Ceiling: uc.Self.Ceiling(uc.Conversation.LastSeq)}
		if w.Ceiling > w.Floor {
			ws = append(ws, w)
		}
	}
	return ws, nil
}
