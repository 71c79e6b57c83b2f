package parley

import (
	"context"
	"time"
)

// Bus carries events between the nodes of a Parley service: the fast path
// of delivery. It may lose events (the store is the truth and devices
// resync), but it keeps order per topic.
type Bus interface {
	// Publish sends payload to every subscriber of topic, on any node.
	// It does not wait for subscribers to handle it. Publish takes the
	// payload: the caller must not modify it afterwards, because the bus
	// may hand the same bytes to subscribers, who may keep them. One
	// payload may be published to several topics.
	Publish(ctx context.Context, topic string, payload []byte) error
	// Subscribe calls fn with each payload published to topic after the
	// subscription is in place, in publish order. fn runs on the bus's
	// delivery goroutine (in-process: under the topic's lock) and must not
	// block or call back into the bus; it may keep the payload but must not
	// modify it. A payload published just before Subscribe returned may
	// still arrive. Several subscriptions to one topic are independent.
	Subscribe(ctx context.Context, topic string, fn func(payload []byte)) (Subscription, error)
	// Close stops delivery and releases the bus's connections.
	Close() error
}

// Subscription is a live Bus subscription.
type Subscription interface {
	// Close ends the subscription; fn is not called after Close returns.
	Close() error
}

// UserTopic returns the bus topic of a user: every event for any of the
// user's devices is published there.
func UserTopic(userID ID) string { return "u:" + userID.String() }

// PresenceStatus is whether a user is online, and when it was last seen.
type PresenceStatus struct {
	UserID   ID         `json:"user_id"`
	Online   bool       `json:"online"`
	LastSeen *time.Time `json:"last_seen"`
}

// Presence counts live connections per user across all nodes.
type Presence interface {
	// Connect records one more live connection of the user and reports
	// whether the user came online with it (it had none on any node). Even
	// when it returns an error the connection counts: call Disconnect for it.
	Connect(ctx context.Context, userID ID) (cameOnline bool, err error)
	// Disconnect records one connection fewer at time t and reports whether
	// the user went offline with it (none left on any node).
	Disconnect(ctx context.Context, userID ID, t time.Time) (wentOffline bool, err error)
	// Status returns the status of each user asked for, in order; an online
	// user has no LastSeen.
	Status(ctx context.Context, userIDs []ID) ([]PresenceStatus, error)
}
