package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/parleyhq/parley"
)

const deviceCols = `id, user_id, name, created_at, revoked_at`

func scanDevice(s scanner) (*parley.Device, error) {
	var d parley.Device
	var id, user int64
	if err := s.Scan(&id, &user, &d.Name, &d.CreatedAt, &d.RevokedAt); err != nil {
		return nil, err
	}
	d.ID, d.UserID, d.CreatedAt, d.RevokedAt = parley.ID(id), parley.ID(user), utc(d.CreatedAt), utcPtr(d.RevokedAt)
	return &d, nil
}

// CreateDevice implements parley.DeviceStore.
func (db *DB) CreateDevice(ctx context.Context, d *parley.Device, tokenHash []byte) error {
	d.CreatedAt = micro(d.CreatedAt)
	var id int64
	err := db.pool.QueryRow(ctx, `INSERT INTO devices (user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
		int64(d.UserID), d.Name, tokenHash, d.CreatedAt).Scan(&id)
	if sqlState(err) == sqlForeignKeyViolation {
		return parley.Errorf(parley.ENOTFOUND, "user not found")
	}
	if err != nil {
		return db.err("create device", err)
	}
	d.ID = parley.ID(id)
	return nil
}

// DeviceByTokenHash implements parley.DeviceStore.
func (db *DB) DeviceByTokenHash(ctx context.Context, tokenHash []byte) (*parley.Device, error) {
	d, err := scanDevice(db.pool.QueryRow(ctx, `SELECT `+deviceCols+` FROM devices WHERE token_hash = $1 AND revoked_at IS NULL`, tokenHash))
	if err != nil {
		return nil, db.notFound("read device", err, "session not found")
	}
	return d, nil
}

// Devices implements parley.DeviceStore.
func (db *DB) Devices(ctx context.Context, userID parley.ID) ([]*parley.Device, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+deviceCols+` FROM devices WHERE user_id = $1 AND revoked_at IS NULL ORDER BY id`, int64(userID))
	if err != nil {
		return nil, db.err("read devices", err)
	}
	ds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*parley.Device, error) { return scanDevice(r) })
	if err != nil {
		return nil, db.err("read devices", err)
	}
	return ds, nil
}

// RevokeDevice implements parley.DeviceStore.
func (db *DB) RevokeDevice(ctx context.Context, id parley.ID, t time.Time) error {
	tag, err := db.pool.Exec(ctx, `UPDATE devices SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`, int64(id), micro(t))
	if err != nil {
		return db.err("revoke device", err)
	}
	if tag.RowsAffected() == 0 {
		return parley.Errorf(parley.ENOTFOUND, "device not found")
	}
	return nil
}
