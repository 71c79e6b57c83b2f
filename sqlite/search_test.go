package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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

// searchFile is a store on a file, with a connection of the test's own that
// reads how far the search index has caught up.
type searchFile struct {
	t     *testing.T
	path  string
	db    *sqlite.DB
	raw   *sql.DB
	delay time.Duration // Config.SearchDelay
}

func openSearchFile(t *testing.T, delay time.Duration) *searchFile {
	f := &searchFile{t: t, path: filepath.Join(t.TempDir(), "parley.db"), delay: delay}
	f.open()
	raw, err := sql.Open("sqlite", "file:"+f.path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	f.raw = raw
	return f
}

func (f *searchFile) open() {
	f.t.Helper()
	db, err := sqlite.Open(context.Background(), sqlite.Config{Path: f.path, SearchDelay: f.delay})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { db.Close() })
	f.db = db
}

// direct makes a user with a device and a 1:1 conversation to send in.
func (f *searchFile) direct() (*parley.User, *parley.Device, *parley.Conversation) {
	f.t.Helper()
	a, b := storetest.MustUser(f.t, f.db), storetest.MustUser(f.t, f.db)
	return a, storetest.MustDevice(f.t, f.db, a), storetest.MustConversation(f.t, f.db, parley.Direct, a, b)
}

// progress returns the index's recorded progress and the log's last id.
func (f *searchFile) progress() (through, last int64) {
	f.t.Helper()
	if err := f.raw.QueryRow(`SELECT indexed_through, (SELECT coalesce(max(id), 0) FROM messages) FROM search_progress`).Scan(&through, &last); err != nil {
		f.t.Fatal(err)
	}
	return through, last
}

// indexed returns the ids the index holds entries for.
func (f *searchFile) indexed() []parley.ID {
	f.t.Helper()
	rows, err := f.raw.Query(`SELECT rowid FROM message_search ORDER BY rowid`)
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
// messages, a few hundred at a time; whatever a search, a recall or an
// edit meets before that behaves as if they had been written with them.
func TestSearchIndexCatchesUp(t *testing.T) {
	ctx := context.Background()
	f := openSearchFile(t, time.Hour)
	a, d, conv := f.direct()

	recalled := storetest.MustSend(t, f.db, conv, a, d, "c1", "a secret said too soon")
	edited := storetest.MustSend(t, f.db, conv, a, d, "c2", "meet at noon")
	plain := storetest.MustSend(t, f.db, conv, a, d, "c3", "bring the map")
	if through, last := f.progress(); through >= last {
		t.Fatalf("index through %d of %d: the sends were indexed with their messages", through, last)
	}
	wantIDs(t, "indexed before any search", f.indexed())

	if _, err := f.db.RecallMessage(ctx, &parley.Message{ConversationID: conv.ID, SenderID: a.ID, SenderDeviceID: d.ID,
		Type: parley.RecallEntry, RecallOf: recalled.ID, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.db.EditMessage(ctx, &parley.Message{ConversationID: conv.ID, SenderID: a.ID, SenderDeviceID: d.ID,
		Type: parley.EditEntry, EditOf: edited.ID, Body: "meet at dusk", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	wantIDs(t, "find secret", f.find(conv, "secret"))
	wantIDs(t, "find noon", f.find(conv, "noon"))
	wantIDs(t, "find dusk", f.find(conv, "dusk"), edited.ID)
	wantIDs(t, "find map", f.find(conv, "map"), plain.ID)
	if through, last := f.progress(); through != last {
		t.Fatalf("after a search the index is through %d of %d", through, last)
	}
	wantIDs(t, "indexed after the search", f.indexed(), edited.ID, plain.ID)

	// Once indexed, a recall and an edit change the index itself.
	if _, _, err := f.db.EditMessage(ctx, &parley.Message{ConversationID: conv.ID, SenderID: a.ID, SenderDeviceID: d.ID,
		Type: parley.EditEntry, EditOf: plain.ID, Body: "bring the compass", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.RecallMessage(ctx, &parley.Message{ConversationID: conv.ID, SenderID: a.ID, SenderDeviceID: d.ID,
		Type: parley.RecallEntry, RecallOf: edited.ID, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	wantIDs(t, "find map after the edit", f.find(conv, "map"))
	wantIDs(t, "find compass", f.find(conv, "compass"), plain.ID)
	wantIDs(t, "find dusk after the recall", f.find(conv, "dusk"))
	wantIDs(t, "indexed at the end", f.indexed(), plain.ID)
}

// TestSearchIndexCatchesUpAlone: entries left waiting when sends stop are
// indexed after Config.SearchDelay, with no search to ask for them.
func TestSearchIndexCatchesUpAlone(t *testing.T) {
	f := openSearchFile(t, 50*time.Millisecond)
	a, d, conv := f.direct()
	m := storetest.MustSend(t, f.db, conv, a, d, "c1", "left alone")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if through, last := f.progress(); through == last {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the index did not catch up within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	wantIDs(t, "indexed", f.indexed(), m.ID)
}

// TestSearchIndexCatchesUpWhenIdle: once a few entries wait and nothing
// else does, the writer indexes them in a transaction of their own, long
// before Config.SearchDelay.
func TestSearchIndexCatchesUpWhenIdle(t *testing.T) {
	f := openSearchFile(t, time.Hour)
	a, d, conv := f.direct()
	var want []parley.ID
	for i := range 16 {
		want = append(want, storetest.MustSend(t, f.db, conv, a, d, fmt.Sprint("c", i), "one of sixteen").ID)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if through, _ := f.progress(); through >= int64(want[15]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("sixteen entries were not indexed within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	wantIDs(t, "indexed", f.indexed(), want...)
}

// TestSearchIndexCatchesUpInABusyBatch: a batch that leaves more than a
// hundred entries waiting writes them before it commits, without waiting
// for the writer to be idle.
func TestSearchIndexCatchesUpInABusyBatch(t *testing.T) {
	f := openSearchFile(t, time.Hour)
	if _, err := sqlite.BulkLoadSearch(context.Background(), f.db, 1, 200, 200, time.Now(), func() string { return "busy words" }); err != nil {
		t.Fatal(err)
	}
	// Read as soon as the batch is acknowledged: a catch-up of the idle
	// writer comes only after that.
	if through, last := f.progress(); through != last || last == 0 {
		t.Fatalf("after a batch of 200 the index is through %d of %d", through, last)
	}
	if n := len(f.indexed()); n != 200 {
		t.Fatalf("%d entries indexed, want 200", n)
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
	wantIDs(t, "indexed", f.indexed(), before.ID, after.ID)
	if through, last := f.progress(); through != last || last != int64(after.ID) {
		t.Fatalf("index through %d, log's last %d, want both %d", through, last, after.ID)
	}
}

// TestSearchIndexAfterCrash: a catch-up lost with a crash (its transaction
// never committed) is redone from the log when the store opens again; a
// clean close leaves nothing to redo.
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
	wantIDs(t, "indexed after the close", f.indexed(), first.ID, second.ID, third.ID)

	// What a crash before the catch-up committed leaves.
	if _, err := f.raw.Exec(`DELETE FROM message_search WHERE rowid > ?`, int64(first.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.raw.Exec(`UPDATE search_progress SET indexed_through = ?`, int64(first.ID)); err != nil {
		t.Fatal(err)
	}
	f.open()
	wantIDs(t, "find words", f.find(conv, "words"), third.ID, second.ID, first.ID)
	wantIDs(t, "indexed after the restart", f.indexed(), first.ID, second.ID, third.ID)
}
