package postgres

import (
	"testing"
	"time"

	"github.com/parleyhq/parley"
)

// TestGroupApply checks the answers a group decides between its round
// trips, from what round trip 1 read.
func TestGroupApply(t *testing.T) {
	at := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	send := func(conv, user, device parley.ID, cmid, hash string) *op {
		o := newOp(opAppend)
		o.msg = parley.Message{ConversationID: conv, SenderID: user, SenderDeviceID: device, ClientMsgID: cmid, Type: parley.TextMessage, Body: "b", CreatedAt: at}
		o.hash = []byte(hash)
		return o
	}
	raise := func(conv, user parley.ID, delivered, read int64) *op {
		o := newOp(opWatermarks)
		o.conv, o.user, o.delivered, o.read = conv, user, delivered, read
		return o
	}
	cursor := func(device, conv parley.ID, seq int64) *op {
		o := newOp(opCursor)
		o.device, o.conv, o.seq = device, conv, seq
		return o
	}
	ops := []*op{
		send(1, 10, 100, "a", "h-a"),     // 0: new, seq 6
		send(1, 10, 100, "a", "h-a"),     // 1: retry of 0 in the same group
		send(1, 10, 100, "b", "h-b"),     // 2: new, seq 7
		send(1, 10, 100, "old", "h-old"), // 3: retry of a stored send
		send(1, 10, 100, "old", "other"), // 4: same id, other content
		send(2, 10, 100, "old", "h-old"), // 5: same id, other conversation
		send(9, 10, 100, "c", "h-c"),     // 6: no such conversation
		raise(1, 10, 5, 4),               // 7: below the member's own sends
		raise(1, 20, 3, 0),               // 8: another member
		raise(1, 30, 1, 1),               // 9: not a member
		cursor(100, 1, 4),
		cursor(100, 1, 2),
	}
	g := newGroup(ops)
	if len(g.convs) != 3 || g.convs[0] != 1 || g.convs[1] != 2 || g.convs[2] != 9 {
		t.Fatalf("conversations to lock = %v, want [1 2 9]", g.convs)
	}
	// What round trip 1 would read.
	g.lastSeq[1], g.lastSeq[2] = 5, 0
	g.marks[memberKey{1, 10}] = &memberMarks{read: true, orig: marks{3, 3}, stored: marks{3, 3}}
	g.marks[memberKey{1, 20}] = &memberMarks{read: true, orig: marks{1, 1}, stored: marks{1, 1}}
	stored := &parley.Message{ID: 50, ConversationID: 1, Seq: 2, SenderID: 10, SenderDeviceID: 100, ClientMsgID: "old", CreatedAt: at}
	g.records[dedupKey{100, "old"}] = record{msg: stored, hash: []byte("h-old")}
	g.ids = []int64{1001, 1002, 1003, 1004, 1005, 1006, 1007}
	g.apply()

	if o := ops[0]; o.err != nil || o.prior != nil || o.newSeq != 6 || o.id != 1001 {
		t.Fatalf("new send = seq %d id %d prior %v err %v", o.newSeq, o.id, o.prior, o.err)
	}
	if o := ops[1]; o.err != nil || o.prior == nil || o.prior.ID != 1001 || o.prior.Seq != 6 {
		t.Fatalf("retry in the group = %+v, %v", o.prior, o.err)
	}
	if o := ops[2]; o.err != nil || o.newSeq != 7 || o.id != 1002 {
		t.Fatalf("second send = seq %d id %d err %v", o.newSeq, o.id, o.err)
	}
	if o := ops[3]; o.err != nil || o.prior == nil || o.prior.ID != 50 {
		t.Fatalf("retry of a stored send = %+v, %v", o.prior, o.err)
	}
	for _, i := range []int{4, 5} {
		if got := parley.ErrorCode(ops[i].err); got != parley.ECONFLICT {
			t.Fatalf("op %d: code %q, want conflict", i, got)
		}
	}
	if got := parley.ErrorCode(ops[6].err); got != parley.ENOTFOUND {
		t.Fatalf("send to a missing conversation: code %q", got)
	}
	if o := ops[7]; o.err != nil || !o.changed || o.receipt.DeliveredSeq != 7 || o.receipt.ReadSeq != 7 {
		t.Fatalf("raise after own sends = %+v changed=%v err=%v, want 7/7 changed", o.receipt, o.changed, o.err)
	}
	if o := ops[8]; o.err != nil || !o.changed || o.receipt.DeliveredSeq != 3 || o.receipt.ReadSeq != 1 {
		t.Fatalf("raise = %+v changed=%v err=%v", o.receipt, o.changed, o.err)
	}
	if got := parley.ErrorCode(ops[9].err); got != parley.ENOTFOUND {
		t.Fatalf("raise of a non-member: code %q", got)
	}
	if len(g.fresh) != 2 || g.touched[1].seq != 7 || g.cursors[cursorKey{100, 1}] != 4 {
		t.Fatalf("group writes %d messages, conversation 1 to seq %d, cursor %d", len(g.fresh), g.touched[1].seq, g.cursors[cursorKey{100, 1}])
	}
	if f := g.marks[memberKey{1, 10}].final(); f != (marks{7, 7}) {
		t.Fatalf("sender's final watermarks = %+v", f)
	}
}
