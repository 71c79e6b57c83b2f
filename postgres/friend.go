package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/parleyhq/parley"
)

// FriendState implements parley.FriendStore.
func (db *DB) FriendState(ctx context.Context, userID, otherID parley.ID) (parley.FriendState, error) {
	var s string
	err := db.pool.QueryRow(ctx, `SELECT state FROM friendships WHERE user_id = $1 AND other_id = $2`, int64(userID), int64(otherID)).Scan(&s)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", db.err("read friendship", err)
	}
	return parley.FriendState(s), nil
}

// SetFriendship implements parley.FriendStore. The two edges are written in
// key order, so two requests about the same pair lock them in the same
// order.
func (db *DB) SetFriendship(ctx context.Context, a, b parley.ID, aState, bState parley.FriendState, t time.Time) error {
	type edge struct {
		user, other parley.ID
		state       parley.FriendState
	}
	edges := []edge{{a, b, aState}, {b, a, bState}}
	if b < a {
		edges[0], edges[1] = edges[1], edges[0]
	}
	t = micro(t)
	batch := &pgx.Batch{}
	for _, e := range edges {
		if e.state == "" {
			batch.Queue(`DELETE FROM friendships WHERE user_id = $1 AND other_id = $2`, int64(e.user), int64(e.other))
		} else {
			batch.Queue(`INSERT INTO friendships (user_id, other_id, state, since) VALUES ($1, $2, $3, $4)
				ON CONFLICT (user_id, other_id) DO UPDATE SET state = excluded.state, since = excluded.since`,
				int64(e.user), int64(e.other), string(e.state), t)
		}
	}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error { return tx.SendBatch(ctx, batch).Close() })
	return db.err("write friendship", err)
}

// Friends implements parley.FriendStore.
func (db *DB) Friends(ctx context.Context, userID parley.ID) ([]parley.Friend, error) {
	rows, err := db.pool.Query(ctx, `SELECT other_id, state, since FROM friendships WHERE user_id = $1 ORDER BY since, other_id`, int64(userID))
	if err != nil {
		return nil, db.err("read friends", err)
	}
	fs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (parley.Friend, error) {
		var f parley.Friend
		var other int64
		if err := r.Scan(&other, &f.State, &f.Since); err != nil {
			return f, err
		}
		f.UserID, f.Since = parley.ID(other), utc(f.Since)
		return f, nil
	})
	if err != nil {
		return nil, db.err("read friends", err)
	}
	return fs, nil
}

// SetBlocked implements parley.FriendStore.
func (db *DB) SetBlocked(ctx context.Context, blocker, blocked parley.ID, on bool, t time.Time) error {
	var err error
	if on {
		_, err = db.pool.Exec(ctx, `INSERT INTO blocks (blocker, blocked, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
			int64(blocker), int64(blocked), micro(t))
	} else {
		_, err = db.pool.Exec(ctx, `DELETE FROM blocks WHERE blocker = $1 AND blocked = $2`, int64(blocker), int64(blocked))
	}
	return db.err("write block", err)
}

// Blocked implements parley.FriendStore.
func (db *DB) Blocked(ctx context.Context, blocker, blocked parley.ID) (bool, error) {
	var ok bool
	err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM blocks WHERE blocker = $1 AND blocked = $2)`, int64(blocker), int64(blocked)).Scan(&ok)
	if err != nil {
		return false, db.err("read block", err)
	}
	return ok, nil
}

// BlockedUsers implements parley.FriendStore.
func (db *DB) BlockedUsers(ctx context.Context, blocker parley.ID) ([]parley.ID, error) {
	rows, err := db.pool.Query(ctx, `SELECT blocked FROM blocks WHERE blocker = $1 ORDER BY created_at, blocked`, int64(blocker))
	if err != nil {
		return nil, db.err("read blocks", err)
	}
	ids, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (parley.ID, error) {
		var id int64
		err := r.Scan(&id)
		return parley.ID(id), err
	})
	if err != nil {
		return nil, db.err("read blocks", err)
	}
	return ids, nil
}
