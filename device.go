package parley

import (
	"context"
	"time"
)

// MaxDeviceNameLen bounds Device.Name.
const MaxDeviceNameLen = 64

// Device is one logged-in installation of a client: a session. Logging in
// creates a device with a random opaque token, of which only a hash is
// stored. Revoking the device ends the session.
type Device struct {
	ID        ID         `json:"id"`
	UserID    ID         `json:"user_id"`
	Name      string     `json:"name"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// DeviceStore persists devices and their session tokens.
type DeviceStore interface {
	// CreateDevice inserts d with the hash of its session token, setting d.ID.
	CreateDevice(ctx context.Context, d *Device, tokenHash []byte) error
	// DeviceByTokenHash returns the live device whose token hashes to
	// tokenHash; ENOTFOUND if there is none or it was revoked.
	DeviceByTokenHash(ctx context.Context, tokenHash []byte) (*Device, error)
	// Devices returns the user's devices that are not revoked.
	Devices(ctx context.Context, userID ID) ([]*Device, error)
	// RevokeDevice marks the device revoked at t; ENOTFOUND if it does not
	// exist or is already revoked.
	RevokeDevice(ctx context.Context, id ID, t time.Time) error
}
