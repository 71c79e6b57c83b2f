// Package migrations reads a store's embedded, numbered migration files and
// holds the policy both stores apply: a new database is migrated, a schema
// behind the binary is refused unless the operator asked to migrate, and a
// schema newer than the binary is always refused.
package migrations

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migration is one numbered schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Load returns the *.sql files of dir in fsys in version order. Their names
// start with their number (0001_init.sql); a released file never changes.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, n := range names {
		base := path.Base(n)
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with its number", n)
		}
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: base, SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

// Latest returns the newest version in ms, 0 for none.
func Latest(ms []Migration) int {
	if len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].Version
}

// Pending returns the migrations to apply to a database at version current,
// or an error when the policy refuses: the schema is newer than the binary,
// or it is behind (and not new) while migrate is false.
func Pending(ms []Migration, current int, migrate bool) ([]Migration, error) {
	latest := Latest(ms)
	switch {
	case current > latest:
		return nil, fmt.Errorf("database schema version %d is newer than this binary's %d", current, latest)
	case current == latest:
		return nil, nil
	case current > 0 && !migrate:
		return nil, fmt.Errorf("database schema version %d is behind %d: run `parley migrate` or start with --migrate", current, latest)
	}
	var out []Migration
	for _, m := range ms {
		if m.Version > current {
			out = append(out, m)
		}
	}
	return out, nil
}
