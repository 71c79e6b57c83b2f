package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/writeq"
)

// writer runs group commit for the hot writes: sends, watermarks and
// device cursors. Each of its goroutines takes every request waiting in the
// queue, writes them in one transaction (see group), commits once, and only
// then answers each request.
//
// A request can fail alone with a *parley.Error decided from what the group
// read (ENOTFOUND, ECONFLICT). Any other failure is the group's: nothing of
// it is kept and every request gets the error, EUNAVAILABLE when the
// database is unreachable. Sends dedup on client_msg_id, so callers retry.
// A failure while the commit was in flight is reported as EUNAVAILABLE
// too, never as success: the retry finds the send if it did commit.
type writer struct {
	db *DB
	q  *writeq.Queue[*op]
	wg sync.WaitGroup

	// turn is held by the writer goroutine that is taking a group.
	turn sync.Mutex
}

const (
	queueLen = 8192
	// maxAttempts bounds how often a group is run again after a failure
	// that proves nothing committed and that a new attempt resolves.
	maxAttempts = 4
)

type opKind uint8

const (
	opAppend opKind = iota
	opWatermarks
	opCursor
)

// op is one write request.
type op struct {
	kind opKind
	// msg is the caller's message, copied so the writer never touches the
	// caller's memory (which it may reuse after giving up waiting).
	msg  parley.Message
	hash []byte
	// watermarks: conv, user, delivered, read; cursor: device, conv, seq.
	conv, user, device   parley.ID
	delivered, read, seq int64

	// The answer. Each attempt computes it anew; it is read by the caller
	// only after done delivered a nil error.
	err     error // a *parley.Error for this request alone, or nil
	id      parley.ID
	newSeq  int64
	prior   *parley.Message // a send's earlier message with the same client_msg_id
	receipt parley.Receipt
	changed bool
	done    chan error
}

func newOp(kind opKind) *op { return &op{kind: kind, done: make(chan error, 1)} }

func newWriter(db *DB) *writer {
	w := &writer{db: db, q: writeq.New[*op](queueLen)}
	for range db.cfg.Writers {
		w.wg.Add(1)
		go w.loop()
	}
	return w
}

// submit queues o, calls queued once o has its place in the order of
// writes, and waits until o's group committed or failed. Groups take
// requests in queue order and lock their conversations one group after the
// other, so requests queued one after the other get seqs in that order.
func (w *writer) submit(ctx context.Context, o *op, queued func()) error {
	if err := w.q.Put(ctx, o, queued); err != nil {
		return err
	}
	select {
	case err := <-o.done:
		if err != nil {
			return err
		}
		return o.err
	case <-ctx.Done():
		// The request may still commit; callers retry idempotently.
		return parley.WrapError(parley.EUNAVAILABLE, "store did not answer in time", ctx.Err())
	}
}

// close stops accepting requests and waits until every accepted one was
// answered.
func (w *writer) close() {
	if w.q.Close() {
		w.wg.Wait()
	}
}

func (w *writer) loop() {
	defer w.wg.Done()
	ops := make([]*op, 0, w.db.cfg.MaxBatch)
	for {
		// One writer at a time takes a group and runs its first round
		// trip; the others overlap only their commits with it. A writer
		// that started a group at once whenever it was idle would split the
		// waiting requests into many small groups, each paying the same
		// statements and the same commit.
		w.turn.Lock()
		var ok bool
		if ops, ok = w.q.Take(ops, w.db.cfg.MaxBatch); !ok {
			w.turn.Unlock()
			return
		}
		var once sync.Once
		release := func() { once.Do(w.turn.Unlock) }
		start := time.Now()
		w.run(ops, release)
		release()
		if f := w.db.cfg.OnCommit; f != nil {
			f(len(ops), time.Since(start))
		}
	}
}

// run commits ops as one group and answers each of them. It calls release
// once the group holds its locks and has read what it needs.
func (w *writer) run(ops []*op, release func()) {
	err := w.commit(ops, release)
	if err != nil && len(ops) > 1 && dataError(err) {
		// One request's data can fail a statement that writes the whole
		// group; alone, only that request fails.
		for _, o := range ops {
			w.run([]*op{o}, release)
		}
		return
	}
	if err != nil {
		err = dbError("write group", err)
		if parley.ErrorCode(err) == parley.EUNAVAILABLE {
			w.db.logger.Warn("postgres write group failed", "requests", len(ops), "err", err)
		} else {
			w.db.logger.Error("postgres write group failed", "requests", len(ops), "err", err)
		}
	}
	for _, o := range ops {
		o.done <- err
	}
}

// commit runs the group's transaction, again while it fails in a way that
// proves nothing committed and that another attempt may resolve.
func (w *writer) commit(ops []*op, release func()) error {
	ctx, cancel := context.WithTimeout(context.Background(), w.db.cfg.WriteTimeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		safe, err := w.attempt(ctx, ops, release)
		if err == nil {
			return nil
		}
		if !safe || attempt == maxAttempts || ctx.Err() != nil {
			return err
		}
		switch {
		case sqlState(err) == sqlCheckViolation:
			// No partition for a row: another node's retention dropped
			// one this node thought it had.
			w.db.parts.forget()
		case retryGroup(err):
		case unavailable(err) && attempt == 1:
			// Typically a pooled connection the server closed while it was
			// idle; one more attempt takes a fresh one.
		default:
			return err
		}
		w.db.logger.Debug("postgres write group retried", "attempt", attempt, "err", err)
	}
}

// attempt runs the group's transaction once. safe reports, for a failure,
// that nothing can have committed.
func (w *writer) attempt(ctx context.Context, ops []*op, release func()) (safe bool, err error) {
	g := newGroup(ops)
	if err := w.db.parts.ensure(ctx, g.times...); err != nil {
		return true, err
	}
	conn, err := w.db.pool.Acquire(ctx)
	if err != nil {
		return true, err
	}
	defer func() {
		if err != nil {
			rollback(conn)
		}
		conn.Release()
	}()
	if b := g.readBatch(); b != nil {
		if err := conn.SendBatch(ctx, b).Close(); err != nil {
			return true, err
		}
	}
	if b := g.priorBatch(); b != nil {
		if err := conn.SendBatch(ctx, b).Close(); err != nil {
			return true, err
		}
	}
	release()
	g.apply()
	if err := conn.SendBatch(ctx, g.writeBatch()).Close(); err != nil {
		return !committedUnknown(err), err
	}
	return true, nil
}

// rollback ends a failed transaction so the connection can be reused; the
// pool discards a connection that is still in a transaction or broken.
func rollback(conn *pgxpool.Conn) {
	c := conn.Conn()
	if c.IsClosed() || c.PgConn().TxStatus() == 'I' {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := c.Exec(ctx, "ROLLBACK"); err != nil {
		c.Close(ctx)
	}
}
