package app

import (
	"context"
	"encoding/json"

	"github.com/parleyhq/parley"
)

// EventFriend is the realtime event that tells both users of a change in
// their friendship (an extension of the contract): the payload is the
// receiving user's Friend entry, with state "" when it ended.
const EventFriend = "friend"

func (a *App) otherUser(ctx context.Context, c parley.Caller, id parley.ID) (*parley.User, error) {
	if id == c.UserID {
		return nil, parley.Errorf(parley.EINVALID, "that is you")
	}
	if id <= 0 {
		return nil, parley.Errorf(parley.ENOTFOUND, "user not found")
	}
	return a.store.User(ctx, id)
}

// errUnreachable is the one refusal for contact that a block prevents,
// whichever side blocks: the blocked user learns nothing from its text.
var errUnreachable = parley.Errorf(parley.EFORBIDDEN, "you cannot contact this user")

// errSomeUnreachable is errUnreachable for a request naming many users.
var errSomeUnreachable = parley.Errorf(parley.EFORBIDDEN, "you cannot add one or more of these users")

// checkNotBlocked refuses when either user blocks the other.
func (a *App) checkNotBlocked(ctx context.Context, me, other parley.ID) error {
	b, err := a.eitherBlocks(ctx, me, other)
	if err != nil {
		return err
	}
	if b {
		return errUnreachable
	}
	return nil
}

// eitherBlocks reports whether x blocks y or y blocks x.
func (a *App) eitherBlocks(ctx context.Context, x, y parley.ID) (bool, error) {
	for _, pair := range [][2]parley.ID{{y, x}, {x, y}} {
		b, err := a.store.Blocked(ctx, pair[0], pair[1])
		if err != nil || b {
			return b, err
		}
	}
	return false, nil
}

// checkAddable refuses adding users to a group when the adder blocks any
// of them or is blocked by any, with one text that names nobody.
func (a *App) checkAddable(ctx context.Context, adder parley.ID, users []parley.ID) error {
	for _, u := range users {
		b, err := a.eitherBlocks(ctx, adder, u)
		if err != nil {
			return err
		}
		if b {
			return errSomeUnreachable
		}
	}
	return nil
}

// Friends implements parley.FriendService.
func (a *App) Friends(ctx context.Context, c parley.Caller) ([]parley.Friend, error) {
	fs, err := a.store.Friends(ctx, c.UserID)
	if err != nil {
		return nil, err
	}
	ids := make([]parley.ID, len(fs))
	for i, f := range fs {
		ids[i] = f.UserID
	}
	users, err := a.store.Users(ctx, ids)
	if err != nil {
		return nil, err
	}
	byID := map[parley.ID]*parley.User{}
	for _, u := range users {
		byID[u.ID] = u
	}
	for i := range fs {
		fs[i].User = byID[fs[i].UserID]
	}
	if fs == nil {
		fs = []parley.Friend{}
	}
	return fs, nil
}

// RequestFriend implements parley.FriendService.
func (a *App) RequestFriend(ctx context.Context, c parley.Caller, userID parley.ID) (*parley.Friend, error) {
	other, err := a.otherUser(ctx, c, userID)
	if err != nil {
		return nil, err
	}
	if err := a.checkNotBlocked(ctx, c.UserID, userID); err != nil {
		return nil, err
	}
	st, err := a.store.FriendState(ctx, c.UserID, userID)
	if err != nil {
		return nil, err
	}
	switch st {
	case parley.FriendAccepted, parley.FriendOutgoing:
		return a.friendEntry(ctx, c.UserID, other)
	case parley.FriendIncoming:
		return a.setFriendship(ctx, c.UserID, other, parley.FriendAccepted, parley.FriendAccepted)
	}
	return a.setFriendship(ctx, c.UserID, other, parley.FriendOutgoing, parley.FriendIncoming)
}

// AcceptFriend implements parley.FriendService.
func (a *App) AcceptFriend(ctx context.Context, c parley.Caller, userID parley.ID) (*parley.Friend, error) {
	other, err := a.otherUser(ctx, c, userID)
	if err != nil {
		return nil, err
	}
	st, err := a.store.FriendState(ctx, c.UserID, userID)
	if err != nil {
		return nil, err
	}
	switch st {
	case parley.FriendAccepted:
		return a.friendEntry(ctx, c.UserID, other)
	case parley.FriendIncoming:
		return a.setFriendship(ctx, c.UserID, other, parley.FriendAccepted, parley.FriendAccepted)
	}
	return nil, parley.Errorf(parley.ENOTFOUND, "no friend request from this user")
}

// RemoveFriend implements parley.FriendService.
func (a *App) RemoveFriend(ctx context.Context, c parley.Caller, userID parley.ID) error {
	other, err := a.otherUser(ctx, c, userID)
	if err != nil {
		return err
	}
	st, err := a.store.FriendState(ctx, c.UserID, userID)
	if err != nil {
		return err
	}
	if st == "" {
		return parley.Errorf(parley.ENOTFOUND, "no friendship or request with this user")
	}
	_, err = a.setFriendship(ctx, c.UserID, other, "", "")
	return err
}

// Block implements parley.FriendService.
func (a *App) Block(ctx context.Context, c parley.Caller, userID parley.ID) error {
	other, err := a.otherUser(ctx, c, userID)
	if err != nil {
		return err
	}
	if err := a.store.SetBlocked(ctx, c.UserID, userID, true, a.now.Now()); err != nil {
		return err
	}
	if st, err := a.store.FriendState(ctx, c.UserID, userID); err == nil && st != "" {
		if _, err := a.setFriendship(ctx, c.UserID, other, "", ""); err != nil {
			return err
		}
	}
	a.blockChanged(ctx, c.UserID, userID)
	return nil
}

// Unblock implements parley.FriendService.
func (a *App) Unblock(ctx context.Context, c parley.Caller, userID parley.ID) error {
	if _, err := a.otherUser(ctx, c, userID); err != nil {
		return err
	}
	if err := a.store.SetBlocked(ctx, c.UserID, userID, false, a.now.Now()); err != nil {
		return err
	}
	a.blockChanged(ctx, c.UserID, userID)
	return nil
}

// blockChanged drops the cached state of the pair's direct conversation.
func (a *App) blockChanged(ctx context.Context, x, y parley.ID) {
	if conv, err := a.store.DirectConversation(ctx, parley.DirectKey(x, y)); err == nil {
		a.membershipChanged(detach(ctx), conv.ID)
	}
}

// BlockedUsers implements parley.FriendService.
func (a *App) BlockedUsers(ctx context.Context, c parley.Caller) ([]parley.ID, error) {
	ids, err := a.store.BlockedUsers(ctx, c.UserID)
	if ids == nil && err == nil {
		ids = []parley.ID{}
	}
	return ids, err
}

func (a *App) setFriendship(ctx context.Context, me parley.ID, other *parley.User, mine, theirs parley.FriendState) (*parley.Friend, error) {
	now := a.now.Now()
	if err := a.store.SetFriendship(ctx, me, other.ID, mine, theirs, now); err != nil {
		return nil, err
	}
	pctx := detach(ctx)
	if u, err := a.store.User(ctx, me); err == nil {
		a.tellFriend(pctx, other.ID, parley.Friend{UserID: me, State: theirs, Since: now, User: u})
	}
	f := parley.Friend{UserID: other.ID, State: mine, Since: now, User: other}
	a.tellFriend(pctx, me, f)
	return &f, nil
}

func (a *App) tellFriend(ctx context.Context, to parley.ID, f parley.Friend) {
	data, _ := json.Marshal(f)
	a.publish(ctx, []parley.ID{to}, &parley.Event{Name: EventFriend, Data: data})
}

func (a *App) friendEntry(ctx context.Context, me parley.ID, other *parley.User) (*parley.Friend, error) {
	fs, err := a.store.Friends(ctx, me)
	if err != nil {
		return nil, err
	}
	for _, f := range fs {
		if f.UserID == other.ID {
			f.User = other
			return &f, nil
		}
	}
	return nil, parley.Errorf(parley.ENOTFOUND, "no friendship with this user")
}
