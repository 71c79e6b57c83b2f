package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/parleyhq/parley"
)

// BulkLoad fills the store with convs conversations of perConv messages
// each, written directly in SQL (much faster than sending them), for read
// benchmarks. Conversation ids start after the existing ones.
func BulkLoad(ctx context.Context, db *DB, convs, perConv int, createdAt int64) (first int64, err error) {
	err = db.w.do(ctx, func(b *batch) error {
		if err := b.queryRow(`SELECT coalesce(max(id), 0) + 1 FROM conversations`).Scan(&first); err != nil {
			return err
		}
		stmts := []string{
			fmt.Sprintf(`WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c WHERE x < %d)
				INSERT INTO conversations (id, type, title, created_by, created_at, last_seq, last_activity_at)
				SELECT %d + x, 'group', 'bulk', 1, %d, %d, %d FROM c`, convs-1, first, createdAt, perConv, createdAt),
			fmt.Sprintf(`WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c WHERE x < %d)
				INSERT INTO messages (conversation_id, seq, sender_id, sender_device_id, type, body, created_at)
				SELECT %d + x / %d, x %% %d + 1, 1, 1, 'text', 'a message of an ordinary length, about sixty bytes long', %d FROM c`,
				convs*perConv-1, first, perConv, perConv, createdAt),
		}
		for _, s := range stmts {
			if _, err := b.exec(s); err != nil {
				return err
			}
		}
		clear(b.w.convs)
		b.w.maxID = -1
		return nil
	})
	return first, err
}

// SecureDelete returns the secure_delete setting of a read connection and
// of the writer's.
func SecureDelete(ctx context.Context, db *DB) (read, write int, err error) {
	if err := db.read.QueryRowContext(ctx, `PRAGMA secure_delete`).Scan(&read); err != nil {
		return 0, 0, err
	}
	err = db.w.do(ctx, func(b *batch) error { return b.queryRow(`PRAGMA secure_delete`).Scan(&write) })
	return read, write, err
}

// QueryPlan returns SQLite's plan of the query, one line a step.
func QueryPlan(ctx context.Context, db *DB, query string, args ...any) (string, error) {
	rows, err := db.read.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var plan string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return "", err
		}
		plan += detail + "\n"
	}
	return plan, rows.Err()
}

// UserConversationsQuery is the query of UserConversations.
func UserConversationsQuery(userID parley.ID, f parley.ConversationFilter) (string, []any) {
	return userConversationsQuery(userID, f)
}

// UnarchiveSQL is the statement a send batch unarchives with, for n
// conversations.
func UnarchiveSQL(n int) string {
	return fmt.Sprintf(unarchiveSQL, strings.TrimSuffix(strings.Repeat("?,", n), ","))
}
