package postgres

import (
	"context"
	"github.com/parleyhq/parley/internal/migrations"
	"time"
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

// PageSQL is the query of a page of the log in the recent partitions as of
// now, in the others, or in all.
func PageSQL(ascending bool, now time.Time, part string) string {
	recent, older := windows(now)
	switch part {
	case "recent":
		return pageSQL(ascending, recent)
	case "older":
		return pageSQL(ascending, older)
	}
	return pageSQL(ascending, "")
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
