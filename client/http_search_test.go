package client_test

import (
	"context"
	"testing"

	"github.com/parleyhq/parley"
)

func TestSearchHTTP(t *testing.T) {
	n := mustNode(t)
	ctx := context.Background()
	a, b, c := MustUser(t, n), MustUser(t, n), MustUser(t, n)
	conv, _, err := a.CreateConversation(ctx, parley.CreateConversationRequest{MemberIDs: []parley.ID{b.ID}})
	if err != nil {
		t.Fatal(err)
	}
	var sent []*parley.Message
	for _, body := range []string{"hello world", "東京タワーで hello", "nothing here"} {
		m, _, err := a.Send(ctx, parley.SendRequest{ConversationID: conv.ID, ClientMsgID: body, Body: body})
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, m)
	}

	t.Run("OK", func(t *testing.T) {
		rs, err := b.Search(ctx, parley.SearchRequest{Q: "hel"})
		if err != nil || len(rs) != 2 || rs[0].Message.ID != sent[1].ID || rs[1].Message.ID != sent[0].ID {
			t.Fatalf("search = %+v, %v", rs, err)
		}
		if rs[0].ConversationID != conv.ID || rs[0].Snippet != "東京タワーで hello" || rs[0].Message.Seq != 2 {
			t.Fatalf("result = %+v", rs[0])
		}
		rs, err = b.Search(ctx, parley.SearchRequest{Q: `タワー "hello"`, ConversationID: conv.ID})
		if err != nil || len(rs) != 1 || rs[0].Message.ID != sent[1].ID {
			t.Fatalf("search in the conversation = %+v, %v", rs, err)
		}
	})
	t.Run("Paging", func(t *testing.T) {
		rs, err := b.Search(ctx, parley.SearchRequest{Q: "hello", Limit: 1})
		if err != nil || len(rs) != 1 || rs[0].Message.ID != sent[1].ID {
			t.Fatalf("page 1 = %+v, %v", rs, err)
		}
		rs, err = b.Search(ctx, parley.SearchRequest{Q: "hello", Limit: 1, BeforeID: rs[0].Message.ID})
		if err != nil || len(rs) != 1 || rs[0].Message.ID != sent[0].ID {
			t.Fatalf("page 2 = %+v, %v", rs, err)
		}
	})
	t.Run("OutsiderFindsNothing", func(t *testing.T) {
		rs, err := c.Search(ctx, parley.SearchRequest{Q: "hello"})
		if err != nil || len(rs) != 0 {
			t.Fatalf("search = %+v, %v", rs, err)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := c.Search(ctx, parley.SearchRequest{Q: "hello", ConversationID: conv.ID})
		wantCode(t, err, parley.ENOTFOUND)
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		for _, req := range []parley.SearchRequest{{Q: ""}, {Q: `"open`}, {Q: "hello", Limit: 51}} {
			_, err := b.Search(ctx, req)
			wantCode(t, err, parley.EINVALID)
		}
	})
}
