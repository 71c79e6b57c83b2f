package sqlite

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/textsearch"
)

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

// maxPendingMatch is the most entries the index lacks that a search
// matches itself; past it (the indexer far behind) it waits for a
// catch-up.
const maxPendingMatch = 4 * searchBatch

// SearchMessages implements parley.SearchStore. FTS5 walks the matches
// in the caller's conversations newest first (message ids grow in commit
// order), a chunk at a time; the messages of each chunk are read from the
// log, and those recalled, outside the caller's windows (before it
// joined, after it left) or expired but not erased yet are skipped, until
// the page is full.
//
// A search does not wait for the index to catch up: the entries committed
// since its progress are in the indexer's tail, and are matched there, in
// Go, by the same rules (textsearch.Match); so are the messages that an
// edit or a recall among them changed, as they now stand in the log, whose
// entries in the index may be stale. Only when the tail does not hold all
// that the index lacks (after a start, a gap, a long lag) does the search
// wait for a catch-up.
func (db *DB) SearchMessages(ctx context.Context, f parley.SearchFilter) ([]*parley.Message, error) {
	if len(f.Terms) == 0 || len(f.Windows) == 0 {
		return nil, nil
	}
	limit := f.Limit
	if limit <= 0 {
		limit = parley.DefaultSearchLimit
	}
	convs := make(map[parley.ID]bool, len(f.Windows))
	var ordered []parley.ID
	for _, w := range f.Windows {
		if w.Ceiling > w.Floor && !convs[w.ConversationID] {
			convs[w.ConversationID] = true
			ordered = append(ordered, w.ConversationID)
		}
	}
	if len(convs) == 0 {
		return nil, nil
	}
	// The index holds every entry up to through; those after it are in
	// pending, and a search matches them itself.
	through, pending, ok := db.index.snapshot()
	if !ok || len(pending) > maxPendingMatch {
		if err := db.index.sync(ctx); err != nil {
			return nil, err
		}
		through = 1<<63 - 1
	}
	if h := db.index.afterSnapshot; h != nil {
		h()
	}
	before := int64(f.BeforeID)
	if before <= 0 {
		before = 1<<63 - 1
	}
	found, stale, err := db.matchTail(ctx, pending, f.Terms, convs, before)
	if err != nil {
		return nil, dbError("search messages", err)
	}
	match := ftsQuery(f.Terms, ordered)
	visible := f.Visible()
	var out []*parley.Message
	// The first chunk is what a page needs when every match is shown (most
	// often the case); each next one is larger, for callers whose matches
	// are mostly hidden.
	for chunk := limit; len(out) < limit; chunk = min(4*chunk, searchChunk) {
		indexed, err := db.index.matches(ctx, match, before, chunk)
		if err != nil {
			return nil, dbError("search messages", err)
		}
		// Everything below before and above floor is now known: the
		// index's matches and those found outside it. The index may have
		// caught up past through since: those entries were matched in
		// the tail.
		floor := int64(0)
		if len(indexed) == chunk {
			floor = indexed[len(indexed)-1]
		}
		ids := make([]int64, 0, len(indexed)+len(found))
		for _, id := range indexed {
			for len(found) > 0 && found[0] > id {
				ids, found = append(ids, found[0]), found[1:]
			}
			if id <= through && !stale[id] {
				ids = append(ids, id)
			}
		}
		for len(found) > 0 && found[0] > floor {
			ids, found = append(ids, found[0]), found[1:]
		}
		if len(ids) > 0 {
			ms, err := db.messagesByID(ctx, ids)
			if err != nil {
				return nil, dbError("search messages", err)
			}
			for _, m := range ms {
				if len(out) < limit && visible(m.ConversationID, m.Seq) && !m.Expired(f.Now) {
					out = append(out, m)
				}
			}
		}
		if floor == 0 {
			break
		}
		before = floor
	}
	return out, nil
}

// matchTail matches the terms against entries, the log entries the index
// has not caught up with, in the conversations convs and below before.
// It returns the ids that match, highest first: those entries, and the
// messages an edit or a recall among them changed (stale, whose index
// entries the search must not trust) as the log now holds them.
func (db *DB) matchTail(ctx context.Context, entries []logEntry, terms []parley.SearchTerm, convs map[parley.ID]bool, before int64) ([]int64, map[int64]bool, error) {
	var stale map[int64]bool
	for _, e := range entries {
		if e.of != 0 {
			if stale == nil {
				stale = make(map[int64]bool)
			}
			stale[e.of] = true
		}
	}
	match := func(e logEntry) bool {
		return convs[parley.ID(e.conv)] && e.typ.Sent() && textsearch.Match(terms, e.body)
	}
	var ids []int64
	for _, e := range entries {
		if e.id < before && !stale[e.id] && match(e) {
			ids = append(ids, e.id)
		}
	}
	changed := make([]int64, 0, len(stale))
	for id := range stale {
		if id < before {
			changed = append(changed, id)
		}
	}
	current, err := db.currentEntries(ctx, changed)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range current {
		if match(e) {
			ids = append(ids, e.id)
		}
	}
	slices.SortFunc(ids, func(a, b int64) int { return cmp.Compare(b, a) })
	return ids, stale, nil
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
