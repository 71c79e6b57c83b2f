package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/parleyhq/parley"
)

// appendEntryTx appends entry (a recall, edit, reaction or timer change:
// no idempotency record, never expiring) after last, the conversation's
// last seq read under the locks of lockForEntry, as a group would: the
// conversation's counters and the sender's watermarks follow. It returns
// the entry's id and seq.
func appendEntryTx(ctx context.Context, tx pgx.Tx, entry *parley.Message, last int64) (id, seq int64, err error) {
	if err := tx.QueryRow(ctx, `SELECT nextval('message_ids')`).Scan(&id); err != nil {
		return 0, 0, err
	}
	seq = last + 1
	if _, err := tx.Exec(ctx, `INSERT INTO messages (id, conversation_id, seq, sender_id, sender_device_id, type, body, recall_of, edit_of, reaction_of, created_at, disappear_after)
		VALUES ($1, $2, $3, $4, $5, $6, $7, nullif($8, 0), nullif($9, 0), nullif($10, 0), $11, $12)`,
		id, int64(entry.ConversationID), seq, int64(entry.SenderID), int64(entry.SenderDeviceID), string(entry.Type), entry.Body,
		int64(entry.RecallOf), int64(entry.EditOf), int64(entry.ReactionOf), entry.CreatedAt, entry.DisappearAfter); err != nil {
		return 0, 0, err
	}
	if _, err := tx.Exec(ctx, `UPDATE conversations SET last_seq = $2, last_activity_at = greatest(last_activity_at, $3), last_message_at = $3 WHERE id = $1`,
		int64(entry.ConversationID), seq, entry.CreatedAt); err != nil {
		return 0, 0, err
	}
	_, err = tx.Exec(ctx, `UPDATE members SET delivered_seq = greatest(delivered_seq, $3), read_seq = greatest(read_seq, $3)
		WHERE conversation_id = $1 AND user_id = $2`, int64(entry.ConversationID), int64(entry.SenderID), seq)
	return id, seq, err
}

// change runs fn in a transaction of its own that takes the conversation's
// lock like a group does (so entries still commit in seq order, and of
// concurrent changes the one with the highest seq is applied last), with
// the original read, locked and checked. Edits and reactions are rare
// next to sends and must not slow the groups down.
func (db *DB) change(ctx context.Context, op string, entry *parley.Message, origID parley.ID, fn func(tx pgx.Tx, orig *parley.Message, last int64) error) error {
	entry.ClientMsgID = ""
	if err := db.checkMessage(entry); err != nil {
		return err
	}
	if err := db.parts.ensure(ctx, entry.CreatedAt); err != nil {
		return db.err(op, err)
	}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		last, err := lockForEntry(ctx, tx, entry)
		if err != nil {
			return notFound(op, err, "message not found")
		}
		orig, err := scanMessage(tx.QueryRow(ctx, `SELECT `+messageCols+` FROM messages WHERE id = $1 AND conversation_id = $2 FOR UPDATE`,
			int64(origID), int64(entry.ConversationID)))
		if err != nil {
			return notFound(op, err, "message not found")
		}
		if err := orig.Changeable(); err != nil {
			return err
		}
		return fn(tx, orig, last)
	})
	if err != nil {
		return db.err(op, err)
	}
	return nil
}

// EditMessage implements parley.MessageStore.
func (db *DB) EditMessage(ctx context.Context, entry *parley.Message) (*parley.Message, bool, error) {
	var orig *parley.Message
	var created bool
	var id, seq int64
	err := db.change(ctx, "edit message", entry, entry.EditOf, func(tx pgx.Tx, o *parley.Message, last int64) error {
		orig, created = o, false
		if o.Body == entry.Body {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE messages SET body = $4, edited_at = $5
			WHERE conversation_id = $1 AND seq = $2 AND created_at = $3`,
			int64(o.ConversationID), o.Seq, o.CreatedAt, entry.Body, entry.CreatedAt); err != nil {
			return err
		}
		if err := setSearchText(ctx, tx, o, entry.Body); err != nil {
			return err
		}
		var err error
		if id, seq, err = appendEntryTx(ctx, tx, entry, last); err != nil {
			return err
		}
		created = true
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	if created {
		entry.ID, entry.Seq = parley.ID(id), seq
		at := entry.CreatedAt
		orig.Body, orig.EditedAt = entry.Body, &at
	}
	return orig, created, nil
}

// ReactMessage implements parley.MessageStore.
func (db *DB) ReactMessage(ctx context.Context, entry *parley.Message) (bool, error) {
	var created bool
	var id, seq int64
	err := db.change(ctx, "react to message", entry, entry.ReactionOf, func(tx pgx.Tx, o *parley.Message, last int64) error {
		created = false
		var cur string
		err := tx.QueryRow(ctx, `SELECT emoji FROM reactions WHERE message_id = $1 AND user_id = $2`, int64(o.ID), int64(entry.SenderID)).Scan(&cur)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if cur == entry.Body {
			return nil
		}
		if id, seq, err = appendEntryTx(ctx, tx, entry, last); err != nil {
			return err
		}
		if entry.Body == "" {
			_, err = tx.Exec(ctx, `DELETE FROM reactions WHERE message_id = $1 AND user_id = $2`, int64(o.ID), int64(entry.SenderID))
		} else {
			_, err = tx.Exec(ctx, `INSERT INTO reactions (message_id, user_id, emoji, seq, message_created_at) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (message_id, user_id) DO UPDATE SET emoji = excluded.emoji, seq = excluded.seq`,
				int64(o.ID), int64(entry.SenderID), entry.Body, seq, o.CreatedAt)
		}
		if err != nil {
			return err
		}
		created = true
		return nil
	})
	if err != nil {
		return false, err
	}
	if created {
		entry.ID, entry.Seq = parley.ID(id), seq
	}
	return created, nil
}

// Reactions implements parley.MessageStore.
func (db *DB) Reactions(ctx context.Context, messageIDs []parley.ID) ([]parley.UserReaction, error) {
	if len(messageIDs) == 0 {
		return nil, nil
	}
	ids := make([]int64, len(messageIDs))
	for i, id := range messageIDs {
		ids[i] = int64(id)
	}
	rows, err := db.pool.Query(ctx, `SELECT message_id, user_id, emoji, seq FROM reactions WHERE message_id = ANY($1) ORDER BY seq`, ids)
	if err != nil {
		return nil, db.err("read reactions", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (parley.UserReaction, error) {
		var u parley.UserReaction
		var mid, uid int64
		err := r.Scan(&mid, &uid, &u.Emoji, &u.Seq)
		u.MessageID, u.UserID = parley.ID(mid), parley.ID(uid)
		return u, err
	})
	if err != nil {
		return nil, db.err("read reactions", err)
	}
	return out, nil
}

// timerChangesSQL reads the timer changes of conversation $1 with seq up
// to $3 from the last one at or before $2 on, through messages_settings.
const timerChangesSQL = `SELECT seq, disappear_after FROM messages
	WHERE conversation_id = $1 AND type = 'setting' AND seq <= $3 AND seq >= (SELECT coalesce(max(seq), 0) FROM messages
		WHERE conversation_id = $1 AND type = 'setting' AND seq <= $2)
	ORDER BY seq`

// UnreadEntries implements parley.MessageStore. The spans' counts go in one
// round trip.
func (db *DB) UnreadEntries(ctx context.Context, conversationID parley.ID, lo, hi int64, now time.Time) (int64, error) {
	if hi <= lo {
		return 0, nil
	}
	conv := int64(conversationID)
	rows, err := db.pool.Query(ctx, timerChangesSQL, conv, lo, hi)
	if err != nil {
		return 0, db.err("read timer changes", err)
	}
	var changes []parley.TimerChange
	for rows.Next() {
		var c parley.TimerChange
		if err := rows.Scan(&c.Seq, &c.After); err != nil {
			rows.Close()
			return 0, db.err("read timer changes", err)
		}
		changes = append(changes, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, db.err("read timer changes", err)
	}
	off, on := parley.TimerSpans(lo, hi, changes)
	var los, his []int64
	var live []bool
	for _, sp := range off {
		los, his, live = append(los, sp.Lo), append(his, sp.Hi), append(live, false)
	}
	for _, sp := range on {
		los, his, live = append(los, sp.Lo), append(his, sp.Hi), append(live, true)
	}
	var n int64
	err = db.pool.QueryRow(ctx, `SELECT coalesce(sum(CASE WHEN s.live
			THEN (SELECT count(*) FROM messages WHERE conversation_id = $1 AND seq > s.lo AND seq <= s.hi
				AND type NOT IN ('edit', 'reaction', 'setting') AND (expires_at IS NULL OR expires_at > $5))
			ELSE s.hi - s.lo - (SELECT count(*) FROM messages WHERE conversation_id = $1 AND seq > s.lo AND seq <= s.hi
				AND type IN ('edit', 'reaction', 'setting'))
			END), 0)::bigint
		FROM unnest($2::bigint[], $3::bigint[], $4::boolean[]) AS s(lo, hi, live)`, conv, los, his, live, now).Scan(&n)
	if err != nil {
		return 0, db.err("count unread entries", err)
	}
	return n, nil
}
