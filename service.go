package parley

import (
	"context"
	"time"
)

// RegisterRequest creates an account.
type RegisterRequest struct {
	Handle      string `json:"handle"`
	Password    string `json:"password"`
	DisplayName string `json:"display_name"`
	// Invite is the invite code, required when registration is by
	// invitation.
	Invite string `json:"invite,omitempty"`
}

// ChangePasswordRequest changes the caller's password.
type ChangePasswordRequest struct {
	OldPassword string `json:"old_password"`
	NewPassword string `json:"new_password"`
}

// SessionView is one of the caller's sessions (devices) as listed.
type SessionView struct {
	ID         ID        `json:"id"`
	Name       string    `json:"name"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	// Current marks the session the request was made with.
	Current bool `json:"current"`
}

// LoginRequest opens a session on a new device.
type LoginRequest struct {
	Handle     string `json:"handle"`
	Password   string `json:"password"`
	DeviceName string `json:"device_name"`
}

// Session is a logged-in device and its bearer token. The token is shown
// once, at login; only its hash is kept.
type Session struct {
	Token    string `json:"token"`
	User     *User  `json:"user"`
	DeviceID ID     `json:"device_id"`
}

// MemberView is a member as the API shows it: the membership and who it is.
type MemberView struct {
	UserID       ID     `json:"user_id"`
	Role         Role   `json:"role"`
	Handle       string `json:"handle"`
	DisplayName  string `json:"display_name"`
	ProfilePic   string `json:"profile_pic"`
	DeliveredSeq int64  `json:"delivered_seq"`
	ReadSeq      int64  `json:"read_seq"`
}

// ConversationView is one entry of the conversation list (the design doc's
// shape), also returned for a single conversation. For a direct
// conversation the recipient fields describe the other member; for a group
// they carry the title and no picture.
type ConversationView struct {
	ID                  ID               `json:"id"`
	Type                ConversationType `json:"type"`
	Title               string           `json:"title"`
	RecipientID         ID               `json:"recipient_id,omitempty"`
	RecipientName       string           `json:"recipient_name"`
	RecipientProfilePic string           `json:"recipient_profile_pic"`
	LatestMessage       *Message         `json:"latest_message"`
	UnreadCount         int64            `json:"unread_count"`
	LastSeq             int64            `json:"last_seq"`
	LastActivityAt      time.Time        `json:"last_activity_at"`
	DisappearAfter      int64            `json:"disappear_after"`
	Role                Role             `json:"role"`
	Active              bool             `json:"active"`
	Muted               bool             `json:"muted"`
	// Pinned, PinnedAt and Archived are the caller's own: see Member.
	Pinned   bool         `json:"pinned"`
	PinnedAt *time.Time   `json:"pinned_at"`
	Archived bool         `json:"archived"`
	Members  []MemberView `json:"members"`
}

// ConversationListQuery selects a page (from 1) of the caller's list.
// Archived also lists the archived conversations (flagged archived).
type ConversationListQuery struct {
	PageNumber int
	PageSize   int
	Archived   bool
}

// CreateConversationRequest creates a direct conversation (one other
// member) or a group (several, or a title).
type CreateConversationRequest struct {
	MemberIDs []ID   `json:"member_ids"`
	Title     string `json:"title"`
}

// ConversationUpdate changes a conversation's settings; nil fields are
// left as they are.
type ConversationUpdate struct {
	// Title renames a group (owner or admin).
	Title *string `json:"title,omitempty"`
	// DisappearAfter sets the disappearing-messages timer in seconds (0:
	// off): either member of a direct conversation, the owner or an admin
	// of a group.
	DisappearAfter *int64 `json:"disappear_after,omitempty"`
}

// HistoryQuery pages through a conversation's log by seq: with AfterSeq
// (Ascending set, so that after_seq=0 reads from the start) the oldest
// Limit entries after it, otherwise the newest Limit entries, below
// BeforeSeq when set.
type HistoryQuery struct {
	BeforeSeq int64
	AfterSeq  int64
	Ascending bool
	Limit     int
}

// Emit sends one realtime event (name and JSON-encodable payload) to a
// single connection.
type Emit func(event string, data any) error

// SyncQuery says where a sync starts in each conversation.
type SyncQuery struct {
	// Cursors holds, per conversation, the seq up to which the device has
	// the log. Nil (and no Since): the device's stored cursors.
	Cursors map[ID]int64
	// Since, when set, is where the conversations Cursors does not name
	// start: after the last seq committed at Since, as a realtime
	// connection's stream does (MessageService.StreamStarts).
	Since LogPosition
}

// SyncPoint is what Sync emits, under the name EventSyncPoint, before it
// replays a conversation: the device has that conversation's log up to
// Seq, and the replay continues from there. It is for the realtime
// gateway, which keeps the socket's stream in step; clients never see it.
type SyncPoint struct {
	ConversationID ID
	Seq            int64
}

// AccountService manages users and sessions.
type AccountService interface {
	// Register creates a user. EINVALID for a bad handle or password,
	// ECONFLICT for a taken handle.
	Register(ctx context.Context, req RegisterRequest) (*User, error)
	// Login checks the password and opens a session on a new device.
	// EUNAUTHORIZED for a wrong handle or password.
	Login(ctx context.Context, req LoginRequest) (*Session, error)
	// Logout revokes the caller's device and disconnects its sockets.
	Logout(ctx context.Context, c Caller) error
	// Authenticate returns the caller behind a bearer token, or
	// EUNAUTHORIZED.
	Authenticate(ctx context.Context, token string) (Caller, error)
	// User returns a user's public profile, or ENOTFOUND.
	User(ctx context.Context, c Caller, id ID) (*User, error)
	// UpdateProfile changes the caller's profile.
	UpdateProfile(ctx context.Context, c Caller, upd UserUpdate) (*User, error)
	// SearchUsers finds users by handle prefix.
	SearchUsers(ctx context.Context, c Caller, prefix string, limit int) ([]*User, error)
	// Sessions lists the caller's live sessions, oldest first.
	Sessions(ctx context.Context, c Caller) ([]SessionView, error)
	// RevokeSession ends one of the caller's sessions and disconnects its
	// sockets on every node; ENOTFOUND if the caller has no such live
	// session.
	RevokeSession(ctx context.Context, c Caller, deviceID ID) error
	// RevokeOtherSessions ends every session of the caller but the current
	// one and returns how many it ended.
	RevokeOtherSessions(ctx context.Context, c Caller) (int, error)
	// ChangePassword checks the old password, sets the new one and ends
	// the caller's other sessions. EUNAUTHORIZED for a wrong old password,
	// EINVALID for a new one that is not acceptable.
	ChangePassword(ctx context.Context, c Caller, req ChangePasswordRequest) error
	// DeleteAccount deletes the caller's account after checking its
	// password (EUNAUTHORIZED when wrong); docs/api.md states what stays.
	DeleteAccount(ctx context.Context, c Caller, password string) error
}

// SessionFeed is what a node's realtime gateway uses to close the sockets
// of sessions that ended anywhere: a feed it polls, so a revocation whose
// bus notice was lost still takes effect.
type SessionFeed interface {
	// EndedSessions returns the sessions that ended since the cursor
	// since (zero: start from now) and the cursor to pass next time. The
	// same session may be returned more than once.
	EndedSessions(ctx context.Context, since time.Time) (ends []SessionEnd, next time.Time, err error)
	// SessionsSeen records that the devices have live sockets, which
	// counts as use of their sessions.
	SessionsSeen(ctx context.Context, deviceIDs []ID) error
}

// ConversationService manages conversations and memberships.
type ConversationService interface {
	// Conversations returns a page of the caller's list: the pinned
	// conversations first, most recently pinned first, then the others,
	// newest activity first; archived ones only when q.Archived. EINVALID
	// for a page size over 100.
	Conversations(ctx context.Context, c Caller, q ConversationListQuery) ([]*ConversationView, error)
	// Conversation returns one conversation as the caller sees it;
	// ENOTFOUND if the caller is not a member.
	Conversation(ctx context.Context, c Caller, id ID) (*ConversationView, error)
	// History returns a window of the log, ascending by seq, limited to what
	// the caller may see.
	History(ctx context.Context, c Caller, id ID, q HistoryQuery) ([]*Message, error)
	// CreateConversation opens a direct conversation (returning the
	// existing one, created=false) or creates a group.
	CreateConversation(ctx context.Context, c Caller, req CreateConversationRequest) (conv *ConversationView, created bool, err error)
	// RemoveConversation hides the conversation and its history up to now
	// from the caller only.
	RemoveConversation(ctx context.Context, c Caller, id ID) error
	// AddMembers adds users to a group (owner or admin only).
	AddMembers(ctx context.Context, c Caller, id ID, userIDs []ID) (*ConversationView, error)
	// RemoveMember removes a member from a group: the caller itself
	// (leaving) or, for an owner or admin, another member.
	RemoveMember(ctx context.Context, c Caller, id, userID ID) error
	// SetRole makes a member an admin or a plain member (owner only), or
	// hands ownership over (role owner: the caller becomes an admin).
	SetRole(ctx context.Context, c Caller, id, userID ID, role Role) error
	// Rename changes a group's title (owner or admin).
	Rename(ctx context.Context, c Caller, id ID, title string) (*ConversationView, error)
	// UpdateConversation applies upd, all of it or, on an error, none:
	// EINVALID for a bad value or an empty update, EFORBIDDEN for a
	// caller who may not make a change, ENOTFOUND for a conversation the
	// caller cannot see. A changed timer appends a SettingEntry to the log.
	UpdateConversation(ctx context.Context, c Caller, id ID, upd ConversationUpdate) (*ConversationView, error)
	// Receipts returns every member's watermarks.
	Receipts(ctx context.Context, c Caller, id ID) ([]Receipt, error)
	// SetMuted mutes or unmutes push notifications of a conversation.
	SetMuted(ctx context.Context, c Caller, id ID, muted bool) error
	// SetPinned pins the conversation to the top of the caller's list, or
	// unpins it, and tells the caller's devices. ETOOMANY when MaxPinned
	// others are pinned already; ENOTFOUND if the caller was never a
	// member.
	SetPinned(ctx context.Context, c Caller, id ID, pinned bool) error
	// SetArchived archives or unarchives the conversation in the caller's
	// list and tells the caller's devices; ENOTFOUND if the caller was
	// never a member.
	SetArchived(ctx context.Context, c Caller, id ID, archived bool) error
}

// MessageService is the delivery pipeline.
type MessageService interface {
	// Send stores a message durably, then fans it out. A retry with the same
	// client_msg_id returns the original message with created=false.
	// queued, when not nil, is called once the send has its place in the
	// store's order of writes (see MessageStore.AppendMessage), or when Send
	// returns before that.
	Send(ctx context.Context, c Caller, req SendRequest, queued func()) (msg *Message, created bool, err error)
	// MarkDelivered records that the caller's device has the log up to seq.
	MarkDelivered(ctx context.Context, c Caller, conversationID ID, seq int64) error
	// MarkRead records that the caller read the log up to seq.
	MarkRead(ctx context.Context, c Caller, conversationID ID, seq int64) error
	// Recall withdraws the caller's own message within the recall window.
	Recall(ctx context.Context, c Caller, conversationID, messageID ID) (*Message, error)
	// Edit replaces the body (the caption of an image or file) of the
	// caller's own message within the edit window, and returns the message
	// as edited and the edit's log entry (nil when the body was that
	// already: nothing was appended). Returns EFORBIDDEN for another's
	// message or after the window, EINVALID for a recalled message or an
	// entry that is not a sent message, ENOTFOUND for a message the caller
	// cannot see.
	Edit(ctx context.Context, c Caller, conversationID, messageID ID, body string) (edited, entry *Message, err error)
	// React sets the caller's reaction to a message (see ValidateEmoji; ""
	// removes it) and returns the reaction's log entry, nil when it was the
	// caller's reaction already. Returns EINVALID for a recalled message,
	// ENOTFOUND for a message the caller cannot see.
	React(ctx context.Context, c Caller, conversationID, messageID ID, emoji string) (entry *Message, err error)
	// Typing tells the other members the caller is typing.
	Typing(ctx context.Context, c Caller, conversationID ID) error
	// LogPosition marks everything committed now: a realtime connection
	// takes it once it receives its user's events, and StreamStarts then
	// tells, per conversation, where the connection's live stream begins.
	LogPosition(ctx context.Context) (LogPosition, error)
	// StreamStarts returns, for each of positions in turn, the highest seq
	// of the conversation's log that was committed at that position: every
	// later entry was committed after it was taken. Where a stream starts
	// says nothing of what anyone may see (reading the log does), so it
	// needs no caller; one call answers every connection a conversation's
	// message reached before its stream started. Returns EUNAVAILABLE
	// when the store cannot answer now.
	StreamStarts(ctx context.Context, conversationID ID, positions []LogPosition) ([]int64, error)
	// Sync emits, for each of the caller's conversations, a SyncPoint, then
	// in seq order every message after where q says the device is, then
	// the current receipts of the conversations that changed.
	Sync(ctx context.Context, c Caller, q SyncQuery, emit Emit) error
}

// FriendService manages friendships and blocks.
type FriendService interface {
	// Friends lists friends and pending requests both ways.
	Friends(ctx context.Context, c Caller) ([]Friend, error)
	// RequestFriend asks another user; if that user had asked the caller,
	// they become friends at once.
	RequestFriend(ctx context.Context, c Caller, userID ID) (*Friend, error)
	// AcceptFriend accepts an incoming request; ENOTFOUND if there is none.
	AcceptFriend(ctx context.Context, c Caller, userID ID) (*Friend, error)
	// RemoveFriend declines a request, withdraws one, or ends a friendship.
	RemoveFriend(ctx context.Context, c Caller, userID ID) error
	// Block blocks a user (ending any friendship); Unblock lifts it.
	Block(ctx context.Context, c Caller, userID ID) error
	Unblock(ctx context.Context, c Caller, userID ID) error
	// BlockedUsers lists whom the caller blocks.
	BlockedUsers(ctx context.Context, c Caller) ([]ID, error)
}

// ConnectionService is told when a device's realtime connections come and
// go, for presence.
type ConnectionService interface {
	Connected(ctx context.Context, c Caller) error
	Disconnected(ctx context.Context, c Caller) error
}

// PresenceService answers who is online.
type PresenceService interface {
	// Presence returns the status of each user asked for; users the caller
	// may not see (not a friend or direct peer) are reported offline.
	Presence(ctx context.Context, c Caller, userIDs []ID) ([]PresenceStatus, error)
}
