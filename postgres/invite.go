package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/parleyhq/parley"
)

const inviteCols = `id, max_uses, uses, note, created_at, expires_at, revoked_at`

func scanInvite(s scanner) (*parley.Invite, error) {
	var inv parley.Invite
	var id int64
	if err := s.Scan(&id, &inv.MaxUses, &inv.Uses, &inv.Note, &inv.CreatedAt, &inv.ExpiresAt, &inv.RevokedAt); err != nil {
		return nil, err
	}
	inv.ID, inv.CreatedAt, inv.ExpiresAt, inv.RevokedAt = parley.ID(id), utc(inv.CreatedAt), utcPtr(inv.ExpiresAt), utcPtr(inv.RevokedAt)
	return &inv, nil
}

// CreateInvite implements parley.InviteStore.
func (db *DB) CreateInvite(ctx context.Context, inv *parley.Invite, codeHash []byte) error {
	inv.CreatedAt = micro(inv.CreatedAt)
	if inv.ExpiresAt != nil {
		e := micro(*inv.ExpiresAt)
		inv.ExpiresAt = &e
	}
	var id int64
	err := db.pool.QueryRow(ctx, `INSERT INTO invites (code_hash, max_uses, note, created_at, expires_at) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		codeHash, inv.MaxUses, inv.Note, inv.CreatedAt, inv.ExpiresAt).Scan(&id)
	if err != nil {
		return db.err("create invite", err)
	}
	inv.ID = parley.ID(id)
	return nil
}

// Invites implements parley.InviteStore.
func (db *DB) Invites(ctx context.Context) ([]*parley.Invite, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+inviteCols+` FROM invites ORDER BY id DESC`)
	if err != nil {
		return nil, db.err("read invites", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*parley.Invite, error) { return scanInvite(r) })
	if err != nil {
		return nil, db.err("read invites", err)
	}
	return out, nil
}

// RevokeInvite implements parley.InviteStore.
func (db *DB) RevokeInvite(ctx context.Context, id parley.ID, t time.Time) error {
	tag, err := db.pool.Exec(ctx, `UPDATE invites SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`, int64(id), micro(t))
	if err != nil {
		return db.err("revoke invite", err)
	}
	if tag.RowsAffected() == 0 {
		return parley.Errorf(parley.ENOTFOUND, "invite not found")
	}
	return nil
}

// UseInvite implements parley.InviteStore. The update takes the use only
// while the invite is usable, so concurrent sign-ups cannot overdraw it.
func (db *DB) UseInvite(ctx context.Context, codeHash []byte, t time.Time) (*parley.Invite, error) {
	inv, err := scanInvite(db.pool.QueryRow(ctx, `UPDATE invites SET uses = uses + 1
		WHERE code_hash = $1 AND revoked_at IS NULL AND uses < max_uses AND (expires_at IS NULL OR expires_at > $2)
		RETURNING `+inviteCols, codeHash, micro(t)))
	if err == nil {
		return inv, nil
	}
	if err != pgx.ErrNoRows {
		return nil, db.err("use invite", err)
	}
	var n int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM invites WHERE code_hash = $1`, codeHash).Scan(&n); err != nil {
		return nil, db.err("use invite", err)
	}
	if n == 0 {
		return nil, parley.Errorf(parley.ENOTFOUND, "invite not found")
	}
	return nil, parley.Errorf(parley.EFORBIDDEN, "this invite is expired, used up or revoked")
}

// ReturnInvite implements parley.InviteStore.
func (db *DB) ReturnInvite(ctx context.Context, id parley.ID) error {
	_, err := db.pool.Exec(ctx, `UPDATE invites SET uses = uses - 1 WHERE id = $1 AND uses > 0`, int64(id))
	return db.err("return invite", err)
}
