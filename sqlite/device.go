package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/parleyhq/parley"
)

// CreateDevice implements parley.DeviceStore.
func (db *DB) CreateDevice(ctx context.Context, d *parley.Device, tokenHash []byte) error {
	return db.w.do(ctx, func(b *batch) error {
		var n int
		if err := b.queryRow(`SELECT count(*) FROM users WHERE id = ?`, int64(d.UserID)).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return parley.Errorf(parley.ENOTFOUND, "user not found")
		}
		var id int64
		err := b.queryRow(`INSERT INTO devices (user_id, name, token_hash, created_at) VALUES (?, ?, ?, ?) RETURNING id`,
			int64(d.UserID), d.Name, tokenHash, ts(d.CreatedAt)).Scan(&id)
		if err != nil {
			return fmt.Errorf("insert device: %w", err)
		}
		d.ID = parley.ID(id)
		return nil
	})
}

func scanDevice(s scanner) (*parley.Device, error) {
	var d parley.Device
	var id, user, created int64
	var revoked sql.NullInt64
	if err := s.Scan(&id, &user, &d.Name, &created, &revoked); err != nil {
		return nil, err
	}
	d.ID, d.UserID, d.CreatedAt, d.RevokedAt = parley.ID(id), parley.ID(user), fromTS(created), fromNullTS(revoked)
	return &d, nil
}

// DeviceByTokenHash implements parley.DeviceStore.
func (db *DB) DeviceByTokenHash(ctx context.Context, tokenHash []byte) (*parley.Device, error) {
	d, err := scanDevice(db.read.QueryRowContext(ctx,
		`SELECT id, user_id, name, created_at, revoked_at FROM devices WHERE token_hash = ? AND revoked_at IS NULL`, tokenHash))
	if err != nil {
		return nil, notFound(err, "session not found")
	}
	return d, nil
}

// Devices implements parley.DeviceStore.
func (db *DB) Devices(ctx context.Context, userID parley.ID) ([]*parley.Device, error) {
	rows, err := db.read.QueryContext(ctx,
		`SELECT id, user_id, name, created_at, revoked_at FROM devices WHERE user_id = ? AND revoked_at IS NULL ORDER BY id`, int64(userID))
	if err != nil {
		return nil, dbError("read devices", err)
	}
	defer rows.Close()
	var ds []*parley.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	return ds, rows.Err()
}

// RevokeDevice implements parley.DeviceStore.
func (db *DB) RevokeDevice(ctx context.Context, id parley.ID, t time.Time) error {
	return db.w.do(ctx, func(b *batch) error {
		var n int
		if err := b.queryRow(`SELECT count(*) FROM devices WHERE id = ? AND revoked_at IS NULL`, int64(id)).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return parley.Errorf(parley.ENOTFOUND, "device not found")
		}
		_, err := b.exec(`UPDATE devices SET revoked_at = ? WHERE id = ?`, ts(t), int64(id))
		return err
	})
}
