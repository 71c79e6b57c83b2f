package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/parleyhq/parley"
)

func TestDisappearing(t *testing.T) {
	n := mustNode(t)
	ctx := context.Background()
	a, b, c := MustUser(t, n), MustUser(t, n), MustUser(t, n)
	conv, _, err := a.CreateConversation(ctx, parley.CreateConversationRequest{MemberIDs: []parley.ID{b.ID}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := b.SetDisappearAfter(ctx, conv.ID, 3600)
	if err != nil || v.DisappearAfter != 3600 {
		t.Fatalf("set timer = %+v, %v", v, err)
	}
	m, _, err := a.Send(ctx, parley.SendRequest{ConversationID: conv.ID, ClientMsgID: "d1", Body: "for an hour"})
	if err != nil || m.ExpiresAt == nil || !m.ExpiresAt.Equal(m.CreatedAt.Add(time.Hour)) {
		t.Fatalf("send = %+v, %v", m, err)
	}
	ms, err := a.History(ctx, conv.ID, parley.HistoryQuery{})
	if err != nil || len(ms) != 2 || ms[0].Type != parley.SettingEntry || ms[0].DisappearAfter == nil || *ms[0].DisappearAfter != 3600 ||
		ms[0].SenderID != b.ID || ms[1].ExpiresAt == nil {
		t.Fatalf("history = %+v, %v", ms, err)
	}
	if v, err := a.Conversation(ctx, conv.ID); err != nil || v.DisappearAfter != 3600 {
		t.Fatalf("conversation = %+v, %v", v, err)
	}
	t.Run("ErrOutOfRange", func(t *testing.T) {
		_, err := a.SetDisappearAfter(ctx, conv.ID, parley.MaxDisappearAfter+1)
		wantCode(t, err, parley.EINVALID)
	})
	t.Run("ErrNotMember", func(t *testing.T) {
		_, err := c.SetDisappearAfter(ctx, conv.ID, 60)
		wantCode(t, err, parley.ENOTFOUND)
	})
	t.Run("GroupTitleAndTimer", func(t *testing.T) {
		g, _, err := a.CreateConversation(ctx, parley.CreateConversationRequest{MemberIDs: []parley.ID{b.ID}, Title: "team"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = b.SetDisappearAfter(ctx, g.ID, 60)
		wantCode(t, err, parley.EFORBIDDEN)
		title, timer := "crew", int64(60)
		v, err := a.UpdateConversation(ctx, g.ID, parley.ConversationUpdate{Title: &title, DisappearAfter: &timer})
		if err != nil || v.Title != "crew" || v.DisappearAfter != 60 {
			t.Fatalf("update = %+v, %v", v, err)
		}
	})
}
