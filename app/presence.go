package app

import (
	"context"
	"encoding/json"

	"github.com/parleyhq/parley"
)

// Connected implements parley.ConnectionService: when the user comes
// online (its first connection on any node) its friends and direct
// conversation peers are told.
func (a *App) Connected(ctx context.Context, c parley.Caller) error {
	came, err := a.presence.Connect(ctx, c.UserID)
	if err != nil {
		return err
	}
	if came {
		a.announcePresence(detach(ctx), parley.PresenceStatus{UserID: c.UserID, Online: true})
	}
	return nil
}

// Disconnected implements parley.ConnectionService.
func (a *App) Disconnected(ctx context.Context, c parley.Caller) error {
	now := a.now.Now()
	went, err := a.presence.Disconnect(ctx, c.UserID, now)
	if err != nil {
		return err
	}
	if went {
		a.announcePresence(detach(ctx), parley.PresenceStatus{UserID: c.UserID, Online: false, LastSeen: &now})
	}
	return nil
}

// presenceAudience returns who may see the user's presence: accepted
// friends, and the peers of its direct conversations in which both have
// written (opening a chat with someone does not show their status), never
// a user either side blocks.
func (a *App) presenceAudience(ctx context.Context, user parley.ID) ([]parley.ID, error) {
	seen := map[parley.ID]bool{user: true}
	var out []parley.ID
	add := func(id parley.ID) {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	fs, err := a.store.Friends(ctx, user)
	if err != nil {
		return nil, err
	}
	for _, f := range fs {
		if f.State == parley.FriendAccepted {
			add(f.UserID)
		}
	}
	ucs, err := a.store.UserConversations(ctx, user, parley.ConversationFilter{IncludeHidden: true})
	if err != nil {
		return nil, err
	}
	for _, uc := range ucs {
		if uc.Conversation.Type != parley.Direct {
			continue
		}
		ci, err := a.conv(ctx, uc.Conversation.ID)
		if err != nil {
			return nil, err
		}
		if ci.blocked || !ci.mutual {
			continue
		}
		for _, m := range ci.members {
			add(m.UserID)
		}
	}
	return out, nil
}

func (a *App) announcePresence(ctx context.Context, st parley.PresenceStatus) {
	to, err := a.presenceAudience(ctx, st.UserID)
	if err != nil {
		a.logger.Warn("presence audience", "user", st.UserID, "err", err)
		return
	}
	data, _ := json.Marshal(st)
	a.publish(ctx, to, &parley.Event{Name: parley.EventPresence, Data: data})
}

// Presence returns the status of users the caller may see (its friends and
// direct peers); others are reported offline without a last-seen time.
func (a *App) Presence(ctx context.Context, c parley.Caller, ids []parley.ID) ([]parley.PresenceStatus, error) {
	if len(ids) > 200 {
		return nil, parley.Errorf(parley.ETOOMANY, "at most 200 users per request")
	}
	audience, err := a.presenceAudience(ctx, c.UserID)
	if err != nil {
		return nil, err
	}
	allowed := map[parley.ID]bool{c.UserID: true}
	for _, id := range audience {
		allowed[id] = true
	}
	var ask []parley.ID
	for _, id := range ids {
		if allowed[id] {
			ask = append(ask, id)
		}
	}
	got, err := a.presence.Status(ctx, ask)
	if err != nil {
		return nil, err
	}
	byID := map[parley.ID]parley.PresenceStatus{}
	for _, s := range got {
		byID[s.UserID] = s
	}
	out := make([]parley.PresenceStatus, len(ids))
	for i, id := range ids {
		if s, ok := byID[id]; ok && allowed[id] {
			out[i] = s
		} else {
			out[i] = parley.PresenceStatus{UserID: id}
		}
	}
	return out, nil
}
