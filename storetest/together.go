package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/parleyhq/parley"
)

// testFeaturesTogether checks how edits, reactions, search and
// disappearing messages meet in the store: an edit changes what search
// finds in the commit that stores it, and a message erased at its
// expiry takes along its search entry, its reactions and the text of its
// edits.
func testFeaturesTogether(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	x := &searcher{t: t, s: s, at: epoch}
	a, b := MustUser(t, s), MustUser(t, s)
	da, db := MustDevice(t, s, a), MustDevice(t, s, b)
	conv := MustConversation(t, s, parley.Direct, a, b)

	t.Run("EditReindexes", func(t *testing.T) {
		m := x.send(conv, a, da, parley.TextMessage, "meet at the harbour")
		if _, created, err := s.EditMessage(ctx, editEntry(conv, a, da, m.ID, "meet at the station", x.at.Add(time.Second))); err != nil || !created {
			t.Fatalf("edit = %v, %v", created, err)
		}
		w := x.window(conv, b)
		wantFound(t, "harbour", x.find("harbour", 0, 0, w))
		wantFound(t, "station", x.find("station", 0, 0, w), m)
	})

	t.Run("ExpiryTakesItsTraces", func(t *testing.T) {
		t0 := x.at.Add(time.Minute)
		MustSetTimer(t, s, conv, a, da, 30, t0)
		gone := mustSendAt(t, s, conv, a, da, "ephemeral words", t0.Add(time.Second))
		if gone.ExpiresAt == nil {
			t.Fatalf("message sent under the timer has no expires_at: %+v", gone)
		}
		edit := editEntry(conv, a, da, gone.ID, "ephemeral secret", t0.Add(2*time.Second))
		if _, _, err := s.EditMessage(ctx, edit); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ReactMessage(ctx, reactionEntry(conv, b, db, gone.ID, "👍", t0.Add(3*time.Second))); err != nil {
			t.Fatal(err)
		}
		w := x.window(conv, b)
		wantFound(t, "ephemeral", x.find("ephemeral", 0, 0, w), gone)

		n, _, err := s.DeleteExpiredMessages(ctx, gone.ExpiresAt.Add(time.Second), 100)
		if err != nil || n != 1 {
			t.Fatalf("DeleteExpiredMessages = %d, %v; want 1", n, err)
		}
		wantFound(t, "ephemeral", x.find("ephemeral", 0, 0, w))
		if rs, err := s.Reactions(ctx, []parley.ID{gone.ID}); err != nil || len(rs) != 0 {
			t.Fatalf("reactions of the erased message = %v, %v", rs, err)
		}
		e, err := s.Message(ctx, edit.ID)
		if err != nil {
			t.Fatal(err)
		}
		if e.Body != "" {
			t.Fatalf("the edit of an erased message still says %q", e.Body)
		}
	})
}
