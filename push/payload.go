package push

import (
	"crypto/sha256"
	"encoding/json"

	"github.com/parleyhq/parley"
)

// fitPayload encodes n with enc and, when the result is over limit bytes,
// shortens the preview (the one field of unbounded length) to the longest
// prefix that fits. A shortened preview ends with an ellipsis so the reader
// knows there is more. It returns ETOOLARGE if even no preview is too
// large.
func fitPayload(n *parley.PushNotification, limit int, enc func(*parley.PushNotification) ([]byte, error)) ([]byte, error) {
	b, err := enc(n)
	if err != nil || len(b) <= limit {
		return b, err
	}
	m := *n
	try := func(keep int) ([]byte, error) {
		m.Preview = ""
		if keep > 0 {
			m.Preview = truncateUTF8(n.Preview, keep) + "…"
		}
		return enc(&m)
	}
	// JSON escaping makes the encoded size of a prefix hard to predict, so
	// search for the longest prefix that fits; previews are message-sized,
	// so this is a handful of encodings.
	var best []byte
	lo, hi := 0, len(n.Preview)-1
	for lo <= hi {
		mid := (lo + hi) / 2
		b, err := try(mid)
		if err != nil {
			return nil, err
		}
		if len(b) <= limit {
			best, lo = b, mid+1
		} else {
			hi = mid - 1
		}
	}
	if best == nil {
		return nil, parley.Errorf(parley.ETOOLARGE, "push notification is over the channel's %d bytes even without a preview", limit)
	}
	return best, nil
}

func marshalNotification(n *parley.PushNotification) ([]byte, error) { return json.Marshal(n) }

// alertText is what a native notification shows: the sender (and the group
// title, if any) and the preview, or a neutral line when previews are off.
func alertText(n *parley.PushNotification) (title, subtitle, body string) {
	title = n.SenderName
	if n.Title != "" {
		title, subtitle = n.Title, n.SenderName
	}
	body = n.Preview
	if body == "" {
		body = "New message"
	}
	return title, subtitle, body
}

// shortKey returns key unchanged when it is at most max bytes of the
// URL-safe base64 alphabet, and otherwise a stable digest of it in that
// alphabet: the channels limit collapse keys in length (Web Push Topic: 32
// characters, APNs collapse id: 64 bytes), and two different keys must
// stay different.
func shortKey(key string, max int) string {
	if len(key) <= max && isB64URL(key) {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	s := b64.EncodeToString(sum[:])
	return s[:min(len(s), max)]
}

func isB64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
