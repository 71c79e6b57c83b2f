package parley

import (
	"context"
	"time"
)

// Registration policies (the --registration flag).
const (
	RegistrationOpen   = "open"   // anyone may sign up
	RegistrationInvite = "invite" // sign-up needs a valid invite code
	RegistrationClosed = "closed" // only an operator creates accounts
)

// Invite is a sign-up code an operator hands out when registration is by
// invitation. Only a hash of the code is stored; the code is shown once,
// when the invite is created.
type Invite struct {
	ID ID `json:"id"`
	// Code is set only on the invite just created.
	Code string `json:"code,omitempty"`
	// MaxUses is how many sign-ups the code allows (1: single use).
	MaxUses   int        `json:"max_uses"`
	Uses      int        `json:"uses"`
	Note      string     `json:"note"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// Usable reports whether the invite can still admit a sign-up at t.
func (i *Invite) Usable(t time.Time) bool {
	return i.RevokedAt == nil && i.Uses < i.MaxUses && (i.ExpiresAt == nil || t.Before(*i.ExpiresAt))
}

// InviteStore persists invite codes.
type InviteStore interface {
	// CreateInvite inserts inv with the hash of its code, setting inv.ID.
	CreateInvite(ctx context.Context, inv *Invite, codeHash []byte) error
	// Invites returns every invite, newest first.
	Invites(ctx context.Context) ([]*Invite, error)
	// RevokeInvite marks the invite revoked at t; ENOTFOUND if it does not
	// exist or is revoked already.
	RevokeInvite(ctx context.Context, id ID, t time.Time) error
	// UseInvite takes one use of the invite whose code hashes to codeHash
	// if it is usable at t, and returns it; ENOTFOUND if there is none,
	// EFORBIDDEN if it is revoked, expired or used up.
	UseInvite(ctx context.Context, codeHash []byte, t time.Time) (*Invite, error)
	// ReturnInvite gives back a use UseInvite took (the sign-up failed).
	ReturnInvite(ctx context.Context, id ID) error
}
