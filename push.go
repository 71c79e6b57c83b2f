package parley

import (
	"context"
	"encoding/base64"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// PushKind names a push channel.
type PushKind string

const (
	PushWeb     PushKind = "webpush" // Web Push (RFC 8030/8291/8292)
	PushAPNs    PushKind = "apns"    // Apple Push Notification service
	PushFCM     PushKind = "fcm"     // Firebase Cloud Messaging HTTP v1
	PushWebhook PushKind = "webhook" // a signed POST to a custom gateway
)

// Limits on push registrations.
const (
	MaxPushEndpointLen = 2048
	// MaxPushRegistrationsPerDevice bounds a device's registrations: a
	// device has one address per channel it uses, and a few spare for
	// browsers that resubscribe before unsubscribing.
	MaxPushRegistrationsPerDevice = 8
	// MaxPushPreviewRunes bounds PushNotification.Preview.
	MaxPushPreviewRunes = 100
)

// PushRegistration is a device's address on one push channel. An address
// (kind and endpoint) belongs to one device: registering it again, from
// that device or another, replaces the registration rather than adding one.
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

// Validate checks the registration's own fields: a known kind, an
// endpoint of printable text within MaxPushEndpointLen, and base64url keys
// on (and only on) a Web Push subscription. It returns EINVALID. Whether
// a channel accepts the address is for the channel to say.
func (r *PushRegistration) Validate() error {
	switch r.Kind {
	case PushWeb, PushAPNs, PushFCM, PushWebhook:
	default:
		return Errorf(EINVALID, "kind must be webpush, apns, fcm or webhook")
	}
	if r.Endpoint == "" {
		return Errorf(EINVALID, "a push registration needs an endpoint or token")
	}
	if len(r.Endpoint) > MaxPushEndpointLen || !utf8.ValidString(r.Endpoint) ||
		strings.IndexFunc(r.Endpoint, func(c rune) bool { return unicode.IsControl(c) || unicode.IsSpace(c) }) >= 0 {
		return Errorf(EINVALID, "endpoint or token must be at most %d bytes of printable text", MaxPushEndpointLen)
	}
	if r.Kind != PushWeb {
		if r.P256dh != "" || r.Auth != "" {
			return Errorf(EINVALID, "only web push subscriptions carry keys")
		}
		return nil
	}
	for _, k := range []string{r.P256dh, r.Auth} {
		if k == "" || len(k) > 256 {
			return Errorf(EINVALID, "a web push subscription needs its p256dh and auth keys")
		}
		if _, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(k, "=")); err != nil {
			return Errorf(EINVALID, "web push keys must be base64url")
		}
	}
	return nil
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

// PushCollapseKey returns the collapse key of a conversation's
// notifications: one per conversation, so a device shows the newest only.
func PushCollapseKey(conversationID ID) string { return "conv-" + conversationID.String() }

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

// PushQueue hands notifications to the push channels in the background,
// so the message path never waits for a push service.
type PushQueue interface {
	// Check returns EINVALID when no channel serves reg.Kind, or the
	// channel cannot push to reg (a Web Push endpoint on a host that is
	// not a push service, say).
	Check(reg *PushRegistration) error
	// Enqueue queues a push of n to reg and returns at once; false when
	// the push was dropped (queue full, shutting down). Neither reg nor n
	// may be changed afterwards.
	Enqueue(reg *PushRegistration, n *PushNotification) bool
}

// PushStore persists push registrations.
type PushStore interface {
	// SavePushRegistration stores reg for reg.DeviceID and sets reg.ID and
	// reg.CreatedAt. A registration with the same kind and endpoint on any
	// device of the same user is replaced: it keeps its id and takes reg's
	// device, keys and time, and created is false. ECONFLICT when another
	// user holds that address: an address never moves between users.
	// ENOTFOUND when the device is not the user's live device.
	SavePushRegistration(ctx context.Context, reg *PushRegistration) (created bool, err error)
	// PushRegistrations returns the registrations of the user's devices,
	// ordered by id.
	PushRegistrations(ctx context.Context, userID ID) ([]*PushRegistration, error)
	// DeletePushRegistration removes a registration; ENOTFOUND if there
	// is none with the id.
	DeletePushRegistration(ctx context.Context, id ID) error
	// DeleteDevicePushRegistrations removes every registration of the
	// device.
	DeleteDevicePushRegistrations(ctx context.Context, deviceID ID) error
}

// PushService manages the caller's device's push registrations.
type PushService interface {
	// RegisterPush stores reg as the caller's device's address on a
	// channel (reg's user and device are the caller's), replacing a
	// registration of the same address on one of the caller's devices
	// (created=false). EINVALID when the registration is malformed or no
	// channel of its kind is configured; ETOOMANY over
	// MaxPushRegistrationsPerDevice; ECONFLICT when another user
	// registered the address.
	RegisterPush(ctx context.Context, c Caller, reg PushRegistration) (saved *PushRegistration, created bool, err error)
	// UnregisterPush removes the caller's registration of the address;
	// ENOTFOUND when the caller has none.
	UnregisterPush(ctx context.Context, c Caller, kind PushKind, endpoint string) error
	// PushRegistrations returns the caller's device's registrations.
	PushRegistrations(ctx context.Context, c Caller) ([]*PushRegistration, error)
}
