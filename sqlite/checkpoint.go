package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// checkpointer copies committed pages from the write-ahead log into the
// database file on a connection of its own, so the writer never does it.
// Left to SQLite, the commit that takes the log past its auto-checkpoint
// threshold copies a thousand pages and syncs the database file before it
// returns: every request of that group waits for it, and so does every
// group queued behind it. A checkpoint here runs beside the writer (WAL
// lets one connection checkpoint while another appends), once per
// CheckpointEvery while there were commits.
//
// The writer's own auto-checkpoint stays on, at writerCheckpointPages: the
// log stays bounded if checkpoints here cannot keep up.
type checkpointer struct {
	db      *sql.DB
	logger  *slog.Logger
	every   time.Duration
	commits atomic.Uint64 // commits since the last checkpoint began
	stop    chan struct{}
	done    chan struct{}
	// ran counts the checkpoints run, for tests.
	ran atomic.Uint64
}

// writerCheckpointPages is the writer connection's auto-checkpoint
// threshold: a backstop for a checkpointer that falls behind, far above
// what the log holds between two of its checkpoints.
const writerCheckpointPages = 16384

func newCheckpointer(path string, every time.Duration, logger *slog.Logger) (*checkpointer, error) {
	// A read connection's settings: a checkpoint reads the log and writes
	// the database file without going through the page cache.
	db, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return nil, fmt.Errorf("open sqlite checkpoint connection: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	c := &checkpointer{db: db, logger: logger, every: every, stop: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c, nil
}

// committed notes a commit: the next tick checkpoints.
func (c *checkpointer) committed() { c.commits.Add(1) }

func (c *checkpointer) loop() {
	defer close(c.done)
	t := time.NewTicker(c.every)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			if c.commits.Swap(0) == 0 {
				continue
			}
			// PASSIVE never waits for readers or the writer: it copies
			// what no reader still needs and leaves the rest to the next.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			var busy, logged, copied int
			err := c.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logged, &copied)
			cancel()
			if err != nil {
				// The writer's own auto-checkpoint still bounds the log.
				c.logger.Warn("sqlite checkpoint failed", "err", err)
			}
			c.ran.Add(1)
		}
	}
}

func (c *checkpointer) close() error {
	close(c.stop)
	<-c.done
	return c.db.Close()
}
