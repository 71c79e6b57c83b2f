package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/parleyhq/parley"
)

// Conversations returns a page (from 1) of the caller's conversation list,
// pinned first, then newest activity first, without the archived ones;
// zero values mean the server's defaults.
func (c *Client) Conversations(ctx context.Context, pageNumber, pageSize int) ([]*parley.ConversationView, error) {
	return c.ConversationList(ctx, parley.ConversationListQuery{PageNumber: pageNumber, PageSize: pageSize})
}

// ConversationList is Conversations with every option of the list: with
// q.Archived it includes the archived conversations (flagged archived).
func (c *Client) ConversationList(ctx context.Context, lq parley.ConversationListQuery) ([]*parley.ConversationView, error) {
	q := url.Values{}
	if lq.PageNumber > 0 {
		q.Set("page_number", strconv.Itoa(lq.PageNumber))
	}
	if lq.PageSize > 0 {
		q.Set("page_size", strconv.Itoa(lq.PageSize))
	}
	if lq.Archived {
		q.Set("archived", "true")
	}
	var out struct {
		Conversations []*parley.ConversationView `json:"conversations"`
	}
	path := "/v1/conversation"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	if _, err := c.do(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	return out.Conversations, nil
}

// Conversation returns one conversation as the caller sees it; ENOTFOUND
// if the caller is not a member.
func (c *Client) Conversation(ctx context.Context, id parley.ID) (*parley.ConversationView, error) {
	var v parley.ConversationView
	if _, err := c.do(ctx, http.MethodGet, idPath("/v1/conversation/%s", id), nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// CreateConversation opens the 1:1 conversation with one other member
// (created is false when it existed already) or creates a group.
func (c *Client) CreateConversation(ctx context.Context, req parley.CreateConversationRequest) (v *parley.ConversationView, created bool, err error) {
	v = new(parley.ConversationView)
	status, err := c.do(ctx, http.MethodPost, "/v1/conversation", req, v)
	if err != nil {
		return nil, false, err
	}
	return v, status == http.StatusCreated, nil
}

// RenameConversation changes a group's title (owner or admin).
func (c *Client) RenameConversation(ctx context.Context, id parley.ID, title string) (*parley.ConversationView, error) {
	var v parley.ConversationView
	body := map[string]string{"title": title}
	if _, err := c.do(ctx, http.MethodPatch, idPath("/v1/conversation/%s", id), body, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// UpdateConversation changes a conversation's settings, all of upd or, on
// an error, none of it: a group's title (owner or admin), the
// disappearing-messages timer (either member of a direct conversation,
// owner or admin of a group).
func (c *Client) UpdateConversation(ctx context.Context, id parley.ID, upd parley.ConversationUpdate) (*parley.ConversationView, error) {
	var v parley.ConversationView
	if _, err := c.do(ctx, http.MethodPatch, idPath("/v1/conversation/%s", id), upd, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// SetDisappearAfter sets the conversation's disappearing-messages timer in
// seconds (0: off; otherwise parley.MinDisappearAfter to
// parley.MaxDisappearAfter). A change appends a setting entry to the log;
// messages sent after it carry ExpiresAt, and a client hides each at that
// moment.
func (c *Client) SetDisappearAfter(ctx context.Context, id parley.ID, seconds int64) (*parley.ConversationView, error) {
	return c.UpdateConversation(ctx, id, parley.ConversationUpdate{DisappearAfter: &seconds})
}

// RemoveConversation removes the conversation and its history up to now
// from the caller's list; the other members keep theirs.
func (c *Client) RemoveConversation(ctx context.Context, id parley.ID) error {
	_, err := c.do(ctx, http.MethodDelete, "/v1/conversation?id="+id.String(), nil, nil)
	return err
}

// History returns a window of the conversation's log in ascending seq
// order: with q.Ascending (or a positive q.AfterSeq) the oldest q.Limit
// entries after q.AfterSeq, otherwise the newest q.Limit, below q.BeforeSeq
// when set. A zero q.Limit means the server's default (50).
func (c *Client) History(ctx context.Context, id parley.ID, q parley.HistoryQuery) ([]*parley.Message, error) {
	v := url.Values{}
	if q.BeforeSeq > 0 {
		v.Set("before_seq", strconv.FormatInt(q.BeforeSeq, 10))
	}
	if q.Ascending || q.AfterSeq > 0 {
		v.Set("after_seq", strconv.FormatInt(q.AfterSeq, 10))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	path := idPath("/v1/conversation/%s/details", id)
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var out struct {
		Messages []*parley.Message `json:"messages"`
	}
	if _, err := c.do(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	return out.Messages, nil
}

// Send appends a message over HTTP (the same pipeline as the realtime
// send). created is false when the server answered a retry with the
// original; a reused client_msg_id with other content is ECONFLICT.
func (c *Client) Send(ctx context.Context, req parley.SendRequest) (m *parley.Message, created bool, err error) {
	m = new(parley.Message)
	path := idPath("/v1/conversation/%s/messages", req.ConversationID)
	status, err := c.do(ctx, http.MethodPost, path, req, m)
	if err != nil {
		return nil, false, err
	}
	return m, status == http.StatusCreated, nil
}

// Recall withdraws the caller's own message within the recall window and
// returns the original with its body erased.
func (c *Client) Recall(ctx context.Context, conversationID, messageID parley.ID) (*parley.Message, error) {
	var m parley.Message
	path := idPath("/v1/conversation/%s/messages/%s", conversationID, messageID)
	if _, err := c.do(ctx, http.MethodDelete, path, nil, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Edit replaces the body (or caption) of the caller's own message within
// the edit window and returns the message as edited.
func (c *Client) Edit(ctx context.Context, conversationID, messageID parley.ID, body string) (*parley.Message, error) {
	var m parley.Message
	path := idPath("/v1/conversation/%s/messages/%s", conversationID, messageID)
	if _, err := c.do(ctx, http.MethodPatch, path, map[string]string{"body": body}, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// React sets the caller's reaction to a message: one emoji, or "" to
// remove it.
func (c *Client) React(ctx context.Context, conversationID, messageID parley.ID, emoji string) error {
	path := idPath("/v1/conversation/%s/messages/%s", conversationID, messageID) + "/reaction"
	_, err := c.do(ctx, http.MethodPut, path, map[string]string{"emoji": emoji}, nil)
	return err
}

// MarkDelivered records that this device has the log up to seq.
func (c *Client) MarkDelivered(ctx context.Context, conversationID parley.ID, seq int64) error {
	_, err := c.do(ctx, http.MethodPost, idPath("/v1/conversation/%s/delivered", conversationID), map[string]int64{"seq": seq}, nil)
	return err
}

// MarkRead records that the caller has read the log up to seq.
func (c *Client) MarkRead(ctx context.Context, conversationID parley.ID, seq int64) error {
	_, err := c.do(ctx, http.MethodPost, idPath("/v1/conversation/%s/read", conversationID), map[string]int64{"seq": seq}, nil)
	return err
}

// Receipts returns the watermarks of the conversation's active members.
func (c *Client) Receipts(ctx context.Context, conversationID parley.ID) ([]parley.Receipt, error) {
	var out struct {
		Receipts []parley.Receipt `json:"receipts"`
	}
	if _, err := c.do(ctx, http.MethodGet, idPath("/v1/conversation/%s/receipts", conversationID), nil, &out); err != nil {
		return nil, err
	}
	return out.Receipts, nil
}

// SetMuted mutes or unmutes the conversation's push notifications.
func (c *Client) SetMuted(ctx context.Context, conversationID parley.ID, muted bool) error {
	_, err := c.do(ctx, http.MethodPut, idPath("/v1/conversation/%s/mute", conversationID), map[string]bool{"muted": muted}, nil)
	return err
}

// SetPinned pins the conversation to the top of the caller's list, or
// unpins it; ETOOMANY when parley.MaxPinned others are pinned already.
// The caller's devices get a `conversation` event.
func (c *Client) SetPinned(ctx context.Context, conversationID parley.ID, pinned bool) error {
	_, err := c.do(ctx, http.MethodPut, idPath("/v1/conversation/%s/pin", conversationID), map[string]bool{"pinned": pinned}, nil)
	return err
}

// SetArchived archives the conversation in the caller's list (hidden from
// Conversations until a new message arrives, unless muted), or
// unarchives it. The caller's devices get a `conversation` event.
func (c *Client) SetArchived(ctx context.Context, conversationID parley.ID, archived bool) error {
	_, err := c.do(ctx, http.MethodPut, idPath("/v1/conversation/%s/archive", conversationID), map[string]bool{"archived": archived}, nil)
	return err
}

// AddMembers adds users to a group (owner or admin).
func (c *Client) AddMembers(ctx context.Context, conversationID parley.ID, userIDs ...parley.ID) (*parley.ConversationView, error) {
	var v parley.ConversationView
	body := map[string][]parley.ID{"user_ids": userIDs}
	if _, err := c.do(ctx, http.MethodPost, idPath("/v1/conversation/%s/members", conversationID), body, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// RemoveMember removes a member from a group; with the caller's own id it
// leaves the group.
func (c *Client) RemoveMember(ctx context.Context, conversationID, userID parley.ID) error {
	_, err := c.do(ctx, http.MethodDelete, idPath("/v1/conversation/%s/members/%s", conversationID, userID), nil, nil)
	return err
}

// SetRole makes a member an admin or a plain member, or hands ownership
// over (owner only).
func (c *Client) SetRole(ctx context.Context, conversationID, userID parley.ID, role parley.Role) error {
	_, err := c.do(ctx, http.MethodPatch, idPath("/v1/conversation/%s/members/%s", conversationID, userID), map[string]parley.Role{"role": role}, nil)
	return err
}

// Friends lists the caller's friends and pending requests both ways.
func (c *Client) Friends(ctx context.Context) ([]parley.Friend, error) {
	var out struct {
		Friends []parley.Friend `json:"friends"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/v1/friends", nil, &out); err != nil {
		return nil, err
	}
	return out.Friends, nil
}

// RequestFriend asks another user; the answer is "friends" at once when
// that user had asked the caller.
func (c *Client) RequestFriend(ctx context.Context, userID parley.ID) (*parley.Friend, error) {
	var f parley.Friend
	if _, err := c.do(ctx, http.MethodPost, "/v1/friends", map[string]parley.ID{"user_id": userID}, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// AcceptFriend accepts an incoming request; ENOTFOUND when there is none.
func (c *Client) AcceptFriend(ctx context.Context, userID parley.ID) (*parley.Friend, error) {
	var f parley.Friend
	if _, err := c.do(ctx, http.MethodPost, idPath("/v1/friends/%s/accept", userID), nil, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// RemoveFriend declines, withdraws or ends a friendship; ENOTFOUND when
// there is nothing.
func (c *Client) RemoveFriend(ctx context.Context, userID parley.ID) error {
	_, err := c.do(ctx, http.MethodDelete, idPath("/v1/friends/%s", userID), nil, nil)
	return err
}

// Block blocks a user both ways for messaging, ending any friendship.
func (c *Client) Block(ctx context.Context, userID parley.ID) error {
	_, err := c.do(ctx, http.MethodPost, idPath("/v1/friends/%s/block", userID), nil, nil)
	return err
}

// Unblock lifts a block.
func (c *Client) Unblock(ctx context.Context, userID parley.ID) error {
	_, err := c.do(ctx, http.MethodDelete, idPath("/v1/friends/%s/block", userID), nil, nil)
	return err
}

// Blocks lists the users the caller blocks.
func (c *Client) Blocks(ctx context.Context) ([]parley.ID, error) {
	var out struct {
		UserIDs []parley.ID `json:"user_ids"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/v1/blocks", nil, &out); err != nil {
		return nil, err
	}
	return out.UserIDs, nil
}
