package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley"
)

const messageCols = `id, conversation_id, seq, sender_id, sender_device_id, client_msg_id, type, body, media_id, reply_to, recall_of, created_at, recalled_at`

// scanMessage scans messageCols, then any extra columns into extra.
func scanMessage(s scanner, extra ...any) (*parley.Message, error) {
	var m parley.Message
	var id, conv, sender, device, created int64
	var cmid sql.NullString
	var media, reply, recallOf, recalled sql.NullInt64
	dest := append([]any{&id, &conv, &m.Seq, &sender, &device, &cmid, &m.Type, &m.Body, &media, &reply, &recallOf, &created, &recalled}, extra...)
	if err := s.Scan(dest...); err != nil {
		return nil, err
	}
	m.ID, m.ConversationID, m.SenderID, m.SenderDeviceID = parley.ID(id), parley.ID(conv), parley.ID(sender), parley.ID(device)
	m.ClientMsgID = cmid.String
	m.MediaID, m.ReplyTo, m.RecallOf = parley.ID(media.Int64), parley.ID(reply.Int64), parley.ID(recallOf.Int64)
	m.CreatedAt, m.RecalledAt = fromTS(created), fromNullTS(recalled)
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
	last, err := b.lastSeq(m.ConversationID)
	if err != nil {
		return nil, err
	}
	id, err := b.nextID()
	if err != nil {
		return nil, err
	}
	m.ID, m.Seq = parley.ID(id), last+1
	e := dedupEntry{m, contentHash}
	b.pending = append(b.pending, e)
	if m.ClientMsgID != "" {
		b.dedup[k] = e
	}
	b.useSeq(m.ConversationID, m.Seq, m.CreatedAt)
	b.raise(m.ConversationID, m.SenderID, m.Seq, m.Seq)
	return nil, nil
}

// insertPending writes the queued log entries. Anything that reads the
// messages table inside a batch calls it first.
func (b *batch) insertPending() error {
	if len(b.pending) == 0 {
		return nil
	}
	const width = 13
	args := make([]any, 0, width*len(b.pending))
	for _, e := range b.pending {
		m := e.msg
		args = append(args, int64(m.ID), int64(m.ConversationID), m.Seq, int64(m.SenderID), int64(m.SenderDeviceID),
			nullString(m.ClientMsgID), e.hash, string(m.Type), m.Body, nullID(m.MediaID), nullID(m.ReplyTo), nullID(m.RecallOf), ts(m.CreatedAt))
	}
	pending := b.pending
	b.pending = b.pending[:0]
	err := b.execRows(`INSERT INTO messages (id, conversation_id, seq, sender_id, sender_device_id, client_msg_id, content_hash, type, body, media_id, reply_to, recall_of, created_at)
		VALUES %s`, "(?,?,?,?,?,?,?,?,?,?,?,?,?)", width, args)
	if err != nil {
		return fmt.Errorf("append messages: %w", err)
	}
	return b.indexEntries(pending)
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
	m, err := scanMessage(db.read.QueryRowContext(ctx, `SELECT `+messageCols+` FROM messages WHERE id = ?`, int64(id)))
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
	rows, err := db.read.QueryContext(ctx, `SELECT `+messageCols+` FROM messages
		WHERE conversation_id = ? AND seq > ? AND seq <= ? ORDER BY seq `+order+` LIMIT ?`,
		int64(conversationID), lo, hi, limit)
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
	if err := db.read.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM messages`).Scan(&id); err != nil {
		return "", dbError("read log position", err)
	}
	return parley.LogPosition(strconv.FormatInt(id, 10)), nil
}

// LastSeqAt implements parley.MessageStore: within a conversation, seqs and
// ids grow together, so the entry it looks for is the last one of the
// conversation with an id at most pos; the entries it walks past are
// those written since pos.
func (db *DB) LastSeqAt(ctx context.Context, conversationID parley.ID, pos parley.LogPosition) (int64, error) {
	id, err := strconv.ParseInt(string(pos), 10, 64)
	if err != nil || id < 0 {
		return 0, parley.Errorf(parley.EINVALID, "not a log position of this store")
	}
	var seq int64
	err = db.read.QueryRowContext(ctx, `SELECT seq FROM messages WHERE conversation_id = ? AND id <= ? ORDER BY seq DESC LIMIT 1`,
		int64(conversationID), id).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, dbError("read log position of a conversation", err)
	}
	return seq, nil
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
		if err := b.unindex(o.ID); err != nil {
			return err
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
			if _, err := b.exec(`DELETE FROM message_search WHERE rowid IN (
				SELECT id FROM messages WHERE id IN (SELECT id FROM messages ORDER BY id LIMIT 5000) AND created_at < ?)`, ts(t)); err != nil {
				return fmt.Errorf("unindex old messages: %w", err)
			}
			res, err := b.exec(`DELETE FROM messages WHERE id IN (SELECT id FROM messages ORDER BY id LIMIT 5000) AND created_at < ?`, ts(t))
			if err != nil {
				return fmt.Errorf("delete old messages: %w", err)
			}
			n, err = res.RowsAffected()
			return err
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
