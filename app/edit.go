package app

import (
	"cmp"
	"context"
	"slices"

	"github.com/parleyhq/parley"
)

// errNoMessage answers for a message the caller may not see, as for one
// that does not exist.
var errNoMessage = parley.Errorf(parley.ENOTFOUND, "message not found")

// visibleMessage returns the message of the conversation that member m
// may see; ENOTFOUND for any other.
func (a *App) visibleMessage(ctx context.Context, m *parley.Member, conversationID, messageID parley.ID) (*parley.Message, error) {
	msg, err := a.message(ctx, conversationID, messageID)
	if err != nil {
		return nil, err
	}
	if !m.Visible(msg.Seq) {
		return nil, errNoMessage
	}
	return msg, nil
}

// changeTarget checks that the caller may change (edit, react to) a
// message of the conversation now, the way a send is checked, and returns
// the conversation and the message.
func (a *App) changeTarget(ctx context.Context, c parley.Caller, conversationID, messageID parley.ID) (*convInfo, *parley.Message, error) {
	if conversationID <= 0 || messageID <= 0 {
		return nil, nil, parley.Errorf(parley.EINVALID, "conversation_id and message_id are required")
	}
	ci, m, err := a.activeMemberOf(ctx, c, conversationID)
	if err != nil {
		return nil, nil, err
	}
	if ci.blocked {
		return nil, nil, errUnreachable
	}
	if !a.sends.allow(c.UserID.String()) {
		return nil, nil, parley.Errorf(parley.ETOOMANY, "sending too fast; slow down")
	}
	msg, err := a.visibleMessage(ctx, m, conversationID, messageID)
	if err != nil {
		return nil, nil, err
	}
	if !msg.Type.Sent() {
		return nil, nil, msg.Changeable()
	}
	return ci, msg, nil
}

// Edit implements parley.MessageService.
func (a *App) Edit(ctx context.Context, c parley.Caller, conversationID, messageID parley.ID, body string) (*parley.Message, *parley.Message, error) {
	ci, orig, err := a.changeTarget(ctx, c, conversationID, messageID)
	if err != nil {
		return nil, nil, err
	}
	if orig.SenderID != c.UserID {
		return nil, nil, parley.Errorf(parley.EFORBIDDEN, "only the sender may edit a message")
	}
	if err := orig.Changeable(); err != nil {
		return nil, nil, err
	}
	if err := parley.ValidateEdit(orig.Type, body, a.cfg.MaxBodyBytes); err != nil {
		return nil, nil, err
	}
	now := a.now.Now()
	if now.Sub(orig.CreatedAt) > a.cfg.EditWindow {
		return nil, nil, parley.Errorf(parley.EFORBIDDEN, "messages can be edited only within %s of sending", a.cfg.EditWindow)
	}
	entry := &parley.Message{ConversationID: conversationID, SenderID: c.UserID, SenderDeviceID: c.DeviceID,
		Type: parley.EditEntry, EditOf: orig.ID, Body: body, CreatedAt: now}
	got, created, err := a.store.EditMessage(ctx, entry)
	if err != nil {
		return nil, nil, err
	}
	if err := a.decorate(ctx, []*parley.Message{got}); err != nil {
		return nil, nil, err
	}
	if !created {
		return got, nil, nil
	}
	a.stats.MessagesStored.Add(1)
	// Every device gets the entry as a message, the editing one included:
	// the acknowledgement carries the edited message, not the entry, and
	// a client that never saw the entry's seq would take it for a hole.
	a.fanOut(detach(ctx), ci, parley.Caller{UserID: c.UserID}, entry)
	return got, entry, nil
}

// React implements parley.MessageService. Reactions are not news: no
// push, and they do not count as unread.
func (a *App) React(ctx context.Context, c parley.Caller, conversationID, messageID parley.ID, emoji string) (*parley.Message, error) {
	if err := parley.ValidateEmoji(emoji); err != nil {
		return nil, err
	}
	ci, orig, err := a.changeTarget(ctx, c, conversationID, messageID)
	if err != nil {
		return nil, err
	}
	if err := orig.Changeable(); err != nil {
		return nil, err
	}
	entry := &parley.Message{ConversationID: conversationID, SenderID: c.UserID, SenderDeviceID: c.DeviceID,
		Type: parley.ReactionEntry, ReactionOf: orig.ID, Body: emoji, CreatedAt: a.now.Now()}
	created, err := a.store.ReactMessage(ctx, entry)
	if err != nil || !created {
		return nil, err
	}
	a.stats.MessagesStored.Add(1)
	// As for an edit, the reacting device gets the entry too.
	a.fanOut(detach(ctx), ci, parley.Caller{UserID: c.UserID}, entry)
	return entry, nil
}

// forwardSource returns the message a forward copies: one the caller may
// see (as a member now or during its membership), not recalled.
func (a *App) forwardSource(ctx context.Context, c parley.Caller, ref *parley.MessageRef) (*parley.Message, error) {
	if _, _, err := a.memberOf(ctx, c, ref.ConversationID); err != nil {
		return nil, err
	}
	// The cached membership may lag a leave; visibility is decided on the
	// stored row.
	m, err := a.store.Member(ctx, ref.ConversationID, c.UserID)
	if parley.ErrorCode(err) == parley.ENOTFOUND {
		return nil, errNoMessage
	}
	if err != nil {
		return nil, err
	}
	src, err := a.visibleMessage(ctx, m, ref.ConversationID, ref.MessageID)
	if err != nil {
		return nil, err
	}
	if err := src.Changeable(); err != nil {
		return nil, parley.Errorf(parley.EINVALID, "forward_of: %s", parley.ErrorMessage(err))
	}
	return src, nil
}

// decorate fills in what a message shows beside its row: its media and
// its reactions.
func (a *App) decorate(ctx context.Context, ms []*parley.Message) error {
	if err := a.attachMedia(ctx, ms); err != nil {
		return err
	}
	return a.attachReactions(ctx, ms)
}

// attachReactions sums up the current reactions to the messages: per
// emoji the exact count and the first MaxReactionUsers users, the most
// used emoji first (ties: the one used first).
func (a *App) attachReactions(ctx context.Context, ms []*parley.Message) error {
	var ids []parley.ID
	for _, m := range ms {
		if m != nil && m.Type.Sent() && m.RecalledAt == nil {
			ids = append(ids, m.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rs, err := a.store.Reactions(ctx, ids)
	if err != nil || len(rs) == 0 {
		return err
	}
	byMsg := make(map[parley.ID][]parley.Reaction)
	for _, r := range rs { // in seq order
		list := byMsg[r.MessageID]
		i := slices.IndexFunc(list, func(x parley.Reaction) bool { return x.Emoji == r.Emoji })
		if i < 0 {
			list = append(list, parley.Reaction{Emoji: r.Emoji, UserIDs: []parley.ID{}})
			i = len(list) - 1
		}
		list[i].Count++
		if len(list[i].UserIDs) < parley.MaxReactionUsers {
			list[i].UserIDs = append(list[i].UserIDs, r.UserID)
		}
		byMsg[r.MessageID] = list
	}
	for _, m := range ms {
		if m == nil {
			continue
		}
		if list, ok := byMsg[m.ID]; ok {
			slices.SortStableFunc(list, func(x, y parley.Reaction) int { return cmp.Compare(y.Count, x.Count) })
			m.Reactions = list
		}
	}
	return nil
}

// unreadCounts returns each conversation's unread count as its member
// sees it (see unread).
func (a *App) unreadCounts(ctx context.Context, ucs []*parley.UserConversation) ([]int64, error) {
	out := make([]int64, len(ucs))
	for i, uc := range ucs {
		n, err := a.unread(ctx, uc.Conversation.ID, &uc.Self, uc.Conversation.LastSeq)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// unread returns how many entries from others up to lastSeq the member
// has not read, leaving out edits, reactions and timer changes (they are
// not news) and messages that expired unread.
func (a *App) unread(ctx context.Context, conversationID parley.ID, m *parley.Member, lastSeq int64) (int64, error) {
	if m.Unread(lastSeq) == 0 {
		return 0, nil
	}
	return a.store.UnreadEntries(ctx, conversationID, max(m.ReadSeq, m.Floor()), m.Ceiling(lastSeq), a.now.Now())
}
