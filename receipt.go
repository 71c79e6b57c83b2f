package parley

import "context"

// Receipt is a member's delivery watermarks in a conversation:
// DeliveredSeq is the highest seq any of its devices has, ReadSeq the
// highest it has read. Both only grow, and ReadSeq never passes
// DeliveredSeq.
type Receipt struct {
	ConversationID ID    `json:"conversation_id"`
	UserID         ID    `json:"user_id"`
	DeliveredSeq   int64 `json:"delivered_seq"`
	ReadSeq        int64 `json:"read_seq"`
}

// ReceiptStore persists watermarks and per-device cursors.
type ReceiptStore interface {
	// RaiseWatermarks raises the member's delivered and read watermarks to
	// at least the given values (reading implies delivery; a lower value
	// changes nothing) and returns the result and whether it changed.
	// Returns ENOTFOUND if the user was never a member.
	RaiseWatermarks(ctx context.Context, conversationID, userID ID, delivered, read int64) (r Receipt, changed bool, err error)
	// RaiseDeviceCursor raises the device's cursor in the conversation to
	// at least seq.
	RaiseDeviceCursor(ctx context.Context, deviceID, conversationID ID, seq int64) error
	// DeviceCursors returns the device's cursors by conversation.
	DeviceCursors(ctx context.Context, deviceID ID) (map[ID]int64, error)
}
