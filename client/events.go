package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/parleyhq/parley"
)

// Server → client events beyond the ones named in the root package.
const (
	// EventFriend carries the receiving user's Friend entry after a change
	// in a friendship (state "" when it ended).
	EventFriend = "friend"
	// EventError reports a failed event that asked for no ack.
	EventError = "error"
)

// Event is one server event. Data holds the decoded payload of the events
// of the contract:
//
//	message       *parley.Message
//	receipt       *parley.Receipt
//	recall        *Recall
//	conversation  *parley.ConversationView
//	typing        *Typing
//	presence      *parley.PresenceStatus
//	friend        *parley.Friend
//	error         *ErrorEvent
//	resync        nil (run Sync: events may have been lost)
//
// Any other event has a nil Data; Raw always holds the payload as sent.
type Event struct {
	Name string
	Raw  json.RawMessage
	Data any
	// Err is set when the payload of a known event did not decode, and to
	// ErrBinary for an event with binary attachments (not decoded).
	Err error
}

// Recall is the payload of a recall event: the recalled message, by id
// and seq. (The recall's own log entry comes as a message event.)
type Recall struct {
	ConversationID parley.ID `json:"conversation_id"`
	MessageID      parley.ID `json:"message_id"`
	Seq            int64     `json:"seq"`
}

// Typing is the payload of a typing event.
type Typing struct {
	ConversationID parley.ID `json:"conversation_id"`
	UserID         parley.ID `json:"user_id"`
}

// ErrorEvent reports that an event sent without an ack failed.
type ErrorEvent struct {
	Event   string `json:"event"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func decodeEvent(name string, raw json.RawMessage) Event {
	ev := Event{Name: name, Raw: raw}
	var v any
	switch name {
	case parley.EventMessage:
		v = new(parley.Message)
	case parley.EventReceipt:
		v = new(parley.Receipt)
	case parley.EventRecall:
		v = new(Recall)
	case parley.EventConversation:
		v = new(parley.ConversationView)
	case parley.EventTyping:
		v = new(Typing)
	case parley.EventPresence:
		v = new(parley.PresenceStatus)
	case EventFriend:
		v = new(parley.Friend)
	case EventError:
		v = new(ErrorEvent)
	default:
		return ev
	}
	if err := json.Unmarshal(raw, v); err != nil {
		ev.Err = fmt.Errorf("client: decode %s event: %w", name, err)
		return ev
	}
	ev.Data = v
	return ev
}

// ack is the shape of every ack of the contract: {ok: true, ...} or
// {ok: false, error: {code, message}}.
type ack struct {
	OK    bool `json:"ok"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Message      *parley.Message          `json:"message"`
	Conversation *parley.ConversationView `json:"conversation"`
	Created      bool                     `json:"created"`
	CaughtUp     bool                     `json:"caught_up"`
	// Cursors, on a sync that is not caught up, is where to sync from next.
	Cursors map[parley.ID]int64 `json:"cursors"`
}

// decodeAck decodes an ack and turns {ok: false} into *parley.Error.
func decodeAck(event string, raw json.RawMessage) (*ack, error) {
	var a ack
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, fmt.Errorf("client: decode %s ack %q: %w", event, truncate(raw), err)
	}
	if !a.OK {
		if a.Error == nil {
			return nil, &parley.Error{Code: parley.EINTERNAL, Message: "ack without ok or error"}
		}
		return nil, &parley.Error{Code: a.Error.Code, Message: a.Error.Message}
	}
	return &a, nil
}

func (s *Socket) call(ctx context.Context, event string, payload any) (*ack, error) {
	raw, err := s.EmitWithAck(ctx, event, payload)
	if err != nil {
		return nil, err
	}
	return decodeAck(event, raw)
}

// Send sends a message and returns it as stored, with its id and seq, once
// the server has committed it. A retry with the same ClientMsgID returns
// the original. Server refusals are *parley.Error; after ErrDisconnected or
// ErrAckTimeout the send may be retried unchanged.
func (s *Socket) Send(ctx context.Context, req parley.SendRequest) (*parley.Message, error) {
	if req.Type == "" && req.ForwardOf == nil {
		req.Type = parley.TextMessage
	}
	a, err := s.call(ctx, "send", &req)
	if err != nil {
		return nil, err
	}
	if a.Message == nil {
		return nil, errors.New("client: send ack without a message")
	}
	s.advance(a.Message.ConversationID, a.Message.Seq)
	return a.Message, nil
}

// SendAsync sends a message without waiting: cb receives the stored
// message or the error, under EmitAsync's rules (it runs on the reader
// goroutine and must not block).
func (s *Socket) SendAsync(req *parley.SendRequest, timeout time.Duration, cb func(*parley.Message, error)) error {
	if req.Type == "" && req.ForwardOf == nil {
		req.Type = parley.TextMessage
	}
	return s.EmitAsync("send", req, timeout, func(raw json.RawMessage, err error) {
		if err != nil {
			cb(nil, err)
			return
		}
		a, err := decodeAck("send", raw)
		switch {
		case err != nil:
			cb(nil, err)
		case a.Message == nil:
			cb(nil, errors.New("client: send ack without a message"))
		default:
			s.advance(a.Message.ConversationID, a.Message.Seq)
			cb(a.Message, nil)
		}
	})
}

type seqArg struct {
	ConversationID parley.ID `json:"conversation_id"`
	Seq            int64     `json:"seq"`
}

// Delivered tells the server this device has the conversation's log up to
// seq; the other members get a receipt.
func (s *Socket) Delivered(ctx context.Context, conversationID parley.ID, seq int64) error {
	_, err := s.call(ctx, "delivered", seqArg{conversationID, seq})
	return err
}

// Read tells the server the user has read the conversation up to seq.
func (s *Socket) Read(ctx context.Context, conversationID parley.ID, seq int64) error {
	_, err := s.call(ctx, "read", seqArg{conversationID, seq})
	return err
}

// messageArg names a message; an edit adds the body, a reaction the
// emoji.
type messageArg struct {
	ConversationID parley.ID `json:"conversation_id"`
	MessageID      parley.ID `json:"message_id"`
	Body           *string   `json:"body,omitempty"`
	Emoji          *string   `json:"emoji,omitempty"`
}

// Recall withdraws the caller's own message and returns the original with
// its body erased.
func (s *Socket) Recall(ctx context.Context, conversationID, messageID parley.ID) (*parley.Message, error) {
	a, err := s.call(ctx, "recall", messageArg{ConversationID: conversationID, MessageID: messageID})
	if err != nil {
		return nil, err
	}
	return a.Message, nil
}

// Edit replaces the body (or caption) of the caller's own message within
// the edit window and returns the message as edited. The edit's log entry
// arrives as a message event, on this socket too.
func (s *Socket) Edit(ctx context.Context, conversationID, messageID parley.ID, body string) (*parley.Message, error) {
	a, err := s.call(ctx, "edit", messageArg{ConversationID: conversationID, MessageID: messageID, Body: &body})
	if err != nil {
		return nil, err
	}
	return a.Message, nil
}

// React sets the caller's reaction to a message: one emoji, or "" to
// remove it. The reaction's log entry arrives as a message event, on this
// socket too.
func (s *Socket) React(ctx context.Context, conversationID, messageID parley.ID, emoji string) error {
	_, err := s.call(ctx, "react", messageArg{ConversationID: conversationID, MessageID: messageID, Emoji: &emoji})
	return err
}

// Typing tells the other members the user is typing. The contract asks no
// ack; a failure comes back as an error event.
func (s *Socket) Typing(conversationID parley.ID) error {
	return s.Emit("typing", struct {
		ConversationID parley.ID `json:"conversation_id"`
	}{conversationID})
}

// Sync asks the server to replay what the device missed: every message
// after cursors (conversation → last seq held), or after the device's
// stored cursors when cursors is nil, then the current receipts. The
// replayed events reach the Handler (or Events) before Sync returns, which
// it does once the server says the device is caught up. A backlog larger
// than one replay takes several: Sync asks again from where the server
// stopped until it is caught up.
func (s *Socket) Sync(ctx context.Context, cursors map[parley.ID]int64) error {
	s.claim(cursors)
	for {
		// An empty map is sent as it is: it means "from the start", while
		// no cursors mean the device's stored ones.
		var arg any = struct{}{}
		if cursors != nil {
			arg = struct {
				Cursors map[parley.ID]int64 `json:"cursors"`
			}{cursors}
		}
		a, err := s.call(ctx, "sync", arg)
		if err != nil {
			return err
		}
		// The cursors say where the device now stands (a conversation it
		// joined late starts where its history does).
		s.claim(a.Cursors)
		if a.CaughtUp {
			return nil
		}
		if a.Cursors == nil {
			return errors.New("client: sync ack neither caught up nor saying where to continue")
		}
		cursors = a.Cursors
	}
}

// CreateConversation opens the 1:1 conversation with one other member
// (created is false when it existed) or creates a group.
func (s *Socket) CreateConversation(ctx context.Context, req parley.CreateConversationRequest) (*parley.ConversationView, bool, error) {
	a, err := s.call(ctx, "conversation:create", &req)
	if err != nil {
		return nil, false, err
	}
	if a.Conversation == nil {
		return nil, false, errors.New("client: conversation:create ack without a conversation")
	}
	return a.Conversation, a.Created, nil
}
