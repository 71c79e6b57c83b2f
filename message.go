package parley

import (
	"context"
	"math"
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
)

// Unarchives reports whether a new entry of this type is a message that
// brings an archived conversation back into its members' lists: what
// people send (text, image, file), not entries about other entries.
func (t MessageType) Unarchives() bool {
	return t == TextMessage || t == ImageMessage || t == FileMessage
}

// Limits on messages.
const (
	DefaultMaxBodyBytes = 64 << 10
	MaxClientMsgIDLen   = 64
	MaxHistoryLimit     = 200
	DefaultHistoryLimit = 50
)

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
	CreatedAt      time.Time   `json:"created_at"`
	RecalledAt     *time.Time  `json:"recalled_at,omitempty"`
}

// SendRequest is a client's request to append a message.
type SendRequest struct {
	ConversationID ID          `json:"conversation_id"`
	ClientMsgID    string      `json:"client_msg_id"`
	Type           MessageType `json:"type"`
	Body           string      `json:"body"`
	MediaID        ID          `json:"media_id,omitempty"`
	ReplyTo        ID          `json:"reply_to,omitempty"`
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
// conversations: LastSeqAt answers, for any conversation, where its log
// stood then. It is opaque and only meaningful to the store that made it.
type LogPosition string

// MessageStore persists conversation logs.
type MessageStore interface {
	// AppendMessage stores m in its conversation's log with the next seq,
	// setting m.ID and m.Seq, and moves the sender's delivered and read
	// watermarks to that seq, all in one durable transaction: it returns
	// only after the commit. When the sender's device already sent a
	// message with m.ClientMsgID it stores nothing and returns that message
	// with created=false if contentHash matches, ECONFLICT otherwise.
	// When m.Type.Unarchives(), the same transaction unarchives the
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
	// RecallMessage erases the original's body and media, sets its
	// RecalledAt to entry.CreatedAt, and appends entry (a RecallEntry whose
	// RecallOf is the original) with the next seq, in one durable
	// transaction. Returns the updated original; ENOTFOUND if it does not
	// exist, ECONFLICT if it was recalled already.
	RecallMessage(ctx context.Context, entry *Message) (original *Message, err error)
	// LogPosition returns a mark of everything committed when it is called.
	// Returns EUNAVAILABLE when the store cannot answer now.
	LogPosition(ctx context.Context) (LogPosition, error)
	// LastSeqAt returns the highest seq of the conversation's log that was
	// committed at pos (0 if none; entries removed since by retention may
	// make it lower, never higher). Every entry with a higher seq was
	// committed after pos was taken. Returns EUNAVAILABLE when the store
	// cannot answer now, EINVALID for a pos it did not make.
	LastSeqAt(ctx context.Context, conversationID ID, pos LogPosition) (int64, error)
	// DeleteMessagesBefore removes log entries created before t and their
	// idempotency records, and returns how many entries it removed.
	DeleteMessagesBefore(ctx context.Context, t time.Time) (int64, error)
}
