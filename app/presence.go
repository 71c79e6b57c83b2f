package app

import (
	"context"
	"encoding/json"
	"sync"
	"time"

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

// Disconnected implements parley.ConnectionService. When the user goes
// offline (its last connection on any node) the time is recorded in the
// store, which answers last-seen times (Presence), and its friends and
// direct conversation peers are told.
func (a *App) Disconnected(ctx context.Context, c parley.Caller) error {
	// To the millisecond, as every registry and store keeps it, so the
	// event and later reads tell the same time.
	now := a.now.Now().Truncate(time.Millisecond)
	went, err := a.presence.Disconnect(ctx, c.UserID, now)
	if err != nil {
		return err
	}
	if went {
		ctx = detach(ctx)
		a.announcePresence(ctx, parley.PresenceStatus{UserID: c.UserID, Online: false, LastSeen: &now})
		if err := a.store.SetLastSeen(ctx, c.UserID, now); err != nil {
			a.logger.Warn("record last seen", "user", c.UserID, "err", err)
		}
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
		if ci.blocked || len(ci.members) != 2 {
			continue
		}
		mutual, err := a.bothWrote(ctx, ci.conv.ID, ci.members[0].UserID, ci.members[1].UserID)
		if err != nil {
			return nil, err
		}
		if !mutual {
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
	// A registry that keeps no last-seen times (the in-process one), or
	// lost one, leaves the offline users' to the store.
	var offline []parley.ID
	for _, s := range got {
		if !s.Online && s.LastSeen == nil {
			offline = append(offline, s.UserID)
		}
	}
	stored, err := a.store.LastSeen(ctx, offline)
	if err != nil {
		return nil, err
	}
	byID := map[parley.ID]parley.PresenceStatus{}
	for _, s := range got {
		if t, ok := stored[s.UserID]; ok { // asked only for those without one
			s.LastSeen = &t
		}
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

// mutualWindow is how many of a direct conversation's newest entries are
// looked at to tell whether both members wrote in it.
const mutualWindow = 50

// maxMutuals bounds the direct conversations remembered as mutual; past
// it, the others are looked up each time.
const maxMutuals = 1 << 20

// mutuals remembers the direct conversations in which both members have
// written: that never stops being true, so one look at the log suffices.
type mutuals struct {
	mu sync.Mutex
	m  map[parley.ID]struct{}
}

func (s *mutuals) has(id parley.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[id]
	return ok
}

func (s *mutuals) add(id parley.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[parley.ID]struct{})
	}
	if len(s.m) < maxMutuals {
		s.m[id] = struct{}{}
	}
}

// bothWrote reports whether x and y both wrote in the direct conversation
// (among its newest mutualWindow entries, the first time it is asked).
func (a *App) bothWrote(ctx context.Context, id, x, y parley.ID) (bool, error) {
	if a.mutual.has(id) {
		return true, nil
	}
	ms, err := a.store.Messages(ctx, id, parley.MessageFilter{Limit: mutualWindow})
	if err != nil {
		return false, err
	}
	var fromX, fromY bool
	for _, m := range ms {
		fromX = fromX || m.SenderID == x
		fromY = fromY || m.SenderID == y
	}
	if fromX && fromY {
		a.mutual.add(id)
	}
	return fromX && fromY, nil
}
