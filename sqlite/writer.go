package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/writeq"
)

// writer owns the only write connection and runs group commit: it takes
// every request waiting in its queue, runs them in one transaction, commits
// once (one fsync), and only then reports success to each of them.
//
// A request's function returns a *parley.Error only before it has written
// anything (a validation or not-found answer); that request alone fails. Any
// other error aborts the whole batch: every request in it gets the error
// and nothing of the batch is kept. Requests are idempotent where it
// matters (sends dedup on client_msg_id), so callers may retry.
//
// Appends are not written one statement each: the batch assigns ids and
// seqs in memory and writes all new log entries, conversation counters and
// sender watermarks with a few multi-row statements at the end, which is
// what lets one SQLite connection keep up with tens of thousands of sends
// a second.
type writer struct {
	db    *DB
	conn  *sql.Conn
	stmts map[string]*sql.Stmt
	q     *writeq.Queue[*op]

	// The multi-row statements of a batch bind hundreds of values each;
	// they go to the driver directly (execRaw), with their texts built once
	// per row count (rowsSQL), their statements prepared once (raw) and one
	// argument slice reused (nv), where database/sql would allocate a
	// converted copy of the arguments on every call.
	rowsSQL map[rowsKey]string
	raw     map[string]driver.Stmt
	nv      []driver.NamedValue
	done    chan struct{}

	// cur is the batch being run and args the values of its multi-row
	// statements, both reused from batch to batch (emptied in between so
	// that they hold no message): at tens of thousands of sends a second
	// their allocation was a tenth of the node's garbage.
	cur  batch
	args []any

	// convs caches conversations' last seq and disappearing-messages
	// timer, and maxID the highest message id. Only the writer changes
	// them, so they are exact; both are dropped when a batch fails.
	convs map[parley.ID]convState
	maxID int64
}

// convState is what appends need of a conversation row.
type convState struct {
	lastSeq        int64
	disappearAfter int64
}

type op struct {
	fn func(b *batch) error
	// dedup, when set, is looked up for the whole batch in one query
	// before any fn runs.
	dedup *dedupKey
	err   chan error
	// state is opQueued until either the writer takes the request
	// (opTaken) or its caller gives up waiting first (opAbandoned): an
	// abandoned request never runs, so its function never writes into a
	// caller that has returned.
	state atomic.Int32
}

const (
	opQueued int32 = iota
	opTaken
	opAbandoned
)

var errAbandoned = parley.Errorf(parley.EUNAVAILABLE, "store did not answer in time")

type dedupKey struct {
	device parley.ID
	cmid   string
}

type dedupEntry struct {
	msg  *parley.Message
	hash []byte
}

// batch is the transaction a group of requests shares, with the writes it
// defers to the end.
type batch struct {
	w       *writer
	dedup   map[dedupKey]dedupEntry
	pending []dedupEntry // new log entries not yet inserted
	logged  []logEntry   // the log entries inserted, for the search index
	touched map[parley.ID]convTouch
	raised  map[memberKey]watermarks
	// unarchive holds the conversations a message of the batch unarchives.
	unarchive map[parley.ID]bool
	// deleted is set when the batch deleted messages (their ids went to
	// deleted_messages for the search index).
	deleted bool
}

// reset empties the batch for the next one, keeping its memory.
func (b *batch) reset() {
	clear(b.dedup)
	clear(b.touched)
	clear(b.raised)
	clear(b.unarchive)
	b.deleted = false
	// Whole capacity: insertPending empties pending before this runs.
	clear(b.pending[:cap(b.pending)])
	b.pending = b.pending[:0]
	clear(b.logged)
	b.logged = b.logged[:0]
	clear(b.w.args[:cap(b.w.args)])
	b.w.args = b.w.args[:0]
}

// rowArgs returns an empty slice for the values of a multi-row statement;
// execRows gives it back (keepArgs), grown, once the statement ran. There
// is one such slice: build it and run it before asking for the next, and
// pass execRows no other.
func (b *batch) rowArgs() []any { return b.w.args[:0] }

func (b *batch) keepArgs(args []any) {
	clear(args)
	b.w.args = args[:0]
}

type rowsKey struct {
	format string
	rows   int
}

type convTouch struct {
	seq int64
	at  time.Time
}

type memberKey struct{ conv, user parley.ID }

type watermarks struct{ delivered, read int64 }

const (
	maxCachedConversations = 200_000
	queueLen               = 8192
	rowsPerInsert          = 64
)

func newWriter(ctx context.Context, db *DB) (*writer, error) {
	conn, err := db.wdb.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite writer connection: %w", err)
	}
	w := &writer{
		db:    db,
		conn:  conn,
		stmts: make(map[string]*sql.Stmt),
		q:     writeq.New[*op](queueLen),

		rowsSQL: make(map[rowsKey]string),
		raw:     make(map[string]driver.Stmt),
		done:    make(chan struct{}),
		convs:   make(map[parley.ID]convState),
		maxID:   -1,
	}
	w.cur = batch{w: w, dedup: make(map[dedupKey]dedupEntry), touched: make(map[parley.ID]convTouch),
		raised: make(map[memberKey]watermarks), unarchive: make(map[parley.ID]bool)}
	go w.loop()
	return w, nil
}

// do runs fn in the next batch and waits until that batch committed.
func (w *writer) do(ctx context.Context, fn func(b *batch) error) error {
	return w.submit(ctx, &op{fn: fn, err: make(chan error, 1)}, nil)
}

// submit queues o, calls queued once o has its place in the order of
// writes (the queue is FIFO), and waits until o's batch committed or
// failed.
func (w *writer) submit(ctx context.Context, o *op, queued func()) error {
	if err := w.q.Put(ctx, o, queued); err != nil {
		return err
	}
	select {
	case err := <-o.err:
		return err
	case <-ctx.Done():
		if o.state.CompareAndSwap(opQueued, opAbandoned) {
			// It will never run, so nothing was stored.
			return parley.WrapError(parley.EUNAVAILABLE, "store did not answer in time", ctx.Err())
		}
		// The writer has it: its batch ends within moments, and the
		// caller must not read results the function is still writing.
		return <-o.err
	}
}

func (w *writer) closed() bool { return w.q.Closed() }

func (w *writer) close() error {
	if !w.q.Close() {
		return nil
	}
	<-w.done
	for _, s := range w.stmts {
		s.Close()
	}
	_ = w.conn.Raw(func(any) error {
		for _, s := range w.raw {
			s.Close()
		}
		return nil
	})
	return w.conn.Close()
}

func (w *writer) loop() {
	defer close(w.done)
	ops := make([]*op, 0, w.db.cfg.MaxBatch)
	for {
		var ok bool
		if ops, ok = w.q.Take(ops, w.db.cfg.MaxBatch); !ok {
			return
		}
		start := time.Now()
		w.run(ops)
		if f := w.db.cfg.OnCommit; f != nil {
			f(len(ops), time.Since(start))
		}
		w.followCheckpoint()
	}
}

func (w *writer) run(ops []*op) {
	ctx := context.Background()
	results := make([]error, len(ops))
	fail := func(err error) {
		err = dbError("write batch", err)
		w.exec(ctx, "ROLLBACK")
		clear(w.convs)
		w.maxID = -1
		if parley.ErrorCode(err) == parley.EUNAVAILABLE {
			w.db.logger.Warn("sqlite batch failed", "requests", len(ops), "err", err)
		} else {
			w.db.logger.Error("sqlite batch failed", "requests", len(ops), "err", err)
		}
		for _, o := range ops {
			o.err <- err
		}
	}
	if _, err := w.exec(ctx, "BEGIN IMMEDIATE"); err != nil {
		fail(fmt.Errorf("begin: %w", err))
		return
	}
	b := &w.cur
	defer b.reset()
	if err := b.prefetch(ops); err != nil {
		fail(err)
		return
	}
	for i, o := range ops {
		if !o.state.CompareAndSwap(opQueued, opTaken) {
			results[i] = errAbandoned
			continue
		}
		err := o.fn(b)
		var pe *parley.Error
		if err != nil && !errors.As(err, &pe) {
			fail(err)
			return
		}
		results[i] = err
	}
	if err := b.flush(ctx); err != nil {
		fail(err)
		return
	}
	if _, err := w.exec(ctx, "COMMIT"); err != nil {
		fail(fmt.Errorf("commit: %w", err))
		return
	}
	w.db.index.committed(w.maxID, b.deleted, b.logged)
	w.db.ckpt.committed()
	if len(w.convs) > maxCachedConversations {
		clear(w.convs)
	}
	for i, o := range ops {
		o.err <- results[i]
	}
}

func (w *writer) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := w.stmts[query]; ok {
		return s, nil
	}
	s, err := w.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	w.stmts[query] = s
	return s, nil
}

func (w *writer) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	s, err := w.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(ctx, args...)
}

// exec runs a statement in the batch's transaction.
func (b *batch) exec(query string, args ...any) (sql.Result, error) {
	return b.w.exec(context.Background(), query, args...)
}

// queryRow runs a one-row query in the batch's transaction.
func (b *batch) queryRow(query string, args ...any) *sql.Row {
	s, err := b.w.stmt(context.Background(), query)
	if err != nil {
		// Let the Row carry the preparation error.
		return b.w.conn.QueryRowContext(context.Background(), query, args...)
	}
	return s.QueryRowContext(context.Background(), args...)
}

func (b *batch) query(query string, args ...any) (*sql.Rows, error) {
	s, err := b.w.stmt(context.Background(), query)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(context.Background(), args...)
}

// lastSeq returns the conversation's last seq as of this batch, or
// ENOTFOUND.
func (b *batch) lastSeq(conv parley.ID) (int64, error) {
	st, err := b.conv(conv)
	return st.lastSeq, err
}

// conv returns what appends need of the conversation as of this batch, or
// ENOTFOUND.
func (b *batch) conv(conv parley.ID) (convState, error) {
	if v, ok := b.w.convs[conv]; ok {
		return v, nil
	}
	var v convState
	err := b.queryRow(`SELECT last_seq, disappear_after FROM conversations WHERE id = ?`, int64(conv)).Scan(&v.lastSeq, &v.disappearAfter)
	if errors.Is(err, sql.ErrNoRows) {
		return v, parley.Errorf(parley.ENOTFOUND, "conversation not found")
	}
	if err != nil {
		return v, fmt.Errorf("read last seq of %d: %w", conv, err)
	}
	b.w.convs[conv] = v
	return v, nil
}

// nextID returns the id for a new log entry: after every id the log
// holds or a deleted entry held, so that no id is used twice.
func (b *batch) nextID() (int64, error) {
	if b.w.maxID < 0 {
		if err := b.queryRow(`SELECT max(coalesce((SELECT max(id) FROM messages), 0),
			coalesce((SELECT max(message_id) FROM deleted_messages), 0))`).Scan(&b.w.maxID); err != nil {
			return 0, fmt.Errorf("read max message id: %w", err)
		}
	}
	b.w.maxID++
	return b.w.maxID, nil
}

// useSeq records that seq was taken at time at.
func (b *batch) useSeq(conv parley.ID, seq int64, at time.Time) {
	st := b.w.convs[conv]
	st.lastSeq = seq
	b.w.convs[conv] = st
	t := b.touched[conv]
	t.seq = seq
	if at.After(t.at) {
		t.at = at
	}
	b.touched[conv] = t
}

// raise defers raising a member's watermarks to the end of the batch.
func (b *batch) raise(conv, user parley.ID, delivered, read int64) {
	k := memberKey{conv, user}
	m := b.raised[k]
	m.delivered = max(m.delivered, delivered, read)
	m.read = max(m.read, read)
	b.raised[k] = m
}

// flush writes everything the batch deferred.
func (b *batch) flush(ctx context.Context) error {
	if err := b.insertPending(); err != nil {
		return err
	}
	if len(b.touched) > 0 {
		args := b.rowArgs()
		for id, t := range b.touched {
			args = append(args, int64(id), t.seq, ts(t.at))
		}
		if err := b.execRows(`UPDATE conversations SET last_seq = v.column2, last_activity_at = max(last_activity_at, v.column3)
			FROM (VALUES %s) AS v WHERE conversations.id = v.column1`, "(?,?,?)", 3, args); err != nil {
			return fmt.Errorf("update conversations: %w", err)
		}
	}
	if len(b.raised) > 0 {
		args := b.rowArgs()
		for k, m := range b.raised {
			args = append(args, int64(k.conv), int64(k.user), m.delivered, m.read)
		}
		if err := b.execRows(`UPDATE members SET delivered_seq = max(delivered_seq, v.column3), read_seq = max(read_seq, v.column4)
			FROM (VALUES %s) AS v WHERE members.conversation_id = v.column1 AND members.user_id = v.column2`, "(?,?,?,?)", 4, args); err != nil {
			return fmt.Errorf("raise watermarks: %w", err)
		}
	}
	if len(b.unarchive) > 0 {
		args := b.rowArgs()
		for id := range b.unarchive {
			args = append(args, int64(id))
		}
		// members_archived finds the archived rows; for most
		// conversations there are none.
		if err := b.execRows(unarchiveSQL, "?", 1, args); err != nil {
			return fmt.Errorf("unarchive: %w", err)
		}
	}
	return nil
}

// unarchiveSQL unarchives the conversations %s lists for their active
// members who did not mute them. Without statistics SQLite would rather
// walk the primary key, every membership of the conversation (a large
// group's thousand rows on each send); the partial index holds only the
// archived ones, most often none.
const unarchiveSQL = `UPDATE members INDEXED BY members_archived SET archived = 0
	WHERE archived = 1 AND muted = 0 AND left_seq IS NULL AND conversation_id IN (%s)`

// execRows runs a statement whose %s is a list of row tuples, in chunks of
// rowsPerInsert rows; args holds width values per row.
func (b *batch) execRows(format, tuple string, width int, args []any) error {
	defer b.keepArgs(args)
	if len(args)%width != 0 {
		// The driver would bind what fits and drop the rest.
		return fmt.Errorf("%d values for rows of %d", len(args), width)
	}
	for start := 0; start < len(args); start += rowsPerInsert * width {
		chunk := args[start:min(start+rowsPerInsert*width, len(args))]
		n := len(chunk) / width
		k := rowsKey{format, n}
		q, ok := b.w.rowsSQL[k]
		if !ok {
			q = fmt.Sprintf(format, strings.TrimSuffix(strings.Repeat(tuple+",", n), ","))
			b.w.rowsSQL[k] = q
		}
		if err := b.w.execRaw(context.Background(), q, chunk); err != nil {
			return err
		}
	}
	return nil
}

// execRaw runs query with args on the writer's connection through the
// driver. The values must be driver values already (int64, float64, bool,
// []byte, string, time.Time or nil): nothing converts them.
func (w *writer) execRaw(ctx context.Context, query string, args []any) error {
	return w.conn.Raw(func(dc any) error {
		s, ok := w.raw[query]
		if !ok {
			var err error
			if s, err = dc.(driver.ConnPrepareContext).PrepareContext(ctx, query); err != nil {
				return err
			}
			w.raw[query] = s
		}
		for i, a := range args {
			w.nv = append(w.nv, driver.NamedValue{Ordinal: i + 1, Value: a})
		}
		_, err := s.(driver.StmtExecContext).ExecContext(ctx, w.nv)
		clear(w.nv) // keep no message alive through the slice
		w.nv = w.nv[:0]
		return err
	})
}
