package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/parleyhq/parley"
)

const userCols = `id, handle, display_name, profile_pic, bio, created_at, push_previews`

type scanner interface{ Scan(dest ...any) error }

func scanUser(s scanner, extra ...any) (*parley.User, error) {
	var u parley.User
	var id, created int64
	if err := s.Scan(append([]any{&id, &u.Handle, &u.DisplayName, &u.ProfilePic, &u.Bio, &created, &u.PushPreviews}, extra...)...); err != nil {
		return nil, err
	}
	u.ID, u.CreatedAt = parley.ID(id), fromTS(created)
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
	u, err := scanUser(db.read.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, int64(id)))
	if err != nil {
		return nil, notFound(err, "user not found")
	}
	return u, nil
}

// Users implements parley.UserStore.
func (db *DB) Users(ctx context.Context, ids []parley.ID) ([]*parley.User, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var users []*parley.User
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = int64(id)
		}
		rows, err := db.read.QueryContext(ctx, `SELECT `+userCols+` FROM users WHERE id IN (`+placeholders(len(chunk))+`)`, args...)
		if err != nil {
			return nil, dbError("read users", err)
		}
		for rows.Next() {
			u, err := scanUser(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			users = append(users, u)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	return users, nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// UserCredentials implements parley.UserStore.
func (db *DB) UserCredentials(ctx context.Context, handle string) (*parley.User, string, error) {
	var hash string
	u, err := scanUser(db.read.QueryRowContext(ctx, `SELECT `+userCols+`, password_hash FROM users WHERE handle_norm = ?`,
		parley.NormalizeHandle(handle)), &hash)
	if err != nil {
		return nil, "", notFound(err, "user not found")
	}
	return u, hash, nil
}

// SearchUsers implements parley.UserStore.
func (db *DB) SearchUsers(ctx context.Context, prefix string, limit int) ([]*parley.User, error) {
	p := parley.NormalizeHandle(prefix)
	rows, err := db.read.QueryContext(ctx, `SELECT `+userCols+` FROM users WHERE handle_norm >= ? AND handle_norm < ? ORDER BY handle_norm LIMIT ?`,
		p, p+"\xff", limit)
	if err != nil {
		return nil, dbError("search users", err)
	}
	defer rows.Close()
	var users []*parley.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		users = append(users, u)
	}
	return users, rows.Err()
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
