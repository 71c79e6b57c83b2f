package parley

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on user fields.
const (
	MinHandleLen      = 3
	MaxHandleLen      = 32
	MinPasswordLen    = 8
	MaxPasswordLen    = 256
	MaxDisplayNameLen = 64
	MaxBioLen         = 500
	MaxProfilePicLen  = 2048
)

// User is an account. Handles are unique without regard to case; the store
// keeps the spelling the user chose.
type User struct {
	ID          ID        `json:"id"`
	Handle      string    `json:"handle"`
	DisplayName string    `json:"display_name"`
	ProfilePic  string    `json:"profile_pic"`
	Bio         string    `json:"bio"`
	CreatedAt   time.Time `json:"created_at"`
	// PushPreviews is the user's setting: whether its push notifications
	// show a preview of the message. Only the user itself sees it.
	PushPreviews bool `json:"-"`
	// DisabledAt is set while an operator has disabled the account: it
	// cannot log in and has no live session.
	DisabledAt *time.Time `json:"-"`
	// Deleted marks an account its owner deleted: the profile is erased,
	// the handle released, and the name shown is DeletedName.
	Deleted bool `json:"deleted,omitempty"`
}

// DeletedName is the display name of a deleted account.
const DeletedName = "Deleted account"

// Name returns the display name, or the handle when there is none.
func (u *User) Name() string {
	if u.DisplayName != "" {
		return u.DisplayName
	}
	return u.Handle
}

// ValidateHandle returns EINVALID unless h is 3–32 characters of ASCII
// letters, digits, '_' and '.', starting with a letter or digit.
func ValidateHandle(h string) error {
	if len(h) < MinHandleLen || len(h) > MaxHandleLen {
		return Errorf(EINVALID, "handle must be %d to %d characters", MinHandleLen, MaxHandleLen)
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case (c == '_' || c == '.') && i > 0:
		default:
			return Errorf(EINVALID, "handle may hold only letters, digits, '_' and '.', and must start with a letter or digit")
		}
	}
	return nil
}

// NormalizeHandle returns the form handles are compared in.
func NormalizeHandle(h string) string { return strings.ToLower(h) }

// ValidatePassword returns EINVALID for a password that is too short or too
// long.
func ValidatePassword(p string) error {
	if n := utf8.RuneCountInString(p); n < MinPasswordLen {
		return Errorf(EINVALID, "password must be at least %d characters", MinPasswordLen)
	}
	if len(p) > MaxPasswordLen {
		return Errorf(EINVALID, "password must be at most %d bytes", MaxPasswordLen)
	}
	return nil
}

// UserUpdate holds the profile fields to change; nil fields stay as they are.
type UserUpdate struct {
	DisplayName *string `json:"display_name"`
	ProfilePic  *string `json:"profile_pic"`
	Bio         *string `json:"bio"`
	// PushPreviews turns message previews in push notifications on or off.
	PushPreviews *bool `json:"push_previews"`
}

// Validate returns EINVALID when a field is over its limit or not valid text.
func (u *UserUpdate) Validate() error {
	if err := validateText("display_name", u.DisplayName, MaxDisplayNameLen); err != nil {
		return err
	}
	if err := validateText("bio", u.Bio, MaxBioLen); err != nil {
		return err
	}
	if u.ProfilePic != nil {
		p := *u.ProfilePic
		if len(p) > MaxProfilePicLen {
			return Errorf(EINVALID, "profile_pic must be at most %d bytes", MaxProfilePicLen)
		}
		if p != "" && !strings.HasPrefix(p, "https://") && !strings.HasPrefix(p, "http://") && !strings.HasPrefix(p, "/v1/media/") {
			return Errorf(EINVALID, "profile_pic must be an http(s) URL or a /v1/media/ path")
		}
	}
	return nil
}

func validateText(name string, v *string, max int) error {
	if v == nil {
		return nil
	}
	if !utf8.ValidString(*v) {
		return Errorf(EINVALID, "%s must be valid UTF-8", name)
	}
	if utf8.RuneCountInString(*v) > max {
		return Errorf(EINVALID, "%s must be at most %d characters", name, max)
	}
	return nil
}

// UserStore persists users.
type UserStore interface {
	// CreateUser inserts u, setting u.ID. u.CreatedAt and u.PushPreviews
	// are kept as given.
	// Returns ECONFLICT if the handle is taken (compared without case).
	CreateUser(ctx context.Context, u *User, passwordHash string) error
	// User returns the user with the id, or ENOTFOUND.
	User(ctx context.Context, id ID) (*User, error)
	// Users returns the users with the given ids that exist, in no order.
	Users(ctx context.Context, ids []ID) ([]*User, error)
	// UserCredentials returns the user with the handle (compared without
	// case) and its password hash, or ENOTFOUND.
	UserCredentials(ctx context.Context, handle string) (*User, string, error)
	// SearchUsers returns up to limit users whose handle starts with prefix
	// (without case), ordered by handle.
	SearchUsers(ctx context.Context, prefix string, limit int) ([]*User, error)
	// UpdateUser applies upd and returns the updated user, or ENOTFOUND.
	UpdateUser(ctx context.Context, id ID, upd UserUpdate) (*User, error)
	// UserPasswordHash returns the user's password hash, or ENOTFOUND.
	UserPasswordHash(ctx context.Context, id ID) (string, error)
	// SetPasswordHash replaces the user's password hash; ENOTFOUND if the
	// user does not exist or was deleted.
	SetPasswordHash(ctx context.Context, id ID, passwordHash string) error
	// SetUserDisabled disables the user at *at, or enables it when at is
	// nil; ENOTFOUND if the user does not exist or was deleted. It does not
	// touch the user's sessions.
	SetUserDisabled(ctx context.Context, id ID, at *time.Time) error
	// ListUsers returns up to limit users with an id above afterID, by id,
	// deleted ones included.
	ListUsers(ctx context.Context, afterID ID, limit int) ([]*User, error)
	// EraseUser marks the user deleted at t: its profile and password are
	// erased and its handle released for someone else to take. Its rows
	// elsewhere (messages, memberships) are the app's to handle.
	// ENOTFOUND if the user does not exist or was deleted already.
	EraseUser(ctx context.Context, id ID, t time.Time) error
	// UploadedMedia returns the ids of the media the user uploaded,
	// thumbnails not included.
	UploadedMedia(ctx context.Context, userID ID) ([]ID, error)
	// SetLastSeen records t (to the microsecond) as when the user was last
	// online, unless a later time is recorded already. A user that does not
	// exist or was deleted is left alone, without an error.
	SetLastSeen(ctx context.Context, id ID, t time.Time) error
	// LastSeen returns when each of the users was last online, for those
	// with a time recorded. EraseUser forgets it.
	LastSeen(ctx context.Context, ids []ID) (map[ID]time.Time, error)
}

// PasswordHasher hashes and checks passwords (package argon2id).
type PasswordHasher interface {
	// Hash returns an encoded hash of password with a fresh salt.
	Hash(password string) (string, error)
	// Verify reports whether password matches encoded. It returns an error
	// only for an encoded hash it cannot read.
	Verify(password, encoded string) (bool, error)
}
