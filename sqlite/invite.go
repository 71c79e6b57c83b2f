package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/parleyhq/parley"
)

const inviteCols = `id, max_uses, uses, note, created_at, expires_at, revoked_at`

func scanInvite(s scanner) (*parley.Invite, error) {
	var inv parley.Invite
	var id, created int64
	var expires, revoked sql.NullInt64
	if err := s.Scan(&id, &inv.MaxUses, &inv.Uses, &inv.Note, &created, &expires, &revoked); err != nil {
		return nil, err
	}
	inv.ID, inv.CreatedAt, inv.ExpiresAt, inv.RevokedAt = parley.ID(id), fromTS(created), fromNullTS(expires), fromNullTS(revoked)
	return &inv, nil
}

func nullTS(t *time.Time) any {
	if t == nil {
		return nil
	}
	return ts(*t)
}

// CreateInvite implements parley.InviteStore.
func (db *DB) CreateInvite(ctx context.Context, inv *parley.Invite, codeHash []byte) error {
	return db.w.do(ctx, func(b *batch) error {
		var id int64
		err := b.queryRow(`INSERT INTO invites (code_hash, max_uses, note, created_at, expires_at) VALUES (?, ?, ?, ?, ?) RETURNING id`,
			codeHash, inv.MaxUses, inv.Note, ts(inv.CreatedAt), nullTS(inv.ExpiresAt)).Scan(&id)
		if err != nil {
			return fmt.Errorf("insert invite: %w", err)
		}
		inv.ID = parley.ID(id)
		return nil
	})
}

// Invites implements parley.InviteStore.
func (db *DB) Invites(ctx context.Context) ([]*parley.Invite, error) {
	rows, err := db.queryRead(ctx, `SELECT `+inviteCols+` FROM invites ORDER BY id DESC`)
	if err != nil {
		return nil, fmt.Errorf("read invites: %w", err)
	}
	return collect(rows, "read invites", scanInvite)
}

// RevokeInvite implements parley.InviteStore.
func (db *DB) RevokeInvite(ctx context.Context, id parley.ID, t time.Time) error {
	return db.w.do(ctx, func(b *batch) error {
		var n int
		if err := b.queryRow(`SELECT count(*) FROM invites WHERE id = ? AND revoked_at IS NULL`, int64(id)).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return parley.Errorf(parley.ENOTFOUND, "invite not found")
		}
		_, err := b.exec(`UPDATE invites SET revoked_at = ? WHERE id = ?`, ts(t), int64(id))
		return err
	})
}

// UseInvite implements parley.InviteStore.
func (db *DB) UseInvite(ctx context.Context, codeHash []byte, t time.Time) (*parley.Invite, error) {
	var inv *parley.Invite
	err := db.w.do(ctx, func(b *batch) error {
		var err error
		inv, err = scanInvite(b.queryRow(`SELECT `+inviteCols+` FROM invites WHERE code_hash = ?`, codeHash))
		if err != nil {
			return notFound(err, "invite not found")
		}
		if !inv.Usable(t) {
			return parley.Errorf(parley.EFORBIDDEN, "this invite is expired, used up or revoked")
		}
		if _, err := b.exec(`UPDATE invites SET uses = uses + 1 WHERE id = ?`, int64(inv.ID)); err != nil {
			return err
		}
		inv.Uses++
		return nil
	})
	if err != nil {
		return nil, err
	}
	return inv, nil
}

// ReturnInvite implements parley.InviteStore.
func (db *DB) ReturnInvite(ctx context.Context, id parley.ID) error {
	return db.w.do(ctx, func(b *batch) error {
		_, err := b.exec(`UPDATE invites SET uses = uses - 1 WHERE id = ? AND uses > 0`, int64(id))
		return err
	})
}
