package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/parleyhq/parley"
)

const convCols = `c.id, c.type, c.title, c.created_by, c.created_at, c.last_seq, c.last_activity_at, c.disappear_after`

// convDest returns scan destinations for convCols.
func convDest(c *parley.Conversation) ([]any, func()) {
	var id, by int64
	return []any{&id, &c.Type, &c.Title, &by, &c.CreatedAt, &c.LastSeq, &c.LastActivityAt, &c.DisappearAfter}, func() {
		c.ID, c.CreatedBy = parley.ID(id), parley.ID(by)
		c.CreatedAt, c.LastActivityAt = utc(c.CreatedAt), utc(c.LastActivityAt)
	}
}

func scanConversation(s scanner) (*parley.Conversation, error) {
	var c parley.Conversation
	dest, fill := convDest(&c)
	if err := s.Scan(dest...); err != nil {
		return nil, err
	}
	fill()
	return &c, nil
}

const memberCols = `m.conversation_id, m.user_id, m.role, m.joined_seq, m.joined_at, m.left_seq, m.delivered_seq, m.read_seq, m.hidden, m.cleared_seq, m.muted, coalesce(m.left_title, ''), m.left_at, m.pinned_at, m.archived`

// memberDest returns scan destinations for memberCols and a function that
// fills m once the row is scanned.
func memberDest(m *parley.Member) ([]any, func()) {
	var conv, user int64
	var leftAt *time.Time
	m.LeftSeq, m.PinnedAt = nil, nil
	return []any{&conv, &user, &m.Role, &m.JoinedSeq, &m.JoinedAt, &m.LeftSeq, &m.DeliveredSeq, &m.ReadSeq, &m.Hidden, &m.ClearedSeq, &m.Muted, &m.LeftTitle, &leftAt, &m.PinnedAt, &m.Archived}, func() {
		m.ConversationID, m.UserID, m.JoinedAt = parley.ID(conv), parley.ID(user), utc(m.JoinedAt)
		m.PinnedAt = utcPtr(m.PinnedAt)
		m.LeftAt = time.Time{}
		if leftAt != nil {
			m.LeftAt = utc(*leftAt)
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

// missingUser returns ENOTFOUND naming the first of ids that is not a
// user, or nil.
func missingUser(ctx context.Context, tx pgx.Tx, ids []parley.ID) error {
	var missing int64
	err := tx.QueryRow(ctx, `SELECT u FROM unnest($1::bigint[]) AS u WHERE NOT EXISTS (SELECT 1 FROM users WHERE id = u) LIMIT 1`,
		idArray(ids)).Scan(&missing)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return parley.Errorf(parley.ENOTFOUND, "user %s not found", parley.ID(missing))
}

// CreateConversation implements parley.ConversationStore. Two nodes
// creating the same pair's direct conversation at once end with one: the
// second insert waits for the first and then returns it.
func (db *DB) CreateConversation(ctx context.Context, c *parley.Conversation, members []parley.Member, directKey string) (*parley.Conversation, bool, error) {
	c.CreatedAt = micro(c.CreatedAt)
	var existing int64
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		existing = 0
		if directKey != "" {
			err := tx.QueryRow(ctx, `SELECT id FROM conversations WHERE direct_key = $1`, directKey).Scan(&existing)
			if err == nil || !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		users := make([]parley.ID, len(members))
		roles := make([]string, len(members))
		for i, m := range members {
			users[i], roles[i] = m.UserID, string(m.Role)
		}
		if err := missingUser(ctx, tx, users); err != nil {
			return err
		}
		var key *string
		if directKey != "" {
			key = &directKey
		}
		var id int64
		err := tx.QueryRow(ctx, `INSERT INTO conversations (type, title, created_by, created_at, last_seq, last_activity_at, direct_key)
			VALUES ($1, $2, $3, $4, 0, $4, $5) ON CONFLICT (direct_key) DO NOTHING RETURNING id`,
			string(c.Type), c.Title, int64(c.CreatedBy), c.CreatedAt, key).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return tx.QueryRow(ctx, `SELECT id FROM conversations WHERE direct_key = $1`, directKey).Scan(&existing)
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO members (conversation_id, user_id, role, joined_seq, joined_at)
			SELECT $1, u, r, 0, $2 FROM unnest($3::bigint[], $4::text[]) AS v(u, r) ON CONFLICT DO NOTHING`,
			id, c.CreatedAt, idArray(users), roles); err != nil {
			return err
		}
		c.ID, c.LastSeq, c.LastActivityAt = parley.ID(id), 0, c.CreatedAt
		return nil
	})
	if err != nil {
		return nil, false, db.err("create conversation", err)
	}
	if existing != 0 {
		conv, err := db.Conversation(ctx, parley.ID(existing))
		return conv, false, err
	}
	return c, true, nil
}

// Conversation implements parley.ConversationStore.
func (db *DB) Conversation(ctx context.Context, id parley.ID) (*parley.Conversation, error) {
	c, err := scanConversation(db.pool.QueryRow(ctx, `SELECT `+convCols+` FROM conversations c WHERE c.id = $1`, int64(id)))
	if err != nil {
		return nil, db.notFound("read conversation", err, "conversation not found")
	}
	return c, nil
}

// DirectConversation implements parley.ConversationStore.
func (db *DB) DirectConversation(ctx context.Context, directKey string) (*parley.Conversation, error) {
	c, err := scanConversation(db.pool.QueryRow(ctx, `SELECT `+convCols+` FROM conversations c WHERE c.direct_key = $1`, directKey))
	if err != nil {
		return nil, db.notFound("read conversation", err, "conversation not found")
	}
	return c, nil
}

// Members implements parley.ConversationStore.
func (db *DB) Members(ctx context.Context, conversationID parley.ID) ([]parley.Member, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+memberCols+` FROM members m WHERE m.conversation_id = $1 ORDER BY m.user_id`, int64(conversationID))
	if err != nil {
		return nil, db.err("read members", err)
	}
	ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (parley.Member, error) {
		m, err := scanMember(r)
		if err != nil {
			return parley.Member{}, err
		}
		return *m, nil
	})
	if err != nil {
		return nil, db.err("read members", err)
	}
	return ms, nil
}

// Member implements parley.ConversationStore.
func (db *DB) Member(ctx context.Context, conversationID, userID parley.ID) (*parley.Member, error) {
	m, err := scanMember(db.pool.QueryRow(ctx, `SELECT `+memberCols+` FROM members m WHERE m.conversation_id = $1 AND m.user_id = $2`,
		int64(conversationID), int64(userID)))
	if err != nil {
		return nil, db.notFound("read member", err, "not a member")
	}
	return m, nil
}

// AddMembers implements parley.ConversationStore. The conversation's lock
// makes the join seq its last seq at the moment of joining, in the order
// sends commit.
func (db *DB) AddMembers(ctx context.Context, conversationID parley.ID, members []parley.Member, t time.Time) (*parley.Conversation, []parley.Member, error) {
	t = micro(t)
	var added []parley.Member
	var conv *parley.Conversation
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		added = added[:0]
		c, err := scanConversation(tx.QueryRow(ctx, `SELECT `+convCols+` FROM conversations c WHERE c.id = $1 FOR NO KEY UPDATE`, int64(conversationID)))
		if err != nil {
			return notFound("add members", err, "conversation not found")
		}
		conv = c
		users := make([]parley.ID, len(members))
		for i, m := range members {
			users[i] = m.UserID
		}
		if err := missingUser(ctx, tx, users); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT user_id, left_seq IS NULL FROM members
			WHERE conversation_id = $1 AND user_id = ANY($2) ORDER BY user_id FOR NO KEY UPDATE`, int64(conversationID), idArray(users))
		if err != nil {
			return err
		}
		active := make(map[parley.ID]bool)
		var u int64
		var isActive bool
		if _, err := pgx.ForEachRow(rows, []any{&u, &isActive}, func() error { active[parley.ID(u)] = isActive; return nil }); err != nil {
			return err
		}
		last := c.LastSeq
		b := &pgx.Batch{}
		for _, m := range members {
			was, known := active[m.UserID]
			if was {
				continue
			}
			if known {
				b.Queue(`UPDATE members SET role = $3, joined_seq = $4, joined_at = $5, left_seq = NULL, left_title = NULL, left_at = NULL, delivered_seq = $4, read_seq = $4, hidden = false, cleared_seq = 0
					WHERE conversation_id = $1 AND user_id = $2`, int64(conversationID), int64(m.UserID), string(m.Role), last, t)
			} else {
				b.Queue(`INSERT INTO members (conversation_id, user_id, role, joined_seq, joined_at, delivered_seq, read_seq) VALUES ($1, $2, $3, $4, $5, $4, $4)`,
					int64(conversationID), int64(m.UserID), string(m.Role), last, t)
			}
			active[m.UserID] = true
			m.ConversationID, m.JoinedSeq, m.JoinedAt, m.LeftSeq, m.DeliveredSeq, m.ReadSeq = conversationID, last, t, nil, last, last
			added = append(added, m)
		}
		if b.Len() == 0 {
			return nil
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, nil, db.err("add members", err)
	}
	return conv, added, nil
}

// RemoveMember implements parley.ConversationStore.
func (db *DB) RemoveMember(ctx context.Context, conversationID, userID parley.ID, t time.Time) (*parley.Member, error) {
	m, err := scanMember(db.pool.QueryRow(ctx, `WITH c AS (SELECT id, last_seq, title FROM conversations WHERE id = $1 FOR NO KEY UPDATE)
		UPDATE members m SET left_seq = c.last_seq, left_title = c.title, left_at = $3 FROM c
		WHERE m.conversation_id = c.id AND m.user_id = $2 AND m.left_seq IS NULL
		RETURNING `+memberCols, int64(conversationID), int64(userID), micro(t)))
	if err != nil {
		return nil, db.notFound("remove member", err, "not a member")
	}
	return m, nil
}

// SetRole implements parley.ConversationStore.
func (db *DB) SetRole(ctx context.Context, conversationID, userID parley.ID, role parley.Role) error {
	tag, err := db.pool.Exec(ctx, `UPDATE members SET role = $3 WHERE conversation_id = $1 AND user_id = $2 AND left_seq IS NULL`,
		int64(conversationID), int64(userID), string(role))
	if err != nil {
		return db.err("set role", err)
	}
	if tag.RowsAffected() == 0 {
		return parley.Errorf(parley.ENOTFOUND, "not a member")
	}
	return nil
}

// SetTitle implements parley.ConversationStore.
func (db *DB) SetTitle(ctx context.Context, conversationID parley.ID, title string, t time.Time) (*parley.Conversation, error) {
	c, err := scanConversation(db.pool.QueryRow(ctx, `UPDATE conversations c SET title = $2, last_activity_at = greatest(c.last_activity_at, $3)
		WHERE c.id = $1 RETURNING `+convCols, int64(conversationID), title, micro(t)))
	if err != nil {
		return nil, db.notFound("set title", err, "conversation not found")
	}
	return c, nil
}

// HideConversation implements parley.ConversationStore.
func (db *DB) HideConversation(ctx context.Context, conversationID, userID parley.ID) (*parley.Member, error) {
	m, err := scanMember(db.pool.QueryRow(ctx, `WITH c AS (SELECT id, last_seq FROM conversations WHERE id = $1 FOR NO KEY UPDATE)
		UPDATE members m SET hidden = true, cleared_seq = least(c.last_seq, coalesce(m.left_seq, c.last_seq)), pinned_at = NULL, archived = false FROM c
		WHERE m.conversation_id = c.id AND m.user_id = $2
		RETURNING `+memberCols, int64(conversationID), int64(userID)))
	if err != nil {
		return nil, db.notFound("hide conversation", err, "not a member")
	}
	return m, nil
}

// SetMuted implements parley.ConversationStore.
func (db *DB) SetMuted(ctx context.Context, conversationID, userID parley.ID, muted bool) error {
	tag, err := db.pool.Exec(ctx, `UPDATE members SET muted = $3 WHERE conversation_id = $1 AND user_id = $2`,
		int64(conversationID), int64(userID), muted)
	if err != nil {
		return db.err("set muted", err)
	}
	if tag.RowsAffected() == 0 {
		return parley.Errorf(parley.ENOTFOUND, "not a member")
	}
	return nil
}

// pinLockSpace is the advisory lock space of users' pins: a pin holds
// (pinLockSpace, hash of the user id) while it counts the user's pinned
// conversations and adds one, so two pins at once count one after the
// other.
const pinLockSpace int32 = 0x70696e73 // "pins"

// SetPinned implements parley.ConversationStore.
func (db *DB) SetPinned(ctx context.Context, conversationID, userID parley.ID, at *time.Time, limit int) (*parley.Member, error) {
	var m *parley.Member
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if at == nil {
			var err error
			m, err = scanMember(tx.QueryRow(ctx, `UPDATE members m SET pinned_at = NULL WHERE m.conversation_id = $1 AND m.user_id = $2
				RETURNING `+memberCols, int64(conversationID), int64(userID)))
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2::bigint::text))`, pinLockSpace, int64(userID)); err != nil {
			return err
		}
		var err error
		m, err = scanMember(tx.QueryRow(ctx, `SELECT `+memberCols+` FROM members m WHERE m.conversation_id = $1 AND m.user_id = $2`,
			int64(conversationID), int64(userID)))
		if err != nil || m.PinnedAt != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM members WHERE user_id = $1 AND pinned_at IS NOT NULL`, int64(userID)).Scan(&n); err != nil {
			return err
		}
		if n >= limit {
			return parley.Errorf(parley.ETOOMANY, "at most %d conversations can be pinned; unpin one first", limit)
		}
		m, err = scanMember(tx.QueryRow(ctx, `UPDATE members m SET pinned_at = $3, archived = false WHERE m.conversation_id = $1 AND m.user_id = $2
			RETURNING `+memberCols, int64(conversationID), int64(userID), micro(*at)))
		return err
	})
	if err != nil {
		return nil, db.notFound("set pinned", err, "not a member")
	}
	return m, nil
}

// SetArchived implements parley.ConversationStore.
func (db *DB) SetArchived(ctx context.Context, conversationID, userID parley.ID, archived bool) (*parley.Member, error) {
	m, err := scanMember(db.pool.QueryRow(ctx, `UPDATE members m SET archived = $3, pinned_at = CASE WHEN $3 THEN NULL ELSE m.pinned_at END
		WHERE m.conversation_id = $1 AND m.user_id = $2 RETURNING `+memberCols, int64(conversationID), int64(userID), archived))
	if err != nil {
		return nil, db.notFound("set archived", err, "not a member")
	}
	return m, nil
}

// UserConversations implements parley.ConversationStore, in one query.
func (db *DB) UserConversations(ctx context.Context, userID parley.ID, f parley.ConversationFilter) ([]*parley.UserConversation, error) {
	var limit any // NULL: no limit
	if f.Limit > 0 {
		limit = f.Limit
	}
	var now *time.Time
	if !f.Now.IsZero() {
		t := micro(f.Now)
		now = &t
	}
	args := []any{int64(userID), f.IncludeLeft, f.IncludeHidden, limit, f.Offset, !f.ExcludeArchived, now}
	query := pinnedConversationsSQL
	if !f.OnlyPinned {
		query = userConversationsSQL
		args = append(args, !f.ExcludePinned)
	}
	rows, err := db.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, db.err("read conversations", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*parley.UserConversation, error) {
		uc := &parley.UserConversation{Conversation: &parley.Conversation{}}
		cdest, cfill := convDest(uc.Conversation)
		mdest, mfill := memberDest(&uc.Self)
		var lm nullMessage
		var lastAt *time.Time
		var floor, ceiling int64
		dest := append(append(cdest, mdest...), &lastAt, &floor, &ceiling)
		if err := r.Scan(append(dest, lm.dest()...)...); err != nil {
			return nil, err
		}
		cfill()
		mfill()
		uc.LatestMessage = lm.message()
		return uc, nil
	})
	if err != nil {
		return nil, db.err("read conversations", err)
	}
	return out, nil
}

// userConversationsSQL selects a page of a member's conversations ($1
// user, $2 include left, $3 include hidden, $4 limit or NULL, $5 offset,
// $6 include archived, $8 include pinned), then for each its newest visible
// entry that has not expired at $7 (NULL: none has), in one query. An
// active member's newest visible entry is usually the conversation's last:
// it is looked up by its full primary key, so only its own partition is
// read. A member who left sees up to its left seq, and the last entry may
// have expired (or been removed): then the entry is found by a backward
// step of the primary key in every partition. The second branch runs only
// when the first found nothing (the Append under LIMIT 1 stops at the
// first row); when both ran, they would agree.
const userConversationsSQL = listHeadSQL + `
			  AND ($8 OR m.pinned_at IS NULL)
			ORDER BY c.last_activity_at DESC, c.id DESC
			LIMIT $4 OFFSET $5` + listLatestSQL + `
		ORDER BY x.last_activity_at DESC, x.id DESC`

// pinnedConversationsSQL is userConversationsSQL for the member's pinned
// conversations, most recently pinned first, found through members_pinned
// ($1 to $7 alike): a separate query, so that neither order makes the
// other's plan read every membership of the user.
const pinnedConversationsSQL = listHeadSQL + `
			  AND m.pinned_at IS NOT NULL
			ORDER BY m.pinned_at DESC, c.id DESC
			LIMIT $4 OFFSET $5` + listLatestSQL + `
		ORDER BY x.pinned_at DESC, x.id DESC`

const listHeadSQL = `SELECT x.*, l.*
		FROM (
			SELECT ` + convCols + `, ` + memberCols + `, c.last_message_at,
				greatest(m.joined_seq, m.cleared_seq) AS floor,
				least(c.last_seq, coalesce(m.left_seq, c.last_seq)) AS ceiling
			FROM members m JOIN conversations c ON c.id = m.conversation_id
			WHERE m.user_id = $1
			  AND ($2 OR m.left_seq IS NULL)
			  AND ($3 OR NOT m.hidden OR least(c.last_seq, coalesce(m.left_seq, c.last_seq)) > m.cleared_seq)
			  AND ($6 OR NOT m.archived)`

const listLatestSQL = `
		) x
		LEFT JOIN LATERAL (
			SELECT ` + messageCols + ` FROM messages
			WHERE x.ceiling = x.last_seq AND x.ceiling > x.floor
			  AND conversation_id = x.id AND seq = x.last_seq AND created_at = x.last_message_at
			  AND (expires_at IS NULL OR $7::timestamptz IS NULL OR expires_at > $7)
			UNION ALL
			(SELECT ` + messageCols + ` FROM messages
			WHERE x.ceiling > x.floor
			  AND conversation_id = x.id AND seq > x.floor AND seq <= x.ceiling
			  AND (expires_at IS NULL OR $7::timestamptz IS NULL OR expires_at > $7)
			ORDER BY seq DESC LIMIT 1)
			LIMIT 1
		) l ON true`

// nullMessage scans messageCols from an outer join, where every column may
// be NULL.
type nullMessage struct {
	id, conv, seq, sender, device, media, reply, recallOf, editOf, reactionOf *int64
	cmid, typ, body                                                           *string
	forwarded                                                                 *bool
	created, recalled, edited, expires                                        *time.Time
	disappear                                                                 *int64
}

func (n *nullMessage) dest() []any {
	return []any{&n.id, &n.conv, &n.seq, &n.sender, &n.device, &n.cmid, &n.typ, &n.body, &n.media, &n.reply, &n.recallOf, &n.editOf, &n.reactionOf, &n.forwarded, &n.created, &n.recalled, &n.edited, &n.expires, &n.disappear}
}

func (n *nullMessage) message() *parley.Message {
	if n.id == nil {
		return nil
	}
	return &parley.Message{
		ID: parley.ID(*n.id), ConversationID: parley.ID(deref(n.conv)), Seq: deref(n.seq),
		SenderID: parley.ID(deref(n.sender)), SenderDeviceID: parley.ID(deref(n.device)), ClientMsgID: deref(n.cmid),
		Type: parley.MessageType(deref(n.typ)), Body: deref(n.body),
		MediaID: parley.ID(deref(n.media)), ReplyTo: parley.ID(deref(n.reply)), RecallOf: parley.ID(deref(n.recallOf)),
		EditOf: parley.ID(deref(n.editOf)), ReactionOf: parley.ID(deref(n.reactionOf)), Forwarded: deref(n.forwarded),
		CreatedAt: utc(deref(n.created)), RecalledAt: utcPtr(n.recalled), EditedAt: utcPtr(n.edited), ExpiresAt: utcPtr(n.expires), DisappearAfter: n.disappear,
	}
}
