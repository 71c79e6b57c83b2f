package postgres

import (
	"bytes"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/parleyhq/parley"
)

// group is one transaction of the writer, written in two pipelined round
// trips whatever the number of requests:
//
//  1. BEGIN; lock the conversations the group writes to (its sends' and its
//     watermarks') in id order and read their last seq; read the
//     watermarks the group raises; look up earlier sends with the same
//     (sender device, client_msg_id); take message ids.
//  2. One statement per table (messages, idempotency records,
//     conversations, members, device cursors), each writing every row of
//     the group from arrays, then COMMIT.
//
// Only a group that finds retries reads their original messages, in one
// more round trip between the two.
//
// Between the round trips, seqs and answers are decided in memory from what
// the group read under its locks: no node caches a last seq. Every member
// row a group reads or writes belongs to a conversation it holds (so do the
// rows recalls and membership changes write), so two groups never contend
// for a member row, and taking the conversations in id order means groups
// on different nodes queue instead of deadlocking. What else a group may
// wait for cannot close a cycle: a role or mute change holding one member
// row, or a send of the same client_msg_id into another conversation
// inserting its idempotency record (the group then fails with a unique
// violation and runs again). The idempotency look-up runs once the locks
// are held, so it sees any send of the same message that committed while
// this group waited.
type group struct {
	ops   []*op
	times []time.Time // creation times of the sends: their partitions must exist

	convs    []int64     // to lock, sorted
	members  []memberKey // whose watermarks are read
	dedup    []dedupKey
	nAppends int

	// Read in round trip 1.
	lastSeq map[parley.ID]int64
	// disappear is each conversation's disappearing-messages timer.
	disappear map[parley.ID]int64
	marks     map[memberKey]*memberMarks
	records   map[dedupKey]record
	ids       []int64
	nextID    int

	// Decided by apply.
	fresh   []*op // sends that store a new message
	touched map[parley.ID]touch
	// unarchive holds the conversations a new message unarchives, sorted
	// like the conversations the group locks.
	unarchive []int64
	cursors   map[cursorKey]int64
}

type memberKey struct{ conv, user parley.ID }

type dedupKey struct {
	device parley.ID
	cmid   string
}

type cursorKey struct{ device, conv parley.ID }

type marks struct{ delivered, read int64 }

// memberMarks follows one member's watermarks through the group. Like the
// SQLite store, an explicit raise reports "changed" against the stored
// value, and the member's own sends raise it at the end of the group. The
// stored values are read only for members whose watermarks are raised
// explicitly; a send raises its sender's with greatest() in SQL.
type memberMarks struct {
	read               bool // orig and stored hold the stored values
	orig, stored, sent marks
}

func (m *memberMarks) final() marks {
	return marks{max(m.stored.delivered, m.sent.delivered), max(m.stored.read, m.sent.read)}
}

// record is an earlier send with the same (sender device, client_msg_id).
type record struct {
	msg  *parley.Message
	hash []byte
}

// touch is what a group changes in a conversation row: the last seq, the
// newest activity, and the creation time of the entry with the last seq.
type touch struct {
	seq          int64
	at, lastAtOf time.Time
}

func newGroup(ops []*op) *group {
	g := &group{
		ops:       ops,
		lastSeq:   make(map[parley.ID]int64),
		disappear: make(map[parley.ID]int64),
		marks:     make(map[memberKey]*memberMarks),
		records:   make(map[dedupKey]record),
		touched:   make(map[parley.ID]touch),
		cursors:   make(map[cursorKey]int64),
	}
	convs := make(map[parley.ID]bool)
	members := make(map[memberKey]bool)
	dedup := make(map[dedupKey]bool)
	for _, o := range ops {
		o.err, o.id, o.newSeq, o.prior, o.receipt, o.changed = nil, 0, 0, nil, parley.Receipt{}, false
		switch o.kind {
		case opAppend:
			g.nAppends++
			g.times = append(g.times, o.msg.CreatedAt)
			convs[o.msg.ConversationID] = true
			if o.msg.ClientMsgID != "" {
				dedup[dedupKey{o.msg.SenderDeviceID, o.msg.ClientMsgID}] = true
			}
		case opWatermarks:
			convs[o.conv] = true
			members[memberKey{o.conv, o.user}] = true
		}
	}
	for c := range convs {
		g.convs = append(g.convs, int64(c))
	}
	sort.Slice(g.convs, func(i, j int) bool { return g.convs[i] < g.convs[j] })
	for k := range members {
		g.members = append(g.members, k)
	}
	for k := range dedup {
		g.dedup = append(g.dedup, k)
	}
	return g
}

// begin queues the start of the group's transaction. The group's
// statements are planned once per connection (generic plans) rather than
// for each group: planning them cost more than running them. The plans
// stay index look-ups per row however many rows a group has: look-ups are
// LATERAL with LIMIT 1, so they cannot become hash joins, and the updates
// join a handful of estimated rows to large tables. PostgreSQL plans again
// when a table's statistics change.
func (g *group) begin(b *pgx.Batch) {
	b.Queue("BEGIN")
	b.Queue("SET LOCAL plan_cache_mode = force_generic_plan")
}

// readBatch returns round trip 1, or nil when the group reads nothing.
func (g *group) readBatch() *pgx.Batch {
	if len(g.convs) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	g.begin(b)
	// g.convs is sorted, and the nested loop locks each row as it reaches
	// it: in id order.
	b.Queue(`SELECT c.id, c.last_seq, c.disappear_after FROM unnest($1::bigint[]) AS k(id)
		CROSS JOIN LATERAL (SELECT id, last_seq, disappear_after FROM conversations WHERE id = k.id LIMIT 1) c
		ORDER BY c.id FOR NO KEY UPDATE OF c`, g.convs).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var id, last, disappear int64
				if err := rows.Scan(&id, &last, &disappear); err != nil {
					return err
				}
				g.lastSeq[parley.ID(id)] = last
				g.disappear[parley.ID(id)] = disappear
			}
			return rows.Err()
		})
	if len(g.members) > 0 {
		cs, us := make([]int64, len(g.members)), make([]int64, len(g.members))
		for i, k := range g.members {
			cs[i], us[i] = int64(k.conv), int64(k.user)
		}
		b.Queue(`SELECT m.conversation_id, m.user_id, m.delivered_seq, m.read_seq
			FROM unnest($1::bigint[], $2::bigint[]) AS k(c, u)
			CROSS JOIN LATERAL (SELECT * FROM members WHERE conversation_id = k.c AND user_id = k.u LIMIT 1) m`, cs, us).
			Query(func(rows pgx.Rows) error {
				for rows.Next() {
					var c, u int64
					var mk marks
					if err := rows.Scan(&c, &u, &mk.delivered, &mk.read); err != nil {
						return err
					}
					g.marks[memberKey{parley.ID(c), parley.ID(u)}] = &memberMarks{read: true, orig: mk, stored: mk}
				}
				return rows.Err()
			})
	}
	if len(g.dedup) > 0 {
		devs, cmids := make([]int64, len(g.dedup)), make([]string, len(g.dedup))
		for i, k := range g.dedup {
			devs[i], cmids[i] = int64(k.device), k.cmid
		}
		b.Queue(`SELECT d.sender_device_id, d.client_msg_id, d.content_hash, d.conversation_id, d.seq, d.message_id, d.created_at
			FROM unnest($1::bigint[], $2::text[]) AS k(dev, cmid)
			CROSS JOIN LATERAL (SELECT * FROM message_dedup WHERE sender_device_id = k.dev AND client_msg_id = k.cmid LIMIT 1) d`, devs, cmids).
			Query(func(rows pgx.Rows) error {
				for rows.Next() {
					var r record
					m := &parley.Message{}
					var dev, conv, id int64
					if err := rows.Scan(&dev, &m.ClientMsgID, &r.hash, &conv, &m.Seq, &id, &m.CreatedAt); err != nil {
						return err
					}
					m.ID, m.ConversationID, m.SenderDeviceID, m.CreatedAt = parley.ID(id), parley.ID(conv), parley.ID(dev), utc(m.CreatedAt)
					r.msg = m
					g.records[dedupKey{m.SenderDeviceID, m.ClientMsgID}] = r
				}
				return rows.Err()
			})
	}
	if g.nAppends > 0 {
		// Ids are taken for every send, including those that turn out to be
		// retries: a gap in ids costs nothing, a round trip would.
		b.Queue(`SELECT nextval('message_ids') FROM generate_series(1, $1::int)`, g.nAppends).
			Query(func(rows pgx.Rows) error {
				for rows.Next() {
					var id int64
					if err := rows.Scan(&id); err != nil {
						return err
					}
					g.ids = append(g.ids, id)
				}
				return rows.Err()
			})
	}
	return b
}

// priorBatch returns the round trip that reads the original messages of the
// retries the group found, or nil when it found none.
func (g *group) priorBatch() *pgx.Batch {
	if len(g.records) == 0 {
		return nil
	}
	type logKey struct {
		conv parley.ID
		seq  int64
	}
	byKey := make(map[logKey]*parley.Message)
	var cs, ss []int64
	var ats []time.Time
	for _, r := range g.records {
		byKey[logKey{r.msg.ConversationID, r.msg.Seq}] = r.msg
		cs, ss, ats = append(cs, int64(r.msg.ConversationID)), append(ss, r.msg.Seq), append(ats, r.msg.CreatedAt)
	}
	b := &pgx.Batch{}
	// The created_at condition lets each look-up go to one partition. A
	// message that retention removed before its record keeps what the
	// record holds.
	b.Queue(`SELECT m.* FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[]) AS k(c, s, at)
		CROSS JOIN LATERAL (SELECT `+messageCols+` FROM messages WHERE conversation_id = k.c AND seq = k.s AND created_at = k.at LIMIT 1) m`,
		cs, ss, ats).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			m, err := scanMessage(rows)
			if err != nil {
				return err
			}
			if p := byKey[logKey{m.ConversationID, m.Seq}]; p != nil {
				*p = *m
			}
		}
		return rows.Err()
	})
	return b
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// apply decides, in request order, each request's answer and what the
// group writes.
func (g *group) apply() {
	for _, o := range g.ops {
		switch o.kind {
		case opAppend:
			g.applyAppend(o)
		case opWatermarks:
			g.applyWatermarks(o)
		case opCursor:
			k := cursorKey{o.device, o.conv}
			g.cursors[k] = max(g.cursors[k], o.seq)
		}
	}
}

func (g *group) applyAppend(o *op) {
	m := &o.msg
	k := dedupKey{m.SenderDeviceID, m.ClientMsgID}
	if m.ClientMsgID != "" {
		if r, ok := g.records[k]; ok {
			if !bytes.Equal(r.hash, o.hash) || r.msg.ConversationID != m.ConversationID {
				o.err = parley.Errorf(parley.ECONFLICT, "client_msg_id %q was used for a different message", m.ClientMsgID)
				return
			}
			cp := *r.msg
			if cp.SenderID == 0 {
				// Retention removed the message before its record: what
				// the record lacks is the retry's own.
				cp.SenderID, cp.Type = m.SenderID, m.Type
			}
			o.prior = &cp
			return
		}
	}
	last, ok := g.lastSeq[m.ConversationID]
	if !ok {
		o.err = parley.Errorf(parley.ENOTFOUND, "conversation not found")
		return
	}
	o.id, o.newSeq = parley.ID(g.ids[g.nextID]), last+1
	m.SetExpiry(g.disappear[m.ConversationID])
	g.nextID++
	g.lastSeq[m.ConversationID] = o.newSeq
	t := g.touched[m.ConversationID]
	t.seq, t.lastAtOf = o.newSeq, m.CreatedAt
	if m.CreatedAt.After(t.at) {
		t.at = m.CreatedAt
	}
	g.touched[m.ConversationID] = t
	k2 := memberKey{m.ConversationID, m.SenderID}
	mm := g.marks[k2]
	if mm == nil {
		mm = &memberMarks{}
		g.marks[k2] = mm
	}
	mm.sent = marks{max(mm.sent.delivered, o.newSeq), max(mm.sent.read, o.newSeq)}
	g.fresh = append(g.fresh, o)
	if m.Type.Sent() {
		if i, found := slices.BinarySearch(g.unarchive, int64(m.ConversationID)); !found {
			g.unarchive = slices.Insert(g.unarchive, i, int64(m.ConversationID))
		}
	}
	if m.ClientMsgID != "" {
		stored := *m
		stored.ID, stored.Seq = o.id, o.newSeq
		g.records[k] = record{msg: &stored, hash: o.hash}
	}
}

func (g *group) applyWatermarks(o *op) {
	mm := g.marks[memberKey{o.conv, o.user}]
	if mm == nil || !mm.read {
		o.err = parley.Errorf(parley.ENOTFOUND, "not a member")
		return
	}
	// The member's own sends earlier in the group count as stored now.
	nd := max(mm.stored.delivered, o.delivered, o.read, mm.sent.delivered, mm.sent.read)
	nr := max(mm.stored.read, o.read, mm.sent.read)
	o.changed = nd != mm.stored.delivered || nr != mm.stored.read
	mm.stored, mm.sent = marks{nd, nr}, marks{}
	o.receipt = parley.Receipt{ConversationID: o.conv, UserID: o.user, DeliveredSeq: nd, ReadSeq: nr}
}

// unarchiveSQL unarchives the conversations $1 names for their active
// members who did not mute them, found through members_archived.
const unarchiveSQL = `UPDATE members m SET archived = false FROM unnest($1::bigint[]) AS v(c)
	WHERE m.conversation_id = v.c AND m.archived AND NOT m.muted AND m.left_seq IS NULL`

// writeBatch returns round trip 2, which ends with the commit.
func (g *group) writeBatch() *pgx.Batch {
	b := &pgx.Batch{}
	if len(g.convs) == 0 {
		g.begin(b)
	}
	if n := len(g.fresh); n > 0 {
		ids, convs, seqs, senders, devices := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		cmids, types, bodies := make([]string, n), make([]string, n), make([]string, n)
		media, replies := make([]int64, n), make([]int64, n)
		forwarded := make([]bool, n)
		ats := make([]time.Time, n)
		expires := make([]pgtype.Timestamptz, n)
		var dDevs, dConvs, dSeqs, dIDs []int64
		var dCmids []string
		var dHashes [][]byte
		var dAts []time.Time
		for i, o := range g.fresh {
			m := &o.msg
			ids[i], convs[i], seqs[i], senders[i], devices[i] = int64(o.id), int64(m.ConversationID), o.newSeq, int64(m.SenderID), int64(m.SenderDeviceID)
			cmids[i], types[i], bodies[i] = m.ClientMsgID, string(m.Type), m.Body
			media[i], replies[i], ats[i] = int64(m.MediaID), int64(m.ReplyTo), m.CreatedAt
			if m.ExpiresAt != nil {
				expires[i] = pgtype.Timestamptz{Time: *m.ExpiresAt, Valid: true}
			}
			forwarded[i] = m.Forwarded
			if m.ClientMsgID != "" {
				dDevs, dCmids, dHashes = append(dDevs, int64(m.SenderDeviceID)), append(dCmids, m.ClientMsgID), append(dHashes, o.hash)
				dConvs, dSeqs, dIDs, dAts = append(dConvs, int64(m.ConversationID)), append(dSeqs, o.newSeq), append(dIDs, int64(o.id)), append(dAts, m.CreatedAt)
			}
		}
		b.Queue(`INSERT INTO messages (id, conversation_id, seq, sender_id, sender_device_id, client_msg_id, type, body, media_id, reply_to, forwarded, created_at, expires_at)
			SELECT id, conv, seq, sender, device, nullif(cmid, ''), typ, body, nullif(media, 0), nullif(reply, 0), fwd, at, expires
			FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::bigint[], $10::bigint[], $11::boolean[], $12::timestamptz[], $13::timestamptz[])
				AS v(id, conv, seq, sender, device, cmid, typ, body, media, reply, fwd, at, expires)`,
			ids, convs, seqs, senders, devices, cmids, types, bodies, media, replies, forwarded, ats, expires)
		queueIndex(b, g.fresh)
		if len(dDevs) > 0 {
			b.Queue(`INSERT INTO message_dedup (sender_device_id, client_msg_id, content_hash, conversation_id, seq, message_id, created_at)
				SELECT * FROM unnest($1::bigint[], $2::text[], $3::bytea[], $4::bigint[], $5::bigint[], $6::bigint[], $7::timestamptz[])`,
				dDevs, dCmids, dHashes, dConvs, dSeqs, dIDs, dAts)
		}
	}
	if len(g.touched) > 0 {
		var ids, seqs []int64
		var ats, lastAts []time.Time
		for id, t := range g.touched {
			ids, seqs, ats, lastAts = append(ids, int64(id)), append(seqs, t.seq), append(ats, t.at), append(lastAts, t.lastAtOf)
		}
		b.Queue(`UPDATE conversations c SET last_seq = v.seq, last_activity_at = greatest(c.last_activity_at, v.at), last_message_at = v.last_at
			FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::timestamptz[]) AS v(id, seq, at, last_at) WHERE c.id = v.id`, ids, seqs, ats, lastAts)
	}
	if len(g.unarchive) > 0 {
		// members_archived finds the archived rows; for most conversations
		// there are none. They belong to conversations the group holds.
		b.Queue(unarchiveSQL, g.unarchive)
	}
	var cs, us, ds, rs []int64
	for k, mm := range g.marks {
		f := mm.final()
		if mm.read && f == mm.orig {
			continue
		}
		cs, us, ds, rs = append(cs, int64(k.conv)), append(us, int64(k.user)), append(ds, f.delivered), append(rs, f.read)
	}
	if len(cs) > 0 {
		// greatest() keeps watermarks monotonic, and raises a sender's
		// without reading them first.
		b.Queue(`UPDATE members m SET delivered_seq = greatest(m.delivered_seq, v.d), read_seq = greatest(m.read_seq, v.r)
			FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) AS v(c, u, d, r)
			WHERE m.conversation_id = v.c AND m.user_id = v.u`, cs, us, ds, rs)
	}
	if len(g.cursors) > 0 {
		keys := make([]cursorKey, 0, len(g.cursors))
		for k := range g.cursors {
			keys = append(keys, k)
		}
		// Rows are upserted in key order, so two groups lock them in the
		// same order.
		sort.Slice(keys, func(i, j int) bool {
			a, b := keys[i], keys[j]
			return a.device < b.device || a.device == b.device && a.conv < b.conv
		})
		devs, convs, seqs := make([]int64, len(keys)), make([]int64, len(keys)), make([]int64, len(keys))
		for i, k := range keys {
			devs[i], convs[i], seqs[i] = int64(k.device), int64(k.conv), g.cursors[k]
		}
		b.Queue(`INSERT INTO device_cursors (device_id, conversation_id, seq)
			SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[])
			ON CONFLICT (device_id, conversation_id) DO UPDATE SET seq = greatest(device_cursors.seq, excluded.seq)`, devs, convs, seqs)
	}
	b.Queue("COMMIT")
	return b
}
