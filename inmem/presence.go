package inmem

import (
	"context"
	"sync"
	"time"

	"github.com/parleyhq/parley"
)

var _ parley.Presence = (*Presence)(nil)

// Presence is the in-process parley.Presence: a connection count per
// user connected now. A user's entry goes with its last connection, so its
// memory follows the users online, not every user seen since the node
// started; it keeps no last-seen times (the app records them in the store,
// parley.UserStore.SetLastSeen).
type Presence struct {
	mu    sync.Mutex
	conns map[parley.ID]int
}

// NewPresence returns a Presence with nobody online.
func NewPresence() *Presence {
	return &Presence{conns: make(map[parley.ID]int)}
}

// Connect counts one more connection of the user and reports whether the
// user came online with it. It never fails.
func (p *Presence) Connect(_ context.Context, userID parley.ID) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns[userID]++
	return p.conns[userID] == 1, nil
}

// Disconnect counts one connection fewer and reports whether it was the
// user's last; the user is then forgotten. A disconnect with no connection
// counted changes nothing. It never fails.
func (p *Presence) Disconnect(_ context.Context, userID parley.ID, _ time.Time) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n, ok := p.conns[userID]
	switch {
	case !ok:
		return false, nil
	case n == 1:
		delete(p.conns, userID)
		return true, nil
	default:
		p.conns[userID] = n - 1
		return false, nil
	}
}

// Status returns the users' statuses in the order asked, with no last-seen
// times. It never fails.
func (p *Presence) Status(_ context.Context, userIDs []parley.ID) ([]parley.PresenceStatus, error) {
	out := make([]parley.PresenceStatus, len(userIDs))
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, id := range userIDs {
		out[i] = parley.PresenceStatus{UserID: id, Online: p.conns[id] > 0}
	}
	return out, nil
}
