package sqlite

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley"
)

const messageCols = `id, conversation_id, seq, sender_id, sender_device_id, client_msg_id, type, body, media_id, reply_to, recall_of, edit_of, reaction_of, forwarded, created_at, recalled_at, edited_at, expires_at, disappear_after`

// scanMessage scans messageCols, then any extra columns into extra.
func scanMessage(s scanner, extra ...any) (*parley.Message, error) {
	var m parley.Message
	var id, conv, sender, device, created int64
	var cmid sql.NullString
	var media, reply, recallOf, editOf, reactionOf, recalled, edited, expires, disappear sql.NullInt64
	dest := append([]any{&id, &conv, &m.Seq, &sender, &device, &cmid, &m.Type, &m.Body, &media, &reply, &recallOf, &editOf, &reactionOf, &m.Forwarded, &created, &recalled, &edited, &expires, &disappear}, extra...)
	if err := s.Scan(dest...); err != nil {
		return nil, err
	}
	m.ID, m.ConversationID, m.SenderID, m.SenderDeviceID = parley.ID(id), parley.ID(conv), parley.ID(sender), parley.ID(device)
	m.ClientMsgID = cmid.String
	m.MediaID, m.ReplyTo, m.RecallOf = parley.ID(media.Int64), parley.ID(reply.Int64), parley.ID(recallOf.Int64)
	m.EditOf, m.ReactionOf = parley.ID(editOf.Int64), parley.ID(reactionOf.Int64)
	m.CreatedAt, m.RecalledAt, m.EditedAt, m.ExpiresAt = fromTS(created), fromNullTS(recalled), fromNullTS(edited), fromNullTS(expires)
	if disappear.Valid {
		m.DisappearAfter = &disappear.Int64
	}
	return &m, nil
}

func nullID(id parley.ID) any {
	if id == 0 {
		return nil
	}
	return int64(id)
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// prefetch looks up, in one query, the log entries that the batch's sends
// would duplicate.
func (b *batch) prefetch(ops []*op) error {
	var args []any
	for _, o := range ops {
		if o.dedup != nil {
			args = append(args, int64(o.dedup.device), o.dedup.cmid)
		}
	}
	for start := 0; start < len(args); start += 2 * rowsPerInsert {
		chunk := args[start:min(start+2*rowsPerInsert, len(args))]
		rows, err := b.query(`SELECT `+messageCols+`, content_hash FROM messages
			WHERE client_msg_id IS NOT NULL AND (sender_device_id, client_msg_id) IN (VALUES `+
			strings.TrimSuffix(strings.Repeat("(?,?),", len(chunk)/2), ",")+`)`, chunk...)
		if err != nil {
			return fmt.Errorf("look up sent messages: %w", err)
		}
		for rows.Next() {
			var hash []byte
			m, err := scanMessage(rows, &hash)
			if err != nil {
				rows.Close()
				return err
			}
			b.dedup[dedupKey{m.SenderDeviceID, m.ClientMsgID}] = dedupEntry{m, hash}
		}
		if err := rows.Close(); err != nil {
			return err
		}
	}
	return nil
}

// appendEntry gives m the conversation's next seq and a new id and queues
// it for insertion at the end of the batch. When m's (sender device,
// client_msg_id) was sent before (in the store or earlier in this batch) it
// queues nothing and returns that earlier entry. Sends must be submitted
// with their dedup key so the batch looked it up in the store beforehand.
func (b *batch) appendEntry(m *parley.Message, contentHash []byte) (prior *dedupEntry, err error) {
	k := dedupKey{m.SenderDeviceID, m.ClientMsgID}
	if m.ClientMsgID != "" {
		if e, ok := b.dedup[k]; ok {
			return &e, nil
		}
	}
	conv, err := b.conv(m.ConversationID)
	if err != nil {
		return nil, err
	}
	id, err := b.nextID()
	if err != nil {
		return nil, err
	}
	m.ID, m.Seq = parley.ID(id), conv.lastSeq+1
	m.SetExpiry(conv.disappearAfter)
	e := dedupEntry{m, contentHash}
	b.pending = append(b.pending, e)
	if m.ClientMsgID != "" {
		b.dedup[k] = e
	}
	b.useSeq(m.ConversationID, m.Seq, m.CreatedAt)
	b.raise(m.ConversationID, m.SenderID, m.Seq, m.Seq)
	if m.Type.Sent() {
		b.unarchive[m.ConversationID] = true
	}
	return nil, nil
}

// insertPending writes the queued log entries. Anything that reads the
// messages table inside a batch calls it first.
//
// Most entries are plain: no media, reply, recall, edit, reaction, forward,
// expiry or timer setting. They go in with the ten columns they set, the others with all
// eighteen: binding is a large part of an insert's cost, and the columns
// left out are NULL (forwarded 0) by default.
func (b *batch) insertPending() error {
	if len(b.pending) == 0 {
		return nil
	}
	pending := b.pending
	b.pending = b.pending[:0]
	full := false
	args := b.rowArgs()
	for _, e := range pending {
		m := e.msg
		b.logged = append(b.logged, logEntry{id: int64(m.ID), conv: int64(m.ConversationID), typ: m.Type, body: m.Body,
			of: int64(cmp.Or(m.EditOf, m.RecallOf)), live: true})
		if plainEntry(m) {
			args = append(args, int64(m.ID), int64(m.ConversationID), m.Seq, int64(m.SenderID), int64(m.SenderDeviceID),
				nullString(m.ClientMsgID), e.hash, string(m.Type), m.Body, ts(m.CreatedAt))
		} else {
			full = true
		}
	}
	if len(args) > 0 {
		if err := b.execRows(`INSERT INTO messages (id, conversation_id, seq, sender_id, sender_device_id, client_msg_id, content_hash, type, body, created_at)
			VALUES %s`, "(?,?,?,?,?,?,?,?,?,?)", 10, args); err != nil {
			return fmt.Errorf("append messages: %w", err)
		}
	}
	if full {
		args = b.rowArgs()
		for _, e := range pending {
			m := e.msg
			if plainEntry(m) {
				continue
			}
			var expires, disappear any
			if m.ExpiresAt != nil {
				expires = ts(*m.ExpiresAt)
			}
			if m.DisappearAfter != nil {
				disappear = *m.DisappearAfter
			}
			args = append(args, int64(m.ID), int64(m.ConversationID), m.Seq, int64(m.SenderID), int64(m.SenderDeviceID),
				nullString(m.ClientMsgID), e.hash, string(m.Type), m.Body, nullID(m.MediaID), nullID(m.ReplyTo), nullID(m.RecallOf),
				nullID(m.EditOf), nullID(m.ReactionOf), m.Forwarded, ts(m.CreatedAt), expires, disappear)
		}
		if err := b.execRows(`INSERT INTO messages (id, conversation_id, seq, sender_id, sender_device_id, client_msg_id, content_hash, type, body, media_id, reply_to, recall_of, edit_of, reaction_of, forwarded, created_at, expires_at, disappear_after)
			VALUES %s`, "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", 18, args); err != nil {
			return fmt.Errorf("append messages: %w", err)
		}
	}
	return nil
}

// plainEntry reports whether m sets none of the log's optional columns.
func plainEntry(m *parley.Message) bool {
	return m.MediaID == 0 && m.ReplyTo == 0 && m.RecallOf == 0 && m.EditOf == 0 && m.ReactionOf == 0 &&
		!m.Forwarded && m.ExpiresAt == nil && m.DisappearAfter == nil
}

// AppendMessage implements parley.MessageStore.
func (db *DB) AppendMessage(ctx context.Context, m *parley.Message, contentHash []byte, queued func()) (*parley.Message, bool, error) {
	var prior *parley.Message
	o := &op{err: make(chan error, 1)}
	if m.ClientMsgID != "" {
		o.dedup = &dedupKey{m.SenderDeviceID, m.ClientMsgID}
	}
	o.fn = func(b *batch) error {
		p, err := b.appendEntry(m, contentHash)
		if err != nil || p == nil {
			return err
		}
		if !bytes.Equal(p.hash, contentHash) || p.msg.ConversationID != m.ConversationID {
			return parley.Errorf(parley.ECONFLICT, "client_msg_id %q was used for a different message", m.ClientMsgID)
		}
		cp := *p.msg
		prior = &cp
		return nil
	}
	if err := db.w.submit(ctx, o, queued); err != nil {
		return nil, false, err
	}
	if prior != nil {
		return prior, false, nil
	}
	return m, true, nil
}

// Message implements parley.MessageStore.
func (db *DB) Message(ctx context.Context, id parley.ID) (*parley.Message, error) {
	m, err := scanMessage(db.queryRowRead(ctx, `SELECT `+messageCols+` FROM messages WHERE id = ?`, int64(id)))
	if err != nil {
		return nil, notFound(err, "message not found")
	}
	return m, nil
}

// Messages implements parley.MessageStore.
func (db *DB) Messages(ctx context.Context, conversationID parley.ID, f parley.MessageFilter) ([]*parley.Message, error) {
	lo, hi, limit, ascending := f.Window()
	if hi <= lo {
		return nil, nil
	}
	order := "DESC"
	if ascending {
		order = "ASC"
	}
	// An entry that never expires has a NULL expires_at; a zero Now
	// (0) leaves out none.
	var now int64
	if !f.Now.IsZero() {
		now = ts(f.Now)
	}
	rows, err := db.queryRead(ctx, `SELECT `+messageCols+` FROM messages
		WHERE conversation_id = ? AND seq > ? AND seq <= ? AND (expires_at IS NULL OR expires_at > ? OR ? = 0)
		ORDER BY seq `+order+` LIMIT ?`,
		int64(conversationID), lo, hi, now, now, limit)
	if err != nil {
		return nil, dbError(fmt.Sprintf("read messages of %d", conversationID), err)
	}
	defer rows.Close()
	ms := make([]*parley.Message, 0, min(limit, 64))
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, dbError("read message", err)
		}
		ms = append(ms, m)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError("read messages", err)
	}
	if order == "DESC" {
		slices.Reverse(ms)
	}
	return ms, nil
}

// LogPosition implements parley.MessageStore. The single writer gives
// message ids in commit order, so the highest id marks what is committed.
func (db *DB) LogPosition(ctx context.Context) (parley.LogPosition, error) {
	var id int64
	if err := db.queryRowRead(ctx, `SELECT coalesce(max(id), 0) FROM messages`).Scan(&id); err != nil {
		return "", dbError("read log position", err)
	}
	return parley.LogPosition(strconv.FormatInt(id, 10)), nil
}

// lastSeqsAtSQL answers, for each [conversation, position] pair of the
// JSON list ? (by its index), the last seq of the conversation with an id
// at most the position, walking messages_seq backwards from the
// conversation's end.
const lastSeqsAtSQL = `SELECT p.key, (SELECT seq FROM messages WHERE conversation_id = p.value ->> 0 AND id <= p.value ->> 1 ORDER BY seq DESC LIMIT 1)
	FROM json_each(?) AS p`

// LastSeqsAt implements parley.MessageStore: within a conversation, seqs
// and ids grow together, so the entry it looks for at a position is the
// last one of the conversation with an id at most that position; the
// entries each probe walks past are those written since. One statement
// answers every point.
func (db *DB) LastSeqsAt(ctx context.Context, points []parley.LogPoint) ([]int64, error) {
	pairs := make([][2]int64, len(points))
	for i, p := range points {
		id, err := strconv.ParseInt(string(p.Position), 10, 64)
		if err != nil || id < 0 {
			return nil, parley.Errorf(parley.EINVALID, "not a log position of this store")
		}
		pairs[i] = [2]int64{int64(p.ConversationID), id}
	}
	seqs := make([]int64, len(points))
	if len(pairs) == 0 {
		return seqs, nil
	}
	rows, err := db.queryRead(ctx, lastSeqsAtSQL, jsonList(pairs))
	if err != nil {
		return nil, dbError("read log positions", err)
	}
	defer rows.Close()
	for rows.Next() {
		var i int
		var seq sql.NullInt64
		if err := rows.Scan(&i, &seq); err != nil {
			return nil, dbError("read log positions", err)
		}
		seqs[i] = seq.Int64
	}
	if err := rows.Err(); err != nil {
		return nil, dbError("read log positions", err)
	}
	return seqs, nil
}

// RecallMessage implements parley.MessageStore.
func (db *DB) RecallMessage(ctx context.Context, entry *parley.Message) (*parley.Message, error) {
	var orig *parley.Message
	err := db.w.do(ctx, func(b *batch) error {
		if err := b.insertPending(); err != nil {
			return err
		}
		o, err := scanMessage(b.queryRow(`SELECT `+messageCols+` FROM messages WHERE id = ?`, int64(entry.RecallOf)))
		if err != nil {
			return notFound(err, "message not found")
		}
		if o.ConversationID != entry.ConversationID {
			return parley.Errorf(parley.ENOTFOUND, "message not found")
		}
		if o.RecalledAt != nil {
			return parley.Errorf(parley.ECONFLICT, "message was already recalled")
		}
		if _, err := b.exec(`UPDATE messages SET body = '', media_id = NULL, recalled_at = ? WHERE id = ?`, ts(entry.CreatedAt), int64(o.ID)); err != nil {
			return fmt.Errorf("recall message %d: %w", o.ID, err)
		}
		// What the edits said goes with the original, and its reactions.
		if _, err := b.exec(`UPDATE messages SET body = '' WHERE edit_of = ?`, int64(o.ID)); err != nil {
			return fmt.Errorf("recall edits of message %d: %w", o.ID, err)
		}
		if _, err := b.exec(`DELETE FROM reactions WHERE message_id = ?`, int64(o.ID)); err != nil {
			return fmt.Errorf("recall reactions to message %d: %w", o.ID, err)
		}
		entry.ClientMsgID = ""
		if _, err := b.appendEntry(entry, nil); err != nil {
			return err
		}
		at := entry.CreatedAt
		o.Body, o.MediaID, o.RecalledAt = "", 0, &at
		orig = o
		return nil
	})
	if err != nil {
		return nil, err
	}
	return orig, nil
}

// SetDisappearAfter implements parley.MessageStore. The writer's cache
// takes the new timer at once, so a send later in the same batch (later
// in the log) gets it too.
func (db *DB) SetDisappearAfter(ctx context.Context, entry *parley.Message) error {
	if entry.DisappearAfter == nil {
		return parley.Errorf(parley.EINVALID, "a setting entry needs disappear_after")
	}
	v := *entry.DisappearAfter
	return db.w.do(ctx, func(b *batch) error {
		entry.ClientMsgID = ""
		if _, err := b.appendEntry(entry, nil); err != nil {
			return err
		}
		if _, err := b.exec(`UPDATE conversations SET disappear_after = ? WHERE id = ?`, v, int64(entry.ConversationID)); err != nil {
			return fmt.Errorf("set disappearing timer of %d: %w", entry.ConversationID, err)
		}
		st := b.w.convs[entry.ConversationID]
		st.disappearAfter = v
		b.w.convs[entry.ConversationID] = st
		return nil
	})
}

// DeleteExpiredMessages implements parley.MessageStore. The idempotency
// key lives on the row, so it goes with it.
func (db *DB) DeleteExpiredMessages(ctx context.Context, now time.Time, limit int) (int64, []parley.ID, error) {
	var n int64
	var media []parley.ID
	err := db.w.do(ctx, func(b *batch) error {
		n, media = 0, nil
		if err := b.insertPending(); err != nil {
			return err
		}
		seen := make(map[int64]bool)
		var ids []any
		err := b.collect(`DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)
			RETURNING id, media_id`, []any{ts(now), limit}, func(rows *sql.Rows) error {
			var id int64
			var m sql.NullInt64
			if err := rows.Scan(&id, &m); err != nil {
				return err
			}
			n++
			ids = append(ids, id)
			if m.Valid && !seen[m.Int64] {
				seen[m.Int64] = true
				media = append(media, parley.ID(m.Int64))
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("delete expired messages: %w", err)
		}
		return b.forgetExpired(ids)
	})
	if err != nil {
		return 0, nil, err
	}
	return n, media, nil
}

// forgetExpired takes what else held the words of the erased messages
// ids: their search entries (deleted_messages tells the index), the bodies
// of their edits, their reactions.
func (b *batch) forgetExpired(ids []any) error {
	if len(ids) == 0 {
		return nil
	}
	b.deleted = true
	in := placeholders(len(ids))
	for _, q := range []string{
		`INSERT OR IGNORE INTO deleted_messages (message_id) VALUES ` + strings.TrimSuffix(strings.Repeat("(?),", len(ids)), ","),
		`UPDATE messages SET body = '' WHERE edit_of IN (` + in + `)`,
		`DELETE FROM reactions WHERE message_id IN (` + in + `)`,
	} {
		if _, err := b.exec(q, ids...); err != nil {
			return fmt.Errorf("forget expired messages: %w", err)
		}
	}
	return nil
}

// DeleteMessagesBefore implements parley.MessageStore. It deletes in
// batches of the oldest entries so the writer never holds one huge
// transaction, and stops at the first batch with nothing old enough.
func (db *DB) DeleteMessagesBefore(ctx context.Context, t time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		err := db.w.do(ctx, func(b *batch) error {
			// Ids grow with time, so the oldest entries are the first ids:
			// walking them in id order needs no index on created_at.
			if err := b.insertPending(); err != nil {
				return err
			}
			if _, err := b.exec(`INSERT OR IGNORE INTO deleted_messages (message_id)
				SELECT id FROM messages WHERE id IN (SELECT id FROM messages ORDER BY id LIMIT 5000) AND created_at < ?`, ts(t)); err != nil {
				return fmt.Errorf("record old messages: %w", err)
			}
			b.deleted = true
			res, err := b.exec(`DELETE FROM messages WHERE id IN (SELECT id FROM messages ORDER BY id LIMIT 5000) AND created_at < ?`, ts(t))
			if err != nil {
				return fmt.Errorf("delete old messages: %w", err)
			}
			if n, err = res.RowsAffected(); err != nil || n > 0 {
				return err
			}
			// The last round: reactions go with the messages they were to.
			if _, err := b.exec(`DELETE FROM reactions WHERE message_created_at < ?`, ts(t)); err != nil {
				return fmt.Errorf("delete old reactions: %w", err)
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
		if n == 0 {
			return total, nil
		}
	}
}
