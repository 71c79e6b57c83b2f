package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/parleyhq/parley"
)

// This file is the one place where driver errors become Parley's codes.

// SQLSTATE codes the store reacts to.
const (
	sqlUniqueViolation     = "23505"
	sqlForeignKeyViolation = "23503"
	sqlCheckViolation      = "23514" // also: a row for a partition that does not exist
	sqlSerializationFail   = "40001"
	sqlDeadlock            = "40P01"
)

// dbError translates err from the operation op. Parley errors pass
// through; an outage becomes a retryable EUNAVAILABLE; a unique violation
// ECONFLICT; text PostgreSQL cannot store EINVALID; anything else stays an
// internal error, named by op for the logs.
func dbError(op string, err error) error {
	if err == nil {
		return nil
	}
	var pe *parley.Error
	if errors.As(err, &pe) {
		return err
	}
	wrapped := fmt.Errorf("%s: %w", op, err)
	if unavailable(err) {
		return parley.WrapError(parley.EUNAVAILABLE, "database unavailable", wrapped)
	}
	switch sqlState(err) {
	case sqlUniqueViolation:
		return parley.WrapError(parley.ECONFLICT, "already exists", wrapped)
	case "22021", "22P05": // character_not_in_repertoire, untranslatable_character (NUL bytes)
		return parley.WrapError(parley.EINVALID, "text contains characters that cannot be stored", wrapped)
	}
	return wrapped
}

// notFound turns "no rows" into ENOTFOUND with message, and translates
// other errors like dbError.
func notFound(op string, err error, message string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return parley.Errorf(parley.ENOTFOUND, "%s", message)
	}
	return dbError(op, err)
}

// sqlState returns the SQLSTATE of a server error in err's chain, or "".
func sqlState(err error) string {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code
	}
	return ""
}

// unavailable reports whether err means the database cannot be reached or
// is going away, so that the same request may succeed later: connection
// failures and timeouts, server shutdown, a server that is starting or is a
// read-only standby, and lock or deadlock aborts that a retry resolves.
func unavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		c := pg.Code
		switch {
		case strings.HasPrefix(c, "08"), // connection exception
			strings.HasPrefix(c, "53"),               // insufficient resources: too many connections, disk full
			c == "57P01", c == "57P02", c == "57P03", // admin shutdown, crash shutdown, cannot connect now
			c == "57014",                                // query canceled (statement timeout)
			c == "55P03",                                // lock not available (lock timeout)
			c == "25006",                                // read-only transaction: a standby after failover
			c == sqlSerializationFail, c == sqlDeadlock: // retried inside already; the client may retry again
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	for _, e := range []error{pgconn.ErrConnClosed, io.EOF, io.ErrUnexpectedEOF, syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EPIPE} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// committedUnknown reports whether a failure while a commit was in flight
// leaves its outcome unknown. An error the server reported for a statement
// proves the transaction aborted; a dropped connection, or a server that
// terminated the session, may have committed before it went.
func committedUnknown(err error) bool {
	var pg *pgconn.PgError
	if !errors.As(err, &pg) {
		return true
	}
	return strings.HasPrefix(pg.Code, "08") || strings.HasPrefix(pg.Code, "57P0")
}

// retryGroup reports whether a group transaction that surely did not
// commit may succeed if run again at once: a deadlock or serialization
// abort, a unique violation from a send racing its own retry in another
// conversation (the retry then finds the record), or a partition that went
// away under retention.
func retryGroup(err error) bool {
	switch sqlState(err) {
	case sqlDeadlock, sqlSerializationFail, sqlUniqueViolation, sqlCheckViolation:
		return true
	}
	return false
}

// dataError reports whether err is about the data of a statement (classes
// 22 and 23), which one bad request in a group can cause.
func dataError(err error) bool {
	s := sqlState(err)
	return strings.HasPrefix(s, "22") || strings.HasPrefix(s, "23")
}
