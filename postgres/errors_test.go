package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/parleyhq/parley"
)

func TestDBError(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("exec: %w", &pgconn.PgError{Code: code, Message: "m"}) }
	for _, tc := range []struct {
		name string
		err  error
		code string
	}{
		{"AdminShutdown", pg("57P01"), parley.EUNAVAILABLE},
		{"CrashShutdown", pg("57P02"), parley.EUNAVAILABLE},
		{"StartingUp", pg("57P03"), parley.EUNAVAILABLE},
		{"ConnectionFailure", pg("08006"), parley.EUNAVAILABLE},
		{"TooManyConnections", pg("53300"), parley.EUNAVAILABLE},
		{"ReadOnlyStandby", pg("25006"), parley.EUNAVAILABLE},
		{"Deadlock", pg("40P01"), parley.EUNAVAILABLE},
		{"LockTimeout", pg("55P03"), parley.EUNAVAILABLE},
		{"StatementTimeout", pg("57014"), parley.EUNAVAILABLE},
		{"UniqueViolation", pg("23505"), parley.ECONFLICT},
		{"NULInText", pg("22021"), parley.EINVALID},
		{"UndefinedTable", pg("42P01"), parley.EINTERNAL},
		{"Deadline", context.DeadlineExceeded, parley.EUNAVAILABLE},
		{"Canceled", fmt.Errorf("query: %w", context.Canceled), parley.EUNAVAILABLE},
		{"Refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, parley.EUNAVAILABLE},
		{"Reset", fmt.Errorf("read: %w", syscall.ECONNRESET), parley.EUNAVAILABLE},
		{"EOF", fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), parley.EUNAVAILABLE},
		{"ConnClosed", pgconn.ErrConnClosed, parley.EUNAVAILABLE},
		{"ParleyErrorKept", parley.Errorf(parley.ENOTFOUND, "x"), parley.ENOTFOUND},
		{"Other", errors.New("surprise"), parley.EINTERNAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := dbError("op", tc.err)
			if got := parley.ErrorCode(err); got != tc.code {
				t.Fatalf("dbError(%v) code = %q, want %q", tc.err, got, tc.code)
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("dbError(%v) = %v lost its cause", tc.err, err)
			}
		})
	}
	if dbError("op", nil) != nil {
		t.Fatal("dbError(nil) != nil")
	}
	if got := parley.ErrorCode(notFound("op", pgx.ErrNoRows, "gone")); got != parley.ENOTFOUND {
		t.Fatalf("notFound(ErrNoRows) code = %q", got)
	}
}

// TestCommittedUnknown pins which failures during a commit leave its
// outcome unknown: an answer is only ever a success after the commit's own
// reply, and a failure is retried inside the store only when it proves
// nothing committed.
func TestCommittedUnknown(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		unknown bool
	}{
		{"ServerRefusedStatement", &pgconn.PgError{Code: "23505"}, false},
		{"Deadlock", &pgconn.PgError{Code: "40P01"}, false},
		{"TerminatedDuringCommit", &pgconn.PgError{Code: "57P01"}, true},
		{"ConnectionLost", io.ErrUnexpectedEOF, true},
		{"Timeout", context.DeadlineExceeded, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := committedUnknown(tc.err); got != tc.unknown {
				t.Fatalf("committedUnknown(%v) = %v, want %v", tc.err, got, tc.unknown)
			}
		})
	}
}
