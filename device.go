package parley

import (
	"context"
	"time"
)

// MaxDeviceNameLen bounds Device.Name.
const MaxDeviceNameLen = 64

// Why a session ended (Device.EndReason).
const (
	EndRevoked         = "revoked"          // logged out, or revoked from another device or by an operator
	EndExpired         = "expired"          // idle too long, or older than the maximum session age
	EndPasswordChanged = "password_changed" // the password changed on another device
	EndDisabled        = "disabled"         // an operator disabled the account
	EndDeleted         = "deleted"          // the account was deleted
)

// Device is one logged-in installation of a client: a session. Logging in
// creates a device with a random opaque token, of which only a hash is
// stored. Revoking the device ends the session.
type Device struct {
	ID        ID        `json:"id"`
	UserID    ID        `json:"user_id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	// LastSeenAt is when the session was last used, to the precision the
	// app records it with (it coalesces updates).
	LastSeenAt time.Time  `json:"last_seen_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	// EndReason is one of the End* constants once the session ended.
	EndReason string `json:"end_reason,omitempty"`
}

// SessionEnd is one entry of the feed of ended sessions that every node
// polls to close the sockets of revoked devices.
type SessionEnd struct {
	DeviceID ID        `json:"device_id"`
	UserID   ID        `json:"user_id"`
	At       time.Time `json:"at"`
	Reason   string    `json:"reason"`
}

// DeviceStore persists devices and their session tokens.
type DeviceStore interface {
	// CreateDevice inserts d with the hash of its session token, setting
	// d.ID; d.LastSeenAt is set to d.CreatedAt. ENOTFOUND if the user does
	// not exist.
	CreateDevice(ctx context.Context, d *Device, tokenHash []byte) error
	// DeviceByTokenHash returns the device whose token hashes to
	// tokenHash, revoked or not (RevokedAt and EndReason tell); ENOTFOUND
	// if there is none.
	DeviceByTokenHash(ctx context.Context, tokenHash []byte) (*Device, error)
	// Device returns a device, revoked or not; ENOTFOUND if there is none.
	Device(ctx context.Context, id ID) (*Device, error)
	// Devices returns the user's devices that are not revoked.
	Devices(ctx context.Context, userID ID) ([]*Device, error)
	// RevokeDevice marks the device revoked at t for reason (EndRevoked
	// when empty); ENOTFOUND if it does not exist or is already revoked.
	RevokeDevice(ctx context.Context, id ID, t time.Time, reason string) error
	// RevokeDevices revokes, at t for reason, every live device of the
	// user except the device except (0: none) and returns them.
	RevokeDevices(ctx context.Context, userID, except ID, t time.Time, reason string) ([]SessionEnd, error)
	// TouchDevices records that the live devices among ids were used at t;
	// a device's LastSeenAt never moves back.
	TouchDevices(ctx context.Context, ids []ID, t time.Time) error
	// ExpireDevices revokes with reason EndExpired, at t, the live devices
	// last seen before idleBefore or created before createdBefore (a zero
	// time is no bound) and returns them.
	ExpireDevices(ctx context.Context, idleBefore, createdBefore, t time.Time) ([]SessionEnd, error)
	// EndedSessions returns the devices revoked at or after since, oldest
	// first, at most limit of them: the feed nodes poll.
	EndedSessions(ctx context.Context, since time.Time, limit int) ([]SessionEnd, error)
}
