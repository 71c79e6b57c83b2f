package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/migrations"
	"github.com/parleyhq/parley/internal/textsearch"
	"github.com/parleyhq/parley/sqlite"
	"github.com/parleyhq/parley/storetest"
)

// TestSearchBackfill: a database made before the search index gets the
// messages it holds indexed by the migration that adds it.
func TestSearchBackfill(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "parley.db")
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	ms, err := migrations.Load(os.DirFS("."), "migrations")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Version >= 8 {
			break
		}
		if _, err := raw.Exec(m.SQL); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		if _, err := raw.Exec(`INSERT INTO schema_migrations VALUES (?, ?, 0)`, m.Version, m.Name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.Exec(`INSERT INTO conversations (id, type, created_by, created_at, last_seq, last_activity_at) VALUES (1, 'group', 1, 0, 5, 0)`); err != nil {
		t.Fatal(err)
	}
	for i, m := range storetest.BackfillFixture {
		var recalled any
		if m.Recalled {
			recalled = i + 1
		}
		if _, err := raw.Exec(`INSERT INTO messages (id, conversation_id, seq, sender_id, sender_device_id, type, body, created_at, recalled_at)
			VALUES (?, 1, ?, 1, 1, ?, ?, ?, ?)`, i+1, i+1, string(m.Type), m.Body, i+1, recalled); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()

	db, err := sqlite.Open(ctx, sqlite.Config{Path: path, Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	storetest.CheckBackfill(t, db)
}

// searchFile is a store on a file, with connections of the test's own to
// the store's file and to its search index's.
type searchFile struct {
	t     *testing.T
	path  string
	db    *sqlite.DB
	raw   *sql.DB       // the store's file
	index *sql.DB       // the search index's file
	delay time.Duration // Config.SearchDelay
}

func openSearchFile(t *testing.T, delay time.Duration) *searchFile {
	f := &searchFile{t: t, path: filepath.Join(t.TempDir(), "parley.db"), delay: delay}
	f.open()
	for _, c := range []struct {
		db   **sql.DB
		path string
	}{{&f.raw, f.path}, {&f.index, f.path + "-search"}} {
		db, err := sql.Open("sqlite", "file:"+c.path+"?_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		*c.db = db
	}
	return f
}

// open opens the store and waits for the index's first catch-up, which
// starts as it opens.
func (f *searchFile) open() {
	f.t.Helper()
	db, err := sqlite.Open(context.Background(), sqlite.Config{Path: f.path, SearchDelay: f.delay})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { db.Close() })
	f.db = db
	if err := sqlite.SyncSearch(context.Background(), db); err != nil {
		f.t.Fatal(err)
	}
}

// direct makes a user with a device and a 1:1 conversation to send in.
func (f *searchFile) direct() (*parley.User, *parley.Device, *parley.Conversation) {
	f.t.Helper()
	a, b := storetest.MustUser(f.t, f.db), storetest.MustUser(f.t, f.db)
	return a, storetest.MustDevice(f.t, f.db, a), storetest.MustConversation(f.t, f.db, parley.Direct, a, b)
}

// edit edits m to body, as sender a on device d.
func (f *searchFile) edit(conv *parley.Conversation, a *parley.User, d *parley.Device, m *parley.Message, body string) {
	f.t.Helper()
	if _, _, err := f.db.EditMessage(context.Background(), &parley.Message{ConversationID: conv.ID, SenderID: a.ID, SenderDeviceID: d.ID,
		Type: parley.EditEntry, EditOf: m.ID, Body: body, CreatedAt: time.Now()}); err != nil {
		f.t.Fatal(err)
	}
}

// recall recalls m, as sender a on device d.
func (f *searchFile) recall(conv *parley.Conversation, a *parley.User, d *parley.Device, m *parley.Message) {
	f.t.Helper()
	if _, err := f.db.RecallMessage(context.Background(), &parley.Message{ConversationID: conv.ID, SenderID: a.ID, SenderDeviceID: d.ID,
		Type: parley.RecallEntry, RecallOf: m.ID, CreatedAt: time.Now()}); err != nil {
		f.t.Fatal(err)
	}
}

// sync waits until the index holds everything committed.
func (f *searchFile) sync() {
	f.t.Helper()
	if err := sqlite.SyncSearch(context.Background(), f.db); err != nil {
		f.t.Fatal(err)
	}
}

// progress returns the index's recorded progress and the log's last id.
func (f *searchFile) progress() (through, last int64) {
	f.t.Helper()
	if err := f.index.QueryRow(`SELECT indexed_through FROM search_progress`).Scan(&through); err != nil {
		f.t.Fatal(err)
	}
	if err := f.raw.QueryRow(`SELECT coalesce(max(id), 0) FROM messages`).Scan(&last); err != nil {
		f.t.Fatal(err)
	}
	return through, last
}

// caughtUp waits until the index has caught up with the log, without a
// search asking it to.
func (f *searchFile) caughtUp(within time.Duration) {
	f.t.Helper()
	deadline := time.Now().Add(within)
	for {
		if through, last := f.progress(); through == last {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("the index did not catch up within %v", within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// indexed returns the ids the index holds entries for.
func (f *searchFile) indexed() []parley.ID {
	f.t.Helper()
	return f.ids(`SELECT rowid FROM message_search ORDER BY rowid`)
}

// holding returns the ids of the index's entries with the word in
// conversation conv, read from the file itself.
func (f *searchFile) holding(conv *parley.Conversation, word string) []parley.ID {
	f.t.Helper()
	return f.ids(`SELECT rowid FROM message_search WHERE message_search MATCH ? ORDER BY rowid`, fmt.Sprintf(`"%d_%s"`, conv.ID, word))
}

func (f *searchFile) ids(q string, args ...any) []parley.ID {
	f.t.Helper()
	rows, err := f.index.Query(q, args...)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var ids []parley.ID
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			f.t.Fatal(err)
		}
		ids = append(ids, parley.ID(id))
	}
	if err := rows.Err(); err != nil {
		f.t.Fatal(err)
	}
	return ids
}

// find returns the ids of what a search for q in conv finds.
func (f *searchFile) find(conv *parley.Conversation, q string) []parley.ID {
	f.t.Helper()
	terms, err := textsearch.Parse(q)
	if err != nil {
		f.t.Fatal(err)
	}
	ms, err := f.db.SearchMessages(context.Background(), parley.SearchFilter{Terms: terms,
		Windows: []parley.SearchWindow{{ConversationID: conv.ID, Floor: 0, Ceiling: 1 << 40}}, Now: time.Now()})
	if err != nil {
		f.t.Fatalf("search %q: %v", q, err)
	}
	var ids []parley.ID
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	return ids
}

func wantIDs(t *testing.T, what string, got []parley.ID, want ...parley.ID) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

// TestSearchIndexCatchesUp: search entries are written after their
// messages, hundreds at a time, by the indexer; a search finds what was
// sent before it all the same, without waiting for the index (it matches
// the entries the index lacks itself), and the index follows recalls and
// edits, of entries it holds and of entries it has not caught up with
// yet, as searches do before it has.
func TestSearchIndexCatchesUp(t *testing.T) {
	f := openSearchFile(t, time.Hour)
	a, d, conv := f.direct()

	recalled := storetest.MustSend(t, f.db, conv, a, d, "c1", "a secret said too soon")
	edited := storetest.MustSend(t, f.db, conv, a, d, "c2", "meet at noon")
	plain := storetest.MustSend(t, f.db, conv, a, d, "c3", "bring the map")
	if through, last := f.progress(); through >= last {
		t.Fatalf("index through %d of %d: the sends were indexed with their messages", through, last)
	}
	wantIDs(t, "indexed before any search", f.indexed())
	wantIDs(t, "find map", f.find(conv, "map"), plain.ID)
	wantIDs(t, "find me (a prefix)", f.find(conv, "me"), edited.ID)
	wantIDs(t, "find \"said too\"", f.find(conv, `"said too"`), recalled.ID)
	wantIDs(t, "find \"too said\"", f.find(conv, `"too said"`))
	if through, last := f.progress(); through >= last {
		t.Fatalf("after a search the index is through %d of %d: the search waited for it", through, last)
	}
	f.sync()
	wantIDs(t, "indexed after a catch-up", f.indexed(), recalled.ID, edited.ID, plain.ID)

	// A recall and an edit of entries the index holds: searches see them
	// before the index does.
	f.recall(conv, a, d, recalled)
	f.edit(conv, a, d, edited, "meet at dusk")
	wantIDs(t, "find secret", f.find(conv, "secret"))
	wantIDs(t, "find noon", f.find(conv, "noon"))
	wantIDs(t, "find dusk", f.find(conv, "dusk"), edited.ID)
	wantIDs(t, "find meet", f.find(conv, "meet"), edited.ID)
	wantIDs(t, "entries with noon before the catch-up", f.holding(conv, "noon"), edited.ID)
	f.sync()
	// The index itself, not only what searches show of it.
	wantIDs(t, "entries with secret after the recall", f.holding(conv, "secret"))
	wantIDs(t, "entries with noon after the edit", f.holding(conv, "noon"))
	wantIDs(t, "entries with dusk after the edit", f.holding(conv, "dusk"), edited.ID)
	wantIDs(t, "indexed at the end", f.indexed(), edited.ID, plain.ID)

	// An edit and a recall of messages the index has not caught up with
	// yet: the catch-up writes them as they stand.
	late := storetest.MustSend(t, f.db, conv, a, d, "c4", "bring the compass")
	gone := storetest.MustSend(t, f.db, conv, a, d, "c5", "bring the rope")
	f.edit(conv, a, d, late, "bring the lamp")
	f.recall(conv, a, d, gone)
	wantIDs(t, "find bring", f.find(conv, "bring"), late.ID, plain.ID)
	wantIDs(t, "find lamp", f.find(conv, "lamp"), late.ID)
	wantIDs(t, "find compass", f.find(conv, "compass"))
	wantIDs(t, "find rope", f.find(conv, "rope"))
	f.sync()
	wantIDs(t, "find bring from the index", f.find(conv, "bring"), late.ID, plain.ID)
	wantIDs(t, "entries with compass", f.holding(conv, "compass"))
	wantIDs(t, "entries with rope", f.holding(conv, "rope"))
	wantIDs(t, "entries with lamp", f.holding(conv, "lamp"), late.ID)
}

// TestSearchIndexCatchesUpAlone: entries left waiting when sends stop are
// indexed after Config.SearchDelay, with no search to ask for them.
func TestSearchIndexCatchesUpAlone(t *testing.T) {
	f := openSearchFile(t, 50*time.Millisecond)
	a, d, conv := f.direct()
	m := storetest.MustSend(t, f.db, conv, a, d, "c1", "left alone")
	f.caughtUp(10 * time.Second)
	wantIDs(t, "indexed", f.indexed(), m.ID)
}

// TestSearchIndexCatchesUpInBatches: once a few hundred entries wait, the
// indexer writes them without waiting for Config.SearchDelay or a search.
func TestSearchIndexCatchesUpInBatches(t *testing.T) {
	f := openSearchFile(t, time.Hour)
	if _, err := sqlite.BulkLoadSearch(context.Background(), f.db, 1, 300, 300, time.Now(), func() string { return "busy words" }); err != nil {
		t.Fatal(err)
	}
	f.caughtUp(10 * time.Second)
	if n := len(f.indexed()); n != 300 {
		t.Fatalf("%d entries indexed, want 300", n)
	}
}

// TestSearchIndexAfterFailedBatch: a batch that fails after its messages
// went in leaves neither them nor their search entries; the index goes on
// from what the log holds.
func TestSearchIndexAfterFailedBatch(t *testing.T) {
	ctx := context.Background()
	f := openSearchFile(t, time.Hour)
	a, d, conv := f.direct()
	before := storetest.MustSend(t, f.db, conv, a, d, "c1", "kept before")
	lost := &parley.Message{ConversationID: conv.ID, SenderID: a.ID, SenderDeviceID: d.ID, ClientMsgID: "c2",
		Type: parley.TextMessage, Body: "kept nowhere", CreatedAt: time.Now()}
	if err := sqlite.FailAfterAppend(ctx, f.db, lost); err == nil {
		t.Fatal("the failing batch succeeded")
	}
	after := storetest.MustSend(t, f.db, conv, a, d, "c3", "kept after")
	wantIDs(t, "find kept", f.find(conv, "kept"), after.ID, before.ID)
	wantIDs(t, "find nowhere", f.find(conv, "nowhere"))
	f.sync()
	wantIDs(t, "indexed", f.indexed(), before.ID, after.ID)
	if through, last := f.progress(); through != last || last != int64(after.ID) {
		t.Fatalf("index through %d, log's last %d, want both %d", through, last, after.ID)
	}
}

// TestSearchIndexAfterCrash: a catch-up lost with a crash (its transaction
// never committed) is redone from the log when the store opens again; a
// clean close leaves nothing to redo. An index file that is gone, of
// another format, or ahead of the log is built again from the log.
func TestSearchIndexAfterCrash(t *testing.T) {
	f := openSearchFile(t, time.Hour)
	a, d, conv := f.direct()
	first := storetest.MustSend(t, f.db, conv, a, d, "c1", "first words")
	wantIDs(t, "find first", f.find(conv, "first"), first.ID)
	second := storetest.MustSend(t, f.db, conv, a, d, "c2", "second words")
	third := storetest.MustSend(t, f.db, conv, a, d, "c3", "third words")
	if err := f.db.Close(); err != nil {
		t.Fatal(err)
	}
	if through, last := f.progress(); through != last {
		t.Fatalf("after a clean close the index is through %d of %d", through, last)
	}
	all := []parley.ID{first.ID, second.ID, third.ID}
	wantIDs(t, "indexed after the close", f.indexed(), all...)

	for _, c := range []struct {
		what   string
		breaks []string
	}{
		{"a lost catch-up", []string{fmt.Sprintf(`DELETE FROM message_search WHERE rowid > %d`, first.ID),
			fmt.Sprintf(`UPDATE search_progress SET indexed_through = %d`, first.ID)}},
		{"a file ahead of the log", []string{`DELETE FROM message_search`, `UPDATE search_progress SET indexed_through = 1000000`}},
		{"another format", []string{`DELETE FROM message_search`, `PRAGMA user_version = 99`}},
		{"an emptied file", []string{`DROP TABLE message_search`, `DROP TABLE search_progress`, `PRAGMA user_version = 0`}},
	} {
		for _, q := range c.breaks {
			if _, err := f.index.Exec(q); err != nil {
				t.Fatalf("%s: %v", c.what, err)
			}
		}
		f.open()
		wantIDs(t, "find words after "+c.what, f.find(conv, "words"), third.ID, second.ID, first.ID)
		wantIDs(t, "indexed after "+c.what, f.indexed(), all...)
		if through, last := f.progress(); through != last {
			t.Fatalf("after %s the index is through %d of %d", c.what, through, last)
		}
		if err := f.db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// The file itself removed: the store makes a new one.
	f.index.Close()
	for _, suffix := range []string{"-search", "-search-wal", "-search-shm"} {
		if err := os.Remove(f.path + suffix); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	f.open()
	wantIDs(t, "find words after the file was removed", f.find(conv, "words"), third.ID, second.ID, first.ID)
}

// TestSearchIndexForgetsDeleted: messages that retention or expiry
// deletes leave the index too; the ids they had are not used again, even
// when they were the newest and the store restarts.
func TestSearchIndexForgetsDeleted(t *testing.T) {
	ctx := context.Background()
	f := openSearchFile(t, time.Hour)
	a, d, conv := f.direct()
	old := storetest.MustSend(t, f.db, conv, a, d, "c1", "old news")
	wantIDs(t, "find news", f.find(conv, "news"), old.ID)
	if _, err := f.db.DeleteMessagesBefore(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	wantIDs(t, "find news after retention", f.find(conv, "news"))
	f.sync()
	wantIDs(t, "indexed after retention", f.indexed())

	// Expiry of a message the index has not caught up with yet.
	soon := storetest.MustSend(t, f.db, conv, a, d, "c2", "fleeting news")
	if _, err := f.raw.Exec(`UPDATE messages SET expires_at = 1 WHERE id = ?`, int64(soon.ID)); err != nil {
		t.Fatal(err)
	}
	if n, _, err := f.db.DeleteExpiredMessages(ctx, time.Now(), 100); err != nil || n != 1 {
		t.Fatalf("DeleteExpiredMessages = %d, %v; want 1", n, err)
	}
	wantIDs(t, "find news after expiry", f.find(conv, "news"))
	f.sync()
	wantIDs(t, "indexed after expiry", f.indexed())

	var kept []int64
	rows, err := f.raw.Query(`SELECT message_id FROM deleted_messages`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		kept = append(kept, id)
	}
	rows.Close()
	if !slices.Equal(kept, []int64{int64(soon.ID)}) {
		t.Fatalf("deleted_messages holds %v, want only the highest deleted id %d", kept, soon.ID)
	}
	if err := f.db.Close(); err != nil {
		t.Fatal(err)
	}
	f.open()
	next := storetest.MustSend(t, f.db, conv, a, d, "c3", "fresh news")
	if next.ID <= soon.ID {
		t.Fatalf("a new message has id %d, not above the deleted %d", next.ID, soon.ID)
	}
	wantIDs(t, "find news after the restart", f.find(conv, "news"), next.ID)
}

// TestSearchIndexTakesEntriesFromTheWriter: the indexer takes new entries
// from what the writer handed over with its commits, without reading the
// log back, edits and recalls included; entries written past the writer's
// hand-over (here a bulk load in SQL) send it back to the log, and it
// finds them there.
func TestSearchIndexTakesEntriesFromTheWriter(t *testing.T) {
	ctx := context.Background()
	f := openSearchFile(t, time.Hour)
	a, d, conv := f.direct()
	first := storetest.MustSend(t, f.db, conv, a, d, "c1", "opening words")
	wantIDs(t, "find opening", f.find(conv, "opening"), first.ID)
	reads := sqlite.SearchLogReads(f.db)

	edited := storetest.MustSend(t, f.db, conv, a, d, "c2", "meet at noon")
	recalled := storetest.MustSend(t, f.db, conv, a, d, "c3", "a secret at noon")
	f.edit(conv, a, d, edited, "meet at dusk")
	f.recall(conv, a, d, recalled)
	wantIDs(t, "find noon", f.find(conv, "noon"))
	wantIDs(t, "find dusk", f.find(conv, "dusk"), edited.ID)
	f.sync()
	wantIDs(t, "entries with noon", f.holding(conv, "noon"))
	wantIDs(t, "indexed", f.indexed(), first.ID, edited.ID)
	if n := sqlite.SearchLogReads(f.db); n != reads {
		t.Fatalf("the indexer read the log %d times for entries the writer handed over", n-reads)
	}

	bulk, err := sqlite.BulkLoad(ctx, f.db, 1, 5, time.Now().UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	after := storetest.MustSend(t, f.db, conv, a, d, "c4", "after the load")
	wantIDs(t, "find load", f.find(conv, "load"), after.ID)
	if n := sqlite.SearchLogReads(f.db); n == reads {
		t.Fatal("entries no commit handed over were not read from the log")
	}
	f.sync()
	if got := f.holding(&parley.Conversation{ID: parley.ID(bulk)}, "ordinary"); len(got) != 5 {
		t.Fatalf("%d bulk-loaded entries indexed, want 5", len(got))
	}
	reads = sqlite.SearchLogReads(f.db)
	last := storetest.MustSend(t, f.db, conv, a, d, "c5", "last words")
	wantIDs(t, "find words", f.find(conv, "words"), last.ID, first.ID)
	if n := sqlite.SearchLogReads(f.db); n != reads {
		t.Fatalf("after the load the indexer read the log %d times for entries handed over", n-reads)
	}
}

// TestSearchTailMatchesIndex: what a search finds among the entries the
// index has not caught up with (matched in Go, edits and recalls of
// indexed entries included) is what it finds once the index has: for
// prefixes, phrases, words of scripts written without spaces, marks,
// several conversations, and page after page.
func TestSearchTailMatchesIndex(t *testing.T) {
	f := openSearchFile(t, time.Hour)
	a, b := storetest.MustUser(t, f.db), storetest.MustUser(t, f.db)
	d := storetest.MustDevice(t, f.db, a)
	convs := []*parley.Conversation{
		storetest.MustConversation(t, f.db, parley.Direct, a, b),
		storetest.MustConversation(t, f.db, parley.Group, a, b),
		storetest.MustConversation(t, f.db, parley.Group, a),
	}
	words := []string{"alpha", "Alphabet", "beta", "gamma", "東京", "タワー", "café", "cafe", "naïve", "x", "ab", "abc",
		"1234", "Ünïcode", "e\u0301clair", "beta-gamma", "ALPHA"}
	rng := rand.New(rand.NewPCG(7, 11))
	var sent []*parley.Message
	send := func(n int) {
		for range n {
			var body []string
			for range 1 + rng.IntN(6) {
				body = append(body, words[rng.IntN(len(words))])
			}
			conv := convs[rng.IntN(len(convs))]
			sent = append(sent, storetest.MustSend(t, f.db, conv, a, d, fmt.Sprintf("m%d", len(sent)), strings.Join(body, " ")))
		}
	}
	change := func(n int) {
		for range n {
			m := sent[rng.IntN(len(sent))]
			if m.RecalledAt != nil {
				continue
			}
			conv := &parley.Conversation{ID: m.ConversationID}
			if rng.IntN(3) == 0 {
				f.recall(conv, a, d, m)
				m.RecalledAt = &m.CreatedAt
			} else {
				f.edit(conv, a, d, m, words[rng.IntN(len(words))]+" edited "+words[rng.IntN(len(words))])
			}
		}
	}
	queries := []string{"al", "alpha", "alphabet", `"alpha beta"`, `"beta gamma"`, "東京", "京タ", "caf", "cafe", "café",
		"be ga", "x", "ab", "abc", "zz", "naïve", "1234 alpha", "edited", "éclair", "ünïcode", `"edited alpha"`}
	// search returns every page of q's results over convs, limit a page.
	search := func(q string, limit int) []parley.ID {
		terms, err := textsearch.Parse(q)
		if err != nil {
			t.Fatal(err)
		}
		var windows []parley.SearchWindow
		for _, c := range convs {
			windows = append(windows, parley.SearchWindow{ConversationID: c.ID, Floor: 0, Ceiling: 1 << 40})
		}
		var ids []parley.ID
		var before parley.ID
		for {
			ms, err := f.db.SearchMessages(context.Background(), parley.SearchFilter{Terms: terms, Windows: windows,
				Limit: limit, BeforeID: before, Now: time.Now()})
			if err != nil {
				t.Fatalf("search %q: %v", q, err)
			}
			for _, m := range ms {
				ids = append(ids, m.ID)
			}
			if len(ms) < limit {
				return ids
			}
			before = ms[len(ms)-1].ID
		}
	}
	// Half the messages and changes in the index, half not yet.
	send(60)
	change(15)
	f.sync()
	send(60)
	change(30)
	if through, last := f.progress(); through >= last {
		t.Fatalf("the index caught up (%d of %d) before the searches", through, last)
	}
	found := 0
	before := map[string][]parley.ID{}
	for _, q := range queries {
		before[q] = search(q, 7)
		found += len(before[q])
		if through, last := f.progress(); through >= last {
			t.Fatalf("a search for %q waited for the index", q)
		}
	}
	if found < 100 {
		t.Fatalf("the queries found only %d messages: the test matches too little to tell", found)
	}
	f.sync()
	for _, q := range queries {
		wantIDs(t, fmt.Sprintf("%q found before the catch-up, against after", q), before[q], search(q, 7)...)
		wantIDs(t, fmt.Sprintf("%q in pages of 7, against one page", q), before[q], search(q, 1000)...)
	}
}

// TestSearchIndexForgetsDeletedFromTheTail: messages deleted before the
// index caught up with them, whose entries the tail holds after a part
// the index reads from the log, leave no entry: the catch-up goes on from
// the log to the tail, and the deleted entries are taken out after.
func TestSearchIndexForgetsDeletedFromTheTail(t *testing.T) {
	ctx := context.Background()
	f := openSearchFile(t, time.Hour)
	a, d, conv := f.direct()
	first := storetest.MustSend(t, f.db, conv, a, d, "c0", "indexed words")
	f.sync()
	// Rows written outside the writer's appends: the tail starts over
	// after them, ahead of the index.
	if _, err := sqlite.BulkLoad(ctx, f.db, 1, 5, time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	var gone []any
	for i := range 3 {
		gone = append(gone, int64(storetest.MustSend(t, f.db, conv, a, d, fmt.Sprint("g", i), "fleeting words").ID))
	}
	if _, err := f.raw.Exec(`UPDATE messages SET expires_at = 1 WHERE id IN (?,?,?)`, gone...); err != nil {
		t.Fatal(err)
	}
	if n, _, err := f.db.DeleteExpiredMessages(ctx, time.Now(), 100); err != nil || n != 3 {
		t.Fatalf("DeleteExpiredMessages = %d, %v; want 3", n, err)
	}
	f.sync()
	later := storetest.MustSend(t, f.db, conv, a, d, "c9", "later words")
	f.sync()
	wantIDs(t, "entries with fleeting", f.holding(conv, "fleeting"))
	wantIDs(t, "entries with words", f.holding(conv, "words"), first.ID, later.ID)
	wantIDs(t, "find words", f.find(conv, "words"), later.ID, first.ID)
}

// TestSearchCatchUpDuringSearch: the index catching up while a search
// runs (between its look at the tail and its index queries) neither
// doubles nor drops a result: the entries the search took from the tail
// stay as they were while the catch-up trims it (an in-place trim loses
// two of the four here), and what the index took past the progress the
// search saw is not counted twice.
func TestSearchCatchUpDuringSearch(t *testing.T) {
	f := openSearchFile(t, time.Hour)
	a, d, conv := f.direct()
	var want []parley.ID
	for i := range 4 {
		want = append([]parley.ID{storetest.MustSend(t, f.db, conv, a, d, fmt.Sprint("c", i), "caught words").ID}, want...)
		if i == 1 {
			f.sync()
		}
	}
	caughtUp := 0
	sqlite.AfterSearchSnapshot(f.db, func() {
		if through, last := f.progress(); through < last {
			f.sync()
			caughtUp++
		}
	})
	wantIDs(t, "find caught", f.find(conv, "caught"), want...)
	if caughtUp != 1 {
		t.Fatalf("the index caught up during %d searches, want 1", caughtUp)
	}
}

// TestSearchWaitsWhenFarBehind: a search matches the few entries the
// index lacks itself, even while the index cannot write at all; once it
// lacks more than 1,024 it waits for a catch-up.
func TestSearchWaitsWhenFarBehind(t *testing.T) {
	ctx := context.Background()
	f := openSearchFile(t, time.Hour)
	a, d, conv := f.direct()
	// Another connection holds the index file's write lock: no catch-up
	// commits until it lets go (within the indexer's 10 s busy timeout).
	lock, err := f.index.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if _, err := lock.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	locked := true
	release := func() {
		if locked {
			locked = false
			if _, err := lock.ExecContext(ctx, "ROLLBACK"); err != nil {
				t.Fatal(err)
			}
		}
	}
	defer release()

	near := storetest.MustSend(t, f.db, conv, a, d, "c1", "near words")
	wantIDs(t, "find near while the index is locked", f.find(conv, "near"), near.ID)

	first, err := sqlite.BulkLoadSearch(ctx, f.db, 1, 1100, 256, time.Now(), func() string { return "far words" })
	if err != nil {
		t.Fatal(err)
	}
	terms, err := textsearch.Parse("far")
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		ms  []*parley.Message
		err error
	}
	found := make(chan result, 1)
	go func() {
		ms, err := f.db.SearchMessages(ctx, parley.SearchFilter{Terms: terms, Now: time.Now(),
			Windows: []parley.SearchWindow{{ConversationID: parley.ID(first), Floor: 0, Ceiling: 1 << 40}}})
		found <- result{ms, err}
	}()
	for deadline := time.Now().Add(5 * time.Second); sqlite.SearchWaiting(f.db) == 0; time.Sleep(time.Millisecond) {
		select {
		case r := <-found:
			t.Fatalf("a search over 1,100 entries the index lacks answered (%d results, %v) without waiting for it", len(r.ms), r.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the search did not wait for the index")
		}
	}
	release()
	if r := <-found; r.err != nil || len(r.ms) != parley.DefaultSearchLimit {
		t.Fatalf("%d results, %v; want a full page of %d", len(r.ms), r.err, parley.DefaultSearchLimit)
	}
	if through, last := f.progress(); through != last {
		t.Fatalf("after the search the index is through %d of %d", through, last)
	}
}
