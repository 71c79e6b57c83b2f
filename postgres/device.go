package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/parleyhq/parley"
)

const deviceCols = `id, user_id, name, created_at, last_seen_at, revoked_at, coalesce(end_reason, '')`

func scanDevice(s scanner) (*parley.Device, error) {
	var d parley.Device
	var id, user int64
	if err := s.Scan(&id, &user, &d.Name, &d.CreatedAt, &d.LastSeenAt, &d.RevokedAt, &d.EndReason); err != nil {
		return nil, err
	}
	d.ID, d.UserID, d.CreatedAt, d.LastSeenAt, d.RevokedAt = parley.ID(id), parley.ID(user), utc(d.CreatedAt), utc(d.LastSeenAt), utcPtr(d.RevokedAt)
	if d.RevokedAt == nil {
		d.EndReason = ""
	} else {
		d.EndReason = reasonOr(d.EndReason)
	}
	return &d, nil
}

func reasonOr(r string) string {
	if r == "" {
		return parley.EndRevoked
	}
	return r
}

// CreateDevice implements parley.DeviceStore.
func (db *DB) CreateDevice(ctx context.Context, d *parley.Device, tokenHash []byte) error {
	d.CreatedAt = micro(d.CreatedAt)
	var id int64
	err := db.pool.QueryRow(ctx, `INSERT INTO devices (user_id, name, token_hash, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $4) RETURNING id`,
		int64(d.UserID), d.Name, tokenHash, d.CreatedAt).Scan(&id)
	if sqlState(err) == sqlForeignKeyViolation {
		return parley.Errorf(parley.ENOTFOUND, "user not found")
	}
	if err != nil {
		return db.err("create device", err)
	}
	d.ID, d.LastSeenAt = parley.ID(id), d.CreatedAt
	return nil
}

// DeviceByTokenHash implements parley.DeviceStore.
func (db *DB) DeviceByTokenHash(ctx context.Context, tokenHash []byte) (*parley.Device, error) {
	d, err := scanDevice(db.pool.QueryRow(ctx, `SELECT `+deviceCols+` FROM devices WHERE token_hash = $1`, tokenHash))
	if err != nil {
		return nil, db.notFound("read device", err, "session not found")
	}
	return d, nil
}

// Device implements parley.DeviceStore.
func (db *DB) Device(ctx context.Context, id parley.ID) (*parley.Device, error) {
	d, err := scanDevice(db.pool.QueryRow(ctx, `SELECT `+deviceCols+` FROM devices WHERE id = $1`, int64(id)))
	if err != nil {
		return nil, db.notFound("read device", err, "device not found")
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
func (db *DB) RevokeDevice(ctx context.Context, id parley.ID, t time.Time, reason string) error {
	tag, err := db.pool.Exec(ctx, `UPDATE devices SET revoked_at = $2, end_reason = $3 WHERE id = $1 AND revoked_at IS NULL`,
		int64(id), micro(t), reasonOr(reason))
	if err != nil {
		return db.err("revoke device", err)
	}
	if tag.RowsAffected() == 0 {
		return parley.Errorf(parley.ENOTFOUND, "device not found")
	}
	return nil
}

// revokeWhere revokes the live devices matching cond ($1 is the time, $2
// the reason, the rest args) and returns them.
func (db *DB) revokeWhere(ctx context.Context, t time.Time, reason, cond string, args ...any) ([]parley.SessionEnd, error) {
	t = micro(t)
	rows, err := db.pool.Query(ctx, `UPDATE devices SET revoked_at = $1, end_reason = $2 WHERE revoked_at IS NULL AND (`+cond+`) RETURNING id, user_id`,
		append([]any{t, reason}, args...)...)
	if err != nil {
		return nil, db.err("revoke devices", err)
	}
	ends, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (parley.SessionEnd, error) {
		var id, user int64
		err := r.Scan(&id, &user)
		return parley.SessionEnd{DeviceID: parley.ID(id), UserID: parley.ID(user), At: t, Reason: reason}, err
	})
	if err != nil {
		return nil, db.err("revoke devices", err)
	}
	return ends, nil
}

// RevokeDevices implements parley.DeviceStore.
func (db *DB) RevokeDevices(ctx context.Context, userID, except parley.ID, t time.Time, reason string) ([]parley.SessionEnd, error) {
	return db.revokeWhere(ctx, t, reasonOr(reason), `user_id = $3 AND id <> $4`, int64(userID), int64(except))
}

// ExpireDevices implements parley.DeviceStore.
func (db *DB) ExpireDevices(ctx context.Context, idleBefore, createdBefore, t time.Time) ([]parley.SessionEnd, error) {
	bound := func(v time.Time) *time.Time {
		if v.IsZero() {
			return nil
		}
		m := micro(v)
		return &m
	}
	idle, created := bound(idleBefore), bound(createdBefore)
	if idle == nil && created == nil {
		return nil, nil
	}
	return db.revokeWhere(ctx, t, parley.EndExpired, `last_seen_at < $3 OR created_at < $4`, idle, created)
}

// TouchDevices implements parley.DeviceStore.
func (db *DB) TouchDevices(ctx context.Context, ids []parley.ID, t time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := db.pool.Exec(ctx, `UPDATE devices SET last_seen_at = $2 WHERE id = ANY($1) AND last_seen_at < $2 AND revoked_at IS NULL`,
		idArray(ids), micro(t))
	return db.err("touch devices", err)
}

// EndedSessions implements parley.DeviceStore. It reads through the
// devices_revoked index.
func (db *DB) EndedSessions(ctx context.Context, since time.Time, limit int) ([]parley.SessionEnd, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, user_id, revoked_at, coalesce(end_reason, '') FROM devices
		WHERE revoked_at IS NOT NULL AND revoked_at >= $1 ORDER BY revoked_at, id LIMIT $2`, micro(since), limit)
	if err != nil {
		return nil, db.err("read ended sessions", err)
	}
	ends, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (parley.SessionEnd, error) {
		var e parley.SessionEnd
		var id, user int64
		err := r.Scan(&id, &user, &e.At, &e.Reason)
		e.DeviceID, e.UserID, e.At, e.Reason = parley.ID(id), parley.ID(user), utc(e.At), reasonOr(e.Reason)
		return e, err
	})
	if err != nil {
		return nil, db.err("read ended sessions", err)
	}
	return ends, nil
}
