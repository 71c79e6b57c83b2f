package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/app"
)

func TestLeftMemberSeesGroupFrozen(t *testing.T) {
	e := MustApp(t, app.Config{})
	ctx := context.Background()
	owner, leaver, stayer, newcomer := e.MustUser(t), e.MustUser(t), e.MustUser(t), e.MustUser(t)
	g := e.MustGroup(t, owner, leaver, stayer)
	e.MustSend(t, owner, g, "one")
	if _, err := e.app.Rename(ctx, owner.c, g, "as it was"); err != nil {
		t.Fatal(err)
	}
	if err := e.app.RemoveMember(ctx, leaver.c, g, leaver.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.app.Rename(ctx, owner.c, g, "renamed later"); err != nil {
		t.Fatal(err)
	}
	// What happens after: a newcomer (before any further message: joins
	// take no seq, their times tell), more messages, reading.
	e.clock.add(time.Second)
	if _, err := e.app.AddMembers(ctx, owner.c, g, []parley.ID{newcomer.ID}); err != nil {
		t.Fatal(err)
	}
	last := e.MustSend(t, owner, g, "two")
	if err := e.app.MarkRead(ctx, stayer.c, g, last.Seq); err != nil {
		t.Fatal(err)
	}
	v, err := e.app.Conversation(ctx, leaver.c, g)
	if err != nil {
		t.Fatal(err)
	}
	self, _ := e.store.Member(ctx, g, leaver.ID)
	at := *self.LeftSeq
	t.Run("TitleAsOfLeaving", func(t *testing.T) {
		if v.Title != "as it was" || v.RecipientName != "as it was" {
			t.Fatalf("title seen after leaving = %q / %q", v.Title, v.RecipientName)
		}
		list, err := e.app.Conversations(ctx, leaver.c, parley.ConversationListQuery{PageNumber: 1, PageSize: 20})
		if err != nil || len(list) != 1 || list[0].Title != "as it was" {
			t.Fatalf("list entry after leaving = %+v, %v", list, err)
		}
	})
	t.Run("MembersAsOfLeaving", func(t *testing.T) {
		got := map[parley.ID]bool{}
		for _, m := range v.Members {
			got[m.UserID] = true
			if m.ReadSeq > at || m.DeliveredSeq > at {
				t.Errorf("member %d shows progress %d/%d past leaving at %d", m.UserID, m.DeliveredSeq, m.ReadSeq, at)
			}
		}
		if len(got) != 2 || !got[owner.ID] || !got[stayer.ID] {
			t.Fatalf("members seen after leaving = %+v, want the owner and the stayer", v.Members)
		}
	})
	t.Run("ReceiptsAsOfLeaving", func(t *testing.T) {
		rs, err := e.app.Receipts(ctx, leaver.c, g)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != 2 {
			t.Fatalf("receipts = %+v", rs)
		}
		for _, r := range rs {
			if r.UserID == newcomer.ID || r.ReadSeq > at {
				t.Fatalf("receipt after leaving: %+v", r)
			}
		}
	})
	t.Run("ActiveMembersSeeItLive", func(t *testing.T) {
		rs, _ := e.app.Receipts(ctx, owner.c, g)
		if len(rs) != 3 {
			t.Fatalf("receipts for an active member = %+v", rs)
		}
	})
}
