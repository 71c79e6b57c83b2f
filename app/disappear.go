package app

import (
	"context"

	"github.com/parleyhq/parley"
)

// UpdateConversation implements parley.ConversationService. Every change
// is validated and authorised before any is made, so a request is applied
// whole or not at all.
func (a *App) UpdateConversation(ctx context.Context, c parley.Caller, id parley.ID, upd parley.ConversationUpdate) (*parley.ConversationView, error) {
	if upd.Title == nil && upd.DisappearAfter == nil {
		return nil, parley.Errorf(parley.EINVALID, "nothing to change: give title or disappear_after")
	}
	ci, m, err := a.activeMemberOf(ctx, c, id)
	if err != nil {
		return nil, err
	}
	var title string
	if upd.Title != nil {
		if title, err = checkRename(ci, m, *upd.Title); err != nil {
			return nil, err
		}
	}
	if upd.DisappearAfter != nil {
		if err := checkTimer(ci, m, *upd.DisappearAfter); err != nil {
			return nil, err
		}
	}
	changed := false
	if upd.Title != nil {
		if _, err := a.store.SetTitle(ctx, id, title, a.now.Now()); err != nil {
			return nil, err
		}
		changed = true
	}
	if upd.DisappearAfter != nil {
		set, err := a.setTimer(ctx, c, ci, *upd.DisappearAfter)
		if err != nil {
			return nil, err
		}
		changed = changed || set
	}
	if changed {
		a.announce(ctx, id, nil)
	}
	return a.Conversation(ctx, c, id)
}

// checkRename returns the group's new title if the member may give it.
func checkRename(ci *convInfo, m *parley.Member, title string) (string, error) {
	if ci.conv.Type != parley.Group {
		return "", parley.Errorf(parley.EINVALID, "a direct conversation has no title")
	}
	if !canManage(m.Role) {
		return "", parley.Errorf(parley.EFORBIDDEN, "only the owner or an admin may rename the group")
	}
	title, err := validateTitle(title)
	if err != nil {
		return "", err
	}
	if title == "" {
		return "", parley.Errorf(parley.EINVALID, "a group needs a title")
	}
	return title, nil
}

// checkTimer checks that the member may set the disappearing-messages
// timer to seconds: either member of a direct conversation (unless one
// blocked the other: the change is a log entry the other would see), the
// owner or an admin of a group.
func checkTimer(ci *convInfo, m *parley.Member, seconds int64) error {
	if err := parley.ValidateDisappearAfter(seconds); err != nil {
		return err
	}
	if ci.conv.Type == parley.Direct {
		if ci.blocked {
			return errUnreachable
		}
		return nil
	}
	if !canManage(m.Role) {
		return parley.Errorf(parley.EFORBIDDEN, "only the owner or an admin may change the disappearing-messages timer")
	}
	return nil
}

// setTimer appends the setting entry that changes the conversation's
// timer and fans it out like any log entry, to every device of every
// member (the caller's own included: the change came over HTTP, with no
// acknowledgement on a socket). Setting the timer it already has appends
// nothing; set reports whether it changed.
func (a *App) setTimer(ctx context.Context, c parley.Caller, ci *convInfo, seconds int64) (set bool, err error) {
	conv, err := a.store.Conversation(ctx, ci.conv.ID)
	if err != nil {
		return false, err
	}
	if conv.DisappearAfter == seconds {
		return false, nil
	}
	entry := &parley.Message{ConversationID: ci.conv.ID, SenderID: c.UserID, SenderDeviceID: c.DeviceID,
		Type: parley.SettingEntry, DisappearAfter: &seconds, CreatedAt: a.now.Now()}
	if err := a.store.SetDisappearAfter(ctx, entry); err != nil {
		return false, err
	}
	a.stats.MessagesStored.Add(1)
	a.fanOut(detach(ctx), ci, parley.Caller{UserID: c.UserID}, entry)
	return true, nil
}
