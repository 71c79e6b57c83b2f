package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/parleyhq/parley"
	sqlitedrv "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// This file is the one place where driver errors become Parley's codes.

// dbError translates err from the operation op. Parley errors pass
// through; a database that cannot serve now (busy or locked past the busy
// timeout, out of disk or memory, an I/O error, a deadline) becomes a
// retryable EUNAVAILABLE; anything else stays an internal error, named by
// op for the logs.
func dbError(op string, err error) error {
	if err == nil {
		return nil
	}
	var pe *parley.Error
	if errors.As(err, &pe) {
		return err
	}
	wrapped := fmt.Errorf("%s: %w", op, err)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return parley.WrapError(parley.EUNAVAILABLE, "the database did not answer in time", wrapped)
	case errors.Is(err, sql.ErrConnDone):
		return parley.WrapError(parley.EUNAVAILABLE, "database unavailable", wrapped)
	}
	switch code := resultCode(err); code {
	case sqlite3.SQLITE_FULL:
		return parley.WrapError(parley.EUNAVAILABLE, "the server's storage is full", wrapped)
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_IOERR,
		sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_INTERRUPT, sqlite3.SQLITE_READONLY:
		return parley.WrapError(parley.EUNAVAILABLE, "database unavailable", wrapped)
	}
	return wrapped
}

// resultCode returns the primary SQLite result code of a driver error in
// err's chain (extended codes carry it in their low byte), or 0.
func resultCode(err error) int {
	var e *sqlitedrv.Error
	if errors.As(err, &e) {
		return e.Code() & 0xff
	}
	return 0
}

// notFound turns sql.ErrNoRows into ENOTFOUND with the message, and
// translates other errors like dbError.
func notFound(err error, message string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return parley.Errorf(parley.ENOTFOUND, "%s", message)
	}
	return dbError("read", err)
}

// isUnique reports whether err is a unique-constraint violation.
func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}
