package parley

import (
	"context"
	"time"
)

// Limits on searches.
const (
	MaxSearchQueryBytes = 256
	MaxSearchWords      = 16
	MaxSearchLimit      = 50
	DefaultSearchLimit  = 20
)

// SearchRequest is a full-text search over the messages the caller may see.
// Q is the query: words in any script, each also matching words it starts
// (`hel` finds `hello`), and phrases in double quotes, all of which must
// match. ConversationID, when set, limits the search to one conversation;
// BeforeID pages: only messages older than that one.
type SearchRequest struct {
	Q              string
	ConversationID ID
	BeforeID       ID
	Limit          int
}

// SearchResult is one message a search found, with an excerpt of its text
// around the first match (plain text, never markup).
type SearchResult struct {
	Message        *Message `json:"message"`
	ConversationID ID       `json:"conversation_id"`
	Snippet        string   `json:"snippet"`
}

// SearchTerm is one condition of a parsed query: its words, adjacent and
// in order, normalised as the index holds them. Prefix makes the last
// word match every word it starts.
type SearchTerm struct {
	Words  []string
	Prefix bool
}

// SearchWindow is the part of one conversation's log a reader may see:
// Floor < seq <= Ceiling (Member.Floor and Member.Ceiling).
type SearchWindow struct {
	ConversationID ID
	Floor, Ceiling int64
}

// SearchFilter selects what SearchMessages returns: the entries matching
// every term, within the windows, older than BeforeID when it is set, not
// expired at Now (the zero time leaves none out), the newest Limit of
// them first.
type SearchFilter struct {
	Terms    []SearchTerm
	Windows  []SearchWindow
	BeforeID ID
	Limit    int
	Now      time.Time
}

// Visible returns a function that reports whether the entry with seq in
// the conversation falls in one of f's windows.
func (f *SearchFilter) Visible() func(conversationID ID, seq int64) bool {
	byConv := make(map[ID]SearchWindow, len(f.Windows))
	for _, w := range f.Windows {
		byConv[w.ConversationID] = w
	}
	return func(conversationID ID, seq int64) bool {
		w, ok := byConv[conversationID]
		return ok && seq > w.Floor && seq <= w.Ceiling
	}
}

// SearchStore finds messages by their words. Stores index the body of
// text, image and file messages (the caption) in the transaction that
// appends them, and take a recalled message's words out of the index in
// the transaction that recalls it.
type SearchStore interface {
	// SearchMessages returns the indexed entries f selects, newest first.
	// Returns EUNAVAILABLE when the store cannot answer now.
	SearchMessages(ctx context.Context, f SearchFilter) ([]*Message, error)
}

// SearchService is full-text search for clients.
type SearchService interface {
	// Search returns the messages matching req.Q that the caller may see,
	// newest first. EINVALID for a query that is empty, too long or not
	// well formed, or a limit out of range; ENOTFOUND for a
	// conversation_id the caller is not a member of.
	Search(ctx context.Context, c Caller, req SearchRequest) ([]SearchResult, error)
}
