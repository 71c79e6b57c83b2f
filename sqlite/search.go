package sqlite

import (
	"context"
	"database/sql"
	"fmt"
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

// indexEntries adds the searchable entries among es to message_search.
// insertPending calls it in the batch that inserts them.
func (b *batch) indexEntries(es []dedupEntry) error {
	const width = 2
	args := b.rowArgs()
	for _, e := range es {
		if doc := searchDoc(e.msg.ConversationID, e.msg.Type, e.msg.Body); doc != "" {
			args = append(args, int64(e.msg.ID), doc)
		}
	}
	if len(args) == 0 {
		return nil
	}
	if err := b.execRows(`INSERT INTO message_search (rowid, body) VALUES %s`, "(?,?)", width, args); err != nil {
		return fmt.Errorf("index messages: %w", err)
	}
	return nil
}

// setSearchText makes the index hold body as the text of the stored entry
// m (its id, conversation and type are used), in the batch's transaction:
// what a change of a message's text (an edit) calls in the batch that
// stores it. An empty body takes the entry out of the index.
func (b *batch) setSearchText(m *parley.Message, body string) error {
	if err := b.unindex(m.ID); err != nil {
		return err
	}
	doc := searchDoc(m.ConversationID, m.Type, body)
	if doc == "" {
		return nil
	}
	if _, err := b.exec(`INSERT INTO message_search (rowid, body) VALUES (?, ?)`, int64(m.ID), doc); err != nil {
		return fmt.Errorf("index message %d: %w", m.ID, err)
	}
	return nil
}

// unindex takes the entry's words out of the index (a recall).
func (b *batch) unindex(id parley.ID) error {
	if _, err := b.exec(`DELETE FROM message_search WHERE rowid = ?`, int64(id)); err != nil {
		return fmt.Errorf("unindex message %d: %w", id, err)
	}
	return nil
}

// backfillSearch indexes the messages stored before migration 8, in its
// transaction.
func backfillSearch(ctx context.Context, tx *sql.Tx) error {
	var after int64
	for {
		rows, err := tx.QueryContext(ctx, `SELECT id, conversation_id, type, body FROM messages
			WHERE id > ? AND recalled_at IS NULL AND body <> '' ORDER BY id LIMIT 1000`, after)
		if err != nil {
			return fmt.Errorf("read messages to index: %w", err)
		}
		var args []any
		n := 0
		for rows.Next() {
			var id, conv int64
			var typ, body string
			if err := rows.Scan(&id, &conv, &typ, &body); err != nil {
				rows.Close()
				return err
			}
			after, n = id, n+1
			if doc := searchDoc(parley.ID(conv), parley.MessageType(typ), body); doc != "" {
				args = append(args, id, doc)
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
		for start := 0; start < len(args); start += 2 * rowsPerInsert {
			chunk := args[start:min(start+2*rowsPerInsert, len(args))]
			q := `INSERT INTO message_search (rowid, body) VALUES ` + strings.TrimSuffix(strings.Repeat("(?,?),", len(chunk)/2), ",")
			if _, err := tx.ExecContext(ctx, q, chunk...); err != nil {
				return fmt.Errorf("index messages: %w", err)
			}
		}
		if n == 0 {
			return nil
		}
	}
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

// searchRow is the condition on a message row that a search result meets
// besides its words and window.
const searchRow = `m.recalled_at IS NULL`

// SearchMessages implements parley.SearchStore. FTS5 walks the matches
// in the caller's conversations newest first (message ids grow in commit
// order); the rows outside the caller's windows (before it joined,
// after it left) and those expired but not erased yet are skipped as they
// come, and the walk stops at the limit.
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
	before := int64(f.BeforeID)
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := db.queryRead(ctx, `SELECT `+prefixed("m.", messageCols)+`
		FROM message_search s CROSS JOIN messages m ON m.id = s.rowid
		WHERE message_search MATCH ? AND s.rowid < ? AND `+searchRow+`
		ORDER BY s.rowid DESC`, ftsQuery(f.Terms, convs), before)
	if err != nil {
		return nil, dbError("search messages", err)
	}
	defer rows.Close()
	visible := f.Visible()
	var out []*parley.Message
	for len(out) < limit && rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, dbError("search messages", err)
		}
		if visible(m.ConversationID, m.Seq) && !m.Expired(f.Now) {
			out = append(out, m)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, dbError("search messages", err)
	}
	return out, nil
}

// prefixed qualifies each column of a list with p.
func prefixed(p, cols string) string {
	fs := strings.Split(cols, ", ")
	for i, c := range fs {
		fs[i] = p + c
	}
	return strings.Join(fs, ", ")
}
