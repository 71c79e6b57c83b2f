package parley

import (
	"context"
	"time"
)

// ConversationType tells a direct conversation from a group.
type ConversationType string

const (
	Direct ConversationType = "direct" // exactly two members, at most one per pair
	Group  ConversationType = "group"  // a titled conversation with roles
)

// Role is a member's standing in a group.
type Role string

const (
	RoleOwner  Role = "owner"
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
)

// Limits on conversations.
const (
	MaxTitleLen       = 128
	DefaultMemberCap  = 1024
	MaxMembersPerCall = 256
	// MaxPinned is how many conversations a user may pin at once.
	MaxPinned = 5
)

// Bounds of a conversation's disappearing-messages timer, in seconds; 0
// turns it off.
const (
	MinDisappearAfter = 5
	MaxDisappearAfter = 90 * 24 * 60 * 60
)

// ValidateDisappearAfter returns EINVALID unless seconds is 0 (off) or
// within MinDisappearAfter…MaxDisappearAfter.
func ValidateDisappearAfter(seconds int64) error {
	if seconds != 0 && (seconds < MinDisappearAfter || seconds > MaxDisappearAfter) {
		return Errorf(EINVALID, "disappear_after must be 0 (off) or %d to %d seconds", MinDisappearAfter, MaxDisappearAfter)
	}
	return nil
}

// Conversation is a log of messages shared by its members. LastSeq is the
// seq of its newest log entry (0 when empty).
type Conversation struct {
	ID             ID               `json:"id"`
	Type           ConversationType `json:"type"`
	Title          string           `json:"title"`
	CreatedBy      ID               `json:"created_by"`
	CreatedAt      time.Time        `json:"created_at"`
	LastSeq        int64            `json:"last_seq"`
	LastActivityAt time.Time        `json:"last_activity_at"`
	// DisappearAfter is the disappearing-messages timer in seconds (0:
	// off): messages appended while it is on expire that long after they
	// were created.
	DisappearAfter int64 `json:"disappear_after"`
	// Members is filled where the API shows members: the active members.
	Members []Member `json:"members,omitempty"`
}

// Member is a user's membership of a conversation and its receipt
// watermarks. A member sees the log entries with JoinedSeq < seq, up to
// LeftSeq once it left, and above ClearedSeq once it removed the
// conversation from its list.
type Member struct {
	ConversationID ID        `json:"conversation_id"`
	UserID         ID        `json:"user_id"`
	Role           Role      `json:"role"`
	JoinedSeq      int64     `json:"joined_seq"`
	JoinedAt       time.Time `json:"joined_at"`
	// LeftSeq is the last seq the member may see after leaving; nil while
	// the member is active.
	LeftSeq *int64 `json:"left_seq,omitempty"`
	// LeftTitle is the group's title when the member left, and LeftAt
	// when; "" and zero while the member is active.
	LeftTitle    string    `json:"-"`
	LeftAt       time.Time `json:"-"`
	DeliveredSeq int64     `json:"delivered_seq"`
	ReadSeq      int64     `json:"read_seq"`
	// Hidden is set when the member removed the conversation from its list;
	// ClearedSeq is the last seq at that moment. The conversation shows in
	// the list again once the log grows past ClearedSeq.
	Hidden     bool  `json:"-"`
	ClearedSeq int64 `json:"-"`
	Muted      bool  `json:"muted,omitempty"`
	// PinnedAt is when the member pinned the conversation to the top of its
	// list; nil when not pinned. Archived hides the conversation from the
	// member's list until a new message arrives (unless Muted). The two
	// exclude each other: pinning unarchives, archiving unpins.
	PinnedAt *time.Time `json:"pinned_at,omitempty"`
	Archived bool       `json:"archived,omitempty"`
}

// Active reports whether the member has not left.
func (m *Member) Active() bool { return m.LeftSeq == nil }

// Floor returns the highest seq the member cannot see: entries with a seq
// above it are visible.
func (m *Member) Floor() int64 { return max(m.JoinedSeq, m.ClearedSeq) }

// Ceiling returns the last seq the member can see given the conversation's
// last seq.
func (m *Member) Ceiling(lastSeq int64) int64 {
	if m.LeftSeq != nil && *m.LeftSeq < lastSeq {
		return *m.LeftSeq
	}
	return lastSeq
}

// Visible reports whether the member may see the log entry with seq.
func (m *Member) Visible(seq int64) bool {
	return seq > m.Floor() && (m.LeftSeq == nil || seq <= *m.LeftSeq)
}

// Listed reports whether the conversation shows in the member's list.
func (m *Member) Listed(lastSeq int64) bool {
	return !m.Hidden || m.Ceiling(lastSeq) > m.ClearedSeq
}

// Unread returns how many entries from others the member has not read.
// Sending moves the sender's read watermark to the sent seq, so the
// member's own messages never count.
func (m *Member) Unread(lastSeq int64) int64 {
	return max(0, m.Ceiling(lastSeq)-max(m.ReadSeq, m.Floor()))
}

// DirectKey returns the key that makes a direct conversation unique per pair.
func DirectKey(a, b ID) string {
	if a > b {
		a, b = b, a
	}
	return a.String() + ":" + b.String()
}

// UserConversation is a conversation as one member sees it: its own
// membership, and the newest log entry it may see.
type UserConversation struct {
	Conversation  *Conversation
	Self          Member
	LatestMessage *Message
}

// ConversationFilter selects a member's conversations.
type ConversationFilter struct {
	// IncludeHidden also returns conversations the member removed from its
	// list and that have nothing new since.
	IncludeHidden bool
	// IncludeLeft also returns conversations the member has left.
	IncludeLeft bool
	// ExcludeArchived leaves out the conversations the member archived.
	ExcludeArchived bool
	// OnlyPinned returns only the pinned conversations, most recently
	// pinned first; ExcludePinned only the others.
	OnlyPinned    bool
	ExcludePinned bool
	Limit         int // 0 means no limit
	Offset        int
	// Now, when set, leaves expired entries out of LatestMessage (see
	// MessageFilter.Now).
	Now time.Time
}

// ConversationStore persists conversations and memberships.
type ConversationStore interface {
	// CreateConversation inserts c with its members (JoinedSeq 0), setting
	// c.ID. For a direct conversation directKey is DirectKey of its two
	// members: if one exists already it is returned with created=false.
	CreateConversation(ctx context.Context, c *Conversation, members []Member, directKey string) (conv *Conversation, created bool, err error)
	// Conversation returns the conversation, or ENOTFOUND.
	Conversation(ctx context.Context, id ID) (*Conversation, error)
	// DirectConversation returns the direct conversation of the pair with
	// directKey, or ENOTFOUND.
	DirectConversation(ctx context.Context, directKey string) (*Conversation, error)
	// Members returns every membership of the conversation, including
	// members who left, ordered by user id.
	Members(ctx context.Context, conversationID ID) ([]Member, error)
	// Member returns one membership (active or left), or ENOTFOUND.
	Member(ctx context.Context, conversationID, userID ID) (*Member, error)
	// AddMembers makes the users active members, joining at the
	// conversation's current last seq; a member who had left rejoins with a
	// new JoinedSeq. Existing active members are left as they are. Returns
	// the conversation (Members not filled) and the memberships it created
	// or renewed.
	AddMembers(ctx context.Context, conversationID ID, members []Member, t time.Time) (*Conversation, []Member, error)
	// RemoveMember sets the member's LeftSeq to the current last seq, its
	// LeftTitle to the conversation's title and its LeftAt to t;
	// ENOTFOUND if the user is not an active member.
	RemoveMember(ctx context.Context, conversationID, userID ID, t time.Time) (*Member, error)
	// SetRole changes an active member's role; ENOTFOUND if not a member.
	SetRole(ctx context.Context, conversationID, userID ID, role Role) error
	// SetTitle renames the conversation at time t and returns it.
	SetTitle(ctx context.Context, conversationID ID, title string, t time.Time) (*Conversation, error)
	// HideConversation removes the conversation from the member's list and
	// its history up to now from the member's view, and unpins and
	// unarchives it for the member; ENOTFOUND if not a member.
	HideConversation(ctx context.Context, conversationID, userID ID) (*Member, error)
	// SetMuted mutes or unmutes push notifications of the conversation.
	SetMuted(ctx context.Context, conversationID, userID ID, muted bool) error
	// SetPinned pins the conversation for the member at time at (which
	// also unarchives it), or unpins it when at is nil, and returns the
	// membership. Pinning an already pinned conversation keeps its time.
	// ENOTFOUND if not a member; ETOOMANY, changing nothing, when the user
	// already has limit other conversations pinned — checked in the same
	// transaction, so concurrent pins never exceed it.
	SetPinned(ctx context.Context, conversationID, userID ID, at *time.Time, limit int) (*Member, error)
	// SetArchived archives (which also unpins) or unarchives the
	// conversation for the member and returns the membership; ENOTFOUND if
	// not a member.
	SetArchived(ctx context.Context, conversationID, userID ID, archived bool) (*Member, error)
	// UserConversations returns the member's conversations, newest activity
	// first (most recently pinned first with OnlyPinned), each with its
	// newest visible log entry.
	UserConversations(ctx context.Context, userID ID, f ConversationFilter) ([]*UserConversation, error)
}
