package sqlite

import (
	"context"
	"fmt"

	"github.com/parleyhq/parley"
)

// RaiseWatermarks implements parley.ReceiptStore.
func (db *DB) RaiseWatermarks(ctx context.Context, conversationID, userID parley.ID, delivered, read int64) (parley.Receipt, bool, error) {
	r := parley.Receipt{ConversationID: conversationID, UserID: userID}
	var changed bool
	err := db.w.do(ctx, func(b *batch) error {
		var d, rd int64
		err := b.queryRow(`SELECT delivered_seq, read_seq FROM members WHERE conversation_id = ? AND user_id = ?`,
			int64(conversationID), int64(userID)).Scan(&d, &rd)
		if err != nil {
			return notFound(err, "not a member")
		}
		// Fold in raises this batch has deferred (the member's own sends).
		k := memberKey{conversationID, userID}
		p := b.raised[k]
		delete(b.raised, k)
		nd := max(d, delivered, read, p.delivered, p.read)
		nr := max(rd, read, p.read)
		r.DeliveredSeq, r.ReadSeq = nd, nr
		changed = nd != d || nr != rd
		if !changed {
			return nil
		}
		if _, err := b.exec(`UPDATE members SET delivered_seq = ?, read_seq = ? WHERE conversation_id = ? AND user_id = ?`,
			nd, nr, int64(conversationID), int64(userID)); err != nil {
			return fmt.Errorf("raise watermarks: %w", err)
		}
		return nil
	})
	return r, changed, err
}

// RaiseDeviceCursor implements parley.ReceiptStore.
func (db *DB) RaiseDeviceCursor(ctx context.Context, deviceID, conversationID parley.ID, seq int64) error {
	return db.w.do(ctx, func(b *batch) error {
		_, err := b.exec(`INSERT INTO device_cursors (device_id, conversation_id, seq) VALUES (?, ?, ?)
			ON CONFLICT (device_id, conversation_id) DO UPDATE SET seq = max(seq, excluded.seq)`,
			int64(deviceID), int64(conversationID), seq)
		if err != nil {
			return fmt.Errorf("raise device cursor: %w", err)
		}
		return nil
	})
}

// DeviceCursors implements parley.ReceiptStore.
func (db *DB) DeviceCursors(ctx context.Context, deviceID parley.ID) (map[parley.ID]int64, error) {
	rows, err := db.queryRead(ctx, `SELECT conversation_id, seq FROM device_cursors WHERE device_id = ?`, int64(deviceID))
	if err != nil {
		return nil, dbError("read device cursors", err)
	}
	defer rows.Close()
	out := make(map[parley.ID]int64)
	for rows.Next() {
		var c, s int64
		if err := rows.Scan(&c, &s); err != nil {
			return nil, err
		}
		out[parley.ID(c)] = s
	}
	return out, rows.Err()
}
