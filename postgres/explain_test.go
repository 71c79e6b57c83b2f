package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/testenv"
	"github.com/parleyhq/parley/postgres"
	"github.com/parleyhq/parley/storetest"
)

// planNode is one node of EXPLAIN (FORMAT JSON) output.
type planNode struct {
	NodeType     string     `json:"Node Type"`
	RelationName string     `json:"Relation Name"`
	IndexName    string     `json:"Index Name"`
	Plans        []planNode `json:"Plans"`
}

func (n planNode) walk(fn func(planNode)) {
	fn(n)
	for _, c := range n.Plans {
		c.walk(fn)
	}
}

func explain(t *testing.T, conn *pgx.Conn, sql string, args ...any) planNode {
	t.Helper()
	var out []struct{ Plan planNode }
	var raw []byte
	if err := conn.QueryRow(context.Background(), "EXPLAIN (FORMAT JSON) "+sql, args...).Scan(&raw); err != nil {
		t.Fatalf("explain: %v", err)
	}
	if err := json.Unmarshal(raw, &out); err != nil || len(out) != 1 {
		t.Fatalf("explain output %s: %v", raw, err)
	}
	return out[0].Plan
}

// wantIndexScans fails unless the plan reads the log only through its
// primary key; ordered also requires the rows to come in index order, with
// no sort. The planner rightly reads the empty partitions with a scan of
// their no pages.
func wantIndexScans(t *testing.T, plan planNode, ordered bool, emptyPartitions []string) {
	t.Helper()
	var scans int
	fail := func(format string, args ...any) {
		t.Helper()
		b, _ := json.Marshal(plan)
		t.Fatalf(format+"\nplan: %s", append(args, b)...)
	}
	plan.walk(func(n planNode) {
		switch {
		case n.NodeType == "Index Scan" || n.NodeType == "Index Only Scan" || n.NodeType == "Bitmap Index Scan":
			if strings.HasPrefix(n.IndexName, "messages_p") && strings.HasSuffix(n.IndexName, "_pkey") {
				scans++
			}
			if ordered && n.NodeType == "Bitmap Index Scan" {
				fail("the log is read through a bitmap, not in index order")
			}
		case strings.HasPrefix(n.RelationName, "messages") && n.NodeType != "Bitmap Heap Scan" && !slices.Contains(emptyPartitions, n.RelationName):
			fail("the log is read with %s on %s", n.NodeType, n.RelationName)
		case n.NodeType == "Sort" && ordered && readsLog(n, emptyPartitions):
			fail("log rows are sorted, not read in index order")
		}
	})
	if scans == 0 {
		fail("no scan of the log's primary key")
	}
}

// wantMembersByIndex fails when the plan reads the members table other
// than through an index: a list must read the user's memberships, not
// everyone's.
func wantMembersByIndex(t *testing.T, plan planNode) {
	t.Helper()
	plan.walk(func(n planNode) {
		if n.RelationName == "members" && !strings.Contains(n.NodeType, "Index") {
			b, _ := json.Marshal(plan)
			t.Fatalf("members read with %s\nplan: %s", n.NodeType, b)
		}
	})
}

// readsLog reports whether the plan reads a partition of the log with
// rows.
func readsLog(n planNode, emptyPartitions []string) bool {
	found := false
	n.walk(func(c planNode) {
		found = found || strings.HasPrefix(c.RelationName, "messages") && !slices.Contains(emptyPartitions, c.RelationName)
	})
	return found
}

// partitionsRead returns the log partitions a plan reads.
func partitionsRead(plan planNode) []string {
	var out []string
	plan.walk(func(n planNode) {
		name := n.RelationName
		if name == "" && strings.HasSuffix(n.IndexName, "_pkey") {
			name = strings.TrimSuffix(n.IndexName, "_pkey")
		}
		if strings.HasPrefix(name, "messages_p") && !slices.Contains(out, name) {
			out = append(out, name)
		}
	})
	return out
}

// TestReadPlans checks, on a log of 120,000 entries over daily
// partitions, that each step of a history page is an index range scan of
// the primary key in each partition it reads, in seq order (custom and
// generic plans alike); that each step reads only its days' partitions
// (the recent days, the earlier days, all but those); and that the
// conversation list finds each newest entry through the same index.
func TestReadPlans(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.MustPostgres(t).DSN()
	now := time.Date(2027, 3, 10, 15, 0, 0, 0, time.UTC)
	db := MustOpenConfig(t, postgres.Config{DSN: dsn, Now: func() time.Time { return now }})
	// Old entries make older partitions: some days before the recent
	// ones, and a month before.
	u, v := storetest.MustUser(t, db), storetest.MustUser(t, db)
	d, c := storetest.MustDevice(t, db, u), storetest.MustConversation(t, db, parley.Direct, u, v)
	for i, at := range []time.Time{time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 2, 28, 0, 0, 0, 0, time.UTC)} {
		old := textMessage(c, u, d, fmt.Sprint("old", i))
		old.CreatedAt = at
		if _, _, err := db.AppendMessage(ctx, old, hashOf(old.ClientMsgID), nil); err != nil {
			t.Fatal(err)
		}
	}
	conn := MustConnect(t, dsn)
	for _, sql := range []string{
		// Conversations 10001 to 11000 with 100 entries, one an hour from the
		// start of the day before now, and conversation 50000 with 20,000
		// entries over the same days.
		`INSERT INTO messages (conversation_id, seq, id, sender_id, sender_device_id, type, body, created_at)
			SELECT 10000 + c, s, nextval('message_ids'), 1, 1, 'text', 'hello', '2027-03-09 00:00:00+00'::timestamptz + s * interval '1 hour'
			FROM generate_series(1, 1000) c, generate_series(1, 100) s`,
		`INSERT INTO messages (conversation_id, seq, id, sender_id, sender_device_id, type, body, created_at)
			SELECT 50000, s, nextval('message_ids'), 1, 1, 'text', 'hello', '2027-03-09 00:00:00+00'::timestamptz + s * interval '18 seconds'
			FROM generate_series(1, 20000) s`,
		// 100 conversations of 100 entries in the old partition, and 100 in
		// an earlier one.
		`INSERT INTO messages (conversation_id, seq, id, sender_id, sender_device_id, type, body, created_at)
			SELECT 20000 + c, s, nextval('message_ids'), 1, 1, 'text', 'hello', '2027-02-01 00:00:00+00'::timestamptz + s * interval '1 minute'
			FROM generate_series(1, 100) c, generate_series(1, 100) s`,
		`INSERT INTO messages (conversation_id, seq, id, sender_id, sender_device_id, type, body, created_at)
			SELECT 30000 + c, s, nextval('message_ids'), 1, 1, 'text', 'hello', '2027-02-28 00:00:00+00'::timestamptz + s * interval '1 minute'
			FROM generate_series(1, 100) c, generate_series(1, 100) s`,
		`INSERT INTO users (id, handle, handle_norm, password_hash, created_at) VALUES (100000, 'u100000', 'u100000', 'x', now())`,
		`INSERT INTO conversations (id, type, created_by, created_at, last_seq, last_activity_at, last_message_at)
			SELECT 10000 + c, 'group', 100000, now(), 100, now() - c * interval '1 minute', '2027-03-09 00:00:00+00'::timestamptz + 100 * interval '1 hour'
			FROM generate_series(1, 1000) c`,
		`INSERT INTO members (conversation_id, user_id, role, joined_seq, joined_at)
			SELECT 10000 + c, 100000, 'member', 0, now() FROM generate_series(1, 1000, 10) c`,
		// Others' memberships, so that reading all of members costs what it
		// would; the user pins three conversations and archives one, and
		// others archive a few.
		`INSERT INTO users (id, handle, handle_norm, password_hash, created_at)
			SELECT 100000 + u, 'u' || (100000 + u), 'u' || (100000 + u), 'x', now() FROM generate_series(1, 50) u`,
		`INSERT INTO members (conversation_id, user_id, role, joined_seq, joined_at, archived)
			SELECT 10000 + c, 100000 + u, 'member', 0, now(), c % 97 = 0 FROM generate_series(1, 1000) c, generate_series(1, 50) u`,
		`UPDATE members SET pinned_at = now() - (conversation_id - 10000) * interval '1 second'
			WHERE user_id = 100000 AND conversation_id IN (10011, 10501, 10991)`,
		`UPDATE members SET archived = true WHERE user_id = 100000 AND conversation_id = 10021`,
		`ANALYZE`,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	rows, err := conn.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'messages'::regclass AND c.reltuples = 0`)
	if err != nil {
		t.Fatal(err)
	}
	empty, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, asc := range []bool{false, true} {
		name := map[bool]string{false: "NewestPage", true: "OldestPage"}[asc]
		t.Run(name+"Custom", func(t *testing.T) {
			recent := postgres.PageSQL(asc, now, "recent")
			wantIndexScans(t, explain(t, conn, recent, int64(50000), int64(0), int64(math.MaxInt64), 50, now), true, empty)
			wantIndexScans(t, explain(t, conn, recent, int64(50000), int64(9000), int64(12000), 50, now), true, empty)
			// A short conversation may be read through a bitmap and sorted:
			// its whole log is fewer rows than index-order reading saves.
			wantIndexScans(t, explain(t, conn, recent, int64(10500), int64(0), int64(math.MaxInt64), 50, now), false, empty)
			earlier := postgres.PageSQL(asc, now, "earlier")
			wantIndexScans(t, explain(t, conn, earlier, int64(30001), int64(0), int64(math.MaxInt64), 50, now), true, empty)
			all := postgres.PageSQL(asc, now, "all")
			wantIndexScans(t, explain(t, conn, all, int64(50000), int64(0), int64(9000), 50, now), true, empty)
		})
		t.Run(name+"Generic", func(t *testing.T) {
			for i, part := range []string{"recent", "earlier", "older", "oldest", "all"} {
				stmt := fmt.Sprintf("page_%s_%d", strings.ToLower(name), i)
				for _, sql := range []string{
					`SET plan_cache_mode = force_generic_plan`,
					`PREPARE ` + stmt + `(bigint, bigint, bigint, bigint, timestamptz) AS ` + postgres.PageSQL(asc, now, part),
				} {
					if _, err := conn.Exec(ctx, sql); err != nil {
						t.Fatal(err)
					}
				}
				plan := explain(t, conn, `EXECUTE `+stmt+`(50000, 0, 9223372036854775807, 50, '2027-03-10 15:00:00+00')`)
				conn.Exec(ctx, `RESET plan_cache_mode`)
				wantIndexScans(t, plan, true, empty)
				// The recent partitions: RecentDays up to now's day, and the
				// next; the earlier ones: EarlierDays before those.
				since := "messages_p" + now.AddDate(0, 0, 1-postgres.RecentDays).Format("20060102")
				earlier := "messages_p" + now.AddDate(0, 0, 1-postgres.RecentDays-postgres.EarlierDays).Format("20060102")
				reads := map[string]func(p string) bool{
					"recent":  func(p string) bool { return p >= since && p < "messages_p20270312" },
					"earlier": func(p string) bool { return p >= earlier && p < since },
					"older":   func(p string) bool { return p < since || p >= "messages_p20270312" },
					"oldest":  func(p string) bool { return p < earlier || p >= "messages_p20270312" },
					"all":     func(string) bool { return true },
				}
				for _, p := range partitionsRead(plan) {
					if !reads[part](p) {
						t.Fatalf("the %s part of a page reads %s", part, p)
					}
				}
			}
		})
	}
	t.Run("ConversationList", func(t *testing.T) {
		for _, args := range [][]any{
			{int64(100000), false, false, 20, 0, false, now, false}, // the list as shown: without pinned or archived
			{int64(100000), true, true, nil, 0, true, now, true},
			{int64(100000), true, false, 20, 40, true, now, false},
		} {
			plan := explain(t, conn, postgres.UserConversationsSQL, args...)
			wantIndexScans(t, plan, true, empty)
			wantMembersByIndex(t, plan)
		}
		for _, args := range [][]any{
			{int64(100000), true, false, 20, 0, false, now},
			{int64(100000), true, true, nil, 0, true, now},
		} {
			plan := explain(t, conn, postgres.PinnedConversationsSQL, args...)
			wantIndexScans(t, plan, true, empty)
			wantMembersByIndex(t, plan)
		}
		list, err := db.UserConversations(ctx, 100000, parley.ConversationFilter{Limit: 5})
		if err != nil || len(list) != 5 || list[0].LatestMessage == nil || list[0].LatestMessage.Seq != 100 {
			t.Fatalf("conversation list = %v, %v", list, err)
		}
		// A send's unarchive reads only the archived memberships, custom
		// and generic plans alike (the writer plans generically).
		for _, sql := range []string{`SET plan_cache_mode = force_generic_plan`,
			`PREPARE unarchive(bigint[]) AS ` + postgres.UnarchiveSQL} {
			if _, err := conn.Exec(ctx, sql); err != nil {
				t.Fatal(err)
			}
		}
		for _, plan := range []planNode{
			explain(t, conn, postgres.UnarchiveSQL, []int64{10001, 10500}),
			explain(t, conn, `EXECUTE unarchive('{10001,10500}')`),
		} {
			var used bool
			plan.walk(func(n planNode) { used = used || n.IndexName == "members_archived" })
			if !used {
				b, _ := json.Marshal(plan)
				t.Fatalf("unarchive does not use members_archived: %s", b)
			}
		}
		conn.Exec(ctx, `RESET plan_cache_mode`)
		pinned, err := db.UserConversations(ctx, 100000, parley.ConversationFilter{OnlyPinned: true})
		if err != nil || len(pinned) != 3 || pinned[0].Conversation.ID != 10011 || pinned[2].Conversation.ID != 10991 || pinned[0].LatestMessage == nil {
			t.Fatalf("pinned list = %v, %v", pinned, err)
		}
	})
}
