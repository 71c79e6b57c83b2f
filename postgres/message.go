package postgres

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/parleyhq/parley"
)

const messageCols = `id, conversation_id, seq, sender_id, sender_device_id, client_msg_id, type, body, media_id, reply_to, recall_of, edit_of, reaction_of, forwarded, created_at, recalled_at, edited_at, expires_at, disappear_after`

type scanner interface{ Scan(dest ...any) error }

// scanMessage scans messageCols, then any extra columns into extra.
func scanMessage(s scanner, extra ...any) (*parley.Message, error) {
	var m parley.Message
	var id, conv, sender, device int64
	var cmid *string
	var media, reply, recallOf, editOf, reactionOf *int64
	dest := []any{&id, &conv, &m.Seq, &sender, &device, &cmid, &m.Type, &m.Body, &media, &reply, &recallOf, &editOf, &reactionOf, &m.Forwarded, &m.CreatedAt, &m.RecalledAt, &m.EditedAt, &m.ExpiresAt, &m.DisappearAfter}
	if err := s.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	m.ID, m.ConversationID, m.SenderID, m.SenderDeviceID = parley.ID(id), parley.ID(conv), parley.ID(sender), parley.ID(device)
	m.ClientMsgID = deref(cmid)
	m.MediaID, m.ReplyTo, m.RecallOf = parley.ID(deref(media)), parley.ID(deref(reply)), parley.ID(deref(recallOf))
	m.EditOf, m.ReactionOf = parley.ID(deref(editOf)), parley.ID(deref(reactionOf))
	m.CreatedAt, m.RecalledAt, m.EditedAt, m.ExpiresAt = utc(m.CreatedAt), utcPtr(m.RecalledAt), utcPtr(m.EditedAt), utcPtr(m.ExpiresAt)
	return &m, nil
}

// checkMessage refuses, before a send joins a group, what PostgreSQL would
// refuse for the whole group: text with NUL characters and times outside
// the years partitions are named for. A message without a creation time is
// created now.
func (db *DB) checkMessage(m *parley.Message) error {
	if strings.IndexByte(m.Body, 0) >= 0 || strings.IndexByte(m.ClientMsgID, 0) >= 0 {
		return parley.Errorf(parley.EINVALID, "text may not contain NUL characters")
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = db.now()
	}
	m.CreatedAt = micro(m.CreatedAt)
	if y := m.CreatedAt.Year(); y < 1 || y > 9999 {
		return parley.Errorf(parley.EINVALID, "created_at is out of range")
	}
	return nil
}

// AppendMessage implements parley.MessageStore. The send joins the next
// group commit; see group for how the seq is assigned.
func (db *DB) AppendMessage(ctx context.Context, m *parley.Message, contentHash []byte, queued func()) (*parley.Message, bool, error) {
	if err := db.checkMessage(m); err != nil {
		if queued != nil {
			queued()
		}
		return nil, false, err
	}
	o := newOp(opAppend)
	o.msg, o.hash = *m, contentHash
	if err := db.w.submit(ctx, o, queued); err != nil {
		return nil, false, err
	}
	if o.prior != nil {
		return o.prior, false, nil
	}
	m.ID, m.Seq, m.ExpiresAt = o.id, o.newSeq, o.msg.ExpiresAt
	return m, true, nil
}

// Message implements parley.MessageStore.
func (db *DB) Message(ctx context.Context, id parley.ID) (*parley.Message, error) {
	m, err := scanMessage(db.pool.QueryRow(ctx, `SELECT `+messageCols+` FROM messages WHERE id = $1`, int64(id)))
	if err != nil {
		return nil, db.notFound("read message", err, "message not found")
	}
	return m, nil
}

// LogPosition implements parley.MessageStore: the snapshot of committed
// transactions as this moment sees it.
func (db *DB) LogPosition(ctx context.Context) (parley.LogPosition, error) {
	var snap string
	if err := db.pool.QueryRow(ctx, `SELECT pg_current_snapshot()::text`).Scan(&snap); err != nil {
		return "", db.err("read log position", err)
	}
	return parley.LogPosition(snap), nil
}

// LastSeqsAt implements parley.MessageStore. A conversation's sends lock
// its row one transaction after the other, so its entries commit in seq
// order: those visible in a snapshot are a prefix of its log, and the
// entries each backward scan walks past are the few written since that
// snapshot. One round trip answers every point.
func (db *DB) LastSeqsAt(ctx context.Context, points []parley.LogPoint) ([]int64, error) {
	convs := make([]int64, len(points))
	snaps := make([]string, len(points))
	for i, p := range points {
		if !validSnapshot(string(p.Position)) {
			return nil, parley.Errorf(parley.EINVALID, "not a log position of this store")
		}
		convs[i], snaps[i] = int64(p.ConversationID), string(p.Position)
	}
	seqs := make([]int64, len(points))
	if len(points) == 0 {
		return seqs, nil
	}
	rows, err := db.pool.Query(ctx, `SELECT p.i, (SELECT seq FROM messages
			WHERE conversation_id = p.conv AND (written_by IS NULL OR pg_visible_in_snapshot(written_by, p.snap::pg_snapshot))
			ORDER BY seq DESC LIMIT 1)
		FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS p(conv, snap, i)`, convs, snaps)
	if err != nil {
		return nil, db.err("read log positions", err)
	}
	defer rows.Close()
	for rows.Next() {
		var i int64
		var seq *int64
		if err := rows.Scan(&i, &seq); err != nil {
			return nil, db.err("read log positions", err)
		}
		if seq != nil {
			seqs[i-1] = *seq
		}
	}
	if err := rows.Err(); err != nil {
		return nil, db.err("read log positions", err)
	}
	return seqs, nil
}

// validSnapshot reports whether s has the text form of a pg_snapshot,
// xmin:xmax:xip,… in digits, so a malformed one is refused before it
// reaches the server.
func validSnapshot(s string) bool {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && r != ':' && r != ',' {
			return false
		}
	}
	return true
}

// recentDays and earlierDays are how many days of partitions a page is
// looked for in before the others: first the recentDays up to today (and
// the next day), then the earlierDays before those. The newest page of a
// conversation active these last days then costs the few index scans of
// the days its entries are in, and that of a conversation with a message
// every few hours one more statement, instead of an index scan in every
// partition of the retention window.
const (
	recentDays  = 7
	earlierDays = 8
)

// Messages implements parley.MessageStore. A page is a range scan of the
// (conversation_id, seq, …) primary key in daily partitions; its cost
// grows with the number of partitions read. So the newest page and pages
// after a cursor are read in steps: the recent days, then the earlier
// days, each one day after the other from the page's end and only until
// the page is full (see daysPageSQL), and last the other partitions. What
// a step finds counts only as far as it is provably part of the page: the
// run of contiguous seqs from the page's end (the requested bound or the
// conversation's last seq, read by the first statement). When the run
// holds the page (the page size, or every seq to the other bound), the
// read ends; otherwise the next step reads only what the page lacks
// beyond the run. A step that returned fewer entries than asked returned
// all its days hold of that: when the first steps did, the last one
// leaves their days out, and the page is the page of all they found and
// it finds. Pages before a seq (scrolling back) read every partition at
// once.
func (db *DB) Messages(ctx context.Context, conversationID parley.ID, f parley.MessageFilter) ([]*parley.Message, error) {
	lo, hi, limit, ascending := f.Window()
	if hi <= lo {
		return nil, nil
	}
	var now *time.Time
	if !f.Now.IsZero() {
		t := micro(f.Now)
		now = &t
	}
	if f.BeforeSeq > 0 {
		// Scrolling back: the recent partitions seldom hold the page.
		ms, _, err := db.page(ctx, pageSQL(ascending, ""), conversationID, lo, hi, limit, now)
		return ms, err
	}
	st := db.stepsFor(dayOf(db.now()), ascending)
	var run []*parley.Message  // the page's part found so far, from its end
	var read []*parley.Message // the entries of the days read through
	top := int64(-1)
	slo, shi := lo, hi // what is left to find
	through := 0       // how many steps, from the first, returned all they had
	for i, sql := range []string{st.recent, st.earlier} {
		want := limit - len(run)
		ms, last, err := db.page(ctx, sql, conversationID, slo, shi, want, now)
		if err != nil {
			return nil, err
		}
		if len(ms) < want && through == i {
			// Every entry of these days that the page may still take is
			// in ms: the last step leaves them out.
			through++
			read = append(read, ms...)
		}
		if len(ms) == 0 && len(run) == 0 {
			break // nothing of the window in the newest days: the last step finds the rest
		}
		if top < 0 && len(ms) > 0 {
			top = min(hi, last)
		}
		if ascending {
			run = joinSeqs(run, pageRun(ms, slo+1, true))
		} else {
			run = joinSeqs(pageRun(ms, min(shi, top), false), run)
		}
		if len(run) == 0 {
			continue
		}
		first, end := run[0].Seq, run[len(run)-1].Seq
		if len(run) == limit || first == lo+1 && end == top {
			return run, nil
		}
		if ascending {
			slo = end
		} else {
			shi = first - 1
		}
	}
	// The rest of the page from the partitions of the days not read through.
	ms, _, err := db.page(ctx, st.rest[through], conversationID, slo, shi, limit-len(run), now)
	if err != nil {
		return nil, err
	}
	ms = append(append(ms, run...), read...)
	slices.SortFunc(ms, func(a, b *parley.Message) int { return cmp.Compare(a.Seq, b.Seq) })
	ms = slices.CompactFunc(ms, func(a, b *parley.Message) bool { return a.Seq == b.Seq })
	if len(ms) > limit {
		if ascending {
			ms = ms[:limit]
		} else {
			ms = ms[len(ms)-limit:]
		}
	}
	if len(ms) == 0 {
		return nil, nil
	}
	return ms, nil
}

// pageRun returns the entries of ms (in ascending seq order) that are
// contiguous from the seq from: the ones above it when ascending, below
// it otherwise. It is empty when from is not in ms.
func pageRun(ms []*parley.Message, from int64, ascending bool) []*parley.Message {
	if ascending {
		n := 0
		for n < len(ms) && ms[n].Seq == from+int64(n) {
			n++
		}
		return ms[:n]
	}
	n := 0
	for n < len(ms) && ms[len(ms)-1-n].Seq == from-int64(n) {
		n++
	}
	return ms[len(ms)-n:]
}

// joinSeqs returns low followed by high, two runs of entries in ascending
// seq order, low's below high's, without writing into either.
func joinSeqs(low, high []*parley.Message) []*parley.Message {
	return append(low[:len(low):len(low)], high...)
}

// page runs a page query and returns its entries in ascending seq order,
// and the conversation's last seq as the statement saw it.
func (db *DB) page(ctx context.Context, sql string, conv parley.ID, lo, hi int64, limit int, now *time.Time) (ms []*parley.Message, last int64, err error) {
	rows, err := db.pool.Query(ctx, sql, int64(conv), lo, hi, limit, now)
	if err != nil {
		return nil, 0, db.err("read messages", err)
	}
	ms, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*parley.Message, error) { return scanMessage(r, &last) })
	if err != nil {
		return nil, 0, db.err("read messages", err)
	}
	slices.SortFunc(ms, func(a, b *parley.Message) int { return cmp.Compare(a.Seq, b.Seq) })
	if len(ms) == 0 {
		return nil, last, nil
	}
	return ms, last, nil
}

// recentSpan returns the first and last day of the recent partitions: the
// recentDays up to today, and the next day.
func recentSpan(today day) (first, last day) { return today - (recentDays - 1), today + 1 }

// dayWindow returns the condition that selects the day's partition. It is
// written into the statement, not passed as a parameter, so the planner
// leaves the other partitions out of the plan; the text changes once a
// day.
func dayWindow(d day) string {
	return `created_at >= ` + dayLiteral(d) + ` AND created_at < ` + dayLiteral(d+1)
}

func dayLiteral(d day) string { return `'` + d.start().Format("2006-01-02 15:04:05+00") + `'` } // start() is in UTC

// pageSQL returns the query of a page of the log in the partitions that
// window selects (all when empty): $1 conversation, $2 < seq <= $3, $4 rows
// from the low or the high end, leaving out what expired at or before $5
// (NULL: nothing); the conversation's last seq is the last column.
func pageSQL(ascending bool, window string) string {
	return `SELECT ` + messageCols + `, (SELECT last_seq FROM conversations WHERE id = $1) FROM messages` + pageWhere(ascending, window)
}

// daysPageSQL returns the query of a page, with pageSQL's parameters and
// columns, in the partitions of the days from first to last: the page's
// part of each day, one day after the other from the newest (the oldest
// when ascending), up to $4 entries in all. The executor reads a day only
// when the days before it left the page short, so a page in the newest
// days reads only those, and a sparse conversation's page the days its
// entries are in, one index scan each. When creation times are out of seq
// order, its entries need not be the page of those days.
func daysPageSQL(ascending bool, first, last day) string {
	days := make([]string, 0, last-first+1)
	for d := first; d <= last; d++ {
		days = append(days, `(SELECT `+messageCols+` FROM messages`+pageWhere(ascending, dayWindow(d))+`)`)
	}
	if !ascending {
		slices.Reverse(days)
	}
	return `SELECT p.*, (SELECT last_seq FROM conversations WHERE id = $1) FROM (` +
		strings.Join(days, "\n\tUNION ALL ") + `) p LIMIT $4`
}

// stepsFor returns the statements of Messages' steps as of today, built
// once a day: they are long, and building them costs more than an index
// scan.
func (db *DB) stepsFor(today day, ascending bool) *pageSteps {
	s := db.steps.Load()
	if s == nil || s.today != today {
		s = &pageStatements{today: today}
		first, last := recentSpan(today)
		for i, asc := range []bool{false, true} {
			// Every rest has the days after last, for a clock ahead.
			s.steps[i] = pageSteps{
				recent:  daysPageSQL(asc, first, last),
				earlier: daysPageSQL(asc, first-earlierDays, first-1),
				rest: [3]string{
					pageSQL(asc, ""),
					pageSQL(asc, `(created_at < `+dayLiteral(first)+` OR created_at >= `+dayLiteral(last+1)+`)`),
					pageSQL(asc, `(created_at < `+dayLiteral(first-earlierDays)+` OR created_at >= `+dayLiteral(last+1)+`)`),
				},
			}
		}
		db.steps.Store(s)
	}
	if ascending {
		return &s.steps[1]
	}
	return &s.steps[0]
}

// pageSteps are the statements of Messages' steps, in one direction: the
// recent days, the earlier days, and the rest of the page from every
// partition, from all but the recent days', or from all but the recent and
// the earlier days'.
type pageSteps struct {
	recent, earlier string
	rest            [3]string
}

// pageStatements holds the statements of Messages' steps on one day.
type pageStatements struct {
	today day
	steps [2]pageSteps // descending, ascending
}

// pageWhere returns the conditions, order and limit of pageSQL.
func pageWhere(ascending bool, window string) string {
	order := "DESC"
	if ascending {
		order = "ASC"
	}
	if window != "" {
		window = " AND " + window
	}
	return `
		WHERE conversation_id = $1 AND seq > $2 AND seq <= $3` + window + `
		  AND (expires_at IS NULL OR $5::timestamptz IS NULL OR expires_at > $5)
		ORDER BY seq ` + order + ` LIMIT $4`
}

// RecallMessage implements parley.MessageStore. It runs in its own
// transaction, taking the conversation's lock like a group does, because
// recalls are rare and must not slow the groups down.
func (db *DB) RecallMessage(ctx context.Context, entry *parley.Message) (*parley.Message, error) {
	entry.ClientMsgID = ""
	if err := db.checkMessage(entry); err != nil {
		return nil, err
	}
	if err := db.parts.ensure(ctx, entry.CreatedAt); err != nil {
		return nil, db.err("recall message", err)
	}
	var orig *parley.Message
	var id, seq int64
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		last, err := lockForEntry(ctx, tx, entry)
		if err != nil {
			return notFound("recall message", err, "message not found")
		}
		orig, err = scanMessage(tx.QueryRow(ctx, `SELECT `+messageCols+` FROM messages WHERE id = $1 AND conversation_id = $2 FOR UPDATE`,
			int64(entry.RecallOf), int64(entry.ConversationID)))
		if err != nil {
			return notFound("recall message", err, "message not found")
		}
		if orig.RecalledAt != nil {
			return parley.Errorf(parley.ECONFLICT, "message was already recalled")
		}
		if _, err := tx.Exec(ctx, `UPDATE messages SET body = '', media_id = NULL, recalled_at = $4
			WHERE conversation_id = $1 AND seq = $2 AND created_at = $3`,
			int64(orig.ConversationID), orig.Seq, orig.CreatedAt, entry.CreatedAt); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM message_search WHERE id = $1`, int64(orig.ID)); err != nil {
			return err
		}
		// What the edits said goes with the original, and its reactions.
		if _, err := tx.Exec(ctx, `UPDATE messages SET body = '' WHERE edit_of = $1`, int64(orig.ID)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM reactions WHERE message_id = $1`, int64(orig.ID)); err != nil {
			return err
		}
		var err2 error
		id, seq, err2 = appendEntryTx(ctx, tx, entry, last)
		return err2
	})
	if err != nil {
		return nil, db.err("recall message", err)
	}
	entry.ID, entry.Seq = parley.ID(id), seq
	at := entry.CreatedAt
	orig.Body, orig.MediaID, orig.RecalledAt = "", 0, &at
	return orig, nil
}

// lockForEntry takes, in a transaction of its own, the locks a group
// takes to append to the conversation (the conversation, then the entry's
// sender's membership) and returns the conversation's last seq.
func lockForEntry(ctx context.Context, tx pgx.Tx, entry *parley.Message) (last int64, err error) {
	err = tx.QueryRow(ctx, `SELECT last_seq FROM conversations WHERE id = $1 FOR NO KEY UPDATE`, int64(entry.ConversationID)).Scan(&last)
	if err != nil {
		return 0, err
	}
	// Lock order as in a group: conversation, then member.
	_, err = tx.Exec(ctx, `SELECT 1 FROM members WHERE conversation_id = $1 AND user_id = $2 FOR NO KEY UPDATE`,
		int64(entry.ConversationID), int64(entry.SenderID))
	return last, err
}

// SetDisappearAfter implements parley.MessageStore. Like a recall it runs
// in its own transaction under the conversation's lock, so the groups
// before it append with the old timer and those after it with the new.
func (db *DB) SetDisappearAfter(ctx context.Context, entry *parley.Message) error {
	if entry.DisappearAfter == nil {
		return parley.Errorf(parley.EINVALID, "a setting entry needs disappear_after")
	}
	entry.ClientMsgID = ""
	if err := db.checkMessage(entry); err != nil {
		return err
	}
	if err := db.parts.ensure(ctx, entry.CreatedAt); err != nil {
		return db.err("set disappearing timer", err)
	}
	var id, seq int64
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		last, err := lockForEntry(ctx, tx, entry)
		if err != nil {
			return notFound("set disappearing timer", err, "conversation not found")
		}
		if id, seq, err = appendEntryTx(ctx, tx, entry, last); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE conversations SET disappear_after = $2 WHERE id = $1`, int64(entry.ConversationID), *entry.DisappearAfter)
		return err
	})
	if err != nil {
		return db.err("set disappearing timer", err)
	}
	entry.ID, entry.Seq = parley.ID(id), seq
	return nil
}

// DeleteExpiredMessages implements parley.MessageStore: the entries are
// found through the expiry index of each partition, and their
// idempotency records go in the same transaction.
func (db *DB) DeleteExpiredMessages(ctx context.Context, now time.Time, limit int) (int64, []parley.ID, error) {
	var n int64
	var media []parley.ID
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		n, media = 0, nil
		rows, err := tx.Query(ctx, `DELETE FROM messages WHERE (conversation_id, seq, created_at) IN (
				SELECT conversation_id, seq, created_at FROM messages WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)
			RETURNING id, media_id, sender_device_id, client_msg_id`, micro(now), limit)
		if err != nil {
			return err
		}
		var ids, devs []int64
		var cmids []string
		seen := make(map[int64]bool)
		var m *int64
		var id, dev int64
		var cmid *string
		_, err = pgx.ForEachRow(rows, []any{&id, &m, &dev, &cmid}, func() error {
			n++
			ids = append(ids, id)
			if m != nil && !seen[*m] {
				seen[*m] = true
				media = append(media, parley.ID(*m))
			}
			if cmid != nil {
				devs, cmids = append(devs, dev), append(cmids, *cmid)
			}
			return nil
		})
		if err != nil || len(ids) == 0 {
			return err
		}
		// What else held their words: search entries, the bodies of their
		// edits, their reactions.
		for _, q := range []string{
			`DELETE FROM message_search WHERE id = ANY($1)`,
			`UPDATE messages SET body = '' WHERE edit_of = ANY($1)`,
			`DELETE FROM reactions WHERE message_id = ANY($1)`,
		} {
			if _, err := tx.Exec(ctx, q, ids); err != nil {
				return err
			}
		}
		if len(devs) == 0 {
			return nil
		}
		_, err = tx.Exec(ctx, `DELETE FROM message_dedup d USING unnest($1::bigint[], $2::text[]) AS k(dev, cmid)
			WHERE d.sender_device_id = k.dev AND d.client_msg_id = k.cmid`, devs, cmids)
		return err
	})
	if err != nil {
		return 0, nil, db.err("delete expired messages", err)
	}
	return n, media, nil
}

// DeleteMessagesBefore implements parley.MessageStore. Partitions whose
// whole day is before t are detached and dropped; in the partition that
// straddles t the older rows are deleted; then the search index's rows
// and the idempotency records of that age are deleted in batches. One
// node runs it at a time.
func (db *DB) DeleteMessagesBefore(ctx context.Context, t time.Time) (int64, error) {
	t = micro(t)
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return 0, db.err("delete old messages", err)
	}
	defer conn.Release()
	var total int64
	err = withLock(ctx, conn, retentionLockSpace, 0, func() error {
		days, err := partitionDays(ctx, conn)
		if err != nil {
			return err
		}
		for _, d := range days {
			if (d + 1).start().After(t) {
				break
			}
			n, err := db.parts.drop(ctx, conn, d)
			if err != nil {
				return err
			}
			total += n
		}
		tag, err := conn.Exec(ctx, `DELETE FROM messages WHERE created_at < $1`, t)
		if err != nil {
			return err
		}
		total += tag.RowsAffected()
		// Reactions and search entries go with the messages they were of.
		if err := deleteOlder(ctx, conn, "reactions", "message_created_at", t); err != nil {
			return err
		}
		if err := deleteOlder(ctx, conn, "message_search", "created_at", t); err != nil {
			return err
		}
		return deleteOlder(ctx, conn, "message_dedup", "created_at", t)
	})
	if err != nil {
		return total, db.err("delete old messages", err)
	}
	return total, nil
}

// deleteOlder deletes the rows of table whose time column is before t, in
// batches, so no one statement holds many rows' locks.
func deleteOlder(ctx context.Context, conn *pgxpool.Conn, table, column string, t time.Time) error {
	for {
		tag, err := conn.Exec(ctx, `DELETE FROM `+table+` WHERE ctid = ANY(ARRAY(
			SELECT ctid FROM `+table+` WHERE `+column+` < $1 LIMIT 10000))`, t)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
	}
}
