package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
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
		if err := b.setSearchText(o, entry.Body); err != nil {
			return err
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

// Reactions implements parley.MessageStore.
func (db *DB) Reactions(ctx context.Context, messageIDs []parley.ID) ([]parley.UserReaction, error) {
	const chunk = 500
	var out []parley.UserReaction
	for start := 0; start < len(messageIDs); start += chunk {
		ids := messageIDs[start:min(start+chunk, len(messageIDs))]
		args := make([]any, len(ids))
		for i, id := range ids {
			args[i] = int64(id)
		}
		rows, err := db.queryRead(ctx, `SELECT message_id, user_id, emoji, seq FROM reactions
			WHERE message_id IN (`+strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",")+`)`, args...)
		if err != nil {
			return nil, dbError("read reactions", err)
		}
		for rows.Next() {
			var r parley.UserReaction
			var mid, uid int64
			if err := rows.Scan(&mid, &uid, &r.Emoji, &r.Seq); err != nil {
				rows.Close()
				return nil, dbError("read reactions", err)
			}
			r.MessageID, r.UserID = parley.ID(mid), parley.ID(uid)
			out = append(out, r)
		}
		if err := rows.Close(); err != nil {
			return nil, dbError("read reactions", err)
		}
	}
	parley.SortReactions(out)
	return out, nil
}

// unreadEntriesSQL counts the entries of conversation ?1 with ?2 < seq <=
// ?3 that count as unread at ?4. Where no timer was on since ?2 (none now,
// no timer change after ?2) nothing in the range can have expired: the
// count is the range less its silent entries, found through
// messages_silent. Otherwise the range's entries are read.
const unreadEntriesSQL = `SELECT CASE
	WHEN c.disappear_after = 0 AND NOT EXISTS (SELECT 1 FROM messages
		WHERE conversation_id = c.id AND seq > ?2 AND type IN ('edit', 'reaction', 'setting') AND type = 'setting')
	THEN ?3 - ?2 - (SELECT count(*) FROM messages
		WHERE conversation_id = c.id AND seq > ?2 AND seq <= ?3 AND type IN ('edit', 'reaction', 'setting'))
	ELSE (SELECT count(*) FROM messages
		WHERE conversation_id = c.id AND seq > ?2 AND seq <= ?3 AND type NOT IN ('edit', 'reaction', 'setting') AND (expires_at IS NULL OR expires_at > ?4))
	END
	FROM conversations c WHERE c.id = ?1`

// UnreadEntries implements parley.MessageStore.
func (db *DB) UnreadEntries(ctx context.Context, conversationID parley.ID, lo, hi int64, now time.Time) (int64, error) {
	if hi <= lo {
		return 0, nil
	}
	var n int64
	err := db.queryRowRead(ctx, unreadEntriesSQL, int64(conversationID), lo, hi, ts(now)).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, dbError("count unread entries", err)
	}
	return n, nil
}
