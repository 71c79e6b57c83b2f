package app_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/app"
)

func TestSearch(t *testing.T) {
	e := MustApp(t, app.Config{})
	ctx := context.Background()
	owner, leaver, late, outsider := e.MustUser(t), e.MustUser(t), e.MustUser(t), e.MustUser(t)
	g := e.MustGroup(t, owner, leaver)
	one := e.MustSend(t, owner, g, "apple one")
	if _, err := e.app.AddMembers(ctx, owner.c, g, []parley.ID{late.ID}); err != nil {
		t.Fatal(err)
	}
	two := e.MustSend(t, owner, g, "apple two")
	if err := e.app.RemoveMember(ctx, leaver.c, g, leaver.ID); err != nil {
		t.Fatal(err)
	}
	three := e.MustSend(t, owner, g, "apple three")
	secret := e.MustSend(t, owner, g, "banana secret")
	if _, err := e.app.Recall(ctx, owner.c, g, secret.ID); err != nil {
		t.Fatal(err)
	}
	d := e.MustDirect(t, owner, outsider)
	direct := e.MustSend(t, outsider, d, "apple in private")

	search := func(t *testing.T, u *user, req parley.SearchRequest) []parley.ID {
		t.Helper()
		rs, err := e.app.Search(ctx, u.c, req)
		if err != nil {
			t.Fatalf("search %+v: %v", req, err)
		}
		var got []parley.ID
		for _, r := range rs {
			if r.ConversationID != r.Message.ConversationID || r.Snippet != r.Message.Body {
				t.Fatalf("result %+v", r)
			}
			got = append(got, r.Message.ID)
		}
		return got
	}
	want := func(t *testing.T, got []parley.ID, ms ...*parley.Message) {
		t.Helper()
		var w []parley.ID
		for _, m := range ms {
			w = append(w, m.ID)
		}
		if !slices.Equal(got, w) {
			t.Fatalf("found %v, want %v", got, w)
		}
	}

	t.Run("EverythingSeen", func(t *testing.T) {
		want(t, search(t, owner, parley.SearchRequest{Q: "app"}), direct, three, two, one)
	})
	t.Run("JoinedLateSeesNothingBefore", func(t *testing.T) {
		want(t, search(t, late, parley.SearchRequest{Q: "apple"}), three, two)
	})
	t.Run("LeftSeesNothingAfter", func(t *testing.T) {
		want(t, search(t, leaver, parley.SearchRequest{Q: "apple"}), two, one)
		want(t, search(t, leaver, parley.SearchRequest{Q: "apple", ConversationID: g}), two, one)
	})
	t.Run("RecalledNeverFound", func(t *testing.T) {
		for _, u := range []*user{owner, late} {
			want(t, search(t, u, parley.SearchRequest{Q: "banana"}))
			want(t, search(t, u, parley.SearchRequest{Q: "secret"}))
		}
	})
	t.Run("ConversationFilter", func(t *testing.T) {
		want(t, search(t, owner, parley.SearchRequest{Q: "apple", ConversationID: d}), direct)
		want(t, search(t, outsider, parley.SearchRequest{Q: "apple"}), direct)
	})
	t.Run("Paging", func(t *testing.T) {
		want(t, search(t, owner, parley.SearchRequest{Q: "apple", Limit: 2}), direct, three)
		want(t, search(t, owner, parley.SearchRequest{Q: "apple", Limit: 2, BeforeID: three.ID}), two, one)
	})
	t.Run("ClearedHistory", func(t *testing.T) {
		if err := e.app.RemoveConversation(ctx, late.c, g); err != nil {
			t.Fatal(err)
		}
		want(t, search(t, late, parley.SearchRequest{Q: "apple"}))
		four := e.MustSend(t, owner, g, "apple four")
		want(t, search(t, late, parley.SearchRequest{Q: "apple"}), four)
	})
	t.Run("ErrNotMember", func(t *testing.T) {
		_, err := e.app.Search(ctx, outsider.c, parley.SearchRequest{Q: "apple", ConversationID: g})
		wantCode(t, err, parley.ENOTFOUND)
		_, err = e.app.Search(ctx, outsider.c, parley.SearchRequest{Q: "apple", ConversationID: 999999})
		wantCode(t, err, parley.ENOTFOUND)
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		for _, req := range []parley.SearchRequest{
			{Q: ""}, {Q: "  ,;  "}, {Q: `"unclosed`}, {Q: strings.Repeat("x", parley.MaxSearchQueryBytes+1)},
			{Q: "apple", Limit: parley.MaxSearchLimit + 1}, {Q: "apple", Limit: -1},
		} {
			_, err := e.app.Search(ctx, owner.c, req)
			wantCode(t, err, parley.EINVALID)
		}
	})
}

// A disappearing message is not found once its time is up, even before
// the expiry job erased it; one sent before the timer still is.
func TestSearchLeavesExpiredOut(t *testing.T) {
	e := MustApp(t, app.Config{})
	ctx := context.Background()
	a, b := e.MustUser(t), e.MustUser(t)
	conv := e.MustDirect(t, a, b)
	kept := e.MustSend(t, a, conv, "tulips before the timer")
	e.mustSetTimer(t, a, conv, 60)
	e.MustSend(t, a, conv, "tulips under the timer")
	found := func() int {
		rs, err := e.app.Search(ctx, b.c, parley.SearchRequest{Q: "tulips"})
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}
	if n := found(); n != 2 {
		t.Fatalf("found %d before the expiry, want 2", n)
	}
	e.clock.add(time.Minute)
	rs, err := e.app.Search(ctx, b.c, parley.SearchRequest{Q: "tulips"})
	if err != nil || len(rs) != 1 || rs[0].Message.ID != kept.ID {
		t.Fatalf("after the expiry found %+v, %v; want only the message from before the timer", rs, err)
	}
}
