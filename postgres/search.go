package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/textsearch"
)

// Limits of a tsvector: positions above maxPosition are not stored, and a
// lexeme keeps at most maxPositions of them.
const (
	maxPosition  = 16383
	maxPositions = 256
)

// quoteLexeme writes s as a quoted lexeme of tsvector and tsquery input,
// where a quote and a backslash must be escaped.
func quoteLexeme(b *strings.Builder, s string) {
	b.WriteByte('\'')
	for _, r := range s {
		if r == '\'' || r == '\\' {
			b.WriteRune(r)
		}
		b.WriteRune(r)
	}
	b.WriteByte('\'')
}

// searchVector returns the tsvector literal message_search holds for an
// entry of type typ with body in conversation conv (its words scoped to
// conv, textsearch.Scoped, with their positions), "" when the entry is
// not indexed (it has no row).
func searchVector(typ parley.MessageType, body string, conv parley.ID) string {
	if !typ.Sent() { // only what people send is indexed
		return ""
	}
	words := textsearch.Words(body)
	if len(words) == 0 {
		return ""
	}
	for i, w := range words {
		words[i] = textsearch.Scoped(conv, w)
	}
	pos := make(map[string][]int, len(words))
	order := make([]string, 0, len(words))
	for i, w := range words {
		p := min(i+1, maxPosition)
		ps, seen := pos[w]
		if !seen {
			order = append(order, w)
		}
		if len(ps) < maxPositions && (len(ps) == 0 || ps[len(ps)-1] != p) {
			pos[w] = append(ps, p)
		}
	}
	var b strings.Builder
	for _, w := range order {
		quoteLexeme(&b, w)
		b.WriteByte(':')
		for i, p := range pos[w] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(p))
		}
		b.WriteByte(' ')
	}
	return b.String()
}

// queueIndex queues, in a group's write round trip, the search index rows
// of the fresh entries that have words to index.
func queueIndex(b *pgx.Batch, fresh []*op) {
	var ids, convs, seqs []int64
	var ats []time.Time
	var docs []string
	for _, o := range fresh {
		if doc := searchVector(o.msg.Type, o.msg.Body, o.msg.ConversationID); doc != "" {
			ids, convs, seqs = append(ids, int64(o.id)), append(convs, int64(o.msg.ConversationID)), append(seqs, o.newSeq)
			ats, docs = append(ats, o.msg.CreatedAt), append(docs, doc)
		}
	}
	if len(ids) > 0 {
		b.Queue(insertIndex, ids, convs, seqs, ats, docs)
	}
}

// insertIndex writes search index rows from arrays: message ids,
// conversations, seqs, creation times, searchVector literals.
const insertIndex = `INSERT INTO message_search (id, conversation_id, seq, created_at, words)
	SELECT id, conv, seq, at, doc::tsvector
	FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::timestamptz[], $5::text[]) AS v(id, conv, seq, at, doc)
	ON CONFLICT (id) DO UPDATE SET words = excluded.words`

// setSearchText makes the index hold body as the text of the stored entry
// m (its id, conversation, seq, creation time and type are used), in tx:
// what a change of a message's text (an edit) calls in the transaction
// that stores it. An empty body takes the entry out of the index.
func setSearchText(ctx context.Context, tx pgx.Tx, m *parley.Message, body string) error {
	doc := searchVector(m.Type, body, m.ConversationID)
	var err error
	if doc == "" {
		_, err = tx.Exec(ctx, `DELETE FROM message_search WHERE id = $1`, int64(m.ID))
	} else {
		_, err = tx.Exec(ctx, insertIndex, []int64{int64(m.ID)}, []int64{int64(m.ConversationID)}, []int64{m.Seq}, []time.Time{m.CreatedAt}, []string{doc})
	}
	if err != nil {
		return fmt.Errorf("index message %d: %w", m.ID, err)
	}
	return nil
}

// backfillSearch indexes the messages stored before migration 8, in its
// transaction.
func backfillSearch(ctx context.Context, tx pgx.Tx) error {
	var after int64 = -1 << 63
	for {
		rows, err := tx.Query(ctx, `SELECT id, conversation_id, seq, created_at, type, body FROM messages
			WHERE id > $1 AND recalled_at IS NULL AND body <> '' ORDER BY id LIMIT 1000`, after)
		if err != nil {
			return fmt.Errorf("read messages to index: %w", err)
		}
		var ids, convs, seqs []int64
		var ats []time.Time
		var docs []string
		n := 0
		for rows.Next() {
			var id, conv, seq int64
			var at time.Time
			var typ, body string
			if err := rows.Scan(&id, &conv, &seq, &at, &typ, &body); err != nil {
				rows.Close()
				return err
			}
			after, n = id, n+1
			if doc := searchVector(parley.MessageType(typ), body, parley.ID(conv)); doc != "" {
				ids, convs, seqs, ats, docs = append(ids, id), append(convs, conv), append(seqs, seq), append(ats, at), append(docs, doc)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if len(docs) > 0 {
			if _, err := tx.Exec(ctx, insertIndex, ids, convs, seqs, ats, docs); err != nil {
				return fmt.Errorf("index messages: %w", err)
			}
		}
	}
}

// tsQuery translates parsed terms into a tsquery literal over the
// conversations searched: in each conversation the terms ANDed (their
// words scoped to it, a phrase's words joined by <->, a prefix marked
// :*), the conversations ORed. Every lexeme is quoted, so nothing a user
// typed is read as tsquery syntax.
func tsQuery(terms []parley.SearchTerm, convs []parley.ID) string {
	return textsearch.Expr(terms, convs, " | ", " & ", func(b *strings.Builder, words []string, prefix bool) {
		b.WriteByte('(')
		for i, w := range words {
			if i > 0 {
				b.WriteString(" <-> ")
			}
			quoteLexeme(b, w)
		}
		if prefix {
			b.WriteString(":*")
		}
		b.WriteByte(')')
	})
}

// searchRow returns the condition on a message row that a search result
// meets besides its words and window, with now the placeholder of the
// time it must not have expired by.
func searchRow(now string) string {
	return `m.recalled_at IS NULL AND (m.expires_at IS NULL OR m.expires_at > ` + now + `)`
}

// searchWalk is how many of the newest index entries of each conversation
// a search reads first (see SearchMessages).
const searchWalk = 10

// SearchMessages implements parley.SearchStore. The newest first by
// creation time (message ids come from per-session ranges, so they do not
// order by time), then id; the page's messages are then read from the log,
// each in its own partition.
//
// A first page is looked for among the newest searchWalk entries of each
// conversation searched (walkSQL: one backward scan of
// message_search_recent each, the words checked on the row). The page is
// exact when it is full and every conversation whose entries go on past
// the ones read has its last one read no newer than the page's last entry
// (what was not read is older still), or when every conversation was read
// to its end. Words common in the conversations settle it there, in
// reading 50 × searchWalk rows instead of every match. Otherwise, and for
// later pages, the GIN index of message_search finds the entries with the
// words in each conversation the caller may see (searchSQL), and every
// match is read to order them.
func (db *DB) SearchMessages(ctx context.Context, f parley.SearchFilter) ([]*parley.Message, error) {
	if len(f.Terms) == 0 {
		return nil, nil
	}
	if f.BeforeID == 0 {
		ms, ok, err := db.searchRecent(ctx, f)
		if err != nil {
			return nil, db.err("search messages", err)
		}
		if ok {
			return ms, nil
		}
	}
	q, args := searchSQL(f)
	if q == "" {
		return nil, nil
	}
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, db.err("search messages", err)
	}
	ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*parley.Message, error) { return scanMessage(r) })
	if err != nil {
		return nil, db.err("search messages", err)
	}
	return ms, nil
}

// searchLimit returns f's page size.
func searchLimit(f parley.SearchFilter) int {
	if f.Limit <= 0 {
		return parley.DefaultSearchLimit
	}
	return f.Limit
}

// searchArgs returns, for each window that has anything to see, the
// tsquery of f's terms in its conversation, the conversation and its
// bounds.
func searchArgs(f parley.SearchFilter) (qs []string, convs, los, his []int64) {
	for _, w := range f.Windows {
		if w.Ceiling > w.Floor {
			qs = append(qs, tsQuery(f.Terms, []parley.ID{w.ConversationID}))
			convs, los, his = append(convs, int64(w.ConversationID)), append(los, w.Floor), append(his, w.Ceiling)
		}
	}
	return qs, convs, los, his
}

// walkSQL reads the newest $5 index entries of each conversation $2 and
// returns those that match (in the window, with the words $1) and the
// last one read of each conversation that has $5, with its rank. The
// window is checked on the row, not in the scan, so that the planner
// reads the index backwards and stops at $5.
const walkSQL = `SELECT x.conversation_id, x.seq, x.created_at, x.id, x.hit, x.k
	FROM unnest($1::tsquery[], $2::bigint[], $3::bigint[], $4::bigint[]) AS w(q, conv, lo, hi)
	CROSS JOIN LATERAL (SELECT y.*, row_number() OVER () AS k FROM (
		SELECT s.conversation_id, s.seq, s.created_at, s.id, s.seq > w.lo AND s.seq <= w.hi AND s.words @@ w.q AS hit
		FROM message_search s WHERE s.conversation_id = w.conv
		ORDER BY s.created_at DESC, s.id DESC LIMIT $5) y) x
	WHERE x.hit OR x.k = $5`

// searchEntry is an index entry walkSQL returns.
type searchEntry struct {
	conv, seq int64
	at        time.Time
	id        int64
	hit       bool
	k         int64
}

// newer orders entries newest first.
func newer(a, b searchEntry) int {
	if c := b.at.Compare(a.at); c != 0 {
		return c
	}
	return cmp.Compare(b.id, a.id)
}

// searchRecent returns f's first page when the newest searchWalk entries
// of its conversations settle it (ok), see SearchMessages.
func (db *DB) searchRecent(ctx context.Context, f parley.SearchFilter) (ms []*parley.Message, ok bool, err error) {
	qs, convs, los, his := searchArgs(f)
	if len(convs) == 0 {
		return nil, true, nil
	}
	limit := searchLimit(f)
	rows, err := db.pool.Query(ctx, walkSQL, qs, convs, los, his, searchWalk)
	if err != nil {
		return nil, false, err
	}
	var hits, lasts []searchEntry
	for rows.Next() {
		var e searchEntry
		if err := rows.Scan(&e.conv, &e.seq, &e.at, &e.id, &e.hit, &e.k); err != nil {
			rows.Close()
			return nil, false, err
		}
		if e.hit {
			hits = append(hits, e)
		}
		if e.k == searchWalk {
			lasts = append(lasts, e)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	slices.SortFunc(hits, newer)
	if len(hits) < limit {
		if len(lasts) > 0 {
			return nil, false, nil // a conversation may have older matches
		}
	} else {
		hits = hits[:limit]
		for _, e := range lasts {
			if newer(e, hits[len(hits)-1]) < 0 {
				return nil, false, nil // entries not read may be newer than the page's last
			}
		}
	}
	if len(hits) == 0 {
		return nil, true, nil
	}
	cs, ss, ats := make([]int64, len(hits)), make([]int64, len(hits)), make([]time.Time, len(hits))
	for i, e := range hits {
		cs[i], ss[i], ats[i] = e.conv, e.seq, e.at
	}
	rows, err = db.pool.Query(ctx, `SELECT m.* FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[]) WITH ORDINALITY AS k(c, s, at, n)
		CROSS JOIN LATERAL (SELECT `+messageCols+` FROM messages m
			WHERE m.conversation_id = k.c AND m.seq = k.s AND m.created_at = k.at AND `+searchRow("$4")+`) m
		ORDER BY k.n`, cs, ss, ats, f.Now)
	if err != nil {
		return nil, false, err
	}
	ms, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*parley.Message, error) { return scanMessage(r) })
	if err != nil {
		return nil, false, err
	}
	if len(ms) < len(hits) {
		// An entry expired (or was recalled since it was read): the
		// page is not settled here.
		return nil, false, nil
	}
	return ms, true, nil
}

// searchSQL returns the query of f's page through the GIN index and its
// arguments; "" when no window has anything to see. conversation_id + 0
// keeps the planner off message_search_recent, which would read every
// entry of the conversations; the MATERIALIZED matches keep it off
// message_search_created: with LIMIT and ORDER BY created_at it would walk
// the whole index backwards testing each row's words, expecting matches
// to come soon (at 10M messages a two-word query over 50 conversations
// read 10M rows for 6.8 s where the GIN index found its 77 matches in
// 3 ms). The matches are at most the caller's own conversations' entries.
// They are sorted, then their messages read in that order until the page
// is full, so an entry that expired but is not erased yet leaves no hole
// in the page. (One tsquery per conversation, @@ ANY, made the GIN scan
// of the most frequent words four times cheaper but the searches that
// come here slower at the median; see BENCHMARKS.md.)
func searchSQL(f parley.SearchFilter) (string, []any) {
	_, convs, los, his := searchArgs(f)
	if len(convs) == 0 {
		return "", nil
	}
	ids := make([]parley.ID, len(convs))
	for i, c := range convs {
		ids[i] = parley.ID(c)
	}
	return `WITH hits AS MATERIALIZED (
			SELECT s.conversation_id, s.seq, s.created_at, s.id FROM message_search s
			JOIN unnest($2::bigint[], $3::bigint[], $4::bigint[]) AS w(conv, lo, hi) ON s.conversation_id + 0 = w.conv
			WHERE s.words @@ $1::tsquery AND s.seq > w.lo AND s.seq <= w.hi)
		SELECT m.* FROM (
			SELECT h.* FROM hits h
			WHERE $5::bigint = 0 OR (h.created_at, h.id) < (SELECT created_at, id FROM messages WHERE id = $5 LIMIT 1)
			ORDER BY h.created_at DESC, h.id DESC) s
		CROSS JOIN LATERAL (SELECT ` + messageCols + ` FROM messages m
			WHERE m.conversation_id = s.conversation_id AND m.seq = s.seq AND m.created_at = s.created_at AND ` + searchRow("$7") + `) m
		ORDER BY s.created_at DESC, s.id DESC LIMIT $6`,
		[]any{tsQuery(f.Terms, ids), convs, los, his, int64(f.BeforeID), searchLimit(f), f.Now}
}
