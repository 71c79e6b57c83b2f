package sqlite

import (
	"context"
	"strings"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/textsearch"
)

// searchDoc returns what message_search holds for an entry of
// conversation conv: its words scoped to conv (textsearch.Scoped), joined
// by spaces; "" when the entry is not indexed (not a text, image or file
// message, or without words).
func searchDoc(conv parley.ID, typ parley.MessageType, body string) string {
	if !typ.Sent() { // only what people send is indexed
		return ""
	}
	return string(textsearch.AppendScoped(make([]byte, 0, len(body)+len(body)/2+16), conv, body))
}

// ftsQuery translates parsed terms into an FTS5 query over the
// conversations searched: in each conversation every term (its words
// scoped to it), the conversations ORed. Every word goes in double quotes
// (a quote inside one doubled), so nothing a user typed is read as FTS5
// syntax.
func ftsQuery(terms []parley.SearchTerm, convs []parley.ID) string {
	return textsearch.Expr(terms, convs, " OR ", " AND ", func(b *strings.Builder, words []string, prefix bool) {
		b.WriteByte('"')
		b.WriteString(strings.ReplaceAll(strings.Join(words, " "), `"`, `""`))
		b.WriteByte('"')
		if prefix {
			b.WriteString(" *")
		}
	})
}

// SearchMessages implements parley.SearchStore. FTS5 walks the matches
// in the caller's conversations newest first (message ids grow in commit
// order), a chunk at a time; the messages of each chunk are read from the
// log, and those recalled, outside the caller's windows (before it
// joined, after it left) or expired but not erased yet are skipped, until
// the page is full.
func (db *DB) SearchMessages(ctx context.Context, f parley.SearchFilter) ([]*parley.Message, error) {
	if len(f.Terms) == 0 || len(f.Windows) == 0 {
		return nil, nil
	}
	limit := f.Limit
	if limit <= 0 {
		limit = parley.DefaultSearchLimit
	}
	convs := make([]parley.ID, 0, len(f.Windows))
	for _, w := range f.Windows {
		if w.Ceiling > w.Floor {
			convs = append(convs, w.ConversationID)
		}
	}
	if len(convs) == 0 {
		return nil, nil
	}
	if err := db.index.sync(ctx); err != nil {
		return nil, err
	}
	before := int64(f.BeforeID)
	if before <= 0 {
		before = 1<<63 - 1
	}
	match := ftsQuery(f.Terms, convs)
	visible := f.Visible()
	var out []*parley.Message
	// The first chunk is what a page needs when every match is shown (most
	// often the case); each next one is larger, for callers whose matches
	// are mostly hidden.
	for chunk := limit; len(out) < limit; chunk = min(4*chunk, searchChunk) {
		ids, err := db.index.matches(ctx, match, before, chunk)
		if err != nil {
			return nil, dbError("search messages", err)
		}
		if len(ids) == 0 {
			break
		}
		ms, err := db.messagesByID(ctx, ids)
		if err != nil {
			return nil, dbError("search messages", err)
		}
		for _, m := range ms {
			if len(out) < limit && visible(m.ConversationID, m.Seq) && !m.Expired(f.Now) {
				out = append(out, m)
			}
		}
		if len(ids) < chunk {
			break
		}
		before = ids[len(ids)-1]
	}
	return out, nil
}

// matches returns the rowids of up to n entries below before that match
// the FTS5 query, highest first.
func (x *indexer) matches(ctx context.Context, match string, before int64, n int) ([]int64, error) {
	rows, err := x.read.QueryContext(ctx, `SELECT rowid FROM message_search
		WHERE message_search MATCH ? AND rowid < ? ORDER BY rowid DESC LIMIT ?`, match, before, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// messagesByID reads the messages ids (highest first) that are not
// recalled; ids the log no longer holds are left out.
func (db *DB) messagesByID(ctx context.Context, ids []int64) ([]*parley.Message, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+messageCols+` FROM messages
		WHERE id IN (`+placeholders(len(ids))+`) AND recalled_at IS NULL ORDER BY id DESC`, int64Args(ids)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*parley.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}
