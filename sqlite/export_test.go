package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

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

// BulkLoadSearch fills the store with convs conversations of perConv text
// messages each, their bodies from body, through the writer's own insert
// and index path in commits of commit messages (as group commit makes
// them under load, so the index gets the segments sends give it), for
// search benchmarks. Conversation
// ids start after the existing ones.
func BulkLoadSearch(ctx context.Context, db *DB, convs, perConv, commit int, createdAt time.Time, body func() string) (first int64, err error) {
	err = db.w.do(ctx, func(b *batch) error {
		if err := b.queryRow(`SELECT coalesce(max(id), 0) + 1 FROM conversations`).Scan(&first); err != nil {
			return err
		}
		_, err := b.exec(fmt.Sprintf(`WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c WHERE x < %d)
			INSERT INTO conversations (id, type, title, created_by, created_at, last_seq, last_activity_at)
			SELECT %d + x, 'group', 'bulk', 1, %d, 0, %d FROM c`, convs-1, first, ts(createdAt), ts(createdAt)))
		return err
	})
	if err != nil {
		return 0, err
	}
	total := convs * perConv
	for done := 0; done < total; {
		n := min(commit, total-done)
		err := db.w.do(ctx, func(b *batch) error {
			for i := done; i < done+n; i++ {
				// Messages of the conversations interleave, as they are sent.
				m := &parley.Message{ConversationID: parley.ID(first + int64(i%convs)), SenderID: 1, SenderDeviceID: 1,
					Type: parley.TextMessage, Body: body(), CreatedAt: createdAt}
				if _, err := b.appendEntry(m, nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		done += n
	}
	return first, nil
}

// SearchSegments returns how many b-tree segments the search index has,
// after merging it into one when optimize is true. It catches the index up
// first.
func SearchSegments(ctx context.Context, db *DB, optimize bool) (n int, err error) {
	if err := db.index.sync(ctx); err != nil {
		return 0, err
	}
	if optimize {
		if err := indexExec(ctx, db, `INSERT INTO message_search(message_search) VALUES ('optimize')`); err != nil {
			return 0, err
		}
	}
	err = db.index.read.QueryRowContext(ctx, `SELECT count(DISTINCT segid) FROM message_search_idx`).Scan(&n)
	return n, err
}

// SetAutomerge sets the search index's FTS5 automerge option.
func SetAutomerge(ctx context.Context, db *DB, n int) error {
	return indexExec(ctx, db, `INSERT INTO message_search(message_search, rank) VALUES ('automerge', ?)`, n)
}

// indexExec runs a statement on the search index file, on a connection of
// its own (it waits for the indexer's transaction, if one runs).
func indexExec(ctx context.Context, db *DB, q string, args ...any) error {
	c, err := sql.Open("sqlite", dsn(db.index.path, indexWriter))
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.ExecContext(ctx, q, args...)
	return err
}

// SyncSearch returns once the search index holds everything committed
// before the call.
func SyncSearch(ctx context.Context, db *DB) error { return db.index.sync(ctx) }

// LastSeqsAtSQL is the statement LastSeqsAt reads with.
const LastSeqsAtSQL = lastSeqsAtSQL

// TimerChangesSQL and SilentEntriesSQL are statements UnreadEntries reads
// with.
const (
	TimerChangesSQL  = timerChangesSQL
	SilentEntriesSQL = silentEntriesSQL
)

// DSN is the data source name the writer opens: the same pragmas for
// benchmarks that measure the engine beneath the store.
func DSN(path string) string { return dsn(path, storeWriter) }

// FailAfterAppend appends m and writes it in a batch that then fails, as
// a batch does when a statement errs after the log entries went in: the
// batch is rolled back and what the writer kept in memory of it must go
// too.
func FailAfterAppend(ctx context.Context, db *DB, m *parley.Message) error {
	return db.w.do(ctx, func(b *batch) error {
		if _, err := b.appendEntry(m, nil); err != nil {
			return err
		}
		if err := b.insertPending(); err != nil {
			return err
		}
		return fmt.Errorf("a failure after the append")
	})
}

// SearchLogReads returns how many times the search indexer read entries
// back from the log rather than taking them from the writer.
func SearchLogReads(db *DB) int64 { return db.index.logReads.Load() }

// AfterSearchSnapshot makes each search run f between taking the index's
// progress with the tail and querying the index.
func AfterSearchSnapshot(db *DB, f func()) { db.index.afterSnapshot = f }

// SearchWaiting returns how many searches wait for the index to catch up.
func SearchWaiting(db *DB) int32 { return db.index.waiting.Load() }
