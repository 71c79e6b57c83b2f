package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// readStmts holds the statements the read pool runs, prepared. An
// unprepared query is parsed and planned on every call (database/sql
// prepares, runs and finalizes it each time), which for the longer reads
// (a user's conversation list, a history page) costs more than running
// them; a prepared *sql.Stmt is prepared once on each read connection
// that runs it and kept there. Texts past maxReadStmts run unprepared, so
// a query whose text varies without bound cannot grow the cache.
type readStmts struct {
	mu sync.RWMutex
	m  map[string]*sql.Stmt
}

const maxReadStmts = 256

// stmt returns query prepared on the read pool, or nil when it is not and
// cannot be (the cache is full, or preparing failed: running it unprepared
// reports why).
func (db *DB) stmt(ctx context.Context, query string) *sql.Stmt {
	c := &db.stmts
	c.mu.RLock()
	s, ok := c.m[query]
	full := len(c.m) >= maxReadStmts
	c.mu.RUnlock()
	if ok || full {
		return s
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.m[query]; ok || len(c.m) >= maxReadStmts {
		return s
	}
	s, err := db.read.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	if c.m == nil {
		c.m = make(map[string]*sql.Stmt)
	}
	c.m[query] = s
	return s
}

// queryRead runs a read on the read pool.
func (db *DB) queryRead(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := db.stmt(ctx, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return db.read.QueryContext(ctx, query, args...)
}

// queryRowRead runs a one-row read on the read pool.
func (db *DB) queryRowRead(ctx context.Context, query string, args ...any) *sql.Row {
	if s := db.stmt(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return db.read.QueryRowContext(ctx, query, args...)
}

// closeStmts closes the prepared reads.
func (db *DB) closeStmts() {
	c := &db.stmts
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.m {
		s.Close()
	}
	c.m = nil
}

// collect reads every row of rows with scan and closes them; what names
// the read in an error.
func collect[T any](rows *sql.Rows, what string, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, dbError(what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(what, err)
	}
	return out, nil
}
