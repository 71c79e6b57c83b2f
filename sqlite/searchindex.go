package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/textsearch"
)

// The full-text index lives in a database file of its own beside the
// store's (Config.Path + "-search"), written by a goroutine of its own
// (the indexer) on its own connection: FTS5 was a fifth to a quarter of a
// node's CPU at 10,000 messages a second, all of it on the writer, whose
// single goroutine is what bounds a node's sends. The indexer follows the
// log: it takes the entries after the last one it indexed and writes their
// search entries, many at a time; an edit or a recall in the log makes it
// write its message's entry again from the message as it now stands. The
// writer hands it the entries each commit appended (the tail), so it reads
// them back from the log only when it lags far behind or starts. The log
// itself never waits for it.
//
// Deleted messages (expiry, retention) leave no entry in the log: their
// ids go to the store's deleted_messages table in the transaction that
// deletes them, and the indexer takes their entries out and then has the
// writer forget the ids.
//
// Searches see everything committed before they asked, without waiting
// for the index: they match the entries it lacks in the tail (and the
// messages those entries edited or recalled, from the log) by the same
// rules. Only when the tail does not hold all it lacks (after a start, a
// gap, a long lag) does a search wait for a catch-up that starts after it
// asked (sync). The indexer catches up once searchBatch entries wait, or
// Config.SearchDelay after the first.
//
// The index can always be rebuilt from the log: a file that is missing,
// from another format, or ahead of the log (a store restored from a
// backup) is emptied and filled again.
const (
	searchBatch = 256
	// searchChunk is how many log entries the indexer reads at a time, and
	// searchCommitRows after how many search entries a long catch-up (a
	// rebuild) commits what it wrote before it goes on.
	searchChunk      = 1000
	searchCommitRows = 8192
	// searchFormat is the index file's user_version: a file of another
	// format is rebuilt.
	searchFormat = 1
)

// searchSchema is the index file's schema. One FTS5 row per indexed log
// entry (the body of a text message, the caption of an image or file), its
// rowid the message id. The store cuts the words (package
// internal/textsearch: lower-cased, one word per character in scripts
// written without spaces) and writes each scoped to the message's
// conversation, <conversation id>_<word>, joined by spaces; the "ascii"
// tokenizer with '_' as a token character only splits at those spaces and
// keeps every other character, so the index holds exactly the words the
// app and the PostgreSQL store use. A search looks for its words in each
// conversation the caller may see: FTS5 reads only those conversations'
// entries, so a common word or a short prefix costs what it matches there,
// not in the whole store.
//
// Contentless: the text lives in the log only; contentless_delete lets a
// recall or a deletion take a row out by its rowid. detail=full keeps word
// positions, which phrases need. A contentless index cannot know a
// deleted row's words: FTS5 marks the row deleted (a tombstone) and drops
// its words when it merges the segment that holds them; no search finds
// them meanwhile. indexed_through is the highest log entry id the index
// has caught up with.
const searchSchema = `
CREATE VIRTUAL TABLE message_search USING fts5(
	body,
	content = '', contentless_delete = 1,
	tokenize = "ascii tokenchars '_'", detail = full
);
CREATE TABLE search_progress (
	id              INTEGER PRIMARY KEY CHECK (id = 1),
	indexed_through INTEGER NOT NULL
);
INSERT INTO search_progress (id, indexed_through) VALUES (1, 0);`

// indexer keeps the full-text index file caught up with the log.
type indexer struct {
	db     *DB
	path   string
	wdb    *sql.DB // the indexer's one connection (conn)
	read   *sql.DB // searches
	conn   *sql.Conn
	delay  time.Duration
	logger *slog.Logger

	// gen counts the writer's commits, done is the gen the last successful
	// catch-up started at: a catch-up reads everything committed before
	// it started, so the index holds all that commit gen committed once
	// done >= gen.
	gen, done atomic.Uint64
	// logged is the highest log entry id the writer committed, which tells
	// the indexer how many entries wait.
	logged atomic.Int64
	// forgetting is set when deleted_messages may hold ids not forgotten
	// yet.
	forgetting atomic.Bool
	// waiting counts the callers in sync.
	waiting atomic.Int32
	wake    chan struct{}
	quit    chan struct{}
	stopped chan struct{}

	mu   sync.Mutex
	next *catchUp // what the next catch-up tells those who wait for it
	// tail holds the log entries after tailFrom that the writer handed
	// over with its commits, every one of them, in id order: the indexer
	// takes them from here rather than reading them back from the log, and
	// a search matches those the index has not caught up with here rather
	// than waiting for it. An entry leaves the tail once the index
	// committed it. tailFrom is -1 when the writer committed entries the
	// tail does not hold (a gap, a failed batch, a tail grown past
	// maxTail): the indexer then reads the log, and searches wait for it,
	// until the writer hands over entries again.
	//
	// Searches keep the slice they were given (snapshot) after the lock is
	// released, so the tail's elements are never written again: it is
	// only appended to, cut from the front, or replaced.
	tail      []logEntry
	tailFrom  int64
	tailBytes int
	// committedThrough is the index's progress as last committed.
	committedThrough int64
	// afterSnapshot, when set (tests only), runs in a search between its
	// snapshot and its index queries.
	afterSnapshot func()
	// logReads counts the reads of the log (readLog).
	logReads atomic.Int64

	closing  sync.Once
	closeErr error

	// Only the indexer's goroutine uses these. through is the highest log
	// entry id indexed; forgot the deleted ids taken out of the index and
	// not yet forgotten by the writer.
	through int64
	forgot  []int64
	// forgetAgain: the last forget left deleted ids that the tail holds
	// entries for, not indexed yet.
	forgetAgain bool
	// docs and redone are the entries a catch-up writes and those refresh
	// writes again, their buffers kept from one catch-up to the next.
	docs, redone docBatch
}

// catchUp is one catch-up as those who wait for it see it: done is closed
// when it ended, and err is then what it failed with.
type catchUp struct {
	done chan struct{}
	err  error
}

func newCatchUp() *catchUp { return &catchUp{done: make(chan struct{})} }

// openIndexer opens, creating or rebuilding if needed, the index file
// beside the store's, and starts the indexer as db.index.
func openIndexer(ctx context.Context, db *DB) error {
	x := &indexer{db: db, path: db.cfg.Path + "-search", delay: db.cfg.SearchDelay, logger: db.logger,
		wake: make(chan struct{}, 1), quit: make(chan struct{}), stopped: make(chan struct{}), next: newCatchUp(),
		tailFrom: -1}
	var err error
	if x.wdb, err = sql.Open("sqlite", dsn(x.path, indexWriter)); err != nil {
		return fmt.Errorf("open search index %s: %w", x.path, err)
	}
	x.wdb.SetMaxOpenConns(1)
	x.wdb.SetMaxIdleConns(1)
	x.wdb.SetConnMaxLifetime(0)
	if x.conn, err = x.wdb.Conn(ctx); err != nil {
		x.wdb.Close()
		return fmt.Errorf("open search index %s: %w", x.path, err)
	}
	if err := x.prepare(ctx); err != nil {
		x.conn.Close()
		x.wdb.Close()
		return fmt.Errorf("open search index %s: %w", x.path, err)
	}
	if x.read, err = sql.Open("sqlite", dsn(x.path, reader)); err != nil {
		x.conn.Close()
		x.wdb.Close()
		return fmt.Errorf("open search index %s: %w", x.path, err)
	}
	readers := max(2, db.cfg.Readers/2)
	x.read.SetMaxOpenConns(readers)
	x.read.SetMaxIdleConns(readers)
	x.committedThrough = x.through
	// The first catch-up starts at once: what the log holds past the
	// index, and the deleted ids left from the last run.
	x.gen.Store(1)
	x.forgetting.Store(true)
	db.index = x
	go x.loop()
	return nil
}

// prepare makes the file hold the index in this format, caught up to no
// further than the log, and reads how far it is.
func (x *indexer) prepare(ctx context.Context) error {
	var format int
	if err := x.conn.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&format); err != nil {
		return err
	}
	var last int64
	if err := x.db.read.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM messages`).Scan(&last); err != nil {
		return fmt.Errorf("read the log's last id: %w", err)
	}
	if format == searchFormat {
		if err := x.conn.QueryRowContext(ctx, `SELECT indexed_through FROM search_progress`).Scan(&x.through); err != nil {
			return fmt.Errorf("read search progress: %w", err)
		}
		if x.through <= last {
			return nil
		}
		x.logger.Warn("search index is ahead of the log; rebuilding it", "path", x.path, "indexed_through", x.through, "last", last)
	} else if format != 0 {
		x.logger.Info("search index has another format; rebuilding it", "path", x.path, "format", format)
	}
	x.through = 0
	tx, err := x.conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, q := range []string{`DROP TABLE IF EXISTS message_search`, `DROP TABLE IF EXISTS search_progress`,
		searchSchema, fmt.Sprintf(`PRAGMA user_version = %d`, searchFormat)} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("create search index: %w", err)
		}
	}
	return tx.Commit()
}

// committed is what the writer tells the indexer after each commit: the
// log's last id (-1 when the writer does not know it), whether the commit
// deleted messages, and the log entries it appended, in id order (the
// indexer copies them).
func (x *indexer) committed(last int64, deleted bool, entries []logEntry) {
	x.mu.Lock()
	x.handOver(last, entries)
	x.mu.Unlock()
	if last > x.logged.Load() {
		x.logged.Store(last)
	}
	if deleted {
		x.forgetting.Store(true)
	}
	x.gen.Add(1)
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

// sync returns once the index holds everything committed before it was
// called: at once when it does already, else after a catch-up that starts
// after the call.
func (x *indexer) sync(ctx context.Context) error {
	if x.done.Load() >= x.gen.Load() {
		return nil
	}
	x.waiting.Add(1)
	defer x.waiting.Add(-1)
	x.mu.Lock()
	c := x.next
	x.mu.Unlock()
	select {
	case x.wake <- struct{}{}:
	default:
	}
	select {
	case <-c.done:
		if c.err != nil {
			return parley.WrapError(parley.EUNAVAILABLE, "search index unavailable", c.err)
		}
		return nil
	case <-x.stopped:
		return parley.Errorf(parley.EUNAVAILABLE, "search index is closed")
	case <-ctx.Done():
		return parley.WrapError(parley.EUNAVAILABLE, "search index did not catch up in time", ctx.Err())
	}
}

// due reports whether a catch-up should start now: someone waits for one,
// deleted messages wait to be forgotten, or searchBatch entries wait.
func (x *indexer) due() bool {
	return x.waiting.Load() > 0 || x.forgetting.Load() || x.logged.Load()-x.through >= searchBatch
}

func (x *indexer) loop() {
	defer close(x.stopped)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	armed := false
	for {
		if x.due() {
			x.run(false)
			continue
		}
		if !armed && x.done.Load() < x.gen.Load() {
			timer.Reset(x.delay)
			armed = true
		}
		select {
		case <-x.wake:
		case <-timer.C:
			armed = false
			if x.done.Load() < x.gen.Load() {
				x.run(false)
			}
		case <-x.quit:
			x.run(true)
			return
		}
	}
}

// run runs one catch-up and tells those who wait for it. A failed one is
// retried after Config.SearchDelay; the last one, when the store closes,
// stops after a few seconds (the next start goes on from where it
// stopped).
func (x *indexer) run(last bool) {
	x.mu.Lock()
	c := x.next
	x.next = newCatchUp()
	x.mu.Unlock()
	gen := x.gen.Load()
	forget := x.forgetting.Swap(false)
	var deadline time.Time
	if last {
		deadline = time.Now().Add(3 * time.Second)
	}
	c.err = x.catchUp(forget, deadline)
	if c.err == nil {
		// The highest id always stays (forgetDeleted): one alone leaves the
		// writer nothing to drop.
		if len(x.forgot) > 1 && !x.db.w.closed() {
			// Ids the writer fails to drop are taken out of the index
			// again next time, which is harmless.
			if err := x.db.forgetDeleted(context.Background(), x.forgot); err != nil {
				x.logger.Warn("forget deleted messages", "err", err)
			}
		}
		x.forgot = x.forgot[:0]
		if x.forgetAgain {
			// Deleted messages whose entries the tail still holds.
			x.forgetAgain = false
			x.forgetting.Store(true)
		}
		x.done.Store(gen)
	} else if forget {
		x.forgetting.Store(true)
	}
	close(c.done)
	if c.err != nil {
		x.logger.Error("search index catch-up failed", "err", c.err)
		if !last {
			select {
			case <-time.After(x.delay):
			case <-x.quit:
			}
		}
	}
}

// catchUp indexes the log entries after through, in transactions of up to
// searchCommitRows entries, and takes the deleted messages' entries out
// when forget is set. With a deadline it stops, after a commit, once the
// deadline passed.
func (x *indexer) catchUp(forget bool, deadline time.Time) error {
	ctx := context.Background()
	x.forgetAgain = false
	var tx *sql.Tx
	defer func() {
		if tx != nil {
			tx.Rollback()
		}
	}()
	// Another process on the same files (the operator's tool) may have
	// caught up since: the transaction holds the file's write lock, and
	// the progress it reads is where it starts.
	begin := func() (err error) {
		if tx, err = x.conn.BeginTx(ctx, nil); err != nil {
			tx = nil
			return fmt.Errorf("begin: %w", err)
		}
		if err := tx.QueryRowContext(ctx, `SELECT indexed_through FROM search_progress`).Scan(&x.through); err != nil {
			return fmt.Errorf("read search progress: %w", err)
		}
		return nil
	}
	if err := begin(); err != nil {
		return err
	}
	through, written := x.through, 0
	commit := func() error {
		if through != x.through {
			if _, err := tx.ExecContext(ctx, `UPDATE search_progress SET indexed_through = ?`, through); err != nil {
				return fmt.Errorf("record search progress: %w", err)
			}
		}
		err := tx.Commit()
		tx = nil
		if err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		x.through, written = through, 0
		x.trim(through)
		return nil
	}
	// The catch-up goes on at least to what was committed when it
	// started: a short read of the log (the newest messages deleted, say)
	// may be followed by entries in the tail.
	target := x.logged.Load()
	docs := &x.docs
	var changed []int64
	var entries []logEntry
	for {
		docs.reset()
		changed = changed[:0]
		var err error
		entries, err = x.entriesAfter(ctx, through, entries[:0])
		if err != nil {
			return err
		}
		n := len(entries)
		if n > 0 {
			through = entries[n-1].id
		}
		changed = addDocs(entries, docs, changed)
		if err := docs.insert(ctx, tx); err != nil {
			return err
		}
		if err := x.refresh(ctx, tx, changed); err != nil {
			return err
		}
		written += docs.n
		if n == 0 || n < searchChunk && through >= target {
			break
		}
		if written >= searchCommitRows || !deadline.IsZero() {
			if err := commit(); err != nil {
				return err
			}
			if !deadline.IsZero() && time.Now().After(deadline) {
				return nil
			}
			if err := begin(); err != nil {
				return err
			}
			through = x.through
		}
	}
	if forget {
		again, err := x.forget(ctx, tx, through)
		if err != nil {
			return err
		}
		x.forgetAgain = again
	}
	return commit()
}

// logEntry is what the index needs of a log entry.
type logEntry struct {
	id, conv int64
	typ      parley.MessageType
	body     string
	// of is the message an edit or a recall changed (0: none); live is
	// false for an entry recalled since.
	of   int64
	live bool
}

// maxTail bounds the entries, and maxTailBytes their bodies, that the
// writer's commits leave waiting in the indexer's memory; past either the
// indexer reads them from the log. A few catch-ups' worth: only a
// rebuild, or an indexer held up for long, lags further.
const (
	maxTail      = 16 * searchChunk
	maxTailBytes = 8 << 20
)

// handOver keeps the entries one commit appended to the log, its last id
// last, in the tail, when they follow it; otherwise the tail starts over
// from them, or is given up. The caller holds x.mu.
func (x *indexer) handOver(last int64, entries []logEntry) {
	n := len(entries)
	bytes := 0
	for i := range entries {
		bytes += len(entries[i].body)
	}
	consecutive := n > 0 && entries[n-1].id-entries[0].id == int64(n-1) && entries[n-1].id == last
	switch {
	case n == 0 && (last < 0 || x.tailFrom >= 0 && last > x.tailEnd()):
		// Entries the tail does not hold (a bulk load), or a log end
		// the writer has to read again (after a failed batch).
		x.dropTail(-1)
	case n == 0:
	case !consecutive:
		x.dropTail(-1)
	case x.tailFrom >= 0 && entries[0].id == x.tailEnd()+1 &&
		len(x.tail)+n <= maxTail && x.tailBytes+bytes <= maxTailBytes:
		x.tail = append(x.tail, entries...)
		x.tailBytes += bytes
	case n <= maxTail && bytes <= maxTailBytes:
		// What comes before these is read from the log.
		x.dropTail(entries[0].id - 1)
		x.tail = append(x.tail, entries...)
		x.tailBytes = bytes
	default:
		x.dropTail(-1)
	}
}

// tailEnd is the id of the tail's last entry (tailFrom when empty). The
// caller holds x.mu and has checked tailFrom >= 0.
func (x *indexer) tailEnd() int64 { return x.tailFrom + int64(len(x.tail)) }

// dropTail empties the tail, which then starts after from (-1: none).
func (x *indexer) dropTail(from int64) {
	x.tail = nil // not emptied in place: searches may hold it
	x.tailBytes = 0
	x.tailFrom = from
}

// trim drops from the tail the entries up to through, which the index
// committed.
func (x *indexer) trim(through int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.committedThrough = max(x.committedThrough, through)
	if x.tailFrom < 0 || through <= x.tailFrom {
		return
	}
	k := min(int(through-x.tailFrom), len(x.tail))
	for _, e := range x.tail[:k] {
		x.tailBytes -= len(e.body)
	}
	x.tail = x.tail[k:]
	x.tailFrom += int64(k)
	if len(x.tail) == 0 {
		// Not kept for the next appends: its array holds the bodies of
		// the entries cut from the front, which an idle node would keep.
		x.tail = nil
	}
}

// snapshot returns the index's committed progress and the entries the
// tail holds after it, if it holds every entry committed since. The index
// holds every entry up to through from then on. The caller must not change
// the entries.
func (x *indexer) snapshot() (through int64, pending []logEntry, ok bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.tailFrom < 0 || x.tailFrom > x.committedThrough {
		return 0, nil, false
	}
	return x.committedThrough, x.tail[min(int(x.committedThrough-x.tailFrom), len(x.tail)):], true
}

// entriesAfter appends to entries up to searchChunk log entries after
// after, in id order: from the tail when it holds all of them, else from
// the log.
func (x *indexer) entriesAfter(ctx context.Context, after int64, entries []logEntry) ([]logEntry, error) {
	if e, ok := x.fromTail(after, entries); ok {
		return e, nil
	}
	x.logReads.Add(1)
	return x.readLog(ctx, after, entries)
}

// fromTail appends to entries up to searchChunk entries after after from
// the tail. It reports false when the tail does not hold what follows
// after.
func (x *indexer) fromTail(after int64, entries []logEntry) ([]logEntry, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.tailFrom < 0 || after < x.tailFrom {
		return entries, false
	}
	done := min(int(after-x.tailFrom), len(x.tail))
	n := min(len(x.tail)-done, searchChunk)
	return append(entries, x.tail[done:done+n]...), true
}

// readLog appends to entries up to searchChunk log entries after after,
// read from the log.
func (x *indexer) readLog(ctx context.Context, after int64, entries []logEntry) ([]logEntry, error) {
	rows, err := x.db.read.QueryContext(ctx, `SELECT id, conversation_id, type, body, recalled_at IS NULL, coalesce(edit_of, recall_of, 0)
		FROM messages WHERE id > ? ORDER BY id LIMIT ?`, after, searchChunk)
	if err != nil {
		return entries, fmt.Errorf("read the log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e logEntry
		if err := rows.Scan(&e.id, &e.conv, &e.typ, &e.body, &e.live, &e.of); err != nil {
			return entries, fmt.Errorf("read the log: %w", err)
		}
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return entries, fmt.Errorf("read the log: %w", err)
	}
	return entries, nil
}

// addDocs adds to docs the search entry of each live, searchable entry,
// and appends to changed (returned) the messages that an edit or a recall
// among them changed. Those messages' entries are skipped here: refresh
// writes them as they now stand, and an entry written only to be taken
// out again would leave its words in the file until a merge.
func addDocs(entries []logEntry, docs *docBatch, changed []int64) []int64 {
	first := len(changed)
	for _, e := range entries {
		if e.of != 0 {
			changed = append(changed, e.of)
		}
	}
	var skip map[int64]bool
	if len(changed)-first > 16 {
		skip = make(map[int64]bool, len(changed)-first)
		for _, id := range changed[first:] {
			skip[id] = true
		}
	}
	for _, e := range entries {
		if !e.live || skip != nil && skip[e.id] || skip == nil && slices.Contains(changed[first:], e.id) {
			continue
		}
		docs.add(e)
	}
	return changed
}

// docBatch is search entries to write, as the JSON array of [rowid, text]
// pairs that one INSERT statement reads them from: FTS5 writes what a
// statement inserted as a segment of its own (it flushes at each
// statement's savepoint), so entries written a few tens to a statement, as
// multi-row VALUES allow, made several small segments a catch-up and the
// merges they need a quarter of the indexer's time.
//
// Each entry is its words scoped to its conversation
// (textsearch.AppendScoped: "<conversation id>_<word>", joined by spaces),
// written straight into the array: a word holds only letters, digits and
// marks (ASCII ones are letters and digits), and the scoping adds digits,
// '_' and spaces, none of which a JSON string escapes. Only what people
// send is indexed; an entry without words is left out.
type docBatch struct {
	buf []byte
	n   int
}

func (d *docBatch) add(e logEntry) {
	if !e.typ.Sent() {
		return
	}
	undo := len(d.buf)
	if d.n == 0 {
		d.buf = append(d.buf[:0], '[')
		undo = 0
	} else {
		d.buf = append(d.buf, ',')
	}
	d.buf = append(strconv.AppendInt(append(d.buf, '['), e.id, 10), ',', '"')
	words := len(d.buf)
	d.buf = textsearch.AppendScoped(d.buf, parley.ID(e.conv), e.body)
	if len(d.buf) == words {
		d.buf = d.buf[:undo]
		return
	}
	d.buf = append(d.buf, '"', ']')
	d.n++
}

func (d *docBatch) reset() { d.n = 0 }

// insert writes the entries in the indexer's transaction.
func (d *docBatch) insert(ctx context.Context, tx *sql.Tx) error {
	if d.n == 0 {
		return nil
	}
	d.buf = append(d.buf, ']')
	if _, err := tx.ExecContext(ctx, `INSERT INTO message_search (rowid, body)
		SELECT value ->> 0, value ->> 1 FROM json_each(?)`, string(d.buf)); err != nil {
		return fmt.Errorf("index messages: %w", err)
	}
	return nil
}

// refresh writes the entries of the messages ids again from the log as it
// now stands: edited, recalled or gone.
func (x *indexer) refresh(ctx context.Context, tx *sql.Tx, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	if err := deleteDocs(ctx, tx, ids); err != nil {
		return err
	}
	entries, err := x.db.currentEntries(ctx, ids)
	if err != nil {
		return err
	}
	docs := &x.redone
	docs.reset()
	for _, e := range entries {
		docs.add(e)
	}
	return docs.insert(ctx, tx)
}

// currentEntries reads the messages ids as the log now holds them,
// leaving out those recalled or gone.
func (db *DB) currentEntries(ctx context.Context, ids []int64) ([]logEntry, error) {
	var entries []logEntry
	for start := 0; start < len(ids); start += searchChunk {
		chunk := ids[start:min(start+searchChunk, len(ids))]
		rows, err := db.read.QueryContext(ctx, `SELECT id, conversation_id, type, body FROM messages
			WHERE recalled_at IS NULL AND id IN (`+placeholders(len(chunk))+`)`, int64Args(chunk)...)
		if err != nil {
			return nil, fmt.Errorf("read changed messages: %w", err)
		}
		for rows.Next() {
			e := logEntry{live: true}
			if err := rows.Scan(&e.id, &e.conv, &e.typ, &e.body); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read changed messages: %w", err)
			}
			entries = append(entries, e)
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("read changed messages: %w", err)
		}
	}
	return entries, nil
}

// forget takes the entries of the deleted messages up to through out of
// the index and keeps their ids for the writer to forget once this
// commits. Those after through wait for a later catch-up, which may still
// write their entries from the tail; it reports whether one should run
// for that.
func (x *indexer) forget(ctx context.Context, tx *sql.Tx, through int64) (again bool, err error) {
	rows, err := x.db.read.QueryContext(ctx, `SELECT message_id FROM deleted_messages`)
	if err != nil {
		return false, fmt.Errorf("read deleted messages: %w", err)
	}
	x.forgot = x.forgot[:0]
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return false, fmt.Errorf("read deleted messages: %w", err)
		}
		if id <= through {
			x.forgot = append(x.forgot, id)
		} else if x.inTail(id) {
			again = true
		}
	}
	if err := rows.Close(); err != nil {
		return false, fmt.Errorf("read deleted messages: %w", err)
	}
	return again, deleteDocs(ctx, tx, x.forgot)
}

// inTail reports whether the tail holds the entry id.
func (x *indexer) inTail(id int64) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.tailFrom >= 0 && id > x.tailFrom && id <= x.tailEnd()
}

// deleteDocs takes the entries with rowids ids out of the index (with
// secure_delete, their words are overwritten in the file).
func deleteDocs(ctx context.Context, tx *sql.Tx, ids []int64) error {
	for start := 0; start < len(ids); start += searchChunk {
		chunk := ids[start:min(start+searchChunk, len(ids))]
		if _, err := tx.ExecContext(ctx, `DELETE FROM message_search WHERE rowid IN (`+placeholders(len(chunk))+`)`, int64Args(chunk)...); err != nil {
			return fmt.Errorf("unindex messages: %w", err)
		}
	}
	return nil
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }

func int64Args(ids []int64) []any {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return args
}

// forgetDeleted drops ids from deleted_messages, once the index no longer
// holds their entries. The highest id stays: the writer numbers new log
// entries after it, so that no id is used twice even when the newest
// messages were deleted.
func (db *DB) forgetDeleted(ctx context.Context, ids []int64) error {
	for start := 0; start < len(ids); start += searchChunk {
		chunk := ids[start:min(start+searchChunk, len(ids))]
		err := db.w.do(ctx, func(b *batch) error {
			_, err := b.exec(`DELETE FROM deleted_messages WHERE message_id IN (`+placeholders(len(chunk))+`)
				AND message_id < (SELECT max(message_id) FROM deleted_messages)`, int64Args(chunk)...)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// close stops the indexer after a last catch-up, and closes the index
// file. The writer must be closed first.
func (x *indexer) close() error {
	x.closing.Do(func() {
		close(x.quit)
		<-x.stopped
		x.closeErr = errors.Join(x.read.Close(), x.conn.Close(), x.wdb.Close())
	})
	return x.closeErr
}
