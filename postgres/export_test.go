package postgres

import (
	"context"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/migrations"
)

// OpenWithMigration opens the store as a binary whose newest migration is
// one more than this one's, with the given SQL.
func OpenWithMigration(ctx context.Context, cfg Config, sql string) (*DB, error) {
	ms, err := loadMigrations()
	if err != nil {
		return nil, err
	}
	ms = append(ms, migrations.Migration{Version: SchemaVersion() + 1, Name: "9999_test.sql", SQL: sql})
	return open(ctx, cfg, ms)
}

// RecentDays is how many days up to today a page is first looked for in,
// and EarlierDays in how many before those.
const (
	RecentDays  = recentDays
	EarlierDays = earlierDays
)

// PageSQL is the query of a page of the log in the recent partitions as of
// now ("recent"), in the earlier ones ("earlier"), in all but the recent
// ones ("older"), in all but both ("oldest"), or in all.
func PageSQL(ascending bool, now time.Time, part string) string {
	st := new(DB).stepsFor(dayOf(now), ascending)
	switch part {
	case "recent":
		return st.recent
	case "earlier":
		return st.earlier
	case "older":
		return st.rest[1]
	case "oldest":
		return st.rest[2]
	}
	return st.rest[0]
}

// UserConversationsSQL is the query of a member's conversation list, and
// PinnedConversationsSQL that of its pinned conversations.
const (
	UserConversationsSQL   = userConversationsSQL
	PinnedConversationsSQL = pinnedConversationsSQL
	UnarchiveSQL           = unarchiveSQL
)

// MigrationCount returns how many migrations this binary knows (their
// numbers need not be contiguous).
func MigrationCount() int {
	ms, _ := loadMigrations()
	return len(ms)
}

// BulkLoadSearch fills the store with convs conversations of perConv text
// messages each, their bodies from body, created evenly over the days
// days from start (the messages of the conversations interleave), written
// in statements of 10,000 rows with the search index rows the send path
// writes, then vacuumed and analysed, for search benchmarks. Conversation
// ids start after the existing ones.
func BulkLoadSearch(ctx context.Context, db *DB, convs, perConv int, start time.Time, days int, body func() string) (first int64, err error) {
	var times []time.Time
	for d := range days + 1 {
		times = append(times, start.Add(time.Duration(d)*24*time.Hour))
	}
	if err := db.parts.ensure(ctx, times...); err != nil {
		return 0, err
	}
	var base int64
	if err := db.pool.QueryRow(ctx, `SELECT coalesce(max(id), 0) + 1 FROM conversations`).Scan(&first); err != nil {
		return 0, err
	}
	if err := db.pool.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM messages`).Scan(&base); err != nil {
		return 0, err
	}
	if _, err := db.pool.Exec(ctx, `INSERT INTO conversations (id, type, created_by, created_at, last_seq, last_activity_at)
		SELECT $1 + c, 'group', 1, $2, $3, $2 FROM generate_series(0, $4 - 1) c`, first, start, perConv, convs); err != nil {
		return 0, err
	}
	total := convs * perConv
	step := time.Duration(days) * 24 * time.Hour / time.Duration(total)
	for done := 0; done < total; {
		n := min(10_000, total-done)
		ids, cs, seqs := make([]int64, n), make([]int64, n), make([]int64, n)
		bodies, docs, ats := make([]string, n), make([]string, n), make([]time.Time, n)
		for k := range n {
			i := done + k
			ids[k], cs[k], seqs[k] = base+int64(i)+1, first+int64(i%convs), int64(i/convs)+1
			bodies[k], ats[k] = body(), start.Add(time.Duration(i)*step)
			docs[k] = searchVector(parley.TextMessage, bodies[k], parley.ID(cs[k]))
		}
		if _, err := db.pool.Exec(ctx, `INSERT INTO messages (id, conversation_id, seq, sender_id, sender_device_id, type, body, created_at)
			SELECT id, c, s, 1, 1, 'text', body, at
			FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::timestamptz[]) AS v(id, c, s, body, at)`,
			ids, cs, seqs, bodies, ats); err != nil {
			return 0, err
		}
		if _, err := db.pool.Exec(ctx, insertIndex, ids, cs, seqs, ats, docs); err != nil {
			return 0, err
		}
		done += n
	}
	if _, err = db.pool.Exec(ctx, `VACUUM ANALYZE messages, message_search`); err != nil {
		return 0, err
	}
	// What is measured next does not share the box with the flush of the
	// load's writes.
	_, err = db.pool.Exec(ctx, `CHECKPOINT`)
	return first, err
}

// LoadedSearch returns the first conversation BulkLoadSearch loaded into
// db, how many conversations and messages db holds (0, 0 and 0 when none).
func LoadedSearch(ctx context.Context, db *DB) (first int64, convs, messages int, err error) {
	err = db.pool.QueryRow(ctx, `SELECT coalesce(min(id), 0), count(*), (SELECT count(*) FROM messages) FROM conversations`).Scan(&first, &convs, &messages)
	return first, convs, messages, err
}
