package parley

import (
	"cmp"
	"context"
	"math"
	"slices"
	"time"
	"unicode/utf8"
)

// MessageType is the kind of a log entry.
type MessageType string

const (
	TextMessage  MessageType = "text"
	ImageMessage MessageType = "image"
	FileMessage  MessageType = "file"
	// RecallEntry is the log entry that records a recall: it has its own
	// seq (so offline devices learn of it on sync) and RecallOf names the
	// original, whose body and media are erased. Clients never send it.
	RecallEntry MessageType = "recall"
	// SettingEntry is the log entry that records a change of the
	// conversation's disappearing-messages timer: DisappearAfter holds the
	// new value. It has its own seq, so every device learns of the change
	// in log order, and it never expires itself. Clients never send it.
	SettingEntry MessageType = "setting"
	// EditEntry records an edit: EditOf names the original, whose body
	// becomes the entry's Body. ReactionEntry records a member's reaction:
	// ReactionOf names the original and Body is the emoji ("" removes the
	// member's reaction). Clients never send either; both have their own
	// seq like a recall.
	EditEntry     MessageType = "edit"
	ReactionEntry MessageType = "reaction"
)

// Sent reports whether t is a message someone sent (text, image or file),
// as opposed to an entry that records an action on the log (recall, edit,
// reaction, timer change); clients get each sent one back in the send's
// acknowledgement.
func (t MessageType) Sent() bool {
	return t == TextMessage || t == ImageMessage || t == FileMessage
}

// Disappears reports whether entries of this type expire under the
// conversation's disappearing-messages timer: what people write does; the
// entries that record an action (a recall, a timer change) do not.
func (t MessageType) Disappears() bool { return t.Sent() }

// Limits on messages.
const (
	DefaultMaxBodyBytes = 64 << 10
	MaxClientMsgIDLen   = 64
	MaxHistoryLimit     = 200
	DefaultHistoryLimit = 50
)

// PageLimit returns the page size a request asks for: limit, or def when
// limit is 0; EINVALID when that is not 1 to max (a def of 0 makes an
// explicit 0 an error).
func PageLimit(limit, def, max int) (int, error) {
	if limit == 0 {
		limit = def
	}
	if limit < 1 || limit > max {
		return 0, Errorf(EINVALID, "limit must be 1 to %d", max)
	}
	return limit, nil
}

// Message is one entry of a conversation's log. Seq is dense per
// conversation (1, 2, 3, …) and is the only order.
type Message struct {
	ID             ID          `json:"id"`
	ConversationID ID          `json:"conversation_id"`
	Seq            int64       `json:"seq"`
	SenderID       ID          `json:"sender_id"`
	SenderDeviceID ID          `json:"-"`
	ClientMsgID    string      `json:"client_msg_id,omitempty"`
	Type           MessageType `json:"type"`
	Body           string      `json:"body"`
	MediaID        ID          `json:"media_id,omitempty"`
	Media          *Media      `json:"media,omitempty"`
	ReplyTo        ID          `json:"reply_to,omitempty"`
	RecallOf       ID          `json:"recall_of,omitempty"`
	EditOf         ID          `json:"edit_of,omitempty"`
	ReactionOf     ID          `json:"reaction_of,omitempty"`
	// Forwarded marks a copy of another message (see SendRequest.ForwardOf).
	Forwarded  bool       `json:"forwarded,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	RecalledAt *time.Time `json:"recalled_at,omitempty"`
	// EditedAt is when the body was last edited; Body is then the latest.
	EditedAt *time.Time `json:"edited_at,omitempty"`
	// Reactions are the members' current reactions, most used first.
	Reactions []Reaction `json:"reactions,omitempty"`
	// ExpiresAt is set on a message appended while the conversation's
	// disappearing-messages timer was on: CreatedAt plus the timer. From
	// then on the message is gone from every read, and the retention job
	// erases it and the media no other message carries.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// DisappearAfter is set on a SettingEntry only: the timer it set, in
	// seconds (0: off).
	DisappearAfter *int64 `json:"disappear_after,omitempty"`
}

// SetExpiry sets m.ExpiresAt from the conversation's disappearing-messages
// timer (seconds, 0: off) at the moment m takes its seq. Both stores call
// it in the transaction that assigns the seq, with the timer read there, so
// concurrent senders agree with the log order.
func (m *Message) SetExpiry(disappearAfter int64) {
	m.ExpiresAt = nil
	if disappearAfter > 0 && m.Type.Disappears() {
		t := m.CreatedAt.Add(time.Duration(disappearAfter) * time.Second)
		m.ExpiresAt = &t
	}
}

// TimerChange is a timer change in a conversation's log: the setting
// entry at Seq set the disappearing-messages timer to After seconds (0:
// off), for the entries after it.
type TimerChange struct{ Seq, After int64 }

// SeqSpan is the part Lo < seq <= Hi of a conversation's log.
type SeqSpan struct{ Lo, Hi int64 }

// TimerSpans splits lo < seq <= hi into the spans where the timer was off
// and those where it was on, given the conversation's timer changes in seq
// order: those up to hi, from the last one at or before lo on (the timer
// is off before the first change). Neighbouring spans in the same state are
// one.
func TimerSpans(lo, hi int64, changes []TimerChange) (off, on []SeqSpan) {
	add := func(sp SeqSpan, isOn bool) {
		if sp.Hi <= sp.Lo {
			return
		}
		list := &off
		if isOn {
			list = &on
		}
		if n := len(*list); n > 0 && (*list)[n-1].Hi == sp.Lo {
			(*list)[n-1].Hi = sp.Hi
			return
		}
		*list = append(*list, sp)
	}
	start, state := lo, false
	for _, c := range changes {
		switch {
		case c.Seq <= lo: // the state lo starts in
			state = c.After > 0
		case c.Seq <= hi:
			add(SeqSpan{start, c.Seq}, state)
			start, state = c.Seq, c.After > 0
		}
	}
	add(SeqSpan{start, hi}, state)
	return off, on
}

// Expired reports whether m has expired at now.
func (m *Message) Expired(now time.Time) bool {
	return m.ExpiresAt != nil && !m.ExpiresAt.After(now)
}

// MaxReactionUsers is how many user ids a Reaction lists at most; Count is
// exact.
const MaxReactionUsers = 20

// Reaction is one emoji's tally on a message.
type Reaction struct {
	Emoji   string `json:"emoji"`
	Count   int    `json:"count"`
	UserIDs []ID   `json:"user_ids"`
}

// UserReaction is one member's current reaction to a message.
type UserReaction struct {
	MessageID ID
	UserID    ID
	Emoji     string
	Seq       int64 // of the reaction entry that set it
}

// SortReactions puts reactions in the order they were made (ascending
// seq), the order MessageStore.Reactions returns them in.
func SortReactions(rs []UserReaction) {
	slices.SortFunc(rs, func(a, b UserReaction) int { return cmp.Compare(a.Seq, b.Seq) })
}

// MessageRef names a message of a conversation.
type MessageRef struct {
	ConversationID ID `json:"conversation_id"`
	MessageID      ID `json:"message_id"`
}

// SendRequest is a client's request to append a message.
type SendRequest struct {
	ConversationID ID          `json:"conversation_id"`
	ClientMsgID    string      `json:"client_msg_id"`
	Type           MessageType `json:"type"`
	Body           string      `json:"body"`
	MediaID        ID          `json:"media_id,omitempty"`
	ReplyTo        ID          `json:"reply_to,omitempty"`
	// ForwardOf, when set, makes the message a copy of that one: its type,
	// body and media are copied (the media shared, not duplicated) and the
	// request names none of its own.
	ForwardOf *MessageRef `json:"forward_of,omitempty"`
}

// Validate checks the request against maxBody bytes of body. It returns
// EINVALID for a missing or malformed field and ETOOLARGE for a body over
// the limit.
func (r *SendRequest) Validate(maxBody int) error {
	if r.ConversationID <= 0 {
		return Errorf(EINVALID, "conversation_id is required")
	}
	if r.ClientMsgID == "" {
		return Errorf(EINVALID, "client_msg_id is required")
	}
	if len(r.ClientMsgID) > MaxClientMsgIDLen || !utf8.ValidString(r.ClientMsgID) {
		return Errorf(EINVALID, "client_msg_id must be at most %d bytes of UTF-8", MaxClientMsgIDLen)
	}
	if r.ForwardOf != nil {
		if r.ForwardOf.ConversationID <= 0 || r.ForwardOf.MessageID <= 0 {
			return Errorf(EINVALID, "forward_of needs conversation_id and message_id")
		}
		if r.Type != "" || r.Body != "" || r.MediaID != 0 {
			return Errorf(EINVALID, "a forward carries no type, body or media_id of its own")
		}
		if r.ReplyTo < 0 {
			return Errorf(EINVALID, "reply_to is not a valid id")
		}
		return nil
	}
	if r.Type == "" {
		r.Type = TextMessage
	}
	switch r.Type {
	case TextMessage:
		if r.Body == "" {
			return Errorf(EINVALID, "a text message needs a body")
		}
		if r.MediaID != 0 {
			return Errorf(EINVALID, "a text message carries no media_id")
		}
	case ImageMessage, FileMessage:
		if r.MediaID <= 0 {
			return Errorf(EINVALID, "a %s message needs a media_id", r.Type)
		}
	default:
		return Errorf(EINVALID, "type must be text, image or file")
	}
	if len(r.Body) > maxBody {
		return Errorf(ETOOLARGE, "body is over %d bytes", maxBody)
	}
	if !utf8.ValidString(r.Body) {
		return Errorf(EINVALID, "body must be valid UTF-8")
	}
	if r.ReplyTo < 0 {
		return Errorf(EINVALID, "reply_to is not a valid id")
	}
	return nil
}

// Changeable returns nil when m may be edited or reacted to: a sent
// message (text, image or file) that was not recalled. Returns EINVALID
// otherwise.
func (m *Message) Changeable() error {
	if !m.Type.Sent() {
		return Errorf(EINVALID, "a %s entry cannot be edited or reacted to", m.Type)
	}
	if m.RecalledAt != nil {
		return Errorf(EINVALID, "message was recalled")
	}
	return nil
}

// ValidateEdit checks a new body for an edit of a message of type t
// against maxBody bytes: a text message needs a body, an image or file may
// have an empty caption. Returns EINVALID or ETOOLARGE.
func ValidateEdit(t MessageType, body string, maxBody int) error {
	if t == TextMessage && body == "" {
		return Errorf(EINVALID, "a text message needs a body")
	}
	if len(body) > maxBody {
		return Errorf(ETOOLARGE, "body is over %d bytes", maxBody)
	}
	if !utf8.ValidString(body) {
		return Errorf(EINVALID, "body must be valid UTF-8")
	}
	return nil
}

// MessageFilter selects a window of a conversation's log. The result is
// always in ascending seq order.
type MessageFilter struct {
	// Floor and Ceiling bound what the reader may see: Floor < seq <= Ceiling.
	// A zero Ceiling means no upper bound.
	Floor   int64
	Ceiling int64
	// Ascending, or a positive AfterSeq, returns the oldest Limit entries
	// with seq > AfterSeq. Otherwise the newest Limit entries, below
	// BeforeSeq when it is set.
	Ascending bool
	AfterSeq  int64
	BeforeSeq int64
	Limit     int
	// Now, when set, leaves out the entries that expired at or before it
	// (ExpiresAt <= Now). Readers on behalf of a user always set it.
	Now time.Time
}

// Window is how a store reads f: the entries with lo < seq <= hi, the
// first limit of them in ascending order when ascending is true, else the
// last limit. When hi <= lo the window is empty and nothing need be read.
func (f MessageFilter) Window() (lo, hi int64, limit int, ascending bool) {
	limit = f.Limit
	if limit <= 0 {
		limit = DefaultHistoryLimit
	}
	lo = max(f.Floor, f.AfterSeq)
	hi = math.MaxInt64
	if f.Ceiling > 0 {
		hi = f.Ceiling
	}
	if f.BeforeSeq > 0 {
		hi = min(hi, f.BeforeSeq-1)
	}
	return lo, hi, limit, f.AfterSeq > 0 || f.Ascending
}

// LogPosition marks what a store had committed at one moment, across all
// conversations: LastSeqsAt answers, for any conversation, where its log
// stood then. It is opaque and only meaningful to the store that made it.
type LogPosition string

// LogPoint names one conversation's log as it stood at a position.
type LogPoint struct {
	ConversationID ID
	Position       LogPosition
}

// MessageStore persists conversation logs.
type MessageStore interface {
	// AppendMessage stores m in its conversation's log with the next seq,
	// setting m.ID and m.Seq, and moves the sender's delivered and read
	// watermarks to that seq, all in one durable transaction: it returns
	// only after the commit. When the sender's device already sent a
	// message with m.ClientMsgID it stores nothing and returns that message
	// with created=false if contentHash matches, ECONFLICT otherwise.
	// When m.Type.Sent(), the same transaction unarchives the
	// conversation for every active member who has not muted it.
	// Returns ENOTFOUND if the conversation does not exist, EUNAVAILABLE
	// when the store cannot write now (the send may be retried).
	//
	// queued, when not nil, is called once, as soon as the request has
	// taken its place in the store's order of writes (before the commit):
	// appends queued one after the other get seqs in that order. A caller
	// that must keep its sends in order (one connection's) submits the next
	// one after queued ran, without waiting for the first to commit. It is
	// called at the latest when AppendMessage returns.
	AppendMessage(ctx context.Context, m *Message, contentHash []byte, queued func()) (msg *Message, created bool, err error)
	// Message returns the log entry, or ENOTFOUND.
	Message(ctx context.Context, id ID) (*Message, error)
	// Messages returns the window of the conversation's log that f selects.
	Messages(ctx context.Context, conversationID ID, f MessageFilter) ([]*Message, error)
	// RecallMessage erases the original's body and media (and the bodies of
	// its edits, and its reactions), sets its RecalledAt to
	// entry.CreatedAt, and appends entry (a RecallEntry whose
	// RecallOf is the original) with the next seq, in one durable
	// transaction. Returns the updated original; ENOTFOUND if it does not
	// exist, ECONFLICT if it was recalled already.
	RecallMessage(ctx context.Context, entry *Message) (original *Message, err error)
	// SetDisappearAfter appends entry (a SettingEntry whose DisappearAfter
	// holds the new timer, in seconds) with the next seq, setting its ID
	// and Seq, and makes that timer the conversation's, in one durable
	// transaction: every message appended after the entry carries
	// ExpiresAt (see Message.SetExpiry). Returns ENOTFOUND if the
	// conversation does not exist.
	SetDisappearAfter(ctx context.Context, entry *Message) error
	// EditMessage sets the original's body to entry.Body and its EditedAt
	// to entry.CreatedAt, and appends entry (an EditEntry whose EditOf is
	// the original) with the next seq, in one durable transaction: of
	// concurrent edits the one with the highest seq is the body that
	// stays. When the original's body is entry.Body already it appends
	// nothing and returns created=false (a retried edit). Returns the
	// updated original; ENOTFOUND if it is not a message of entry's
	// conversation, EINVALID if it was recalled or is not a sent message.
	EditMessage(ctx context.Context, entry *Message) (original *Message, created bool, err error)
	// ReactMessage makes entry.Body (an emoji, or "" for none) the sender's
	// reaction to entry.ReactionOf and appends entry (a ReactionEntry) with
	// the next seq, in one durable transaction. When that already is the
	// sender's reaction it appends nothing and returns created=false.
	// Returns ENOTFOUND if the original is not a message of entry's
	// conversation, EINVALID if it was recalled or is not a sent message.
	ReactMessage(ctx context.Context, entry *Message) (created bool, err error)
	// Reactions returns the current reactions to the messages, in the order
	// they were made (ascending seq).
	Reactions(ctx context.Context, messageIDs []ID) ([]UserReaction, error)
	// UnreadEntries returns how many entries of the conversation's log with
	// lo < seq <= hi count as unread at now: every entry but edits,
	// reactions and timer changes (types edit, reaction and setting) and
	// those that expired by now, erased or not yet. Only the spans where
	// the timer was on (TimerSpans) are read entry by entry; elsewhere the
	// count comes from seqs less the silent entries, so there entries that
	// retention removed still count. hi is at most the conversation's last
	// seq.
	UnreadEntries(ctx context.Context, conversationID ID, lo, hi int64, now time.Time) (int64, error)
	// LogPosition returns a mark of everything committed when it is called.
	// Returns EUNAVAILABLE when the store cannot answer now.
	LogPosition(ctx context.Context) (LogPosition, error)
	// LastSeqsAt returns, for each of points in turn, the highest seq of
	// the point's conversation's log that was committed at its position (0
	// if none; entries removed since by retention may make it lower, never
	// higher). Every entry with a higher seq was committed after the
	// position was taken. It answers many points in one read: the realtime
	// connections a conversation's message reaches first all ask at once
	// (one conversation, many positions), and a connection catching up
	// after a bus outage asks for all its conversations (one position,
	// many conversations). Returns EUNAVAILABLE when the store cannot
	// answer now, EINVALID when one of the positions is not one it made.
	LastSeqsAt(ctx context.Context, points []LogPoint) ([]int64, error)
	// DeleteMessagesBefore removes log entries created before t and their
	// idempotency records, and returns how many entries it removed.
	DeleteMessagesBefore(ctx context.Context, t time.Time) (int64, error)
	// DeleteExpiredMessages removes up to limit log entries that expired
	// at or before now, with their idempotency records, and returns how
	// many it removed and the media ids those entries carried (each once).
	DeleteExpiredMessages(ctx context.Context, now time.Time, limit int) (deleted int64, media []ID, err error)
}
