package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/parleyhq/parley"
)

const pushCols = `id, user_id, device_id, kind, endpoint, p256dh, auth, created_at`

func scanPushRegistration(s scanner) (*parley.PushRegistration, error) {
	var r parley.PushRegistration
	var id, user, device int64
	if err := s.Scan(&id, &user, &device, &r.Kind, &r.Endpoint, &r.P256dh, &r.Auth, &r.CreatedAt); err != nil {
		return nil, err
	}
	r.ID, r.UserID, r.DeviceID, r.CreatedAt = parley.ID(id), parley.ID(user), parley.ID(device), utc(r.CreatedAt)
	return &r, nil
}

// errAddressTaken refuses a push address another user registered.
var errAddressTaken = parley.Errorf(parley.ECONFLICT, "this push address is registered to another account")

// SavePushRegistration implements parley.PushStore: one upsert on the
// (kind, endpoint) key, which only a live device of the user may take.
func (db *DB) SavePushRegistration(ctx context.Context, reg *parley.PushRegistration) (bool, error) {
	reg.CreatedAt = micro(reg.CreatedAt)
	var id int64
	var created bool
	err := db.pool.QueryRow(ctx, `INSERT INTO push_registrations (user_id, device_id, kind, endpoint, p256dh, auth, created_at)
		SELECT $1, $2, $3, $4, $5, $6, $7
		WHERE EXISTS (SELECT 1 FROM devices WHERE id = $2 AND user_id = $1 AND revoked_at IS NULL)
		ON CONFLICT (kind, endpoint) DO UPDATE SET device_id = excluded.device_id,
			p256dh = excluded.p256dh, auth = excluded.auth, created_at = excluded.created_at
			WHERE push_registrations.user_id = excluded.user_id
		RETURNING id, xmax = 0`,
		int64(reg.UserID), int64(reg.DeviceID), string(reg.Kind), reg.Endpoint, reg.P256dh, reg.Auth, reg.CreatedAt).Scan(&id, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		// No row: the device is not the user's, or another user holds the
		// address.
		var owner int64
		if qerr := db.pool.QueryRow(ctx, `SELECT user_id FROM push_registrations WHERE kind = $1 AND endpoint = $2`,
			string(reg.Kind), reg.Endpoint).Scan(&owner); qerr == nil && owner != int64(reg.UserID) {
			return false, errAddressTaken
		}
	}
	if err != nil {
		return false, db.notFound("save push registration", err, "device not found")
	}
	reg.ID = parley.ID(id)
	return created, nil
}

// PushRegistrations implements parley.PushStore.
func (db *DB) PushRegistrations(ctx context.Context, userID parley.ID) ([]*parley.PushRegistration, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+pushCols+` FROM push_registrations WHERE user_id = $1 ORDER BY id`, int64(userID))
	if err != nil {
		return nil, db.err("read push registrations", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*parley.PushRegistration, error) { return scanPushRegistration(r) })
	if err != nil {
		return nil, db.err("read push registrations", err)
	}
	return out, nil
}

// DeletePushRegistration implements parley.PushStore.
func (db *DB) DeletePushRegistration(ctx context.Context, id parley.ID) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM push_registrations WHERE id = $1`, int64(id))
	if err != nil {
		return db.err("delete push registration", err)
	}
	if tag.RowsAffected() == 0 {
		return parley.Errorf(parley.ENOTFOUND, "push registration not found")
	}
	return nil
}

// DeleteDevicePushRegistrations implements parley.PushStore.
func (db *DB) DeleteDevicePushRegistrations(ctx context.Context, deviceID parley.ID) error {
	if _, err := db.pool.Exec(ctx, `DELETE FROM push_registrations WHERE device_id = $1`, int64(deviceID)); err != nil {
		return db.err("delete device push registrations", err)
	}
	return nil
}
