package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/testenv"
	"github.com/parleyhq/parley/postgres"
	"github.com/parleyhq/parley/storetest"
)

// attachedPartitions returns how many of the named tables are partitions of
// messages.
func attachedPartitions(t *testing.T, dsn string, names ...string) int64 {
	t.Helper()
	return queryInt(t, MustConnect(t, dsn), `SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'messages'::regclass AND c.relname = ANY($1)`, names)
}

func tableCount(t *testing.T, dsn string, names ...string) int64 {
	t.Helper()
	return queryInt(t, MustConnect(t, dsn), `SELECT count(*) FROM pg_class WHERE relname = ANY($1)`, names)
}

func TestPartitions(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.MustPostgres(t).DSN()
	now := time.Date(2027, 3, 10, 15, 0, 0, 0, time.UTC)
	db := MustOpenConfig(t, postgres.Config{DSN: dsn, Now: func() time.Time { return now }})
	a, b := storetest.MustUser(t, db), storetest.MustUser(t, db)
	da := storetest.MustDevice(t, db, a)
	conv := storetest.MustConversation(t, db, parley.Direct, a, b)
	send := func(t *testing.T, db *postgres.DB, cmid string, at time.Time) *parley.Message {
		t.Helper()
		m := textMessage(conv, a, da, cmid)
		m.CreatedAt = at
		got, _, err := db.AppendMessage(ctx, m, hashOf(cmid), nil)
		if err != nil {
			t.Fatalf("send at %v: %v", at, err)
		}
		return got
	}

	t.Run("CreatedAheadAtOpen", func(t *testing.T) {
		names := []string{"messages_p20270309", "messages_p20270310", "messages_p20270311", "messages_p20270312", "messages_p20270313"}
		if n := attachedPartitions(t, dsn, names...); n != int64(len(names)) {
			t.Fatalf("%d of %v attached", n, names)
		}
	})
	t.Run("OnDemandWithDaysAhead", func(t *testing.T) {
		send(t, db, "old", time.Date(2025, 1, 5, 23, 59, 59, 999999000, time.UTC))
		if n := attachedPartitions(t, dsn, "messages_p20250105", "messages_p20250106", "messages_p20250107", "messages_p20250108"); n != 4 {
			t.Fatalf("%d partitions created for a new day, want 4", n)
		}
		if n := queryInt(t, MustConnect(t, dsn), `SELECT count(*) FROM messages_p20250105`); n != 1 {
			t.Fatalf("the message is not in its day's partition: %d rows", n)
		}
	})
	t.Run("RetentionDropsWholeDays", func(t *testing.T) {
		base := time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
		for i := range 12 { // 4 a day, 6 hours apart, over 3 days
			send(t, db, fmt.Sprint("r", i), base.Add(time.Duration(i)*6*time.Hour))
		}
		// Before Feb 2 13:00: 1 (Jan 5) + 4 (Feb 1) + 3 (Feb 2, 00:00 to 12:00).
		n, err := db.DeleteMessagesBefore(ctx, base.Add(37*time.Hour))
		if err != nil || n != 8 {
			t.Fatalf("DeleteMessagesBefore = %d, %v; want 8", n, err)
		}
		if n := tableCount(t, dsn, "messages_p20250105", "messages_p20250201"); n != 0 {
			t.Fatalf("%d old partitions left", n)
		}
		if n := attachedPartitions(t, dsn, "messages_p20250202", "messages_p20250203"); n != 2 {
			t.Fatalf("the straddling or a newer partition went away")
		}
		conn := MustConnect(t, dsn)
		if n := queryInt(t, conn, `SELECT count(*) FROM messages_p20250202`); n != 1 {
			t.Fatalf("straddling partition keeps %d rows, want 1", n)
		}
		if n := queryInt(t, conn, `SELECT count(*) FROM message_dedup WHERE created_at < $1`, base.Add(37*time.Hour)); n != 0 {
			t.Fatalf("%d idempotency records left before the cut", n)
		}
		if n := queryInt(t, conn, `SELECT count(*) FROM message_dedup`); n != 5 {
			t.Fatalf("%d idempotency records kept, want 5", n)
		}
	})
	t.Run("DayDroppedByAnotherNode", func(t *testing.T) {
		other := MustOpenConfig(t, postgres.Config{DSN: dsn, Now: func() time.Time { return now }})
		day := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
		send(t, db, "june-1", day)
		if _, err := other.DeleteMessagesBefore(ctx, day.Add(24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if n := tableCount(t, dsn, "messages_p20250601"); n != 0 {
			t.Fatal("partition not dropped")
		}
		// This node still believes the day's partition exists.
		m := send(t, db, "june-2", day)
		if back, err := db.Message(ctx, m.ID); err != nil || back.ClientMsgID != "june-2" {
			t.Fatalf("message in a recreated partition = %+v, %v", back, err)
		}
	})
	t.Run("ErrOutOfRange", func(t *testing.T) {
		m := textMessage(conv, a, da, "far")
		m.CreatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
		_, _, err := db.AppendMessage(ctx, m, hashOf("far"), nil)
		wantCode(t, "AppendMessage", err, parley.EINVALID)
	})
	t.Run("ErrNULInText", func(t *testing.T) {
		m := textMessage(conv, a, da, "nul")
		m.Body = "a\x00b"
		_, _, err := db.AppendMessage(ctx, m, hashOf("nul"), nil)
		wantCode(t, "AppendMessage", err, parley.EINVALID)
	})
}

// TestRecentPages checks pages of logs of several shapes: "active", whose
// newest entries are a minute apart; "sparse", five hours apart, so that
// pages reach from the recent partitions into the earlier and the older
// ones; "short", fewer entries than a page, the oldest a month old; and
// "clock", where a clock put some entries' creation times far out of seq
// order, within the recent and earlier days and before them. Some entries
// have expired. Every page, with and without a floor and a ceiling, must
// equal the one computed from the whole log, whichever steps answered it.
func TestRecentPages(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.MustPostgres(t).DSN()
	now := time.Now().UTC()
	db := MustOpenConfig(t, postgres.Config{DSN: dsn})
	conn := MustConnect(t, dsn)
	day := 24 * time.Hour
	for _, shape := range []struct {
		name string
		n    int64
		at   func(i int64) time.Time // the creation time of seq i of n
	}{
		{"active", 120, func(i int64) time.Time { return now.Add(time.Duration(i-120) * time.Minute) }},
		{"sparse", 150, func(i int64) time.Time { return now.Add(time.Duration(i-150) * 5 * time.Hour) }},
		{"short", 30, func(i int64) time.Time { return now.Add(time.Duration(i-30) * day) }},
		{"clock", 60, func(i int64) time.Time {
			switch {
			case i <= 5:
				return now.Add(-40 * day) // old history
			case i == 17 || i == 30:
				return now.Add(-30 * day) // a node whose clock was wrong
			case i == 22:
				return now.Add(-3 * day)
			case i == 41 || i == 45:
				return now.Add(-10 * day)
			}
			return now.Add(time.Duration(i-60) * time.Minute)
		}},
	} {
		t.Run(shape.name, func(t *testing.T) {
			a, b := storetest.MustUser(t, db), storetest.MustUser(t, db)
			da := storetest.MustDevice(t, db, a)
			conv := storetest.MustConversation(t, db, parley.Direct, a, b)
			for i := int64(1); i <= shape.n; i++ {
				m := textMessage(conv, a, da, fmt.Sprint("m", i))
				m.CreatedAt = shape.at(i)
				if _, _, err := db.AppendMessage(ctx, m, hashOf(m.ClientMsgID), nil); err != nil {
					t.Fatal(err)
				}
			}
			// Entries that expired: the newest, one in the middle, the
			// first; one that has not yet.
			expired := map[int64]bool{shape.n: true, shape.n / 2: true, 1: true}
			if _, err := conn.Exec(ctx, `UPDATE messages SET expires_at = CASE WHEN seq = $2 THEN $3::timestamptz ELSE $4::timestamptz END
				WHERE conversation_id = $1 AND seq = ANY($5)`, int64(conv.ID), shape.n-1, now.Add(time.Hour), now.Add(-time.Hour),
				[]int64{1, shape.n / 2, shape.n - 1, shape.n}); err != nil {
				t.Fatal(err)
			}
			if got := queryInt(t, conn, `SELECT count(*) FROM messages WHERE conversation_id = $1`, int64(conv.ID)); got != shape.n {
				t.Fatalf("%d entries stored", got)
			}
			want := func(lo, hi int64, limit int, asc, unexpired bool) []int64 {
				var in []int64
				for s := int64(1); s <= shape.n; s++ {
					if s > lo && s <= hi && !(unexpired && expired[s]) {
						in = append(in, s)
					}
				}
				if len(in) > limit {
					if asc {
						in = in[:limit]
					} else {
						in = in[len(in)-limit:]
					}
				}
				return in
			}
			n := shape.n
			for _, lo := range []int64{0, 3, 10, 16, 17, 25, 29, 35, n - 60, n - 30, n - 2} {
				for _, hi := range []int64{12, 17, 18, 30, 31, 40, n - 50, n - 20, n - 1, n, 1000} {
					if lo < 0 || hi <= 0 {
						continue // not a window: a zero ceiling is none
					}
					for _, limit := range []int{1, 3, 10, 50} {
						for _, asc := range []bool{false, true} {
							for _, unexpired := range []bool{false, true} {
								f := parley.MessageFilter{Floor: lo, Ceiling: hi, Limit: limit, Ascending: asc}
								if limit == 10 {
									f.Ceiling, f.BeforeSeq = 0, hi+1 // a page while scrolling back
								}
								if unexpired {
									f.Now = now
								}
								ms, err := db.Messages(ctx, conv.ID, f)
								if err != nil {
									t.Fatal(err)
								}
								got := make([]int64, len(ms))
								for i, m := range ms {
									got[i] = m.Seq
								}
								if w := want(lo, hi, limit, asc, unexpired); fmt.Sprint(got) != fmt.Sprint(w) && !(len(got) == 0 && len(w) == 0) {
									t.Fatalf("page %+v = %v, want %v", f, got, w)
								}
							}
						}
					}
				}
			}
			// The newest page, as the conversation opens.
			ms, err := db.Messages(ctx, conv.ID, parley.MessageFilter{Now: now})
			if w := want(0, n, parley.DefaultHistoryLimit, false, true); err != nil || len(ms) != len(w) || ms[len(ms)-1].Seq != w[len(w)-1] {
				t.Fatalf("newest page = %d entries, %v; want %v", len(ms), err, w)
			}
		})
	}
}
