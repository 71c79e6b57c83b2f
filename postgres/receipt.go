package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/parleyhq/parley"
)

// RaiseWatermarks implements parley.ReceiptStore. Raises join the writer's
// groups: delivery and read acks are as frequent as messages, and grouping
// them saves a commit each.
func (db *DB) RaiseWatermarks(ctx context.Context, conversationID, userID parley.ID, delivered, read int64) (parley.Receipt, bool, error) {
	o := newOp(opWatermarks)
	o.conv, o.user, o.delivered, o.read = conversationID, userID, delivered, read
	if err := db.w.submit(ctx, o, nil); err != nil {
		return parley.Receipt{ConversationID: conversationID, UserID: userID}, false, err
	}
	return o.receipt, o.changed, nil
}

// RaiseDeviceCursor implements parley.ReceiptStore. Like watermarks, it
// joins the writer's groups.
func (db *DB) RaiseDeviceCursor(ctx context.Context, deviceID, conversationID parley.ID, seq int64) error {
	o := newOp(opCursor)
	o.device, o.conv, o.seq = deviceID, conversationID, seq
	return db.w.submit(ctx, o, nil)
}

// DeviceCursors implements parley.ReceiptStore.
func (db *DB) DeviceCursors(ctx context.Context, deviceID parley.ID) (map[parley.ID]int64, error) {
	rows, err := db.pool.Query(ctx, `SELECT conversation_id, seq FROM device_cursors WHERE device_id = $1`, int64(deviceID))
	if err != nil {
		return nil, db.err("read device cursors", err)
	}
	out := make(map[parley.ID]int64)
	var c, s int64
	if _, err := pgx.ForEachRow(rows, []any{&c, &s}, func() error { out[parley.ID(c)] = s; return nil }); err != nil {
		return nil, db.err("read device cursors", err)
	}
	return out, nil
}
