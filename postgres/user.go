package postgres

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/parleyhq/parley"
)

const userCols = `id, handle, display_name, profile_pic, bio, created_at, push_previews, disabled_at, deleted_at`

func scanUser(s scanner, extra ...any) (*parley.User, error) {
	var u parley.User
	var id int64
	var deleted *time.Time
	if err := s.Scan(append([]any{&id, &u.Handle, &u.DisplayName, &u.ProfilePic, &u.Bio, &u.CreatedAt, &u.PushPreviews, &u.DisabledAt, &deleted}, extra...)...); err != nil {
		return nil, err
	}
	u.ID, u.CreatedAt, u.DisabledAt, u.Deleted = parley.ID(id), utc(u.CreatedAt), utcPtr(u.DisabledAt), deleted != nil
	return &u, nil
}

func collectUsers(rows pgx.Rows) ([]*parley.User, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*parley.User, error) { return scanUser(r) })
}

// CreateUser implements parley.UserStore.
func (db *DB) CreateUser(ctx context.Context, u *parley.User, passwordHash string) error {
	u.CreatedAt = micro(u.CreatedAt)
	var id int64
	err := db.pool.QueryRow(ctx, `INSERT INTO users (handle, handle_norm, display_name, profile_pic, bio, password_hash, created_at, push_previews)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		u.Handle, parley.NormalizeHandle(u.Handle), u.DisplayName, u.ProfilePic, u.Bio, passwordHash, u.CreatedAt, u.PushPreviews).Scan(&id)
	if sqlState(err) == sqlUniqueViolation {
		return parley.Errorf(parley.ECONFLICT, "handle %q is taken", u.Handle)
	}
	if err != nil {
		return db.err("create user", err)
	}
	u.ID = parley.ID(id)
	return nil
}

// User implements parley.UserStore.
func (db *DB) User(ctx context.Context, id parley.ID) (*parley.User, error) {
	u, err := scanUser(db.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, int64(id)))
	if err != nil {
		return nil, db.notFound("read user", err, "user not found")
	}
	return u, nil
}

// Users implements parley.UserStore.
func (db *DB) Users(ctx context.Context, ids []parley.ID) ([]*parley.User, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := db.pool.Query(ctx, `SELECT `+userCols+` FROM users WHERE id = ANY($1)`, idArray(ids))
	if err != nil {
		return nil, db.err("read users", err)
	}
	users, err := collectUsers(rows)
	if err != nil {
		return nil, db.err("read users", err)
	}
	return users, nil
}

// UserCredentials implements parley.UserStore.
func (db *DB) UserCredentials(ctx context.Context, handle string) (*parley.User, string, error) {
	var hash string
	u, err := scanUser(db.pool.QueryRow(ctx, `SELECT `+userCols+`, password_hash FROM users WHERE handle_norm = $1 AND deleted_at IS NULL`,
		parley.NormalizeHandle(handle)), &hash)
	if err != nil {
		return nil, "", db.notFound("read credentials", err, "user not found")
	}
	return u, hash, nil
}

// SearchUsers implements parley.UserStore. handle_norm is in byte order, so
// the prefix match is a range scan of its unique index.
func (db *DB) SearchUsers(ctx context.Context, prefix string, limit int) ([]*parley.User, error) {
	p := parley.NormalizeHandle(prefix)
	if strings.IndexByte(p, 0) >= 0 {
		return nil, nil // no handle holds a NUL, and PostgreSQL text cannot
	}
	rows, err := db.pool.Query(ctx, `SELECT `+userCols+` FROM users WHERE handle_norm LIKE $1 ESCAPE '\' AND deleted_at IS NULL ORDER BY handle_norm LIMIT $2`,
		likePrefix(p), limit)
	if err != nil {
		return nil, db.err("search users", err)
	}
	users, err := collectUsers(rows)
	if err != nil {
		return nil, db.err("search users", err)
	}
	return users, nil
}

// likePrefix returns the LIKE pattern matching strings that start with p.
func likePrefix(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(p) + "%"
}

// UpdateUser implements parley.UserStore.
func (db *DB) UpdateUser(ctx context.Context, id parley.ID, upd parley.UserUpdate) (*parley.User, error) {
	u, err := scanUser(db.pool.QueryRow(ctx, `UPDATE users SET
			display_name = coalesce($2, display_name), profile_pic = coalesce($3, profile_pic), bio = coalesce($4, bio),
			push_previews = coalesce($5, push_previews)
		WHERE id = $1 RETURNING `+userCols, int64(id), upd.DisplayName, upd.ProfilePic, upd.Bio, upd.PushPreviews))
	if err != nil {
		return nil, db.notFound("update user", err, "user not found")
	}
	return u, nil
}

// UserPasswordHash implements parley.UserStore.
func (db *DB) UserPasswordHash(ctx context.Context, id parley.ID) (string, error) {
	var hash string
	err := db.pool.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = $1 AND deleted_at IS NULL`, int64(id)).Scan(&hash)
	if err != nil {
		return "", db.notFound("read password", err, "user not found")
	}
	return hash, nil
}

// updateLiveUser runs an update ($1 is the id) of one user that is not
// deleted, with ENOTFOUND when there is none.
func (db *DB) updateLiveUser(ctx context.Context, op, set string, id parley.ID, args ...any) error {
	tag, err := db.pool.Exec(ctx, `UPDATE users SET `+set+` WHERE id = $1 AND deleted_at IS NULL`, append([]any{int64(id)}, args...)...)
	if err != nil {
		return db.err(op, err)
	}
	if tag.RowsAffected() == 0 {
		return parley.Errorf(parley.ENOTFOUND, "user not found")
	}
	return nil
}

// SetPasswordHash implements parley.UserStore.
func (db *DB) SetPasswordHash(ctx context.Context, id parley.ID, passwordHash string) error {
	return db.updateLiveUser(ctx, "set password", `password_hash = $2`, id, passwordHash)
}

// SetUserDisabled implements parley.UserStore.
func (db *DB) SetUserDisabled(ctx context.Context, id parley.ID, at *time.Time) error {
	var v *time.Time
	if at != nil {
		m := micro(*at)
		v = &m
	}
	return db.updateLiveUser(ctx, "disable user", `disabled_at = $2`, id, v)
}

// ListUsers implements parley.UserStore.
func (db *DB) ListUsers(ctx context.Context, afterID parley.ID, limit int) ([]*parley.User, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+userCols+` FROM users WHERE id > $1 ORDER BY id LIMIT $2`, int64(afterID), limit)
	if err != nil {
		return nil, db.err("list users", err)
	}
	users, err := collectUsers(rows)
	if err != nil {
		return nil, db.err("list users", err)
	}
	return users, nil
}

// EraseUser implements parley.UserStore. The handle_norm of a deleted
// user is a value no handle can take, which releases the handle.
func (db *DB) EraseUser(ctx context.Context, id parley.ID, t time.Time) error {
	return db.updateLiveUser(ctx, "erase user", `handle = '', handle_norm = '#deleted:' || id, display_name = $2, profile_pic = '', bio = '',
		password_hash = '', disabled_at = NULL, deleted_at = $3, last_seen_at = NULL`, id, parley.DeletedName, micro(t))
}

// SetLastSeen implements parley.UserStore.
func (db *DB) SetLastSeen(ctx context.Context, id parley.ID, t time.Time) error {
	_, err := db.pool.Exec(ctx, `UPDATE users SET last_seen_at = $2
		WHERE id = $1 AND deleted_at IS NULL AND (last_seen_at IS NULL OR last_seen_at < $2)`, int64(id), micro(t))
	if err != nil {
		return db.err("record last seen", err)
	}
	return nil
}

// LastSeen implements parley.UserStore.
func (db *DB) LastSeen(ctx context.Context, ids []parley.ID) (map[parley.ID]time.Time, error) {
	out := make(map[parley.ID]time.Time, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := db.pool.Query(ctx, `SELECT id, last_seen_at FROM users WHERE id = ANY($1) AND last_seen_at IS NOT NULL`, idArray(ids))
	if err != nil {
		return nil, db.err("read last seen", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			return nil, db.err("read last seen", err)
		}
		out[parley.ID(id)] = at.UTC()
	}
	if err := rows.Err(); err != nil {
		return nil, db.err("read last seen", err)
	}
	return out, nil
}

// UploadedMedia implements parley.UserStore.
func (db *DB) UploadedMedia(ctx context.Context, userID parley.ID) ([]parley.ID, error) {
	rows, err := db.pool.Query(ctx, `SELECT id FROM media WHERE owner_id = $1 AND thumbnail_of IS NULL ORDER BY id`, int64(userID))
	if err != nil {
		return nil, db.err("read uploaded media", err)
	}
	ids, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (parley.ID, error) {
		var id int64
		err := r.Scan(&id)
		return parley.ID(id), err
	})
	if err != nil {
		return nil, db.err("read uploaded media", err)
	}
	return ids, nil
}
