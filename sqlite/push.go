package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/parleyhq/parley"
)

const pushCols = `id, user_id, device_id, kind, endpoint, p256dh, auth, created_at`

func scanPushRegistration(s scanner) (*parley.PushRegistration, error) {
	var r parley.PushRegistration
	var id, user, device, created int64
	if err := s.Scan(&id, &user, &device, &r.Kind, &r.Endpoint, &r.P256dh, &r.Auth, &created); err != nil {
		return nil, err
	}
	r.ID, r.UserID, r.DeviceID, r.CreatedAt = parley.ID(id), parley.ID(user), parley.ID(device), fromTS(created)
	return &r, nil
}

// errAddressTaken refuses a push address another user registered.
var errAddressTaken = parley.Errorf(parley.ECONFLICT, "this push address is registered to another account")

// SavePushRegistration implements parley.PushStore.
func (db *DB) SavePushRegistration(ctx context.Context, reg *parley.PushRegistration) (bool, error) {
	var created bool
	var saved parley.ID
	err := db.w.do(ctx, func(b *batch) error {
		var n int
		if err := b.queryRow(`SELECT count(*) FROM devices WHERE id = ? AND user_id = ? AND revoked_at IS NULL`,
			int64(reg.DeviceID), int64(reg.UserID)).Scan(&n); err != nil {
			return fmt.Errorf("check device: %w", err)
		}
		if n == 0 {
			return parley.Errorf(parley.ENOTFOUND, "device not found")
		}
		var old, owner int64
		err := b.queryRow(`SELECT id, user_id FROM push_registrations WHERE kind = ? AND endpoint = ?`, string(reg.Kind), reg.Endpoint).Scan(&old, &owner)
		if err == nil && owner != int64(reg.UserID) {
			return errAddressTaken
		}
		switch {
		case errors.Is(err, sql.ErrNoRows):
			var id int64
			err := b.queryRow(`INSERT INTO push_registrations (user_id, device_id, kind, endpoint, p256dh, auth, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
				int64(reg.UserID), int64(reg.DeviceID), string(reg.Kind), reg.Endpoint, reg.P256dh, reg.Auth, ts(reg.CreatedAt)).Scan(&id)
			if err != nil {
				return fmt.Errorf("insert push registration: %w", err)
			}
			saved, created = parley.ID(id), true
		case err != nil:
			return fmt.Errorf("find push registration: %w", err)
		default:
			if _, err := b.exec(`UPDATE push_registrations SET user_id = ?, device_id = ?, p256dh = ?, auth = ?, created_at = ? WHERE id = ?`,
				int64(reg.UserID), int64(reg.DeviceID), reg.P256dh, reg.Auth, ts(reg.CreatedAt), old); err != nil {
				return fmt.Errorf("replace push registration: %w", err)
			}
			saved, created = parley.ID(old), false
		}
		return nil
	})
	if err != nil {
		return false, err // the batch may still run: its results are not to be read
	}
	reg.ID = saved
	return created, nil
}

// PushRegistrations implements parley.PushStore.
func (db *DB) PushRegistrations(ctx context.Context, userID parley.ID) ([]*parley.PushRegistration, error) {
	rows, err := db.queryRead(ctx, `SELECT `+pushCols+` FROM push_registrations WHERE user_id = ? ORDER BY id`, int64(userID))
	if err != nil {
		return nil, dbError("read push registrations", err)
	}
	return collect(rows, "read push registrations", scanPushRegistration)
}

// DeletePushRegistration implements parley.PushStore.
func (db *DB) DeletePushRegistration(ctx context.Context, id parley.ID) error {
	return db.w.do(ctx, func(b *batch) error {
		var n int
		if err := b.queryRow(`SELECT count(*) FROM push_registrations WHERE id = ?`, int64(id)).Scan(&n); err != nil {
			return fmt.Errorf("find push registration: %w", err)
		}
		if n == 0 {
			return parley.Errorf(parley.ENOTFOUND, "push registration not found")
		}
		if _, err := b.exec(`DELETE FROM push_registrations WHERE id = ?`, int64(id)); err != nil {
			return fmt.Errorf("delete push registration: %w", err)
		}
		return nil
	})
}

// DeleteDevicePushRegistrations implements parley.PushStore.
func (db *DB) DeleteDevicePushRegistrations(ctx context.Context, deviceID parley.ID) error {
	return db.w.do(ctx, func(b *batch) error {
		if _, err := b.exec(`DELETE FROM push_registrations WHERE device_id = ?`, int64(deviceID)); err != nil {
			return fmt.Errorf("delete device push registrations: %w", err)
		}
		return nil
	})
}
