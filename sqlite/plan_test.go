package sqlite_test

import (
	"context"
	"strings"
	"testing"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/sqlite"
	"github.com/parleyhq/parley/storetest"
)

// TestListPlans checks that the conversation list reads the user's own
// memberships through an index, for the pinned conversations and the
// others, and that a send finds the archived members of its conversation
// through members_archived, never by reading all of members; and that
// where streams start is read backwards along messages_seq; and that an
// unread count finds timer changes through messages_settings and silent
// entries through messages_silent.
func TestListPlans(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	u, v := storetest.MustUser(t, db), storetest.MustUser(t, db)
	storetest.MustConversation(t, db, parley.Direct, u, v)
	for _, tc := range []struct {
		name, query, index string
		args               []any
	}{
		{name: "Others", index: "members_user", query: q(sqlite.UserConversationsQuery(u.ID, parley.ConversationFilter{IncludeLeft: true, ExcludeArchived: true, ExcludePinned: true, Limit: 20, Offset: 20}))},
		{name: "OthersWithArchived", index: "members_user", query: q(sqlite.UserConversationsQuery(u.ID, parley.ConversationFilter{IncludeLeft: true, ExcludePinned: true, Limit: 20}))},
		{name: "Pinned", index: "members_pinned", query: q(sqlite.UserConversationsQuery(u.ID, parley.ConversationFilter{IncludeLeft: true, ExcludeArchived: true, OnlyPinned: true}))},
		{name: "Unarchive", index: "members_archived", query: sqlite.UnarchiveSQL(3), args: []any{1, 2, 3}},
		{name: "StreamStarts", index: "messages_seq", query: sqlite.LastSeqsAtSQL, args: []any{"[[1,5],[2,9]]"}},
		{name: "TimerChanges", index: "messages_settings", query: sqlite.TimerChangesSQL, args: []any{1, 5, 9}},
		{name: "SilentEntries", index: "messages_silent", query: sqlite.SilentEntriesSQL, args: []any{1, 5, 9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if args == nil {
				_, args = sqlite.UserConversationsQuery(u.ID, parley.ConversationFilter{})
			}
			plan, err := sqlite.QueryPlan(ctx, db, tc.query, args...)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("plan:\n%s", plan)
			if !strings.Contains(plan, "USING INDEX "+tc.index) && !strings.Contains(plan, "USING COVERING INDEX "+tc.index) {
				t.Fatalf("plan does not use %s:\n%s", tc.index, plan)
			}
			for _, line := range strings.Split(plan, "\n") {
				if strings.HasPrefix(line, "SCAN m") || strings.HasPrefix(line, "SCAN members") || strings.HasPrefix(line, "SCAN c") {
					t.Fatalf("plan scans a table:\n%s", plan)
				}
			}
		})
	}
}

func q(query string, _ []any) string { return query }
