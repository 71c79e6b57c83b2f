package inmem

import (
	"context"
	"sync"
	"time"

	"github.com/parleyhq/parley"
)

var _ parley.Presence = (*Presence)(nil)

// Presence is the in-process parley.Presence: a connection count and a
// last-seen time per user, kept in memory (they are lost on restart, when
// every connection is gone anyway; last-seen times then start over).
type Presence struct {
	mu    sync.Mutex
	users map[parley.ID]userPresence
}

type userPresence struct {
	conns    int
	lastSeen int64 // Unix milliseconds of going offline; 0 for never
}

// NewPresence returns a Presence with nobody online.
func NewPresence() *Presence {
	return &Presence{users: make(map[parley.ID]userPresence)}
}

// Connect counts one more connection of the user and reports whether the
// user came online with it. It never fails.
func (p *Presence) Connect(_ context.Context, userID parley.ID) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	u := p.users[userID]
	u.conns++
	p.users[userID] = u
	return u.conns == 1, nil
}

// Disconnect counts one connection fewer and, when it was the last, records
// t (to the millisecond) as the user's last-seen time. A disconnect with no
// connection counted changes nothing. It never fails.
func (p *Presence) Disconnect(_ context.Context, userID parley.ID, t time.Time) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	u, ok := p.users[userID]
	if !ok || u.conns == 0 {
		return false, nil
	}
	u.conns--
	if u.conns == 0 {
		u.lastSeen = t.UnixMilli()
	}
	p.users[userID] = u
	return u.conns == 0, nil
}

// Status returns the users' statuses in the order asked. An online user has
// no LastSeen; a user never seen is offline with no LastSeen. It never
// fails.
func (p *Presence) Status(_ context.Context, userIDs []parley.ID) ([]parley.PresenceStatus, error) {
	out := make([]parley.PresenceStatus, len(userIDs))
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, id := range userIDs {
		u := p.users[id]
		out[i] = parley.PresenceStatus{UserID: id, Online: u.conns > 0}
		if u.conns == 0 && u.lastSeen != 0 {
			ls := time.UnixMilli(u.lastSeen).UTC()
			out[i].LastSeen = &ls
		}
	}
	return out, nil
}
