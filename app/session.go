package app

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"strings"
	"time"

	"github.com/parleyhq/parley"
)

var (
	errBadSession     = parley.Errorf(parley.EUNAUTHORIZED, "session is not valid")
	errSessionExpired = parley.Errorf(parley.EUNAUTHORIZED, "session expired")
	errBadPassword    = parley.Errorf(parley.EUNAUTHORIZED, "wrong password")
)

// expired reports whether the live session d is past the idle timeout or
// the maximum age at now.
func (a *App) expired(d *parley.Device, now time.Time) bool {
	if t := a.cfg.SessionIdleTimeout; t > 0 && now.Sub(d.LastSeenAt) > t {
		return true
	}
	if t := a.cfg.SessionMaxAge; t > 0 && now.Sub(d.CreatedAt) > t {
		return true
	}
	return false
}

// sessionsEnded does what follows the end of sessions: their push
// registrations go, and a notice on the bus disconnects their sockets at
// once on every node (the feed of ended sessions does it within a poll
// when the notice is lost).
func (a *App) sessionsEnded(ctx context.Context, ends []parley.SessionEnd) {
	ctx = detach(ctx)
	for _, e := range ends {
		if err := a.store.DeleteDevicePushRegistrations(ctx, e.DeviceID); err != nil {
			a.logger.Warn("remove push registrations of an ended session", "device", e.DeviceID, "err", err)
		}
		a.publish(ctx, []parley.ID{e.UserID}, &parley.Event{Name: parley.EventRevoke, DeviceID: e.DeviceID, Data: []byte("{}")})
	}
}

// Sessions implements parley.AccountService.
func (a *App) Sessions(ctx context.Context, c parley.Caller) ([]parley.SessionView, error) {
	ds, err := a.store.Devices(ctx, c.UserID)
	if err != nil {
		return nil, err
	}
	now := a.now.Now()
	out := []parley.SessionView{}
	for _, d := range ds {
		if a.expired(d, now) {
			continue
		}
		out = append(out, parley.SessionView{ID: d.ID, Name: d.Name, CreatedAt: d.CreatedAt, LastSeenAt: d.LastSeenAt, Current: d.ID == c.DeviceID})
	}
	return out, nil
}

// RevokeSession implements parley.AccountService.
func (a *App) RevokeSession(ctx context.Context, c parley.Caller, deviceID parley.ID) error {
	d, err := a.store.Device(ctx, deviceID)
	if err == nil && (d.UserID != c.UserID || d.RevokedAt != nil) {
		err = parley.Errorf(parley.ENOTFOUND, "session not found")
	}
	if err != nil {
		return err
	}
	return a.RevokeDevice(ctx, d.ID)
}

// RevokeDevice ends one session, whoever's it is (the admin command);
// ENOTFOUND if there is no such live session.
func (a *App) RevokeDevice(ctx context.Context, deviceID parley.ID) error {
	d, err := a.store.Device(ctx, deviceID)
	if err != nil {
		return err
	}
	now := a.now.Now()
	if err := a.store.RevokeDevice(ctx, deviceID, now, parley.EndRevoked); err != nil {
		return err
	}
	a.sessionsEnded(ctx, []parley.SessionEnd{{DeviceID: d.ID, UserID: d.UserID, At: now, Reason: parley.EndRevoked}})
	return nil
}

// RevokeOtherSessions implements parley.AccountService.
func (a *App) RevokeOtherSessions(ctx context.Context, c parley.Caller) (int, error) {
	return a.revokeUserSessions(ctx, c.UserID, c.DeviceID, parley.EndRevoked)
}

// RevokeUserSessions ends every session of the user (the admin command)
// and returns how many it ended.
func (a *App) RevokeUserSessions(ctx context.Context, userID parley.ID) (int, error) {
	if _, err := a.store.User(ctx, userID); err != nil {
		return 0, err
	}
	return a.revokeUserSessions(ctx, userID, 0, parley.EndRevoked)
}

func (a *App) revokeUserSessions(ctx context.Context, userID, except parley.ID, reason string) (int, error) {
	ends, err := a.store.RevokeDevices(ctx, userID, except, a.now.Now(), reason)
	if err != nil {
		return 0, err
	}
	a.sessionsEnded(ctx, ends)
	return len(ends), nil
}

// checkPassword verifies the user's password, limited like logins.
func (a *App) checkPassword(ctx context.Context, userID parley.ID, password string) error {
	if password == "" {
		return parley.Errorf(parley.EINVALID, "password is required")
	}
	if !a.logins.allow("#" + userID.String()) {
		return parley.Errorf(parley.ETOOMANY, "too many password attempts; try again later")
	}
	if len(password) > parley.MaxPasswordLen {
		return errBadPassword
	}
	hash, err := a.store.UserPasswordHash(ctx, userID)
	if err != nil {
		return err
	}
	ok, err := a.hasher.Verify(password, hash)
	if err != nil {
		return err
	}
	if !ok {
		return errBadPassword
	}
	return nil
}

// ChangePassword implements parley.AccountService.
func (a *App) ChangePassword(ctx context.Context, c parley.Caller, req parley.ChangePasswordRequest) error {
	if err := parley.ValidatePassword(req.NewPassword); err != nil {
		return err
	}
	if err := a.checkPassword(ctx, c.UserID, req.OldPassword); err != nil {
		return err
	}
	return a.setPassword(ctx, c.UserID, c.DeviceID, req.NewPassword)
}

// ResetPassword sets a user's password without the old one (the admin
// command) and ends all its sessions.
func (a *App) ResetPassword(ctx context.Context, userID parley.ID, password string) error {
	if err := parley.ValidatePassword(password); err != nil {
		return err
	}
	return a.setPassword(ctx, userID, 0, password)
}

func (a *App) setPassword(ctx context.Context, userID, keep parley.ID, password string) error {
	hash, err := a.hasher.Hash(password)
	if err != nil {
		return err
	}
	if err := a.store.SetPasswordHash(ctx, userID, hash); err != nil {
		return err
	}
	_, err = a.revokeUserSessions(ctx, userID, keep, parley.EndPasswordChanged)
	return err
}

// DisableUser disables an account (the admin command): it cannot log in,
// and its sessions end, their sockets closed on every node.
func (a *App) DisableUser(ctx context.Context, userID parley.ID) error {
	now := a.now.Now()
	if err := a.store.SetUserDisabled(ctx, userID, &now); err != nil {
		return err
	}
	_, err := a.revokeUserSessions(ctx, userID, 0, parley.EndDisabled)
	return err
}

// EnableUser lifts DisableUser; the user logs in again.
func (a *App) EnableUser(ctx context.Context, userID parley.ID) error {
	return a.store.SetUserDisabled(ctx, userID, nil)
}

// EndedSessions implements parley.SessionFeed. Each read reaches back
// SessionFeedOverlap before the previous one, so a revocation stamped by
// a node whose clock is a little behind, or committed a little late, is
// still seen.
func (a *App) EndedSessions(ctx context.Context, since time.Time) ([]parley.SessionEnd, time.Time, error) {
	const limit = 1000
	now := a.now.Now()
	if since.IsZero() {
		since = now.Add(-a.cfg.SessionFeedOverlap)
	}
	ends, err := a.store.EndedSessions(ctx, since, limit)
	if err != nil {
		return nil, since, err
	}
	next := now.Add(-a.cfg.SessionFeedOverlap)
	if len(ends) == limit {
		next = ends[len(ends)-1].At // more to read: go on from there
	}
	if next.Before(since) {
		next = since
	}
	return ends, next, nil
}

// SessionsSeen implements parley.SessionFeed.
func (a *App) SessionsSeen(ctx context.Context, deviceIDs []parley.ID) error {
	return a.store.TouchDevices(ctx, deviceIDs, a.now.Now())
}

// ExpireSessions ends the sessions past the idle timeout or the maximum
// age and returns how many it ended.
func (a *App) ExpireSessions(ctx context.Context) (int, error) {
	var idle, age time.Time
	now := a.now.Now()
	if a.cfg.SessionIdleTimeout > 0 {
		idle = now.Add(-a.cfg.SessionIdleTimeout)
	}
	if a.cfg.SessionMaxAge > 0 {
		age = now.Add(-a.cfg.SessionMaxAge)
	}
	ends, err := a.store.ExpireDevices(ctx, idle, age, now)
	if err != nil {
		return 0, err
	}
	a.sessionsEnded(ctx, ends)
	return len(ends), nil
}

// RunSessionExpiry ends expired sessions every interval until ctx ends.
// Every node may run it.
func (a *App) RunSessionExpiry(ctx context.Context, interval time.Duration) {
	if a.cfg.SessionIdleTimeout <= 0 && a.cfg.SessionMaxAge <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := a.ExpireSessions(ctx); err != nil && ctx.Err() == nil {
			a.logger.Warn("expire sessions", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// inviteEncoding spells invite codes in Crockford's base32: no I, L, O or
// U to misread.
var inviteEncoding = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding).WithPadding(base32.NoPadding)

// normalizeInvite is the form codes are hashed in: people retype them.
func normalizeInvite(code string) string {
	return strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(code), "-", ""))
}

func (a *App) registerWithInvite(ctx context.Context, req parley.RegisterRequest) (*parley.User, error) {
	code := normalizeInvite(req.Invite)
	if code == "" {
		return nil, parley.Errorf(parley.EFORBIDDEN, "sign-up on this server needs an invite code")
	}
	// The request is checked before the invite is spent on it.
	if err := parley.ValidateHandle(req.Handle); err != nil {
		return nil, err
	}
	if err := parley.ValidatePassword(req.Password); err != nil {
		return nil, err
	}
	inv, err := a.store.UseInvite(ctx, hashToken(code), a.now.Now())
	if parley.ErrorCode(err) == parley.ENOTFOUND {
		return nil, parley.Errorf(parley.EFORBIDDEN, "this invite code is not valid")
	}
	if err != nil {
		return nil, err
	}
	u, err := a.CreateUser(ctx, req)
	if err != nil {
		if rerr := a.store.ReturnInvite(detach(ctx), inv.ID); rerr != nil {
			a.logger.Warn("return invite use", "invite", inv.ID, "err", rerr)
		}
		return nil, err
	}
	return u, nil
}

// CreateInvite makes an invite code good for maxUses sign-ups (at least
// one) until ttl from now (zero: no expiry). The code is in the returned
// invite only.
func (a *App) CreateInvite(ctx context.Context, maxUses int, ttl time.Duration, note string) (*parley.Invite, error) {
	if maxUses < 1 {
		return nil, parley.Errorf(parley.EINVALID, "an invite needs at least one use")
	}
	if ttl < 0 {
		return nil, parley.Errorf(parley.EINVALID, "an invite's lifetime must not be negative")
	}
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	code := inviteEncoding.EncodeToString(b) // 16 characters, 80 bits
	now := a.now.Now()
	inv := &parley.Invite{MaxUses: maxUses, Note: note, CreatedAt: now}
	if ttl > 0 {
		exp := now.Add(ttl)
		inv.ExpiresAt = &exp
	}
	if err := a.store.CreateInvite(ctx, inv, hashToken(code)); err != nil {
		return nil, err
	}
	inv.Code = code[:4] + "-" + code[4:8] + "-" + code[8:12] + "-" + code[12:]
	return inv, nil
}

// Invites lists every invite, newest first.
func (a *App) Invites(ctx context.Context) ([]*parley.Invite, error) {
	return a.store.Invites(ctx)
}

// RevokeInvite stops an invite from admitting more sign-ups.
func (a *App) RevokeInvite(ctx context.Context, id parley.ID) error {
	return a.store.RevokeInvite(ctx, id, a.now.Now())
}

// DeleteAccount implements parley.AccountService.
func (a *App) DeleteAccount(ctx context.Context, c parley.Caller, password string) error {
	if err := a.checkPassword(ctx, c.UserID, password); err != nil {
		return err
	}
	return a.DeleteUser(ctx, c.UserID)
}

// DeleteUser deletes an account (its owner's request, or the admin
// command): its sessions end, its profile is erased and its handle
// released, it leaves its groups (ownership handed over as when an owner
// leaves), its friendships and blocks go, and the media it uploaded that
// no message carries are deleted. Its messages stay in the others'
// histories, from a user shown as deleted. ENOTFOUND if there is no such
// live account.
func (a *App) DeleteUser(ctx context.Context, userID parley.ID) error {
	u, err := a.store.User(ctx, userID)
	if err == nil && u.Deleted {
		err = parley.Errorf(parley.ENOTFOUND, "user not found")
	}
	if err != nil {
		return err
	}
	if _, err := a.revokeUserSessions(ctx, userID, 0, parley.EndDeleted); err != nil {
		return err
	}
	now := a.now.Now()
	if err := a.store.EraseUser(ctx, userID, now); err != nil {
		return err
	}
	// The account is gone from here on; what follows is cleanup that a
	// failure leaves partly undone, which is logged.
	ctx = detach(ctx)
	ucs, err := a.store.UserConversations(ctx, userID, parley.ConversationFilter{IncludeHidden: true})
	if err != nil {
		a.logger.Warn("deleted account: read conversations", "user", userID, "err", err)
	}
	self := parley.Caller{UserID: userID}
	for _, uc := range ucs {
		if uc.Conversation.Type != parley.Group || !uc.Self.Active() {
			continue
		}
		if err := a.RemoveMember(ctx, self, uc.Conversation.ID, userID); err != nil && parley.ErrorCode(err) != parley.ENOTFOUND {
			a.logger.Warn("deleted account: leave group", "user", userID, "conversation", uc.Conversation.ID, "err", err)
		}
	}
	friends, err := a.store.Friends(ctx, userID)
	if err != nil {
		a.logger.Warn("deleted account: read friends", "user", userID, "err", err)
	}
	for _, f := range friends {
		if err := a.store.SetFriendship(ctx, userID, f.UserID, "", "", now); err != nil {
			a.logger.Warn("deleted account: remove friendship", "user", userID, "err", err)
		}
	}
	blocked, err := a.store.BlockedUsers(ctx, userID)
	if err != nil {
		a.logger.Warn("deleted account: read blocks", "user", userID, "err", err)
	}
	for _, b := range blocked {
		if err := a.store.SetBlocked(ctx, userID, b, false, now); err != nil {
			a.logger.Warn("deleted account: lift block", "user", userID, "err", err)
		}
	}
	media, err := a.store.UploadedMedia(ctx, userID)
	if err != nil {
		a.logger.Warn("deleted account: read media", "user", userID, "err", err)
	}
	for start := 0; start < len(media); start += 500 {
		got, err := a.store.DeleteUnreferencedMedia(ctx, parley.MediaCollection{IDs: media[start:min(start+500, len(media))], Now: now})
		if err != nil {
			a.logger.Warn("deleted account: delete media", "user", userID, "err", err)
			break
		}
		if a.blobs != nil {
			a.deleteBlobs(ctx, got.BlobKeys)
		}
	}
	return nil
}
