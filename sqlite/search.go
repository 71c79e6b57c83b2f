package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

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

// The full-text index catches up with the log rather than being written
// with each message: FTS5 flushes what a transaction inserted as a segment
// of its own when it commits, which at one or a few messages a commit was
// a fifth to a quarter of the store's CPU per message (BenchmarkWriteFloor,
// BenchmarkAppendMessage with one sender). The writer keeps the new
// entries' text in memory (searchIndex) and writes their search entries
// together: in a transaction of their own once searchIdleBatch wait and
// no request does (so no send waits for them), in the transaction it is
// running once searchBatch wait (a writer that is never idle), within
// Config.SearchDelay when fewer come, and always before anything that
// reads, changes or removes entries: a search asks the writer first
// (SearchMessages), a recall or an edit of an entry not indexed yet
// changes the entry in memory, expiry and retention catch up before they
// delete.
const (
	searchBatch     = 128
	searchIdleBatch = 16
)

// searchIndex is how far the full-text index has caught up with the log.
// Only the writer's goroutine uses it, but for pending.
type searchIndex struct {
	// through is the highest message id whose search entry is written, or
	// that needs none (search_progress holds it as of the last commit);
	// entries are the searchable entries after it, in id order.
	through int64
	entries []unindexedEntry
	// stale says through and entries are not known (when the store opens,
	// after a failed batch): the next catch-up reads through from
	// search_progress and indexes what follows it from the log.
	stale bool
	// pending is, as of the last commit, whether a search could miss a
	// committed entry: there were entries, or stale.
	pending atomic.Bool
	// timer, when set, brings a catch-up Config.SearchDelay after entries were
	// left waiting at the end of a batch.
	timer *time.Timer
	armed bool
}

// unindexedEntry is a searchable log entry whose search entry is not
// written yet.
type unindexedEntry struct {
	id   int64
	conv parley.ID
	typ  parley.MessageType
	body string
}

// queueSearch keeps the searchable entries among es for the next catch-up.
// insertPending calls it in the batch that inserts them.
func (b *batch) queueSearch(es []dedupEntry) {
	s := &b.w.search
	if s.stale {
		return // the catch-up reads them from the log
	}
	for _, e := range es {
		if m := e.msg; m.Type.Sent() && m.Body != "" {
			s.entries = append(s.entries, unindexedEntry{int64(m.ID), m.ConversationID, m.Type, m.Body})
		}
	}
}

// dueSearch reports whether the batch should catch the index up before it
// commits (entries that wait longer are the timer's, searchCommitted).
func (b *batch) dueSearch() bool {
	s := &b.w.search
	return s.stale || len(s.entries) >= searchBatch
}

// idleSearch runs a catch-up of its own when enough entries wait and the
// writer has nothing else to do.
func (w *writer) idleSearch() {
	if s := &w.search; s.stale || len(s.entries) < searchIdleBatch || w.q.Len() > 0 {
		return
	}
	w.runTimed([]*op{newOp((*batch).catchUpSearch)})
}

// catchUpSearch writes the search entries of every log entry appended so
// far, in the batch's transaction.
func (b *batch) catchUpSearch() error {
	if err := b.insertPending(); err != nil {
		return err
	}
	s := &b.w.search
	last, err := b.lastID()
	if err != nil {
		return err
	}
	if s.stale {
		if err := b.queryRow(`SELECT indexed_through FROM search_progress`).Scan(&s.through); err != nil {
			return fmt.Errorf("read search progress: %w", err)
		}
		if err := backfillSearch(context.Background(), b.w.conn, s.through); err != nil {
			return err
		}
	} else if len(s.entries) > 0 {
		const width = 2
		args := b.rowArgs()
		for _, e := range s.entries {
			if doc := searchDoc(e.conv, e.typ, e.body); doc != "" {
				args = append(args, e.id, doc)
			}
		}
		if err := b.execRows(`INSERT INTO message_search (rowid, body) VALUES %s`, "(?,?)", width, args); err != nil {
			return fmt.Errorf("index messages: %w", err)
		}
	}
	if last != s.through {
		if _, err := b.exec(`UPDATE search_progress SET indexed_through = ?`, last); err != nil {
			return fmt.Errorf("record search progress: %w", err)
		}
	}
	s.through, s.stale = last, false
	clear(s.entries)
	s.entries = s.entries[:0]
	return nil
}

// unindexed returns where entries holds id's entry, or -1 when its
// search entry is written or it needs none; it catches up first when the
// index's state is not known.
func (b *batch) unindexed(id parley.ID) (int, error) {
	s := &b.w.search
	if err := b.insertPending(); err != nil {
		return -1, err
	}
	if s.stale {
		if err := b.catchUpSearch(); err != nil {
			return -1, err
		}
	}
	if int64(id) <= s.through {
		return -1, nil
	}
	i, ok := slices.BinarySearchFunc(s.entries, int64(id), func(e unindexedEntry, id int64) int { return cmp.Compare(e.id, id) })
	if !ok {
		return -1, nil
	}
	return i, nil
}

// setSearchText makes the index hold body as the text of the stored entry
// m (its id, conversation and type are used), in the batch's transaction:
// what a change of a message's text (an edit) calls in the batch that
// stores it. An empty body takes the entry out of the index.
func (b *batch) setSearchText(m *parley.Message, body string) error {
	i, err := b.unindexed(m.ID)
	if err != nil {
		return err
	}
	if i >= 0 {
		// Not indexed yet: the catch-up indexes the new text.
		b.w.search.entries[i].body = body
		return nil
	}
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
	i, err := b.unindexed(id)
	if err != nil {
		return err
	}
	if i >= 0 {
		s := &b.w.search
		s.entries = slices.Delete(s.entries, i, i+1)
		return nil
	}
	if _, err := b.exec(`DELETE FROM message_search WHERE rowid = ?`, int64(id)); err != nil {
		return fmt.Errorf("unindex message %d: %w", id, err)
	}
	return nil
}

// searchCommitted is what the writer does with the index's state once a
// batch committed: searches need not catch up while nothing waits, and
// what waits is caught up within Config.SearchDelay even if no batch
// follows.
func (w *writer) searchCommitted() {
	s := &w.search
	waiting := s.stale || len(s.entries) > 0
	s.pending.Store(waiting)
	if !waiting || s.armed {
		return
	}
	s.armed = true
	s.timer = time.AfterFunc(w.db.cfg.SearchDelay, func() {
		// An error fails the batch it ran in and leaves the index stale,
		// which the next batch catches up; a closed store has nothing to do.
		_ = w.do(context.Background(), func(b *batch) error {
			b.w.search.armed = false
			return b.catchUpSearch()
		})
	})
}

// catchUpSearch brings the index up to the log before a search reads it,
// when anything committed may be missing from it.
func (db *DB) catchUpSearch(ctx context.Context) error {
	if !db.w.search.pending.Load() {
		return nil
	}
	return db.w.do(ctx, (*batch).catchUpSearch)
}

// migrateSearch indexes the messages stored before migration 8, in its
// transaction.
func migrateSearch(ctx context.Context, tx *sql.Tx) error { return backfillSearch(ctx, tx, 0) }

// execQuerier is a transaction or the writer's connection.
type execQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// backfillSearch indexes the messages after id after, reading them from
// the log.
func backfillSearch(ctx context.Context, tx execQuerier, after int64) error {
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
	if err := db.catchUpSearch(ctx); err != nil {
		return nil, err
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
