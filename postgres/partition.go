package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Advisory lock spaces (the first key of the two-key form). A day's
// partition is created and dropped under (partitionLockSpace, day), so
// nodes never race on the same table; retention runs one at a time under
// (retentionLockSpace, 0), because PostgreSQL detaches only one partition of
// a table concurrently at a time.
const (
	partitionLockSpace int32 = 0x70617274 // "part"
	retentionLockSpace int32 = 0x72657465 // "rete"
)

const secondsPerDay = 24 * 60 * 60

// day numbers UTC days since 1970-01-01; messages_pYYYYMMDD holds the
// messages created during one.
type day int32

func dayOf(t time.Time) day {
	s := t.Unix()
	d := s / secondsPerDay
	if s%secondsPerDay < 0 {
		d--
	}
	return day(d)
}

func (d day) start() time.Time { return time.Unix(int64(d)*secondsPerDay, 0).UTC() }

func (d day) table() string { return "messages_p" + d.start().Format("20060102") }

var partitionName = regexp.MustCompile(`^messages_p([0-9]{8})$`)

// partitions creates the daily partitions of the log and drops old ones.
type partitions struct {
	pool   *pgxpool.Pool
	ahead  int
	logger *slog.Logger

	mu sync.Mutex
	// known holds the days this node has seen attached. It is only a hint
	// that saves a catalog look-up per group: a send into a day whose
	// partition another node's retention dropped fails with a check
	// violation, which clears it and retries.
	known map[day]bool
	// create serialises this node's creations.
	create sync.Mutex
}

func newPartitions(pool *pgxpool.Pool, ahead int, logger *slog.Logger) *partitions {
	return &partitions{pool: pool, ahead: ahead, logger: logger, known: make(map[day]bool)}
}

// missing returns the days, among those of times and the ahead days after
// each, whose partition this node has not seen. Asking for the ahead days
// every time means a day's partition is created when the first send of
// the day ahead days before arrives, long before a send needs it.
func (p *partitions) missing(times []time.Time) []day {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []day
	for _, t := range times {
		d := dayOf(t)
		for i := range day(p.ahead + 1) {
			if !p.known[d+i] && !slices.Contains(out, d+i) {
				out = append(out, d+i)
			}
		}
	}
	slices.Sort(out)
	return out
}

// forget drops every hint, after a send found a partition missing.
func (p *partitions) forget() {
	p.mu.Lock()
	clear(p.known)
	p.mu.Unlock()
}

// ensure makes sure the partitions for the days of times, and the ahead
// days after each, exist.
func (p *partitions) ensure(ctx context.Context, times ...time.Time) error {
	if len(p.missing(times)) == 0 {
		return nil
	}
	p.create.Lock()
	defer p.create.Unlock()
	days := p.missing(times)
	if len(days) == 0 {
		return nil
	}
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	for _, d := range days {
		err := withLock(ctx, conn, partitionLockSpace, int32(d), func() error { return p.createDay(ctx, conn, d) })
		if err != nil {
			return fmt.Errorf("create partition %s: %w", d.table(), err)
		}
		p.mu.Lock()
		p.known[d] = true
		p.mu.Unlock()
	}
	return nil
}

// createDay creates and attaches the day's partition unless it is
// attached. The table is created apart and then attached, because
// ATTACH PARTITION takes a lock on the log that sends and reads pass,
// where CREATE TABLE … PARTITION OF would stop them all.
func (p *partitions) createDay(ctx context.Context, conn *pgxpool.Conn, d day) error {
	state, err := partitionState(ctx, conn, d)
	if err != nil || state == attached {
		return err
	}
	if err := finishDetach(ctx, conn, d, state); err != nil {
		return err
	}
	if state != absent {
		// The leftover of a retention run that stopped half-way: its rows
		// were being removed.
		if _, err := conn.Exec(ctx, `DROP TABLE `+ident(d.table())); err != nil {
			return err
		}
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background())
	name := ident(d.table())
	if _, err := tx.Exec(ctx, `CREATE TABLE `+name+` (LIKE messages INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`); err != nil {
		return err
	}
	const layout = "2006-01-02 15:04:05+00" // start() is in UTC
	bounds := fmt.Sprintf(`FOR VALUES FROM ('%s') TO ('%s')`, d.start().Format(layout), (d + 1).start().Format(layout))
	if _, err := tx.Exec(ctx, `ALTER TABLE messages ATTACH PARTITION `+name+` `+bounds); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	p.logger.Debug("created partition", "store", "postgres", "table", d.table())
	return nil
}

// drop detaches the day's partition, counts its rows and drops it,
// returning the count. Detaching concurrently lets sends and reads go on.
func (p *partitions) drop(ctx context.Context, conn *pgxpool.Conn, d day) (int64, error) {
	p.mu.Lock()
	delete(p.known, d)
	p.mu.Unlock()
	var n int64
	err := withLock(ctx, conn, partitionLockSpace, int32(d), func() error {
		state, err := partitionState(ctx, conn, d)
		if err != nil || state == absent {
			return err
		}
		if state == attached {
			if _, err := conn.Exec(ctx, `ALTER TABLE messages DETACH PARTITION `+ident(d.table())+` CONCURRENTLY`); err != nil {
				return err
			}
		}
		if err := finishDetach(ctx, conn, d, state); err != nil {
			return err
		}
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+ident(d.table())).Scan(&n); err != nil {
			return err
		}
		_, err = conn.Exec(ctx, `DROP TABLE `+ident(d.table()))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("drop partition %s: %w", d.table(), err)
	}
	return n, nil
}

type partState int

const (
	absent   partState = iota
	attached           // a partition of messages
	pending            // a concurrent detach was interrupted
	detached           // a table no longer attached, not yet dropped
)

func partitionState(ctx context.Context, conn *pgxpool.Conn, d day) (partState, error) {
	var isChild, isPending bool
	err := conn.QueryRow(ctx, `SELECT i.inhrelid IS NOT NULL, coalesce(i.inhdetachpending, false)
		FROM pg_class c LEFT JOIN pg_inherits i ON i.inhrelid = c.oid AND i.inhparent = 'messages'::regclass
		WHERE c.oid = to_regclass($1)`, d.table()).Scan(&isChild, &isPending)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return absent, nil
	case err != nil:
		return 0, err
	case isPending:
		return pending, nil
	case isChild:
		return attached, nil
	}
	return detached, nil
}

// finishDetach completes a concurrent detach that was interrupted.
func finishDetach(ctx context.Context, conn *pgxpool.Conn, d day, state partState) error {
	if state != pending {
		return nil
	}
	_, err := conn.Exec(ctx, `ALTER TABLE messages DETACH PARTITION `+ident(d.table())+` FINALIZE`)
	return err
}

// partitionDays lists the days that have a partition table, attached or
// left over.
func partitionDays(ctx context.Context, conn *pgxpool.Conn) ([]day, error) {
	rows, err := conn.Query(ctx, `SELECT c.relname FROM pg_class c
		WHERE c.relkind = 'r' AND c.relname ~ '^messages_p[0-9]{8}$'
		  AND c.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = 'messages'::regclass)`)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	var days []day
	for _, n := range names {
		m := partitionName.FindStringSubmatch(n)
		if m == nil {
			continue
		}
		t, err := time.Parse("20060102", m[1])
		if err != nil {
			continue
		}
		days = append(days, dayOf(t))
	}
	sort.Slice(days, func(i, j int) bool { return days[i] < days[j] })
	return days, nil
}

// withLock runs fn holding the session advisory lock (space, key) on conn.
// A lock that cannot be released is released by closing the connection.
func withLock(ctx context.Context, conn *pgxpool.Conn, space, key int32, fn func() error) error {
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, $2)`, space, key); err != nil {
		return err
	}
	err := fn()
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, uerr := conn.Exec(uctx, `SELECT pg_advisory_unlock($1, $2)`, space, key); uerr != nil {
		conn.Conn().Close(uctx)
	}
	return err
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }
