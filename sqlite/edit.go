package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parleyhq/parley"
)

// changeable reads, in the batch, the message of entry's conversation that
// entry changes, and checks that it may be changed.
func (b *batch) changeable(entry *parley.Message, id parley.ID) (*parley.Message, error) {
	if err := b.insertPending(); err != nil {
		return nil, err
	}
	o, err := scanMessage(b.queryRow(`SELECT `+messageCols+` FROM messages WHERE id = ?`, int64(id)))
	if err != nil {
		return nil, notFound(err, "message not found")
	}
	if o.ConversationID != entry.ConversationID {
		return nil, parley.Errorf(parley.ENOTFOUND, "message not found")
	}
	return o, o.Changeable()
}

// EditMessage implements parley.MessageStore. The writer runs one batch at
// a time, so the edit with the highest seq is the last to set the body.
func (db *DB) EditMessage(ctx context.Context, entry *parley.Message) (*parley.Message, bool, error) {
	var orig *parley.Message
	var created bool
	err := db.w.do(ctx, func(b *batch) error {
		o, err := b.changeable(entry, entry.EditOf)
		if err != nil {
			return err
		}
		orig, created = o, false
		if o.Body == entry.Body {
			return nil
		}
		if _, err := b.exec(`UPDATE messages SET body = ?, edited_at = ? WHERE id = ?`, entry.Body, ts(entry.CreatedAt), int64(o.ID)); err != nil {
			return fmt.Errorf("edit message %d: %w", o.ID, err)
		}
		entry.ClientMsgID = ""
		if _, err := b.appendEntry(entry, nil); err != nil {
			return err
		}
		at := entry.CreatedAt
		o.Body, o.EditedAt, created = entry.Body, &at, true
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return orig, created, nil
}

// ReactMessage implements parley.MessageStore.
func (db *DB) ReactMessage(ctx context.Context, entry *parley.Message) (bool, error) {
	var created bool
	err := db.w.do(ctx, func(b *batch) error {
		o, err := b.changeable(entry, entry.ReactionOf)
		if err != nil {
			return err
		}
		created = false
		var cur string
		err = b.queryRow(`SELECT emoji FROM reactions WHERE message_id = ? AND user_id = ?`, int64(o.ID), int64(entry.SenderID)).Scan(&cur)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read reaction to %d: %w", o.ID, err)
		}
		if cur == entry.Body {
			return nil
		}
		entry.ClientMsgID = ""
		if _, err := b.appendEntry(entry, nil); err != nil {
			return err
		}
		if entry.Body == "" {
			_, err = b.exec(`DELETE FROM reactions WHERE message_id = ? AND user_id = ?`, int64(o.ID), int64(entry.SenderID))
		} else {
			_, err = b.exec(`INSERT INTO reactions (message_id, user_id, emoji, seq, message_created_at) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (message_id, user_id) DO UPDATE SET emoji = excluded.emoji, seq = excluded.seq`,
				int64(o.ID), int64(entry.SenderID), entry.Body, entry.Seq, ts(o.CreatedAt))
		}
		if err != nil {
			return fmt.Errorf("react to message %d: %w", o.ID, err)
		}
		created = true
		return nil
	})
	if err != nil {
		return false, err
	}
	return created, nil
}

// Reactions implements parley.MessageStore. One statement text whatever
// the number of messages (jsonList), so it is prepared once.
func (db *DB) Reactions(ctx context.Context, messageIDs []parley.ID) ([]parley.UserReaction, error) {
	if len(messageIDs) == 0 {
		return nil, nil
	}
	rows, err := db.queryRead(ctx, `SELECT message_id, user_id, emoji, seq FROM reactions
		WHERE message_id IN (SELECT value FROM json_each(?))`, jsonList(int64s(messageIDs)))
	if err != nil {
		return nil, dbError("read reactions", err)
	}
	defer rows.Close()
	var out []parley.UserReaction
	for rows.Next() {
		var r parley.UserReaction
		var mid, uid int64
		if err := rows.Scan(&mid, &uid, &r.Emoji, &r.Seq); err != nil {
			return nil, dbError("read reactions", err)
		}
		r.MessageID, r.UserID = parley.ID(mid), parley.ID(uid)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError("read reactions", err)
	}
	parley.SortReactions(out)
	return out, nil
}

// timerChangesSQL reads the timer changes of conversation ?1 with seq up
// to ?3 from the last one at or before ?2 on, through messages_settings.
const timerChangesSQL = `SELECT seq, disappear_after FROM messages
	WHERE conversation_id = ?1 AND type = 'setting' AND seq <= ?3 AND seq >= (SELECT coalesce(max(seq), 0) FROM messages
		WHERE conversation_id = ?1 AND type = 'setting' AND seq <= ?2)
	ORDER BY seq`

// silentEntriesSQL counts the silent entries of conversation ?1 with ?2 <
// seq <= ?3, through messages_silent.
const silentEntriesSQL = `SELECT count(*) FROM messages
	WHERE conversation_id = ?1 AND seq > ?2 AND seq <= ?3 AND type IN ('edit', 'reaction', 'setting')`

// liveEntriesSQL counts the entries of conversation ?1 with ?2 < seq <= ?3
// that count as unread at ?4: not silent, not expired.
const liveEntriesSQL = `SELECT count(*) FROM messages
	WHERE conversation_id = ?1 AND seq > ?2 AND seq <= ?3 AND type NOT IN ('edit', 'reaction', 'setting') AND (expires_at IS NULL OR expires_at > ?4)`

// UnreadEntries implements parley.MessageStore.
func (db *DB) UnreadEntries(ctx context.Context, conversationID parley.ID, lo, hi int64, now time.Time) (int64, error) {
	if hi <= lo {
		return 0, nil
	}
	conv := int64(conversationID)
	rows, err := db.queryRead(ctx, timerChangesSQL, conv, lo, hi)
	if err != nil {
		return 0, dbError("read timer changes", err)
	}
	changes, err := collect(rows, "read timer changes", func(s scanner) (c parley.TimerChange, err error) {
		return c, s.Scan(&c.Seq, &c.After)
	})
	if err != nil {
		return 0, err
	}
	off, on := parley.TimerSpans(lo, hi, changes)
	var n int64
	for _, sp := range off {
		var silent int64
		if err := db.queryRowRead(ctx, silentEntriesSQL, conv, sp.Lo, sp.Hi).Scan(&silent); err != nil {
			return 0, dbError("count silent entries", err)
		}
		n += sp.Hi - sp.Lo - silent
	}
	for _, sp := range on {
		var live int64
		if err := db.queryRowRead(ctx, liveEntriesSQL, conv, sp.Lo, sp.Hi, ts(now)).Scan(&live); err != nil {
			return 0, dbError("count unread entries", err)
		}
		n += live
	}
	return n, nil
}
