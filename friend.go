package parley

import (
	"context"
	"time"
)

// FriendState is a user's side of a friendship with another user.
type FriendState string

const (
	FriendOutgoing FriendState = "outgoing" // the user asked, the other has not answered
	FriendIncoming FriendState = "incoming" // the other asked, the user has not answered
	FriendAccepted FriendState = "friends"
)

// Friend is one entry of a user's friends list.
type Friend struct {
	UserID ID          `json:"user_id"`
	State  FriendState `json:"state"`
	Since  time.Time   `json:"since"`
	User   *User       `json:"user,omitempty"`
}

// FriendStore persists friendships and blocks. A friendship is kept as two
// edges, one per direction, always written together.
type FriendStore interface {
	// FriendState returns userID's side of the friendship with otherID, or
	// "" when there is none.
	FriendState(ctx context.Context, userID, otherID ID) (FriendState, error)
	// SetFriendship writes both edges at time t in one transaction; an empty
	// state deletes that edge.
	SetFriendship(ctx context.Context, a, b ID, aState, bState FriendState, t time.Time) error
	// Friends returns the user's edges (friends and pending requests both
	// ways), oldest first.
	Friends(ctx context.Context, userID ID) ([]Friend, error)
	// SetBlocked records (on) or lifts (off) blocker's block of blocked.
	SetBlocked(ctx context.Context, blocker, blocked ID, on bool, t time.Time) error
	// Blocked reports whether blocker blocks blocked.
	Blocked(ctx context.Context, blocker, blocked ID) (bool, error)
	// BlockedUsers returns the users the blocker blocks.
	BlockedUsers(ctx context.Context, blocker ID) ([]ID, error)
}
