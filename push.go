package parley

import (
	"context"
	"time"
)

// PushKind names a push channel.
type PushKind string

const (
	PushWeb     PushKind = "webpush" // Web Push (RFC 8030/8291/8292)
	PushAPNs    PushKind = "apns"    // Apple Push Notification service
	PushFCM     PushKind = "fcm"     // Firebase Cloud Messaging HTTP v1
	PushWebhook PushKind = "webhook" // a signed POST to a custom gateway
)

// PushRegistration is a device's address on one push channel. A device
// re-registering the same endpoint or token replaces its registration.
type PushRegistration struct {
	ID       ID       `json:"id"`
	UserID   ID       `json:"user_id"`
	DeviceID ID       `json:"device_id"`
	Kind     PushKind `json:"kind"`
	// Endpoint is the Web Push endpoint URL, the APNs device token, the FCM
	// registration token, or the opaque token a webhook gateway knows.
	Endpoint string `json:"endpoint"`
	// P256dh and Auth are the Web Push subscription keys (base64url).
	P256dh    string    `json:"p256dh,omitempty"`
	Auth      string    `json:"auth,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// PushNotification is what a push says: enough to show a notice and make
// the device sync. It is never the only copy of a message.
type PushNotification struct {
	ConversationID ID     `json:"conversation_id"`
	Seq            int64  `json:"seq"`
	SenderID       ID     `json:"sender_id"`
	SenderName     string `json:"sender_name"`
	// Title is the group title, empty for a direct conversation.
	Title string `json:"title,omitempty"`
	// Preview is a short excerpt of the message; empty when the recipient
	// turned previews off or the message has no text.
	Preview string `json:"preview,omitempty"`
	// CollapseKey makes the channel keep only the newest notification of a
	// conversation (Web Push Topic, apns-collapse-id, FCM collapse_key).
	CollapseKey string `json:"collapse_key"`
	// Unread is the recipient's unread count in the conversation.
	Unread int64 `json:"unread,omitempty"`
}

// ErrPushGone is returned (possibly wrapped) by a Pusher when the channel
// says the registration no longer exists; the registration is then removed.
var ErrPushGone = &Error{Code: ENOTFOUND, Message: "push registration is gone"}

// Pusher delivers notifications on one channel.
type Pusher interface {
	// Kind is the channel this pusher serves.
	Kind() PushKind
	// Push sends n to reg. It returns an error wrapping ErrPushGone when the
	// channel reports the registration dead, and any other error for a
	// failure worth retrying.
	Push(ctx context.Context, reg *PushRegistration, n *PushNotification) error
}
