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
// snapshot. One round trip answers every position.
func (db *DB) LastSeqsAt(ctx context.Context, conversationID parley.ID, positions []parley.LogPosition) ([]int64, error) {
	snaps := make([]string, len(positions))
	for i, pos := range positions {
		if !validSnapshot(string(pos)) {
			return nil, parley.Errorf(parley.EINVALID, "not a log position of this store")
		}
		snaps[i] = string(pos)
	}
	seqs := make([]int64, len(positions))
	if len(snaps) == 0 {
		return seqs, nil
	}
	rows, err := db.pool.Query(ctx, `SELECT p.i, (SELECT seq FROM messages
			WHERE conversation_id = $1 AND (written_by IS NULL OR pg_visible_in_snapshot(written_by, p.snap::pg_snapshot))
			ORDER BY seq DESC LIMIT 1)
		FROM unnest($2::text[]) WITH ORDINALITY AS p(snap, i)`, int64(conversationID), snaps)
	if err != nil {
		return nil, db.err("read log positions of a conversation", err)
	}
	defer rows.Close()
	for rows.Next() {
		var i int64
		var seq *int64
		if err := rows.Scan(&i, &seq); err != nil {
			return nil, db.err("read log positions of a conversation", err)
		}
		if seq != nil {
			seqs[i-1] = *seq
		}
	}
	if err := rows.Err(); err != nil {
		return nil, db.err("read log positions of a conversation", err)
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

// recentDays is how many days of partitions a page is first looked for in.
// A page that only needs the newest partitions (opening an active
// conversation, syncing a device that was offline for a while) then costs
// a few index scans instead of one per day of the retention window.
const recentDays = 7

// Messages implements parley.MessageStore. A page is a range scan of the
// (conversation_id, seq, …) primary key in each daily partition, merged in
// seq order; its cost grows with the number of partitions read. So the
// newest page and pages after a cursor are read from the recent partitions
// first. That answer is the page when it provably is: its seqs are
// contiguous and reach the page's ends (the requested bound, the
// conversation's last seq read by the same statement, or the page size).
// Otherwise the same page is read from the other partitions and the two
// are merged: the page of a union is the page of the union of the two
// pages. Pages before a seq (scrolling back) read every partition at once.
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
		ms, _, err := db.page(ctx, pageSQL(ascending, ""), conversationID, lo, hi, limit, ascending, now)
		return ms, err
	}
	recentOnly, olderOnly := windows(db.now())
	recent, exact, err := db.page(ctx, pageSQL(ascending, recentOnly), conversationID, lo, hi, limit, ascending, now)
	if err != nil || exact {
		return recent, err
	}
	older, _, err := db.page(ctx, pageSQL(ascending, olderOnly), conversationID, lo, hi, limit, ascending, now)
	if err != nil {
		return nil, err
	}
	ms := append(older, recent...)
	slices.SortFunc(ms, func(a, b *parley.Message) int { return cmp.Compare(a.Seq, b.Seq) })
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

// page runs a page query and returns its entries in ascending seq order;
// exact reports whether they are provably the page of the whole log. An
// expired entry left out is a hole like any other: the page is then
// completed from the other partitions.
func (db *DB) page(ctx context.Context, sql string, conv parley.ID, lo, hi int64, limit int, ascending bool, now *time.Time) (ms []*parley.Message, exact bool, err error) {
	rows, err := db.pool.Query(ctx, sql, int64(conv), lo, hi, limit, now)
	if err != nil {
		return nil, false, db.err("read messages", err)
	}
	var last int64
	ms, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*parley.Message, error) { return scanMessage(r, &last) })
	if err != nil {
		return nil, false, db.err("read messages", err)
	}
	if len(ms) == 0 {
		return nil, false, nil
	}
	if !ascending {
		slices.Reverse(ms)
	}
	for i := 1; i < len(ms); i++ {
		if ms[i].Seq != ms[i-1].Seq+1 {
			return ms, false, nil
		}
	}
	first, end, top := ms[0].Seq, ms[len(ms)-1].Seq, min(hi, last)
	if ascending {
		return ms, first == lo+1 && (len(ms) == limit || end == top), nil
	}
	return ms, end == top && (len(ms) == limit || first == lo+1), nil
}

// windows returns the conditions that select the recent partitions (the
// recentDays up to now's day, and the next day) and all the others. They
// are written into the statement, not passed as parameters, so the planner
// leaves the other partitions out of the plan; the text changes once a day.
func windows(now time.Time) (recent, older string) {
	const layout = "2006-01-02 15:04:05+00" // day.start() is in UTC
	today := dayOf(now)
	since, until := (today - (recentDays - 1)).start().Format(layout), (today + 2).start().Format(layout)
	return `created_at >= '` + since + `' AND created_at < '` + until + `'`,
		`(created_at < '` + since + `' OR created_at >= '` + until + `')`
}

// pageSQL returns the query of a page of the log in the partitions that
// window selects (all when empty): $1 conversation, $2 < seq <= $3, $4 rows
// from the low or the high end, leaving out what expired at or before $5
// (NULL: nothing); the conversation's last seq is the last column.
func pageSQL(ascending bool, window string) string {
	order := "DESC"
	if ascending {
		order = "ASC"
	}
	if window != "" {
		window = " AND " + window
	}
	return `SELECT ` + messageCols + `, (SELECT last_seq FROM conversations WHERE id = $1) FROM messages
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
