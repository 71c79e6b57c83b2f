package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/textsearch"
)

// searcher sends messages a second apart, so that every store's "newest
// first" is the order of sending, and searches as a member would.
type searcher struct {
	t   *testing.T
	s   parley.Store
	at  time.Time
	n   int
	now time.Time // SearchFilter.Now
}

func (x *searcher) send(conv *parley.Conversation, u *parley.User, d *parley.Device, typ parley.MessageType, body string) *parley.Message {
	x.t.Helper()
	x.n++
	x.at = x.at.Add(time.Second)
	cmid := fmt.Sprintf("s%d", x.n)
	m := &parley.Message{ConversationID: conv.ID, SenderID: u.ID, SenderDeviceID: d.ID, ClientMsgID: cmid, Type: typ, Body: body, CreatedAt: x.at}
	got, _, err := x.s.AppendMessage(context.Background(), m, hash(cmid, body), nil)
	if err != nil {
		x.t.Fatalf("append message: %v", err)
	}
	return got
}

// window returns what u may see of conv, as the app decides it.
func (x *searcher) window(conv *parley.Conversation, u *parley.User) parley.SearchWindow {
	x.t.Helper()
	ctx := context.Background()
	m, err := x.s.Member(ctx, conv.ID, u.ID)
	if err != nil {
		x.t.Fatalf("member: %v", err)
	}
	c, err := x.s.Conversation(ctx, conv.ID)
	if err != nil {
		x.t.Fatalf("conversation: %v", err)
	}
	return parley.SearchWindow{ConversationID: conv.ID, Floor: m.Floor(), Ceiling: m.Ceiling(c.LastSeq)}
}

// find searches q within the windows and returns the bodies found.
func (x *searcher) find(q string, before parley.ID, limit int, ws ...parley.SearchWindow) []*parley.Message {
	x.t.Helper()
	terms, err := textsearch.Parse(q)
	if err != nil {
		x.t.Fatalf("parse %q: %v", q, err)
	}
	ms, err := x.s.SearchMessages(context.Background(), parley.SearchFilter{Terms: terms, Windows: ws, BeforeID: before, Limit: limit, Now: x.now})
	if err != nil {
		x.t.Fatalf("search %q: %v", q, err)
	}
	return ms
}

func ids(ms []*parley.Message) []parley.ID {
	out := make([]parley.ID, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

func wantFound(t *testing.T, q string, got []*parley.Message, want ...*parley.Message) {
	t.Helper()
	if !slices.Equal(ids(got), ids(want)) {
		var bodies []string
		for _, m := range got {
			bodies = append(bodies, m.Body)
		}
		t.Fatalf("search %q found %v %q, want %v", q, ids(got), bodies, ids(want))
	}
}

func testSearch(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	x := &searcher{t: t, s: s, at: epoch}
	a, b, c := MustUser(t, s), MustUser(t, s), MustUser(t, s)
	da, db := MustDevice(t, s, a), MustDevice(t, s, b)
	g := MustConversation(t, s, parley.Group, a, b)
	d := MustConversation(t, s, parley.Direct, a, c)

	early := x.send(g, a, da, parley.TextMessage, "Hello world, before Carol came")
	hi := x.send(g, b, db, parley.TextMessage, "hello there — General Kenobi!")
	fox := x.send(g, a, da, parley.TextMessage, "The quick brown fox jumps over the lazy dog")
	zh := x.send(g, b, db, parley.TextMessage, "我爱北京天安门")
	ja := x.send(g, a, da, parley.TextMessage, "東京タワーに行きました")
	ru := x.send(g, b, db, parley.TextMessage, "Привет, мир")
	img := x.send(g, a, da, parley.ImageMessage, "sunset at the beach")
	syntax := x.send(g, b, db, parley.TextMessage, `she said "it's OR NEAR(a b)" col:value * AND -x`)
	direct := x.send(d, a, da, parley.TextMessage, "hello from the direct conversation")
	all := []parley.SearchWindow{x.window(g, a), x.window(d, a)}

	t.Run("PrefixesNewestFirst", func(t *testing.T) {
		wantFound(t, "hel", x.find("hel", 0, 0, all...), direct, hi, early)
		wantFound(t, "HELLO", x.find("HELLO", 0, 0, all...), direct, hi, early)
		wantFound(t, "gen ken", x.find("gen ken", 0, 0, all...), hi)
	})
	t.Run("AllWordsMustMatch", func(t *testing.T) {
		wantFound(t, "hello world", x.find("hello world", 0, 0, all...), early)
		wantFound(t, "hello nothing", x.find("hello nothing", 0, 0, all...))
	})
	t.Run("Phrases", func(t *testing.T) {
		wantFound(t, `"quick brown"`, x.find(`"quick brown"`, 0, 0, all...), fox)
		wantFound(t, `"brown quick"`, x.find(`"brown quick"`, 0, 0, all...))
		wantFound(t, `"lazy dog" fox`, x.find(`"lazy dog" fox`, 0, 0, all...), fox)
		// Words in a phrase are whole words.
		wantFound(t, `"quick bro"`, x.find(`"quick bro"`, 0, 0, all...))
	})
	t.Run("OtherScripts", func(t *testing.T) {
		wantFound(t, "北京", x.find("北京", 0, 0, all...), zh)
		wantFound(t, "天安门", x.find("天安门", 0, 0, all...), zh)
		wantFound(t, "京北", x.find("京北", 0, 0, all...))
		wantFound(t, "タワー", x.find("タワー", 0, 0, all...), ja)
		wantFound(t, "東京 行き", x.find("東京 行き", 0, 0, all...), ja)
		wantFound(t, "прив", x.find("прив", 0, 0, all...), ru)
		wantFound(t, "МИР", x.find("МИР", 0, 0, all...), ru)
	})
	t.Run("Captions", func(t *testing.T) {
		wantFound(t, "sunset", x.find("sunset", 0, 0, all...), img)
	})
	t.Run("QuerySyntaxIsText", func(t *testing.T) {
		for _, q := range []string{`near col`, `"it's or near"`, `value and x`, `OR`} {
			wantFound(t, q, x.find(q, 0, 0, all...), syntax)
		}
	})
	t.Run("ConversationFilter", func(t *testing.T) {
		wantFound(t, "hello", x.find("hello", 0, 0, x.window(g, a)), hi, early)
		wantFound(t, "hello", x.find("hello", 0, 0, x.window(d, a)), direct)
	})
	t.Run("Paging", func(t *testing.T) {
		p1 := x.find("hel", 0, 2, all...)
		wantFound(t, "hel", p1, direct, hi)
		p2 := x.find("hel", p1[1].ID, 2, all...)
		wantFound(t, "hel", p2, early)
		wantFound(t, "hel", x.find("hel", early.ID, 2, all...))
	})
	t.Run("Windows", func(t *testing.T) {
		wantFound(t, "hello", x.find("hello", 0, 0, parley.SearchWindow{ConversationID: g.ID, Floor: early.Seq, Ceiling: hi.Seq}), hi)
		wantFound(t, "hello", x.find("hello", 0, 0, parley.SearchWindow{ConversationID: g.ID, Floor: 0, Ceiling: early.Seq}), early)
		wantFound(t, "hello", x.find("hello", 0, 0))
	})
	var later *parley.Message
	t.Run("JoinedLate", func(t *testing.T) {
		if _, _, err := s.AddMembers(ctx, g.ID, []parley.Member{{UserID: c.ID, Role: parley.RoleMember}}, x.at); err != nil {
			t.Fatal(err)
		}
		later = x.send(g, b, db, parley.TextMessage, "hello again, Carol")
		wantFound(t, "hello", x.find("hello", 0, 0, x.window(g, c), x.window(d, c)), later, direct)
	})
	t.Run("Left", func(t *testing.T) {
		if _, err := s.RemoveMember(ctx, g.ID, c.ID, x.at); err != nil {
			t.Fatal(err)
		}
		after := x.send(g, a, da, parley.TextMessage, "hello, Carol has left")
		wantFound(t, "carol", x.find("carol", 0, 0, x.window(g, c)), later)
		wantFound(t, "carol", x.find("carol", 0, 0, x.window(g, a)), after, later, early)
	})
	t.Run("RecalledTextNeverFound", func(t *testing.T) {
		entry := &parley.Message{ConversationID: g.ID, SenderID: a.ID, SenderDeviceID: da.ID, Type: parley.RecallEntry, RecallOf: fox.ID, CreatedAt: x.at.Add(time.Second)}
		if _, err := s.RecallMessage(ctx, entry); err != nil {
			t.Fatal(err)
		}
		x.at = entry.CreatedAt
		wantFound(t, "fox", x.find("fox", 0, 0, x.window(g, a)))
		wantFound(t, `"quick brown"`, x.find(`"quick brown"`, 0, 0, x.window(g, a)))
		// The same words sent again are found: only the recalled entry left
		// the index.
		again := x.send(g, b, db, parley.TextMessage, "quick brown fox, again")
		wantFound(t, "fox", x.find("fox", 0, 0, x.window(g, a)), again)
	})
	t.Run("ExpiredLeftOutBeforeThePage", func(t *testing.T) {
		e := MustConversation(t, s, parley.Group, a, b)
		var kept, fleeting []*parley.Message
		for i := range 3 {
			kept = append(kept, x.send(e, a, da, parley.TextMessage, fmt.Sprintf("high tide %d", i)))
		}
		x.at = x.at.Add(time.Second)
		MustSetTimer(t, s, e, a, da, 60, x.at)
		for i := range 3 {
			fleeting = append(fleeting, x.send(e, b, db, parley.TextMessage, fmt.Sprintf("low tide %d", i)))
		}
		w := x.window(e, a)
		defer func() { x.now = time.Time{} }()
		x.now = fleeting[0].ExpiresAt.Add(-time.Microsecond)
		wantFound(t, "tide", x.find("tide", 0, 2, w), fleeting[2], fleeting[1])
		// Once they expired, unerased, the page is made of what is left,
		// and full.
		x.now = fleeting[2].ExpiresAt.Add(time.Microsecond)
		wantFound(t, "tide", x.find("tide", 0, 2, w), kept[2], kept[1])
		wantFound(t, "tide", x.find("tide", kept[1].ID, 2, w), kept[0])
		x.now = *fleeting[1].ExpiresAt
		wantFound(t, "tide", x.find("tide", 0, 2, w), fleeting[2], kept[2])
	})
	t.Run("Retention", func(t *testing.T) {
		if _, err := s.DeleteMessagesBefore(ctx, hi.CreatedAt.Add(time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		wantFound(t, "hello world", x.find("hello world", 0, 0, x.window(g, a)))
		wantFound(t, "kenobi", x.find("kenobi", 0, 0, x.window(g, a)))
		wantFound(t, "北京", x.find("北京", 0, 0, x.window(g, a)), zh)
	})
}

// BackfillFixture is what a test writes, under the store, into a database
// made before the search index (schema version 7) in conversation 1: ids
// 1 to 5, seqs 1 to 5, in this order.
var BackfillFixture = []struct {
	Type     parley.MessageType
	Body     string
	Recalled bool
}{
	{parley.TextMessage, "hello from before search", false},
	{parley.ImageMessage, "a caption from before", false},
	{parley.TextMessage, "", true},
	{parley.RecallEntry, "hello not a message", false},
	{parley.TextMessage, "東京 hello again", false},
}

// CheckBackfill checks that s, opened with migrations on a database holding
// BackfillFixture, finds what the fixture's messages say.
func CheckBackfill(t *testing.T, s parley.Store) {
	t.Helper()
	x := &searcher{t: t, s: s}
	w := parley.SearchWindow{ConversationID: 1, Floor: 0, Ceiling: int64(len(BackfillFixture))}
	for q, want := range map[string][]parley.ID{"hello": {5, 1}, "caption": {2}, "東京": {5}, "not": nil} {
		if got := ids(x.find(q, 0, 0, w)); !slices.Equal(got, want) {
			t.Errorf("search %q after the migration = %v, want %v", q, got, want)
		}
	}
}
