package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Checkpoints (copying what the write-ahead log holds into the database
// file, so that the log can start over) run beside the writer instead of
// in its commits. SQLite's automatic checkpoint runs in the commit that
// takes the log past 1,000 pages: that commit copies about 4 MB and waits
// for two fsyncs of the file, and every send queued behind it waits too
// (at 10,000 msgs/s, commits' p99 went from 32 to 64 ms with it). The
// writer's connection has the automatic checkpoint off; the checkpointer,
// on a connection of its own, copies the pages at most every
// checkpointInterval while the writer goes on, and then the writer
// checkpoints the few pages committed meanwhile itself, between two
// batches: the log starts over only when a write begins with every page
// of it copied, which a checkpoint running beside a busy writer alone
// never sees.
//
// A log shorter than checkpointPages (SQLite's automatic threshold) is not
// worth the writer's follow-up: it starts over by itself once a checkpoint
// copied all of it before the next write.
const (
	checkpointInterval = 100 * time.Millisecond
	checkpointPages    = 1000
)

type checkpointer struct {
	conn   *sql.DB // one connection
	logger *slog.Logger
	kick   chan struct{}
	quit   chan struct{}
	done   chan struct{}
	// copied is set when a checkpoint copied pages the writer has not
	// followed up yet (writer.followCheckpoint).
	copied atomic.Bool

	closing  sync.Once
	closeErr error
}

func newCheckpointer(path string, logger *slog.Logger) (*checkpointer, error) {
	conn, err := sql.Open("sqlite", dsn(path, checkpointerConn))
	if err != nil {
		return nil, fmt.Errorf("open sqlite checkpointer %s: %w", path, err)
	}
	conn.SetMaxOpenConns(1)
	conn.SetMaxIdleConns(1)
	c := &checkpointer{conn: conn, logger: logger, kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c, nil
}

// committed tells the checkpointer that the writer committed.
func (c *checkpointer) committed() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) loop() {
	defer close(c.done)
	for {
		select {
		case <-c.kick:
		case <-c.quit:
			return
		}
		log, copied, err := checkpoint(c.conn)
		if err != nil {
			c.logger.Warn("sqlite checkpoint failed", "err", err)
		} else if copied > 0 && log >= checkpointPages {
			c.copied.Store(true)
		}
		select {
		case <-time.After(checkpointInterval):
		case <-c.quit:
			return
		}
	}
}

// checkpoint copies what it can of the log into the file on conn (the
// checkpointer's or the writer's connection) without waiting for readers
// or the writer, and returns how many pages the log holds and how many of
// them are copied.
func checkpoint(conn interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}) (log, copied int, err error) {
	var busy int
	err = conn.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &log, &copied)
	return log, copied, err
}

func (c *checkpointer) close() error {
	c.closing.Do(func() {
		close(c.quit)
		<-c.done
		c.closeErr = c.conn.Close()
	})
	return c.closeErr
}

// followCheckpoint runs, between two batches, a checkpoint of what was
// committed since the checkpointer's: a few pages, after which the next
// batch starts the log over (unless a reader still reads an older part
// of it; the next round tries again).
func (w *writer) followCheckpoint() {
	if !w.db.ckpt.copied.Swap(false) {
		return
	}
	if _, _, err := checkpoint(w.conn); err != nil {
		w.db.logger.Warn("sqlite checkpoint failed", "err", err)
	}
}
