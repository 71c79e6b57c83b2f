package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parleyhq/parley"
)

// FriendState implements parley.FriendStore.
func (db *DB) FriendState(ctx context.Context, userID, otherID parley.ID) (parley.FriendState, error) {
	var s string
	err := db.queryRowRead(ctx, `SELECT state FROM friendships WHERE user_id = ? AND other_id = ?`, int64(userID), int64(otherID)).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", dbError("read friendship", err)
	}
	return parley.FriendState(s), nil
}

// SetFriendship implements parley.FriendStore.
func (db *DB) SetFriendship(ctx context.Context, a, b parley.ID, aState, bState parley.FriendState, t time.Time) error {
	return db.w.do(ctx, func(bt *batch) error {
		for _, e := range []struct {
			user, other parley.ID
			state       parley.FriendState
		}{{a, b, aState}, {b, a, bState}} {
			var err error
			if e.state == "" {
				_, err = bt.exec(`DELETE FROM friendships WHERE user_id = ? AND other_id = ?`, int64(e.user), int64(e.other))
			} else {
				_, err = bt.exec(`INSERT INTO friendships (user_id, other_id, state, since) VALUES (?, ?, ?, ?)
					ON CONFLICT (user_id, other_id) DO UPDATE SET state = excluded.state, since = excluded.since`,
					int64(e.user), int64(e.other), string(e.state), ts(t))
			}
			if err != nil {
				return fmt.Errorf("write friendship: %w", err)
			}
		}
		return nil
	})
}

// Friends implements parley.FriendStore.
func (db *DB) Friends(ctx context.Context, userID parley.ID) ([]parley.Friend, error) {
	rows, err := db.queryRead(ctx, `SELECT other_id, state, since FROM friendships WHERE user_id = ? ORDER BY since, other_id`, int64(userID))
	if err != nil {
		return nil, dbError("read friends", err)
	}
	defer rows.Close()
	var fs []parley.Friend
	for rows.Next() {
		var other, since int64
		var state string
		if err := rows.Scan(&other, &state, &since); err != nil {
			return nil, err
		}
		fs = append(fs, parley.Friend{UserID: parley.ID(other), State: parley.FriendState(state), Since: fromTS(since)})
	}
	return fs, rows.Err()
}

// SetBlocked implements parley.FriendStore.
func (db *DB) SetBlocked(ctx context.Context, blocker, blocked parley.ID, on bool, t time.Time) error {
	return db.w.do(ctx, func(b *batch) error {
		var err error
		if on {
			_, err = b.exec(`INSERT INTO blocks (blocker, blocked, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, int64(blocker), int64(blocked), ts(t))
		} else {
			_, err = b.exec(`DELETE FROM blocks WHERE blocker = ? AND blocked = ?`, int64(blocker), int64(blocked))
		}
		if err != nil {
			return fmt.Errorf("write block: %w", err)
		}
		return nil
	})
}

// Blocked implements parley.FriendStore.
func (db *DB) Blocked(ctx context.Context, blocker, blocked parley.ID) (bool, error) {
	var n int
	if err := db.queryRowRead(ctx, `SELECT count(*) FROM blocks WHERE blocker = ? AND blocked = ?`, int64(blocker), int64(blocked)).Scan(&n); err != nil {
		return false, dbError("read block", err)
	}
	return n > 0, nil
}

// BlockedUsers implements parley.FriendStore.
func (db *DB) BlockedUsers(ctx context.Context, blocker parley.ID) ([]parley.ID, error) {
	rows, err := db.queryRead(ctx, `SELECT blocked FROM blocks WHERE blocker = ? ORDER BY created_at, blocked`, int64(blocker))
	if err != nil {
		return nil, dbError("read blocks", err)
	}
	defer rows.Close()
	var ids []parley.ID
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, parley.ID(id))
	}
	return ids, rows.Err()
}
