package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

type message struct {
	ID             string `json:"id"`
	ConversationID string `json:"conversation_id"`
	Seq            int64  `json:"seq"`
	SenderID       string `json:"sender_id"`
	ClientMsgID    string `json:"client_msg_id"`
	Type           string `json:"type"`
	Body           string `json:"body"`
	RecalledAt     string `json:"recalled_at"`
}

type conversation struct {
	ID                  string   `json:"id"`
	Type                string   `json:"type"`
	Title               string   `json:"title"`
	RecipientName       string   `json:"recipient_name"`
	RecipientProfilePic string   `json:"recipient_profile_pic"`
	LatestMessage       *message `json:"latest_message"`
	UnreadCount         int64    `json:"unread_count"`
	LastSeq             int64    `json:"last_seq"`
	Members             []struct {
		UserID string `json:"user_id"`
		Role   string `json:"role"`
	} `json:"members"`
}

// TestAPI walks every endpoint of the HTTP API through a real node, with
// the error paths.
func TestAPI(t *testing.T) {
	m := MustRunMain(t, testConfig(t))
	anon := newClient(t, m.Addr())
	anon.record = openAPIRecorder(t) // every answer is checked against docs/openapi.yaml
	alice, as := anon.mustSignUp("alice")
	bob, bs := anon.mustSignUp("bob")
	carol, cs := anon.mustSignUp("carol")

	t.Run("Health", func(t *testing.T) {
		defer bind(t, anon, alice, bob, carol)()
		anon.want("GET", "/healthz", nil, 200, "")
		anon.want("GET", "/readyz", nil, 200, "")
		s, body := anon.raw("GET", "/metrics", nil)
		if s != 200 || !strings.Contains(string(body), `parley_http_requests_total{method="POST",route="POST /v1/users",status="201"} 3`) {
			t.Fatalf("metrics = %d\n%s", s, body)
		}
	})
	t.Run("Accounts", func(t *testing.T) {
		defer bind(t, anon, alice, bob, carol)()
		anon.want("POST", "/v1/users", map[string]string{"handle": "ALICE", "password": "another-password"}, 409, "conflict")
		anon.want("POST", "/v1/users", map[string]string{"handle": "x", "password": "another-password"}, 400, "invalid")
		anon.want("POST", "/v1/users", map[string]string{"handle": "dave"}, 400, "invalid")
		anon.want("POST", "/v1/sessions", map[string]string{"handle": "alice", "password": "wrong-password"}, 401, "unauthorized")
		anon.want("POST", "/v1/sessions", map[string]string{"handle": "alice"}, 400, "invalid")
		var me struct{ ID, Handle, DisplayName, Bio string }
		if s := alice.do("GET", "/v1/me", nil, &me); s != 200 || me.ID != as.User.ID || me.Handle != "alice" {
			t.Fatalf("GET /v1/me = %d %+v", s, me)
		}
		var upd struct {
			DisplayName string `json:"display_name"`
			Bio         string `json:"bio"`
		}
		if s := alice.do("PATCH", "/v1/me", map[string]string{"display_name": "Alice A.", "bio": "hi"}, &upd); s != 200 || upd.DisplayName != "Alice A." || upd.Bio != "hi" {
			t.Fatalf("PATCH /v1/me = %d %+v", s, upd)
		}
		alice.want("PATCH", "/v1/me", map[string]string{"profile_pic": "ftp://x"}, 400, "invalid")
		var found struct {
			Users []struct{ ID string } `json:"users"`
		}
		if s := alice.do("GET", "/v1/users?handle=bo", nil, &found); s != 200 || len(found.Users) != 1 || found.Users[0].ID != bs.User.ID {
			t.Fatalf("search = %d %+v", s, found)
		}
		alice.want("GET", "/v1/users", nil, 400, "invalid")
		alice.want("GET", "/v1/users/"+bs.User.ID, nil, 200, "")
		alice.want("GET", "/v1/users/999999", nil, 404, "not_found")
		alice.want("GET", "/v1/users/abc", nil, 404, "not_found")
	})
	t.Run("Auth", func(t *testing.T) {
		defer bind(t, anon, alice, bob, carol)()
		anon.want("GET", "/v1/me", nil, 401, "unauthorized")
		anon.with("not-a-token").want("GET", "/v1/me", nil, 401, "unauthorized")
		alice.want("GET", "/v1/conversation?uid="+bs.User.ID, nil, 403, "forbidden")
		alice.want("GET", "/v1/friends?uid="+bs.User.ID, nil, 403, "forbidden")
		alice.want("GET", "/v1/conversation?uid="+as.User.ID, nil, 200, "")
	})
	t.Run("BadRequests", func(t *testing.T) {
		defer bind(t, anon, alice, bob, carol)()
		for _, body := range []string{"", "{", "[]", `{"handle": 5}`, `{} {}`, strings.Repeat("[", 40) + strings.Repeat("]", 40)} {
			s, b := anon.raw("POST", "/v1/users", []byte(body))
			if s != 400 || !strings.Contains(string(b), `"invalid"`) {
				t.Errorf("body %q: %d %s", body, s, b)
			}
		}
		s, b := anon.raw("POST", "/v1/users", []byte(`{"handle":"`+strings.Repeat("a", 70<<10)+`"}`))
		if s != 413 || !strings.Contains(string(b), `"too_large"`) {
			t.Errorf("oversize body: %d %s", s, b)
		}
		alice.want("GET", "/v1/nowhere", nil, 404, "not_found")
		alice.want("PUT", "/v1/me", nil, 405, "invalid")
	})

	var direct conversation
	t.Run("Conversations", func(t *testing.T) {
		defer bind(t, anon, alice, bob, carol)()
		if s := alice.do("POST", "/v1/conversation", map[string]any{"member_ids": []string{bs.User.ID}}, &direct); s != 201 || direct.Type != "direct" {
			t.Fatalf("create direct = %d %+v", s, direct)
		}
		var again conversation
		if s := bob.do("POST", "/v1/conversation", map[string]any{"member_ids": []string{as.User.ID}}, &again); s != 200 || again.ID != direct.ID {
			t.Fatalf("create direct again = %d %+v", s, again)
		}
		alice.want("POST", "/v1/conversation", map[string]any{"member_ids": []string{}}, 400, "invalid")
		alice.want("POST", "/v1/conversation", map[string]any{"member_ids": []string{"999999"}}, 404, "not_found")
		alice.want("POST", "/v1/conversation", map[string]any{"member_ids": "nope"}, 400, "invalid")
	})
	send := func(c *client, conv, cmid, body string) (int, message) {
		var msg message
		s := c.do("POST", "/v1/conversation/"+conv+"/messages", map[string]string{"client_msg_id": cmid, "type": "text", "body": body}, &msg)
		return s, msg
	}
	t.Run("Messages", func(t *testing.T) {
		defer bind(t, anon, alice, bob, carol)()
		s, m1 := send(alice, direct.ID, "a-1", "hello bob")
		if s != 201 || m1.Seq != 1 || m1.SenderID != as.User.ID {
			t.Fatalf("send = %d %+v", s, m1)
		}
		if s, again := send(alice, direct.ID, "a-1", "hello bob"); s != 200 || again.ID != m1.ID {
			t.Fatalf("retry = %d %+v", s, again)
		}
		if s, _ := send(alice, direct.ID, "a-1", "changed"); s != 409 {
			t.Fatalf("reused client_msg_id = %d", s)
		}
		for i := 2; i <= 5; i++ {
			send(bob, direct.ID, fmt.Sprint("b-", i), fmt.Sprint("reply ", i))
		}
		carol.want("POST", "/v1/conversation/"+direct.ID+"/messages", map[string]string{"client_msg_id": "c", "body": "x"}, 404, "not_found")
		alice.want("POST", "/v1/conversation/"+direct.ID+"/messages", map[string]string{"body": "x"}, 400, "invalid")
		s, b := alice.raw("POST", "/v1/conversation/"+direct.ID+"/messages", []byte(`{"client_msg_id":"big","body":"`+strings.Repeat("x", 64<<10+1)+`"}`))
		if s != 413 || !strings.Contains(string(b), "too_large") {
			t.Fatalf("oversize message = %d %s", s, b)
		}
		var page struct {
			Messages []message `json:"messages"`
		}
		if s := bob.do("GET", "/v1/conversation/"+direct.ID+"/details?uid="+bs.User.ID, nil, &page); s != 200 || len(page.Messages) != 5 || page.Messages[0].Seq != 1 || page.Messages[4].Seq != 5 {
			t.Fatalf("details = %d %+v", s, page)
		}
		bob.do("GET", "/v1/conversation/"+direct.ID+"/details?before_seq=4&limit=2", nil, &page)
		if len(page.Messages) != 2 || page.Messages[0].Seq != 2 || page.Messages[1].Seq != 3 {
			t.Fatalf("before_seq page = %+v", page.Messages)
		}
		bob.do("GET", "/v1/conversation/"+direct.ID+"/details?after_seq=3", nil, &page)
		if len(page.Messages) != 2 || page.Messages[0].Seq != 4 {
			t.Fatalf("after_seq page = %+v", page.Messages)
		}
		bob.want("GET", "/v1/conversation/"+direct.ID+"/details?limit=201", nil, 400, "invalid")
		bob.want("GET", "/v1/conversation/"+direct.ID+"/details?after_seq=-1", nil, 400, "invalid")
		carol.want("GET", "/v1/conversation/"+direct.ID+"/details", nil, 404, "not_found")
	})
	t.Run("List", func(t *testing.T) {
		defer bind(t, anon, alice, bob, carol)()
		var list struct {
			Conversations []conversation `json:"conversations"`
			PageSize      int            `json:"page_size"`
			PageNumber    int            `json:"page_number"`
		}
		if s := alice.do("GET", "/v1/conversation?uid="+as.User.ID+"&page_size=10&page_number=1", nil, &list); s != 200 || len(list.Conversations) != 1 || list.PageSize != 10 || list.PageNumber != 1 {
			t.Fatalf("list = %d %+v", s, list)
		}
		c := list.Conversations[0]
		if c.RecipientName != "bob" || c.LatestMessage == nil || c.LatestMessage.Body != "reply 5" || c.UnreadCount != 4 || c.LastSeq != 5 || len(c.Members) != 2 {
			t.Fatalf("entry = %+v", c)
		}
		alice.want("GET", "/v1/conversation?page_size=0", nil, 400, "invalid")
		alice.want("GET", "/v1/conversation?page_number=x", nil, 400, "invalid")
	})
	t.Run("Receipts", func(t *testing.T) {
		defer bind(t, anon, alice, bob, carol)()
		alice.want("POST", "/v1/conversation/"+direct.ID+"/delivered", map[string]int{"seq": 5}, 204, "")
		alice.want("POST", "/v1/conversation/"+direct.ID+"/read", map[string]int{"seq": 4}, 204, "")
		alice.want("POST", "/v1/conversation/"+direct.ID+"/read", map[string]int{"seq": 99}, 400, "invalid")
		alice.want("POST", "/v1/conversation/"+direct.ID+"/read", map[string]int{}, 400, "invalid")
		var rs struct {
			Receipts []struct {
				UserID       string `json:"user_id"`
				DeliveredSeq int64  `json:"delivered_seq"`
				ReadSeq      int64  `json:"read_seq"`
			} `json:"receipts"`
		}
		bob.do("GET", "/v1/conversation/"+direct.ID+"/receipts", nil, &rs)
		for _, r := range rs.Receipts {
			if r.UserID == as.User.ID && (r.DeliveredSeq != 5 || r.ReadSeq != 4) {
				t.Fatalf("alice's receipt = %+v", r)
			}
		}
		alice.want("PUT", "/v1/conversation/"+direct.ID+"/mute", map[string]bool{"muted": true}, 204, "")
	})
	t.Run("Recall", func(t *testing.T) {
		defer bind(t, anon, alice, bob, carol)()
		_, m := send(alice, direct.ID, "to-recall", "oops")
		bob.want("DELETE", "/v1/conversation/"+direct.ID+"/messages/"+m.ID, nil, 403, "forbidden")
		var got message
		if s := alice.do("DELETE", "/v1/conversation/"+direct.ID+"/messages/"+m.ID, nil, &got); s != 200 || got.RecalledAt == "" || got.Body != "" {
			t.Fatalf("recall = %d %+v", s, got)
		}
	})
	t.Run("Groups", func(t *testing.T) {
		defer bind(t, anon, alice, bob, carol)()
		var g conversation
		if s := alice.do("POST", "/v1/conversation", map[string]any{"member_ids": []string{bs.User.ID}, "title": "Team"}, &g); s != 201 || g.Type != "group" || g.Title != "Team" {
			t.Fatalf("create group = %d %+v", s, g)
		}
		bob.want("POST", "/v1/conversation/"+g.ID+"/members", map[string]any{"user_ids": []string{cs.User.ID}}, 403, "forbidden")
		var after conversation
		if s := alice.do("POST", "/v1/conversation/"+g.ID+"/members", map[string]any{"user_ids": []string{cs.User.ID}}, &after); s != 200 || len(after.Members) != 3 {
			t.Fatalf("add member = %d %+v", s, after)
		}
		alice.want("PATCH", "/v1/conversation/"+g.ID+"/members/"+bs.User.ID, map[string]string{"role": "admin"}, 204, "")
		bob.want("PATCH", "/v1/conversation/"+g.ID, map[string]string{"title": "Team 2"}, 200, "")
		carol.want("PATCH", "/v1/conversation/"+g.ID, map[string]string{"title": "mine"}, 403, "forbidden")
		carol.want("DELETE", "/v1/conversation/"+g.ID+"/members/"+bs.User.ID, nil, 403, "forbidden")
		carol.want("DELETE", "/v1/conversation/"+g.ID+"/members/"+cs.User.ID, nil, 204, "")
		carol.want("POST", "/v1/conversation/"+g.ID+"/messages", map[string]string{"client_msg_id": "gone", "body": "x"}, 403, "forbidden")
		alice.want("GET", "/v1/conversation/"+g.ID, nil, 200, "")
	})
	t.Run("RemoveConversation", func(t *testing.T) {
		defer bind(t, anon, alice, bob, carol)()
		bob.want("DELETE", "/v1/conversation", nil, 400, "invalid")
		carol.want("DELETE", "/v1/conversation?id="+direct.ID, nil, 404, "not_found")
		bob.want("DELETE", "/v1/conversation?id="+direct.ID, nil, 204, "")
		var page struct {
			Messages []message `json:"messages"`
		}
		bob.do("GET", "/v1/conversation/"+direct.ID+"/details", nil, &page)
		if len(page.Messages) != 0 {
			t.Fatalf("history after remove = %+v", page.Messages)
		}
		var list struct {
			Conversations []conversation `json:"conversations"`
		}
		bob.do("GET", "/v1/conversation", nil, &list)
		for _, c := range list.Conversations {
			if c.ID == direct.ID {
				t.Fatal("removed conversation still listed")
			}
		}
		send(alice, direct.ID, "back", "still there?")
		bob.do("GET", "/v1/conversation/"+direct.ID+"/details", nil, &page)
		if len(page.Messages) != 1 || page.Messages[0].Body != "still there?" {
			t.Fatalf("history after a new message = %+v", page.Messages)
		}
	})
	t.Run("Friends", func(t *testing.T) {
		defer bind(t, anon, alice, bob, carol)()
		var f struct {
			UserID string `json:"user_id"`
			State  string `json:"state"`
		}
		if s := alice.do("POST", "/v1/friends", map[string]string{"user_id": cs.User.ID}, &f); s != 201 || f.State != "outgoing" {
			t.Fatalf("request = %d %+v", s, f)
		}
		alice.want("POST", "/v1/friends", map[string]string{}, 400, "invalid")
		alice.want("POST", "/v1/friends/"+cs.User.ID+"/accept", nil, 404, "not_found")
		if s := carol.do("POST", "/v1/friends/"+as.User.ID+"/accept", nil, &f); s != 200 || f.State != "friends" {
			t.Fatalf("accept = %d %+v", s, f)
		}
		var list struct {
			Friends []struct {
				UserID string `json:"user_id"`
				State  string `json:"state"`
			} `json:"friends"`
		}
		if s := alice.do("GET", "/v1/friends?uid="+as.User.ID, nil, &list); s != 200 || len(list.Friends) != 1 || list.Friends[0].State != "friends" {
			t.Fatalf("friends = %d %+v", s, list)
		}
		alice.want("DELETE", "/v1/friends/"+cs.User.ID, nil, 204, "")
		alice.want("DELETE", "/v1/friends/"+cs.User.ID, nil, 404, "not_found")
		bob.want("POST", "/v1/friends/"+cs.User.ID+"/block", nil, 204, "")
		carol.want("POST", "/v1/friends", map[string]string{"user_id": bs.User.ID}, 403, "forbidden")
		carol.want("POST", "/v1/conversation", map[string]any{"member_ids": []string{bs.User.ID}}, 403, "forbidden")
		var blocks struct {
			UserIDs []string `json:"user_ids"`
		}
		bob.do("GET", "/v1/blocks", nil, &blocks)
		if len(blocks.UserIDs) != 1 || blocks.UserIDs[0] != cs.User.ID {
			t.Fatalf("blocks = %+v", blocks)
		}
		bob.want("DELETE", "/v1/friends/"+cs.User.ID+"/block", nil, 204, "")
		carol.want("POST", "/v1/friends", map[string]string{"user_id": bs.User.ID}, 201, "")
	})
	t.Run("Presence", func(t *testing.T) {
		defer bind(t, anon, alice, bob, carol)()
		var p struct {
			Presence []struct {
				UserID string `json:"user_id"`
				Online bool   `json:"online"`
			} `json:"presence"`
		}
		if s := alice.do("GET", "/v1/presence?user_ids="+bs.User.ID, nil, &p); s != 200 || len(p.Presence) != 1 || p.Presence[0].Online {
			t.Fatalf("presence = %d %+v", s, p)
		}
		alice.want("GET", "/v1/presence?user_ids=x", nil, 400, "invalid")
	})
	t.Run("Logout", func(t *testing.T) {
		defer bind(t, anon, alice, bob, carol)()
		_, sess := anon.mustSignUp("erin")
		erin := anon.with(sess.Token)
		erin.want("DELETE", "/v1/sessions/current", nil, 204, "")
		erin.want("GET", "/v1/me", nil, 401, "unauthorized")
	})
	_ = http.StatusOK
}

// TestRateLimit checks that the default limits answer 429 too_many.
func TestRateLimit(t *testing.T) {
	cfg := testConfig(t)
	cfg.SendRate, cfg.SendBurst = 1, 5
	m := MustRunMain(t, cfg)
	anon := newClient(t, m.Addr())
	alice, _ := anon.mustSignUp("alice")
	_, bs := anon.mustSignUp("bob")
	var conv conversation
	alice.do("POST", "/v1/conversation", map[string]any{"member_ids": []string{bs.User.ID}}, &conv)
	codes := map[int]int{}
	for i := 0; i < 8; i++ {
		s, _ := alice.raw("POST", "/v1/conversation/"+conv.ID+"/messages", []byte(fmt.Sprintf(`{"client_msg_id":"r%d","body":"x"}`, i)))
		codes[s]++
	}
	if codes[201] != 5 || codes[429] != 3 {
		t.Fatalf("statuses = %v, want 5 created and 3 too_many", codes)
	}
}
