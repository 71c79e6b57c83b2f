package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"unicode/utf8"

	"github.com/parleyhq/parley"
)

// Register implements parley.AccountService. It follows the sign-up
// policy: with invitations a usable invite code is required (EFORBIDDEN
// otherwise); closed, every sign-up is refused with EFORBIDDEN.
func (a *App) Register(ctx context.Context, req parley.RegisterRequest) (*parley.User, error) {
	switch a.cfg.Registration {
	case parley.RegistrationClosed:
		return nil, parley.Errorf(parley.EFORBIDDEN, "sign-up is closed on this server; ask its operator for an account")
	case parley.RegistrationInvite:
		return a.registerWithInvite(ctx, req)
	}
	return a.CreateUser(ctx, req)
}

// CreateUser creates an account whatever the sign-up policy (the admin
// command). EINVALID for a bad handle or password, ECONFLICT for a taken
// handle.
func (a *App) CreateUser(ctx context.Context, req parley.RegisterRequest) (*parley.User, error) {
	if err := parley.ValidateHandle(req.Handle); err != nil {
		return nil, err
	}
	if err := parley.ValidatePassword(req.Password); err != nil {
		return nil, err
	}
	name := strings.TrimSpace(req.DisplayName)
	upd := parley.UserUpdate{DisplayName: &name}
	if err := upd.Validate(); err != nil {
		return nil, err
	}
	if wait := a.registers.take(addrKey(ctx)); wait > 0 {
		return nil, tooMany(wait, "too many sign-ups from your network; try again later")
	}
	hash, err := a.hasher.Hash(req.Password)
	if err != nil {
		return nil, err
	}
	u := &parley.User{Handle: req.Handle, DisplayName: name, CreatedAt: a.now.Now(), PushPreviews: true}
	if err := a.store.CreateUser(ctx, u, hash); err != nil {
		return nil, err
	}
	return u, nil
}

var errBadLogin = parley.Errorf(parley.EUNAUTHORIZED, "wrong handle or password")

// Login implements parley.AccountService.
func (a *App) Login(ctx context.Context, req parley.LoginRequest) (*parley.Session, error) {
	if req.Handle == "" || req.Password == "" {
		return nil, parley.Errorf(parley.EINVALID, "handle and password are required")
	}
	if len(req.Password) > parley.MaxPasswordLen {
		return nil, errBadLogin
	}
	name := strings.TrimSpace(req.DeviceName)
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > parley.MaxDeviceNameLen {
		return nil, parley.Errorf(parley.EINVALID, "device_name must be at most %d characters", parley.MaxDeviceNameLen)
	}
	// Throttled per client address, and per (address, handle) with a
	// back-off: someone guessing elsewhere cannot lock the owner out.
	addr := addrKey(ctx)
	if wait := a.logins.take(addr); wait > 0 {
		return nil, tooMany(wait, "too many login attempts from your network; try again later")
	}
	pair := addr + " " + parley.NormalizeHandle(req.Handle)
	if wait := a.loginFails.attempt(pair); wait > 0 {
		return nil, tooMany(wait, "too many failed logins; try again later")
	}
	u, hash, err := a.store.UserCredentials(ctx, req.Handle)
	if parley.ErrorCode(err) == parley.ENOTFOUND {
		// The same work, and the same answer when hashing is saturated, as
		// for a wrong password: whether a handle exists does not show.
		if _, err := a.hasher.Verify(req.Password, a.dummyHash); err != nil {
			return nil, err
		}
		return nil, errBadLogin
	}
	if err != nil {
		return nil, err
	}
	ok, err := a.hasher.Verify(req.Password, hash)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errBadLogin
	}
	a.loginFails.succeeded(pair)
	if u.DisabledAt != nil {
		return nil, parley.Errorf(parley.EFORBIDDEN, "this account is disabled; ask the server's operator")
	}
	token, tokenHash, err := newToken()
	if err != nil {
		return nil, err
	}
	d := &parley.Device{UserID: u.ID, Name: name, CreatedAt: a.now.Now()}
	if err := a.store.CreateDevice(ctx, d, tokenHash); err != nil {
		return nil, err
	}
	return &parley.Session{Token: token, User: u, DeviceID: d.ID}, nil
}

// newToken returns a random bearer token and the hash that is stored.
func newToken() (string, []byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	tok := base64.RawURLEncoding.EncodeToString(b)
	return tok, hashToken(tok), nil
}

func hashToken(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// Authenticate implements parley.AccountService. An ended session is
// EUNAUTHORIZED, with the message "session expired" when it ended by
// expiry. A session's last use is recorded at most once per SeenEvery.
func (a *App) Authenticate(ctx context.Context, token string) (parley.Caller, error) {
	if token == "" || len(token) > 256 {
		return parley.Caller{}, parley.Errorf(parley.EUNAUTHORIZED, "a valid session token is required")
	}
	d, err := a.store.DeviceByTokenHash(ctx, hashToken(token))
	if parley.ErrorCode(err) == parley.ENOTFOUND {
		return parley.Caller{}, errBadSession
	}
	if err != nil {
		return parley.Caller{}, err
	}
	now := a.now.Now()
	if d.RevokedAt != nil {
		if d.EndReason == parley.EndExpired {
			return parley.Caller{}, errSessionExpired
		}
		return parley.Caller{}, errBadSession
	}
	if a.expired(d, now) {
		// Ended here rather than at the next sweep, so its sockets close
		// through the feed of ended sessions now.
		if err := a.store.RevokeDevice(ctx, d.ID, now, parley.EndExpired); err == nil {
			a.sessionsEnded(ctx, []parley.SessionEnd{{DeviceID: d.ID, UserID: d.UserID, At: now, Reason: parley.EndExpired}})
		}
		return parley.Caller{}, errSessionExpired
	}
	if now.Sub(d.LastSeenAt) >= a.cfg.SeenEvery {
		if err := a.store.TouchDevices(ctx, []parley.ID{d.ID}, now); err != nil {
			a.logger.Warn("record session use", "device", d.ID, "err", err)
		}
	}
	return parley.Caller{UserID: d.UserID, DeviceID: d.ID}, nil
}

// Logout implements parley.AccountService.
func (a *App) Logout(ctx context.Context, c parley.Caller) error {
	// A logged-out device must get no more notifications: its addresses go
	// first, so a failure leaves the session to log out again.
	if err := a.store.DeleteDevicePushRegistrations(ctx, c.DeviceID); err != nil {
		return err
	}
	if err := a.store.RevokeDevice(ctx, c.DeviceID, a.now.Now(), parley.EndRevoked); err != nil {
		return err
	}
	a.publish(detach(ctx), []parley.ID{c.UserID}, &parley.Event{Name: parley.EventRevoke, DeviceID: c.DeviceID, Data: []byte("{}")})
	return nil
}

// User implements parley.AccountService.
func (a *App) User(ctx context.Context, c parley.Caller, id parley.ID) (*parley.User, error) {
	return a.store.User(ctx, id)
}

// UpdateProfile implements parley.AccountService.
func (a *App) UpdateProfile(ctx context.Context, c parley.Caller, upd parley.UserUpdate) (*parley.User, error) {
	if upd.DisplayName != nil {
		s := strings.TrimSpace(*upd.DisplayName)
		upd.DisplayName = &s
	}
	if err := upd.Validate(); err != nil {
		return nil, err
	}
	return a.store.UpdateUser(ctx, c.UserID, upd)
}

// SearchUsers implements parley.AccountService.
func (a *App) SearchUsers(ctx context.Context, c parley.Caller, prefix string, limit int) ([]*parley.User, error) {
	prefix = strings.TrimPrefix(strings.TrimSpace(prefix), "@")
	if prefix == "" {
		return nil, parley.Errorf(parley.EINVALID, "handle is required")
	}
	if len(prefix) > parley.MaxHandleLen {
		return []*parley.User{}, nil
	}
	if limit <= 0 || limit > 50 {
		limit = 20
	}
	us, err := a.store.SearchUsers(ctx, prefix, limit)
	if us == nil && err == nil {
		us = []*parley.User{}
	}
	return us, err
}
