package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/parleyhq/parley"
)

const userCols = `id, handle, display_name, profile_pic, bio, created_at, push_previews, disabled_at, deleted_at`

type scanner interface{ Scan(dest ...any) error }

func scanUser(s scanner, extra ...any) (*parley.User, error) {
	var u parley.User
	var id, created int64
	var disabled, deleted sql.NullInt64
	if err := s.Scan(append([]any{&id, &u.Handle, &u.DisplayName, &u.ProfilePic, &u.Bio, &created, &u.PushPreviews, &disabled, &deleted}, extra...)...); err != nil {
		return nil, err
	}
	u.ID, u.CreatedAt, u.DisabledAt, u.Deleted = parley.ID(id), fromTS(created), fromNullTS(disabled), deleted.Valid
	return &u, nil
}

// CreateUser implements parley.UserStore.
func (db *DB) CreateUser(ctx context.Context, u *parley.User, passwordHash string) error {
	return db.w.do(ctx, func(b *batch) error {
		var exists int
		err := b.queryRow(`SELECT count(*) FROM users WHERE handle_norm = ?`, parley.NormalizeHandle(u.Handle)).Scan(&exists)
		if err != nil {
			return fmt.Errorf("check handle: %w", err)
		}
		if exists > 0 {
			return parley.Errorf(parley.ECONFLICT, "handle %q is taken", u.Handle)
		}
		var id int64
		err = b.queryRow(`INSERT INTO users (handle, handle_norm, display_name, profile_pic, bio, password_hash, created_at, push_previews)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			u.Handle, parley.NormalizeHandle(u.Handle), u.DisplayName, u.ProfilePic, u.Bio, passwordHash, ts(u.CreatedAt), u.PushPreviews).Scan(&id)
		if err != nil {
			return fmt.Errorf("insert user: %w", err)
		}
		u.ID = parley.ID(id)
		return nil
	})
}

// User implements parley.UserStore.
func (db *DB) User(ctx context.Context, id parley.ID) (*parley.User, error) {
	u, err := scanUser(db.queryRowRead(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, int64(id)))
	if err != nil {
		return nil, notFound(err, "user not found")
	}
	return u, nil
}

// Users implements parley.UserStore. One statement text whatever the
// number of ids (jsonList), so it is prepared once.
func (db *DB) Users(ctx context.Context, ids []parley.ID) ([]*parley.User, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := db.queryRead(ctx, `SELECT `+userCols+` FROM users WHERE id IN (SELECT value FROM json_each(?))`, jsonList(int64s(ids)))
	if err != nil {
		return nil, dbError("read users", err)
	}
	return collectUsers(rows, "read users")
}

// UserCredentials implements parley.UserStore.
func (db *DB) UserCredentials(ctx context.Context, handle string) (*parley.User, string, error) {
	var hash string
	u, err := scanUser(db.queryRowRead(ctx, `SELECT `+userCols+`, password_hash FROM users WHERE handle_norm = ? AND deleted_at IS NULL`,
		parley.NormalizeHandle(handle)), &hash)
	if err != nil {
		return nil, "", notFound(err, "user not found")
	}
	return u, hash, nil
}

// SearchUsers implements parley.UserStore.
func (db *DB) SearchUsers(ctx context.Context, prefix string, limit int) ([]*parley.User, error) {
	p := parley.NormalizeHandle(prefix)
	rows, err := db.queryRead(ctx, `SELECT `+userCols+` FROM users WHERE handle_norm >= ? AND handle_norm < ? AND deleted_at IS NULL ORDER BY handle_norm LIMIT ?`,
		p, p+"\xff", limit)
	if err != nil {
		return nil, dbError("search users", err)
	}
	return collectUsers(rows, "search users")
}

// UpdateUser implements parley.UserStore.
func (db *DB) UpdateUser(ctx context.Context, id parley.ID, upd parley.UserUpdate) (*parley.User, error) {
	err := db.w.do(ctx, func(b *batch) error {
		var n int
		if err := b.queryRow(`SELECT count(*) FROM users WHERE id = ?`, int64(id)).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return parley.Errorf(parley.ENOTFOUND, "user not found")
		}
		if upd.DisplayName != nil {
			if _, err := b.exec(`UPDATE users SET display_name = ? WHERE id = ?`, *upd.DisplayName, int64(id)); err != nil {
				return err
			}
		}
		if upd.ProfilePic != nil {
			if _, err := b.exec(`UPDATE users SET profile_pic = ? WHERE id = ?`, *upd.ProfilePic, int64(id)); err != nil {
				return err
			}
		}
		if upd.Bio != nil {
			if _, err := b.exec(`UPDATE users SET bio = ? WHERE id = ?`, *upd.Bio, int64(id)); err != nil {
				return err
			}
		}
		if upd.PushPreviews != nil {
			if _, err := b.exec(`UPDATE users SET push_previews = ? WHERE id = ?`, *upd.PushPreviews, int64(id)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return db.User(ctx, id)
}

// UserPasswordHash implements parley.UserStore.
func (db *DB) UserPasswordHash(ctx context.Context, id parley.ID) (string, error) {
	var hash string
	err := db.queryRowRead(ctx, `SELECT password_hash FROM users WHERE id = ? AND deleted_at IS NULL`, int64(id)).Scan(&hash)
	if err != nil {
		return "", notFound(err, "user not found")
	}
	return hash, nil
}

// updateLiveUser runs an update of one user that is not deleted, with
// ENOTFOUND when there is none.
func (db *DB) updateLiveUser(ctx context.Context, id parley.ID, set string, args ...any) error {
	return db.w.do(ctx, func(b *batch) error {
		var n int
		if err := b.queryRow(`SELECT count(*) FROM users WHERE id = ? AND deleted_at IS NULL`, int64(id)).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return parley.Errorf(parley.ENOTFOUND, "user not found")
		}
		_, err := b.exec(`UPDATE users SET `+set+` WHERE id = ?`, append(args, int64(id))...)
		return err
	})
}

// SetPasswordHash implements parley.UserStore.
func (db *DB) SetPasswordHash(ctx context.Context, id parley.ID, passwordHash string) error {
	return db.updateLiveUser(ctx, id, `password_hash = ?`, passwordHash)
}

// SetUserDisabled implements parley.UserStore.
func (db *DB) SetUserDisabled(ctx context.Context, id parley.ID, at *time.Time) error {
	var v any
	if at != nil {
		v = ts(*at)
	}
	return db.updateLiveUser(ctx, id, `disabled_at = ?`, v)
}

// ListUsers implements parley.UserStore.
func (db *DB) ListUsers(ctx context.Context, afterID parley.ID, limit int) ([]*parley.User, error) {
	rows, err := db.queryRead(ctx, `SELECT `+userCols+` FROM users WHERE id > ? ORDER BY id LIMIT ?`, int64(afterID), limit)
	if err != nil {
		return nil, dbError("list users", err)
	}
	return collectUsers(rows, "list users")
}

// EraseUser implements parley.UserStore. The handle_norm of a deleted
// user is a value no handle can take, which releases the handle.
func (db *DB) EraseUser(ctx context.Context, id parley.ID, t time.Time) error {
	return db.updateLiveUser(ctx, id, `handle = '', handle_norm = '#deleted:' || id, display_name = ?, profile_pic = '', bio = '',
		password_hash = '', disabled_at = NULL, deleted_at = ?, last_seen_at = NULL`, parley.DeletedName, ts(t))
}

// SetLastSeen implements parley.UserStore.
func (db *DB) SetLastSeen(ctx context.Context, id parley.ID, t time.Time) error {
	return db.w.do(ctx, func(b *batch) error {
		_, err := b.exec(`UPDATE users SET last_seen_at = ?1
			WHERE id = ?2 AND deleted_at IS NULL AND (last_seen_at IS NULL OR last_seen_at < ?1)`, ts(t), int64(id))
		return err
	})
}

// LastSeen implements parley.UserStore.
func (db *DB) LastSeen(ctx context.Context, ids []parley.ID) (map[parley.ID]time.Time, error) {
	out := make(map[parley.ID]time.Time, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := db.queryRead(ctx, `SELECT id, last_seen_at FROM users
		WHERE id IN (SELECT value FROM json_each(?)) AND last_seen_at IS NOT NULL`, jsonList(int64s(ids)))
	if err != nil {
		return nil, dbError("read last seen", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, at int64
		if err := rows.Scan(&id, &at); err != nil {
			return nil, dbError("read last seen", err)
		}
		out[parley.ID(id)] = fromTS(at)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError("read last seen", err)
	}
	return out, nil
}

// UploadedMedia implements parley.UserStore.
func (db *DB) UploadedMedia(ctx context.Context, userID parley.ID) ([]parley.ID, error) {
	rows, err := db.queryRead(ctx, `SELECT id FROM media WHERE owner_id = ? AND thumbnail_of IS NULL ORDER BY id`, int64(userID))
	if err != nil {
		return nil, fmt.Errorf("read uploaded media: %w", err)
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

// collectUsers reads every user of rows and closes them.
func collectUsers(rows *sql.Rows, what string) ([]*parley.User, error) {
	return collect(rows, what, func(s scanner) (*parley.User, error) { return scanUser(s) })
}
