package sqlite

import (
	"database/sql"
	"errors"
	"strings"

	"github.com/parleyhq/parley"
)

// notFound turns sql.ErrNoRows into ENOTFOUND with the message.
func notFound(err error, message string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return parley.Errorf(parley.ENOTFOUND, "%s", message)
	}
	return err
}

// isUnique reports whether err is a unique-constraint violation.
func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}
