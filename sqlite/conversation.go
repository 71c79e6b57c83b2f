package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parleyhq/parley"
)

const convCols = `c.id, c.type, c.title, c.created_by, c.created_at, c.last_seq, c.last_activity_at, c.disappear_after`

func scanConversation(s scanner, extra ...any) (*parley.Conversation, error) {
	var c parley.Conversation
	var id, by, created, activity int64
	dest := append([]any{&id, &c.Type, &c.Title, &by, &created, &c.LastSeq, &activity, &c.DisappearAfter}, extra...)
	if err := s.Scan(dest...); err != nil {
		return nil, err
	}
	c.ID, c.CreatedBy, c.CreatedAt, c.LastActivityAt = parley.ID(id), parley.ID(by), fromTS(created), fromTS(activity)
	return &c, nil
}

const memberCols = `m.conversation_id, m.user_id, m.role, m.joined_seq, m.joined_at, m.left_seq, m.delivered_seq, m.read_seq, m.hidden, m.cleared_seq, m.muted, coalesce(m.left_title, ''), coalesce(m.left_at, 0), m.pinned_at, m.archived`

// memberDest returns scan destinations for memberCols and a function that
// fills m once the row is scanned.
func memberDest(m *parley.Member) ([]any, func()) {
	var conv, user, joinedAt, leftAt int64
	var left, pinned sql.NullInt64
	dest := []any{&conv, &user, &m.Role, &m.JoinedSeq, &joinedAt, &left, &m.DeliveredSeq, &m.ReadSeq, &m.Hidden, &m.ClearedSeq, &m.Muted, &m.LeftTitle, &leftAt, &pinned, &m.Archived}
	return dest, func() {
		m.ConversationID, m.UserID, m.JoinedAt = parley.ID(conv), parley.ID(user), fromTS(joinedAt)
		m.PinnedAt = fromNullTS(pinned)
		m.LeftSeq, m.LeftAt = nil, time.Time{}
		if leftAt != 0 {
			m.LeftAt = fromTS(leftAt)
		}
		if left.Valid {
			v := left.Int64
			m.LeftSeq = &v
		}
	}
}

func scanMember(s scanner) (*parley.Member, error) {
	var m parley.Member
	dest, fill := memberDest(&m)
	if err := s.Scan(dest...); err != nil {
		return nil, err
	}
	fill()
	return &m, nil
}

// userExists reports, inside a batch, whether the user exists.
func (b *batch) userExists(id parley.ID) (bool, error) {
	var n int
	err := b.queryRow(`SELECT count(*) FROM users WHERE id = ?`, int64(id)).Scan(&n)
	return n > 0, err
}

// CreateConversation implements parley.ConversationStore.
func (db *DB) CreateConversation(ctx context.Context, c *parley.Conversation, members []parley.Member, directKey string) (*parley.Conversation, bool, error) {
	var existing parley.ID
	err := db.w.do(ctx, func(b *batch) error {
		if directKey != "" {
			var id int64
			err := b.queryRow(`SELECT id FROM conversations WHERE direct_key = ?`, directKey).Scan(&id)
			if err == nil {
				existing = parley.ID(id)
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		for _, m := range members {
			ok, err := b.userExists(m.UserID)
			if err != nil {
				return err
			}
			if !ok {
				return parley.Errorf(parley.ENOTFOUND, "user %s not found", m.UserID)
			}
		}
		var key any
		if directKey != "" {
			key = directKey
		}
		var id int64
		err := b.queryRow(`INSERT INTO conversations (type, title, created_by, created_at, last_seq, last_activity_at, direct_key)
			VALUES (?, ?, ?, ?, 0, ?, ?) RETURNING id`,
			string(c.Type), c.Title, int64(c.CreatedBy), ts(c.CreatedAt), ts(c.CreatedAt), key).Scan(&id)
		if err != nil {
			return fmt.Errorf("insert conversation: %w", err)
		}
		c.ID, c.LastSeq, c.LastActivityAt = parley.ID(id), 0, c.CreatedAt
		for _, m := range members {
			if _, err := b.exec(`INSERT INTO members (conversation_id, user_id, role, joined_seq, joined_at) VALUES (?, ?, ?, 0, ?)`,
				id, int64(m.UserID), string(m.Role), ts(c.CreatedAt)); err != nil {
				return fmt.Errorf("insert member: %w", err)
			}
		}
		b.w.convs[c.ID] = convState{}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	if existing != 0 {
		conv, err := db.Conversation(ctx, existing)
		return conv, false, err
	}
	return c, true, nil
}

// Conversation implements parley.ConversationStore.
func (db *DB) Conversation(ctx context.Context, id parley.ID) (*parley.Conversation, error) {
	c, err := scanConversation(db.queryRowRead(ctx, `SELECT `+convCols+` FROM conversations c WHERE c.id = ?`, int64(id)))
	if err != nil {
		return nil, notFound(err, "conversation not found")
	}
	return c, nil
}

// DirectConversation implements parley.ConversationStore.
func (db *DB) DirectConversation(ctx context.Context, directKey string) (*parley.Conversation, error) {
	c, err := scanConversation(db.queryRowRead(ctx, `SELECT `+convCols+` FROM conversations c WHERE c.direct_key = ?`, directKey))
	if err != nil {
		return nil, notFound(err, "conversation not found")
	}
	return c, nil
}

// Members implements parley.ConversationStore.
func (db *DB) Members(ctx context.Context, conversationID parley.ID) ([]parley.Member, error) {
	rows, err := db.queryRead(ctx, `SELECT `+memberCols+` FROM members m WHERE m.conversation_id = ? ORDER BY m.user_id`, int64(conversationID))
	if err != nil {
		return nil, dbError("read members", err)
	}
	defer rows.Close()
	var ms []parley.Member
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			return nil, err
		}
		ms = append(ms, *m)
	}
	return ms, rows.Err()
}

// Member implements parley.ConversationStore.
func (db *DB) Member(ctx context.Context, conversationID, userID parley.ID) (*parley.Member, error) {
	m, err := scanMember(db.queryRowRead(ctx, `SELECT `+memberCols+` FROM members m WHERE m.conversation_id = ? AND m.user_id = ?`,
		int64(conversationID), int64(userID)))
	if err != nil {
		return nil, notFound(err, "not a member")
	}
	return m, nil
}

func (b *batch) member(conv, user parley.ID) (*parley.Member, error) {
	m, err := scanMember(b.queryRow(`SELECT `+memberCols+` FROM members m WHERE m.conversation_id = ? AND m.user_id = ?`, int64(conv), int64(user)))
	if err != nil {
		return nil, notFound(err, "not a member")
	}
	return m, nil
}

// AddMembers implements parley.ConversationStore.
func (db *DB) AddMembers(ctx context.Context, conversationID parley.ID, members []parley.Member, t time.Time) (*parley.Conversation, []parley.Member, error) {
	var added []parley.Member
	err := db.w.do(ctx, func(b *batch) error {
		added = added[:0]
		last, err := b.lastSeq(conversationID)
		if err != nil {
			return err
		}
		for _, m := range members {
			ok, err := b.userExists(m.UserID)
			if err != nil {
				return err
			}
			if !ok {
				return parley.Errorf(parley.ENOTFOUND, "user %s not found", m.UserID)
			}
		}
		for _, m := range members {
			old, err := b.member(conversationID, m.UserID)
			if err != nil && parley.ErrorCode(err) != parley.ENOTFOUND {
				return err
			}
			if old != nil && old.Active() {
				continue
			}
			if old != nil {
				_, err = b.exec(`UPDATE members SET role = ?, joined_seq = ?, joined_at = ?, left_seq = NULL, left_title = NULL, left_at = NULL, delivered_seq = ?, read_seq = ?, hidden = 0, cleared_seq = 0
					WHERE conversation_id = ? AND user_id = ?`, string(m.Role), last, ts(t), last, last, int64(conversationID), int64(m.UserID))
			} else {
				_, err = b.exec(`INSERT INTO members (conversation_id, user_id, role, joined_seq, joined_at, delivered_seq, read_seq) VALUES (?, ?, ?, ?, ?, ?, ?)`,
					int64(conversationID), int64(m.UserID), string(m.Role), last, ts(t), last, last)
			}
			if err != nil {
				return fmt.Errorf("add member: %w", err)
			}
			m.ConversationID, m.JoinedSeq, m.JoinedAt, m.LeftSeq, m.DeliveredSeq, m.ReadSeq = conversationID, last, t, nil, last, last
			added = append(added, m)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	c, err := db.Conversation(ctx, conversationID)
	return c, added, err
}

// RemoveMember implements parley.ConversationStore.
func (db *DB) RemoveMember(ctx context.Context, conversationID, userID parley.ID, t time.Time) (*parley.Member, error) {
	var out *parley.Member
	err := db.w.do(ctx, func(b *batch) error {
		last, err := b.lastSeq(conversationID)
		if err != nil {
			return err
		}
		m, err := b.member(conversationID, userID)
		if err != nil {
			return err
		}
		if !m.Active() {
			return parley.Errorf(parley.ENOTFOUND, "not a member")
		}
		if _, err := b.exec(`UPDATE members SET left_seq = ?, left_at = ?, left_title = (SELECT title FROM conversations WHERE id = ?) WHERE conversation_id = ? AND user_id = ?`,
			last, ts(t), int64(conversationID), int64(conversationID), int64(userID)); err != nil {
			return err
		}
		if err := b.queryRow(`SELECT coalesce(left_title, '') FROM members WHERE conversation_id = ? AND user_id = ?`, int64(conversationID), int64(userID)).Scan(&m.LeftTitle); err != nil {
			return err
		}
		m.LeftSeq, m.LeftAt = &last, fromTS(ts(t))
		out = m
		return nil
	})
	return out, err
}

// SetRole implements parley.ConversationStore.
func (db *DB) SetRole(ctx context.Context, conversationID, userID parley.ID, role parley.Role) error {
	return db.w.do(ctx, func(b *batch) error {
		m, err := b.member(conversationID, userID)
		if err != nil {
			return err
		}
		if !m.Active() {
			return parley.Errorf(parley.ENOTFOUND, "not a member")
		}
		_, err = b.exec(`UPDATE members SET role = ? WHERE conversation_id = ? AND user_id = ?`, string(role), int64(conversationID), int64(userID))
		return err
	})
}

// SetTitle implements parley.ConversationStore.
func (db *DB) SetTitle(ctx context.Context, conversationID parley.ID, title string, t time.Time) (*parley.Conversation, error) {
	err := db.w.do(ctx, func(b *batch) error {
		if _, err := b.lastSeq(conversationID); err != nil {
			return err
		}
		_, err := b.exec(`UPDATE conversations SET title = ?, last_activity_at = max(last_activity_at, ?) WHERE id = ?`, title, ts(t), int64(conversationID))
		return err
	})
	if err != nil {
		return nil, err
	}
	return db.Conversation(ctx, conversationID)
}

// HideConversation implements parley.ConversationStore.
func (db *DB) HideConversation(ctx context.Context, conversationID, userID parley.ID) (*parley.Member, error) {
	var out *parley.Member
	err := db.w.do(ctx, func(b *batch) error {
		last, err := b.lastSeq(conversationID)
		if err != nil {
			return err
		}
		m, err := b.member(conversationID, userID)
		if err != nil {
			return err
		}
		cleared := m.Ceiling(last)
		if _, err := b.exec(`UPDATE members SET hidden = 1, cleared_seq = ?, pinned_at = NULL, archived = 0 WHERE conversation_id = ? AND user_id = ?`,
			cleared, int64(conversationID), int64(userID)); err != nil {
			return err
		}
		m.Hidden, m.ClearedSeq, m.PinnedAt, m.Archived = true, cleared, nil, false
		out = m
		return nil
	})
	return out, err
}

// SetMuted implements parley.ConversationStore.
func (db *DB) SetMuted(ctx context.Context, conversationID, userID parley.ID, muted bool) error {
	return db.w.do(ctx, func(b *batch) error {
		if _, err := b.member(conversationID, userID); err != nil {
			return err
		}
		_, err := b.exec(`UPDATE members SET muted = ? WHERE conversation_id = ? AND user_id = ?`, muted, int64(conversationID), int64(userID))
		return err
	})
}

// changeMember runs fn on the stored membership in the writer and returns
// the membership as fn leaves it; ENOTFOUND if not a member.
func (db *DB) changeMember(ctx context.Context, conversationID, userID parley.ID, fn func(b *batch, m *parley.Member) error) (*parley.Member, error) {
	var out *parley.Member
	err := db.w.do(ctx, func(b *batch) error {
		m, err := b.member(conversationID, userID)
		if err != nil {
			return err
		}
		out = m
		return fn(b, m)
	})
	return out, err
}

// SetPinned implements parley.ConversationStore. The single writer makes
// the count and the update one step.
func (db *DB) SetPinned(ctx context.Context, conversationID, userID parley.ID, at *time.Time, limit int) (*parley.Member, error) {
	return db.changeMember(ctx, conversationID, userID, func(b *batch, m *parley.Member) error {
		var err error
		switch {
		case at == nil:
			m.PinnedAt = nil
			_, err = b.exec(`UPDATE members SET pinned_at = NULL WHERE conversation_id = ? AND user_id = ?`, int64(conversationID), int64(userID))
		case m.PinnedAt == nil:
			var n int
			if err := b.queryRow(`SELECT count(*) FROM members WHERE user_id = ? AND pinned_at IS NOT NULL`, int64(userID)).Scan(&n); err != nil {
				return fmt.Errorf("count pinned: %w", err)
			}
			if n >= limit {
				return parley.Errorf(parley.ETOOMANY, "at most %d conversations can be pinned; unpin one first", limit)
			}
			m.PinnedAt, m.Archived = fromNullTS(sql.NullInt64{Int64: ts(*at), Valid: true}), false
			_, err = b.exec(`UPDATE members SET pinned_at = ?, archived = 0 WHERE conversation_id = ? AND user_id = ?`, ts(*at), int64(conversationID), int64(userID))
		}
		return err
	})
}

// SetArchived implements parley.ConversationStore.
func (db *DB) SetArchived(ctx context.Context, conversationID, userID parley.ID, archived bool) (*parley.Member, error) {
	return db.changeMember(ctx, conversationID, userID, func(b *batch, m *parley.Member) error {
		m.Archived = archived
		if archived {
			m.PinnedAt = nil
		}
		_, err := b.exec(`UPDATE members SET archived = ?, pinned_at = CASE WHEN ? THEN NULL ELSE pinned_at END WHERE conversation_id = ? AND user_id = ?`,
			archived, archived, int64(conversationID), int64(userID))
		return err
	})
}

// userConversationsQuery returns the query of UserConversations and its
// arguments. Both orders are index-driven: the pinned conversations
// through members_pinned, the rest through members_user.
func userConversationsQuery(userID parley.ID, f parley.ConversationFilter) (string, []any) {
	limit := f.Limit
	if limit <= 0 {
		limit = -1
	}
	pins, order := "", "c.last_activity_at DESC, c.id DESC"
	switch {
	case f.OnlyPinned:
		pins, order = "AND m.pinned_at IS NOT NULL", "m.pinned_at DESC, c.id DESC"
	case f.ExcludePinned:
		pins = "AND m.pinned_at IS NULL"
	}
	return `SELECT ` + convCols + `, ` + memberCols + `
		FROM members m JOIN conversations c ON c.id = m.conversation_id
		WHERE m.user_id = ?
		  AND (? OR m.left_seq IS NULL)
		  AND (? OR m.hidden = 0 OR min(c.last_seq, coalesce(m.left_seq, c.last_seq)) > m.cleared_seq)
		  AND (? OR m.archived = 0) ` + pins + `
		ORDER BY ` + order + `
		LIMIT ? OFFSET ?`, []any{int64(userID), f.IncludeLeft, f.IncludeHidden, !f.ExcludeArchived, limit, f.Offset}
}

// UserConversations implements parley.ConversationStore.
func (db *DB) UserConversations(ctx context.Context, userID parley.ID, f parley.ConversationFilter) ([]*parley.UserConversation, error) {
	query, args := userConversationsQuery(userID, f)
	rows, err := db.queryRead(ctx, query, args...)
	if err != nil {
		return nil, dbError("read conversations", err)
	}
	var out []*parley.UserConversation
	for rows.Next() {
		uc := &parley.UserConversation{}
		dest, fill := memberDest(&uc.Self)
		c, err := scanConversation(rows, dest...)
		if err != nil {
			rows.Close()
			return nil, err
		}
		fill()
		uc.Conversation = c
		out = append(out, uc)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	for _, uc := range out {
		floor, ceiling := uc.Self.Floor(), uc.Self.Ceiling(uc.Conversation.LastSeq)
		if ceiling <= floor {
			continue
		}
		ms, err := db.Messages(ctx, uc.Conversation.ID, parley.MessageFilter{Floor: floor, Ceiling: ceiling, Limit: 1, Now: f.Now})
		if err != nil {
			return nil, err
		}
		if len(ms) > 0 {
			uc.LatestMessage = ms[0]
		}
	}
	return out, nil
}
