package app_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/app"
	"github.com/parleyhq/parley/argon2id"
	"github.com/parleyhq/parley/inmem"
	"github.com/parleyhq/parley/sqlite"
)

// countingStore counts the store reads the tests watch: member lists,
// profiles, reactions and log positions.
type countingStore struct {
	parley.Store
	members, users, reactions atomic.Int64
	// positionReads counts LastSeqsAt calls, positionPoints their points.
	positionReads, positionPoints atomic.Int64
}

func (s *countingStore) Reactions(ctx context.Context, ids []parley.ID) ([]parley.UserReaction, error) {
	s.reactions.Add(1)
	return s.Store.Reactions(ctx, ids)
}

func (s *countingStore) LastSeqsAt(ctx context.Context, points []parley.LogPoint) ([]int64, error) {
	s.positionReads.Add(1)
	s.positionPoints.Add(int64(len(points)))
	return s.Store.LastSeqsAt(ctx, points)
}

func (s *countingStore) Members(ctx context.Context, id parley.ID) ([]parley.Member, error) {
	s.members.Add(1)
	return s.Store.Members(ctx, id)
}

func (s *countingStore) Users(ctx context.Context, ids []parley.ID) ([]*parley.User, error) {
	s.users.Add(1)
	return s.Store.Users(ctx, ids)
}

// envCounting is an app on a fresh SQLite store whose reads the returned
// countingStore counts.
func envCounting(t *testing.T) (*env, *countingStore) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "parley.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cs := &countingStore{Store: db}
	clk := &clock{t: time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)}
	bus := inmem.NewBus()
	a, err := app.New(ctx, app.Config{}, app.Deps{Store: cs, Bus: bus, Presence: inmem.NewPresence(), Clock: clk.now,
		Hasher: argon2id.New(argon2id.Params{MemoryKiB: 64, Time: 1, Threads: 1})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return &env{app: a, store: db, bus: bus, clock: clk}, cs
}

func TestGroupChangeIsLinear(t *testing.T) {
	ctx := context.Background()
	e, cs := envCounting(t)
	a := e.app
	const n = 60
	var users []*user
	for i := 0; i < n; i++ {
		users = append(users, e.MustUser(t))
	}
	g := e.MustGroup(t, users[0], users[1:]...)
	var watch []*events
	for _, u := range users {
		watch = append(watch, e.Watch(t, u))
	}
	cs.members.Store(0)
	cs.users.Store(0)
	if _, err := a.Rename(ctx, users[0].c, g, "renamed"); err != nil {
		t.Fatal(err)
	}
	t.Run("ReadsDoNotGrowWithMembers", func(t *testing.T) {
		// The rename's own answer reads the list too; the announcement
		// adds one read of each, not one per member.
		if m, u := cs.members.Load(), cs.users.Load(); m > 3 || u > 3 {
			t.Fatalf("a rename of a %d-member group read the member list %d times and profiles %d times", n, m, u)
		}
	})
	t.Run("OneSharedEvent", func(t *testing.T) {
		var first []byte
		for i, w := range watch {
			got := w.named(parley.EventConversation)
			if len(got) != 1 {
				t.Fatalf("member %d got %d conversation events", i, len(got))
			}
			if first == nil {
				first = got[0].Data
				if !bytes.Contains(first, []byte(`"renamed"`)) || bytes.Count(first, []byte(`"user_id"`)) != n {
					t.Fatalf("event = %s", first)
				}
			} else if !bytes.Equal(got[0].Data, first) {
				t.Fatal(fmt.Sprintf("member %d got another payload", i))
			}
		}
	})
}

func TestTypingCoalesced(t *testing.T) {
	e := MustApp(t, app.Config{TypingInterval: 2 * time.Second})
	ctx := context.Background()
	a, b, c := e.MustUser(t), e.MustUser(t), e.MustUser(t)
	g := e.MustGroup(t, a, b, c)
	ev := e.Watch(t, b)
	for i := 0; i < 50; i++ {
		if err := e.app.Typing(ctx, a.c, g); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(ev.named(parley.EventTyping)); n != 1 {
		t.Fatalf("50 typing events in a burst fanned out %d times, want 1", n)
	}
	t.Run("PerUser", func(t *testing.T) {
		e.app.Typing(ctx, c.c, g)
		if n := len(ev.named(parley.EventTyping)); n != 2 {
			t.Fatalf("another member's typing was coalesced with the first: %d events", n)
		}
	})
	t.Run("AgainAfterTheInterval", func(t *testing.T) {
		e.clock.add(2 * time.Second)
		e.app.Typing(ctx, a.c, g)
		if n := len(ev.named(parley.EventTyping)); n != 3 {
			t.Fatalf("typing after the interval: %d events, want 3", n)
		}
	})
	t.Run("AgainAfterASend", func(t *testing.T) {
		// A message ends its sender's typing for the others: typing right
		// after it is a new one, within the interval or not.
		if _, _, err := e.app.Send(ctx, a.c, parley.SendRequest{ConversationID: g, ClientMsgID: "typed", Body: "done"}, nil); err != nil {
			t.Fatal(err)
		}
		e.app.Typing(ctx, a.c, g)
		if n := len(ev.named(parley.EventTyping)); n != 4 {
			t.Fatalf("typing right after a send: %d events, want 4", n)
		}
	})
}

// TestSendReadsNoReactions: a message just stored has no reactions, so a
// send does not look for any; a retry of the send answers with the
// message as it stands, its reactions included.
func TestSendReadsNoReactions(t *testing.T) {
	ctx := context.Background()
	e, cs := envCounting(t)
	a := e.app
	x, y := e.MustUser(t), e.MustUser(t)
	dm := e.MustDirect(t, x, y)
	req := parley.SendRequest{ConversationID: dm, ClientMsgID: "c-1", Type: parley.TextMessage, Body: "hello"}
	cs.reactions.Store(0)
	m, created, err := a.Send(ctx, x.c, req, nil)
	if err != nil || !created {
		t.Fatalf("send: %v, created %v", err, created)
	}
	if n := cs.reactions.Load(); n != 0 {
		t.Fatalf("a new message's send read reactions %d times", n)
	}
	if _, err := a.React(ctx, y.c, dm, m.ID, "👍"); err != nil {
		t.Fatal(err)
	}
	again, created, err := a.Send(ctx, x.c, req, nil)
	if err != nil || created {
		t.Fatalf("retry: %v, created %v", err, created)
	}
	if again.ID != m.ID || len(again.Reactions) != 1 || again.Reactions[0].Emoji != "👍" || again.Reactions[0].Count != 1 {
		t.Fatalf("the retry's answer: id %d (want %d), reactions %+v", again.ID, m.ID, again.Reactions)
	}
}

// TestSyncSinceReadsStartsOnce: a sync from a log position (a realtime
// connection catching up after a bus outage) reads where each conversation
// its cursors do not name starts in one store read, and each starts where
// the log stood at that position.
func TestSyncSinceReadsStartsOnce(t *testing.T) {
	ctx := context.Background()
	e, cs := envCounting(t)
	a := e.app
	me := e.MustUser(t)
	var convs []parley.ID
	for i := range 6 {
		other := e.MustUser(t)
		c := e.MustDirect(t, me, other)
		convs = append(convs, c)
		for j := range i {
			if _, _, err := a.Send(ctx, other.c, parley.SendRequest{ConversationID: c, ClientMsgID: fmt.Sprint("before-", j), Type: parley.TextMessage, Body: "x"}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	pos, err := a.LogPosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lastAt := make(map[parley.ID]int64)
	for _, c := range convs {
		m, _, err := a.Send(ctx, me.c, parley.SendRequest{ConversationID: c, ClientMsgID: fmt.Sprint("after-", c), Type: parley.TextMessage, Body: "y"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		lastAt[c] = m.Seq - 1
	}
	// The first conversation is named by a cursor; the others start at pos.
	cs.positionReads.Store(0)
	cs.positionPoints.Store(0)
	starts := make(map[parley.ID]int64)
	err = a.Sync(ctx, me.c, parley.SyncQuery{Cursors: map[parley.ID]int64{convs[0]: 0}, Since: pos}, func(name string, data any) error {
		if p, ok := data.(parley.SyncPoint); ok && name == parley.EventSyncPoint {
			starts[p.ConversationID] = p.Seq
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if c, n := cs.positionReads.Load(), cs.positionPoints.Load(); c != 1 || n != int64(len(convs)-1) {
		t.Fatalf("%d reads of %d log points; want one of %d", c, n, len(convs)-1)
	}
	for i, c := range convs {
		want := lastAt[c]
		if i == 0 {
			want = 0
		}
		if starts[c] != want {
			t.Fatalf("conversation %d starts at %d; want %d (all: %v)", c, starts[c], want, starts)
		}
	}
}
