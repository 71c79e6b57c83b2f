package postgres

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/parleyhq/parley"
)

const userCols = `id, handle, display_name, profile_pic, bio, created_at, push_previews`

func scanUser(s scanner, extra ...any) (*parley.User, error) {
	var u parley.User
	var id int64
	if err := s.Scan(append([]any{&id, &u.Handle, &u.DisplayName, &u.ProfilePic, &u.Bio, &u.CreatedAt, &u.PushPreviews}, extra...)...); err != nil {
		return nil, err
	}
	u.ID, u.CreatedAt = parley.ID(id), utc(u.CreatedAt)
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
	u, err := scanUser(db.pool.QueryRow(ctx, `SELECT `+userCols+`, password_hash FROM users WHERE handle_norm = $1`,
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
	rows, err := db.pool.Query(ctx, `SELECT `+userCols+` FROM users WHERE handle_norm LIKE $1 ESCAPE '\' ORDER BY handle_norm LIMIT $2`,
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
