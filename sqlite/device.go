package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/parleyhq/parley"
)

const deviceCols = `id, user_id, name, created_at, last_seen_at, revoked_at, end_reason`

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
		err := b.queryRow(`INSERT INTO devices (user_id, name, token_hash, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?) RETURNING id`,
			int64(d.UserID), d.Name, tokenHash, ts(d.CreatedAt), ts(d.CreatedAt)).Scan(&id)
		if err != nil {
			return fmt.Errorf("insert device: %w", err)
		}
		d.ID, d.LastSeenAt = parley.ID(id), d.CreatedAt
		return nil
	})
}

func scanDevice(s scanner) (*parley.Device, error) {
	var d parley.Device
	var id, user, created, seen int64
	var revoked sql.NullInt64
	var reason sql.NullString
	if err := s.Scan(&id, &user, &d.Name, &created, &seen, &revoked, &reason); err != nil {
		return nil, err
	}
	d.ID, d.UserID, d.CreatedAt, d.LastSeenAt, d.RevokedAt = parley.ID(id), parley.ID(user), fromTS(created), fromTS(seen), fromNullTS(revoked)
	if d.RevokedAt != nil {
		d.EndReason = reason.String
		if d.EndReason == "" {
			d.EndReason = parley.EndRevoked
		}
	}
	return &d, nil
}

// DeviceByTokenHash implements parley.DeviceStore.
func (db *DB) DeviceByTokenHash(ctx context.Context, tokenHash []byte) (*parley.Device, error) {
	d, err := scanDevice(db.queryRowRead(ctx, `SELECT `+deviceCols+` FROM devices WHERE token_hash = ?`, tokenHash))
	if err != nil {
		return nil, notFound(err, "session not found")
	}
	return d, nil
}

// Device implements parley.DeviceStore.
func (db *DB) Device(ctx context.Context, id parley.ID) (*parley.Device, error) {
	d, err := scanDevice(db.queryRowRead(ctx, `SELECT `+deviceCols+` FROM devices WHERE id = ?`, int64(id)))
	if err != nil {
		return nil, notFound(err, "device not found")
	}
	return d, nil
}

// Devices implements parley.DeviceStore.
func (db *DB) Devices(ctx context.Context, userID parley.ID) ([]*parley.Device, error) {
	rows, err := db.queryRead(ctx,
		`SELECT `+deviceCols+` FROM devices WHERE user_id = ? AND revoked_at IS NULL ORDER BY id`, int64(userID))
	if err != nil {
		return nil, dbError("read devices", err)
	}
	return collect(rows, "read devices", scanDevice)
}

func reasonOr(r string) string {
	if r == "" {
		return parley.EndRevoked
	}
	return r
}

// RevokeDevice implements parley.DeviceStore.
func (db *DB) RevokeDevice(ctx context.Context, id parley.ID, t time.Time, reason string) error {
	return db.w.do(ctx, func(b *batch) error {
		var n int
		if err := b.queryRow(`SELECT count(*) FROM devices WHERE id = ? AND revoked_at IS NULL`, int64(id)).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return parley.Errorf(parley.ENOTFOUND, "device not found")
		}
		_, err := b.exec(`UPDATE devices SET revoked_at = ?, end_reason = ? WHERE id = ?`, ts(t), reasonOr(reason), int64(id))
		return err
	})
}

// revokeWhere revokes the live devices matching cond and returns them.
func (db *DB) revokeWhere(ctx context.Context, t time.Time, reason, cond string, args ...any) ([]parley.SessionEnd, error) {
	var ends []parley.SessionEnd
	err := db.w.do(ctx, func(b *batch) error {
		ends = nil
		rows, err := b.query(`UPDATE devices SET revoked_at = ?, end_reason = ? WHERE revoked_at IS NULL AND (`+cond+`) RETURNING id, user_id`,
			append([]any{ts(t), reason}, args...)...)
		if err != nil {
			return fmt.Errorf("revoke devices: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id, user int64
			if err := rows.Scan(&id, &user); err != nil {
				return err
			}
			ends = append(ends, parley.SessionEnd{DeviceID: parley.ID(id), UserID: parley.ID(user), At: fromTS(ts(t)), Reason: reason})
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return ends, nil
}

// RevokeDevices implements parley.DeviceStore.
func (db *DB) RevokeDevices(ctx context.Context, userID, except parley.ID, t time.Time, reason string) ([]parley.SessionEnd, error) {
	return db.revokeWhere(ctx, t, reasonOr(reason), `user_id = ? AND id != ?`, int64(userID), int64(except))
}

// ExpireDevices implements parley.DeviceStore.
func (db *DB) ExpireDevices(ctx context.Context, idleBefore, createdBefore, t time.Time) ([]parley.SessionEnd, error) {
	if idleBefore.IsZero() && createdBefore.IsZero() {
		return nil, nil
	}
	bound := func(v time.Time) int64 {
		if v.IsZero() {
			return -1 << 62
		}
		return ts(v)
	}
	return db.revokeWhere(ctx, t, parley.EndExpired, `last_seen_at < ? OR created_at < ?`, bound(idleBefore), bound(createdBefore))
}

// TouchDevices implements parley.DeviceStore.
func (db *DB) TouchDevices(ctx context.Context, ids []parley.ID, t time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	return db.w.do(ctx, func(b *batch) error {
		if _, err := b.exec(`UPDATE devices SET last_seen_at = ? WHERE last_seen_at < ? AND revoked_at IS NULL AND id IN (SELECT value FROM json_each(?))`,
			ts(t), ts(t), jsonList(int64s(ids))); err != nil {
			return fmt.Errorf("touch devices: %w", err)
		}
		return nil
	})
}

// EndedSessions implements parley.DeviceStore. It reads through the
// devices_revoked index.
func (db *DB) EndedSessions(ctx context.Context, since time.Time, limit int) ([]parley.SessionEnd, error) {
	rows, err := db.queryRead(ctx, `SELECT id, user_id, revoked_at, coalesce(end_reason, '') FROM devices
		WHERE revoked_at IS NOT NULL AND revoked_at >= ? ORDER BY revoked_at, id LIMIT ?`, ts(since), limit)
	if err != nil {
		return nil, fmt.Errorf("read ended sessions: %w", err)
	}
	defer rows.Close()
	var ends []parley.SessionEnd
	for rows.Next() {
		var id, user, at int64
		var reason string
		if err := rows.Scan(&id, &user, &at, &reason); err != nil {
			return nil, err
		}
		ends = append(ends, parley.SessionEnd{DeviceID: parley.ID(id), UserID: parley.ID(user), At: fromTS(at), Reason: reasonOr(reason)})
	}
	return ends, rows.Err()
}
