package main

import (
	"strings"
	"testing"
)

// TestAPIEditReactForward walks the edit, reaction and forward endpoints
// through a real node, with their error paths; every answer is checked
// against docs/openapi.yaml.
func TestAPIEditReactForward(t *testing.T) {
	m := MustRunMain(t, testConfig(t))
	anon := newClient(t, m.Addr())
	anon.record = openAPIRecorder(t)
	alice, as := anon.mustSignUp("alice")
	bob, bs := anon.mustSignUp("bob")
	carol, cs := anon.mustSignUp("carol")
	var direct, group conversation
	if s := alice.do("POST", "/v1/conversation", map[string]any{"member_ids": []string{bs.User.ID}}, &direct); s != 201 {
		t.Fatalf("create direct = %d", s)
	}
	if s := alice.do("POST", "/v1/conversation", map[string]any{"member_ids": []string{bs.User.ID, cs.User.ID}, "title": "g"}, &group); s != 201 {
		t.Fatalf("create group = %d", s)
	}
	var m1 struct {
		message
		EditedAt  string `json:"edited_at"`
		Forwarded bool   `json:"forwarded"`
		Reactions []struct {
			Emoji   string   `json:"emoji"`
			Count   int      `json:"count"`
			UserIDs []string `json:"user_ids"`
		} `json:"reactions"`
	}
	if s := alice.do("POST", "/v1/conversation/"+group.ID+"/messages", map[string]string{"client_msg_id": "g1", "type": "text", "body": "helo"}, &m1); s != 201 {
		t.Fatalf("send = %d", s)
	}
	msgPath := "/v1/conversation/" + group.ID + "/messages/" + m1.ID
	t.Run("Edit", func(t *testing.T) {
		defer bind(t, anon, alice, bob, carol)()
		got := m1
		if s := alice.do("PATCH", msgPath, map[string]string{"body": "hello"}, &got); s != 200 || got.Body != "hello" || got.EditedAt == "" || got.ID != m1.ID {
			t.Fatalf("edit = %d %+v", s, got)
		}
		bob.want("PATCH", msgPath, map[string]string{"body": "mine"}, 403, "forbidden")
		alice.want("PATCH", msgPath, map[string]string{"body": ""}, 400, "invalid")
		alice.want("PATCH", msgPath, map[string]string{}, 400, "invalid")
		alice.want("PATCH", "/v1/conversation/"+group.ID+"/messages/999999", map[string]string{"body": "x"}, 404, "not_found")
		anon.want("PATCH", msgPath, map[string]string{"body": "x"}, 401, "unauthorized")
		var hist struct {
			Messages []struct {
				Body     string `json:"body"`
				Type     string `json:"type"`
				EditOf   string `json:"edit_of"`
				EditedAt string `json:"edited_at"`
			} `json:"messages"`
		}
		if s := carol.do("GET", "/v1/conversation/"+group.ID+"/details", nil, &hist); s != 200 || len(hist.Messages) != 2 ||
			hist.Messages[0].Body != "hello" || hist.Messages[0].EditedAt == "" || hist.Messages[1].Type != "edit" || hist.Messages[1].EditOf != m1.ID {
			t.Fatalf("details = %d %+v", s, hist)
		}
	})
	t.Run("React", func(t *testing.T) {
		defer bind(t, anon, alice, bob, carol)()
		bob.want("PUT", msgPath+"/reaction", map[string]string{"emoji": "👍"}, 204, "")
		carol.want("PUT", msgPath+"/reaction", map[string]string{"emoji": "👍"}, 204, "")
		carol.want("PUT", msgPath+"/reaction", map[string]string{"emoji": "👍"}, 204, "") // again: nothing changes
		bob.want("PUT", msgPath+"/reaction", map[string]string{"emoji": "yes"}, 400, "invalid")
		bob.want("PUT", msgPath+"/reaction", map[string]string{}, 400, "invalid")
		bob.want("PUT", "/v1/conversation/"+direct.ID+"/messages/"+m1.ID+"/reaction", map[string]string{"emoji": "👍"}, 404, "not_found")
		var hist struct {
			Messages []struct {
				Reactions []struct {
					Emoji   string   `json:"emoji"`
					Count   int      `json:"count"`
					UserIDs []string `json:"user_ids"`
				} `json:"reactions"`
			} `json:"messages"`
		}
		if s := alice.do("GET", "/v1/conversation/"+group.ID+"/details", nil, &hist); s != 200 || len(hist.Messages) != 4 {
			t.Fatalf("details = %d %+v", s, hist)
		}
		rs := hist.Messages[0].Reactions
		if len(rs) != 1 || rs[0].Emoji != "👍" || rs[0].Count != 2 || len(rs[0].UserIDs) != 2 || rs[0].UserIDs[0] != bs.User.ID {
			t.Fatalf("reactions = %+v", rs)
		}
	})
	t.Run("Forward", func(t *testing.T) {
		defer bind(t, anon, alice, bob, carol)()
		fw := m1
		src := map[string]string{"conversation_id": group.ID, "message_id": m1.ID}
		if s := bob.do("POST", "/v1/conversation/"+direct.ID+"/messages", map[string]any{"client_msg_id": "f1", "forward_of": src}, &fw); s != 201 ||
			!fw.Forwarded || fw.Body != "hello" || fw.SenderID != bs.User.ID || fw.Type != "text" {
			t.Fatalf("forward = %d %+v", s, fw)
		}
		bob.want("POST", "/v1/conversation/"+direct.ID+"/messages", map[string]any{"client_msg_id": "f2", "body": "x", "forward_of": src}, 400, "invalid")
		var dm conversation
		if s := carol.do("POST", "/v1/conversation", map[string]any{"member_ids": []string{as.User.ID}}, &dm); s != 201 {
			t.Fatalf("create direct = %d", s)
		}
		// carol cannot see a message of alice and bob's conversation.
		carol.want("POST", "/v1/conversation/"+dm.ID+"/messages", map[string]any{"client_msg_id": "f3",
			"forward_of": map[string]string{"conversation_id": direct.ID, "message_id": fw.ID}}, 404, "not_found")
	})
	t.Run("FormerMember", func(t *testing.T) {
		defer bind(t, anon, alice, bob, carol)()
		carol.want("DELETE", "/v1/conversation/"+group.ID+"/members/"+cs.User.ID, nil, 204, "")
		carol.want("PUT", msgPath+"/reaction", map[string]string{"emoji": "😂"}, 403, "forbidden")
	})
}

// TestRealtimeEditReactForward runs the changes scenario of the official
// socket.io-client: edit, react and forward over the socket, on
// WebSocket and on long-polling.
func TestRealtimeEditReactForward(t *testing.T) {
	for _, mode := range []string{"websocket", "polling"} {
		t.Run(mode, func(t *testing.T) {
			m := MustRunMain(t, testConfig(t))
			anon := newClient(t, m.Addr())
			alice, _ := anon.mustSignUp("alice")
			_, bs := anon.mustSignUp("bob")
			setup := map[string]any{
				"alice1": alice.token, "alice2": login(t, anon, "alice"), "bob": login(t, anon, "bob"),
				"conv": directConversation(t, alice, bs.User.ID),
			}
			type entry struct {
				Type       string `json:"type"`
				Seq        int64  `json:"seq"`
				Body       string `json:"body"`
				EditOf     string `json:"edit_of"`
				ReactionOf string `json:"reaction_of"`
				SenderID   string `json:"sender_id"`
			}
			var res struct {
				Alice1   []string `json:"alice1"`
				Alice2   []string `json:"alice2"`
				Bob      []string `json:"bob"`
				Edit     entry    `json:"edit"`
				Reaction entry    `json:"reaction"`
				Errors   []string `json:"errors"`
			}
			jsClient(t, m.Addr(), "changes", mode, setup, &res)
			// alice1 has its send and nothing else in its acks; bob its forward.
			if got := strings.Join(res.Alice1, ","); got != "edit,reaction,text" {
				t.Errorf("alice's acting device got %s", got)
			}
			if got := strings.Join(res.Alice2, ","); got != "text,edit,reaction,text" {
				t.Errorf("alice's other device got %s", got)
			}
			if got := strings.Join(res.Bob, ","); got != "text,edit,reaction" {
				t.Errorf("bob got %s", got)
			}
			if res.Edit.Seq != 2 || res.Edit.Body != "hello" || res.Edit.EditOf == "" || res.Reaction.Seq != 3 || res.Reaction.Body != "👍" || res.Reaction.SenderID != bs.User.ID {
				t.Errorf("entries: edit %+v, reaction %+v", res.Edit, res.Reaction)
			}
			if got := strings.Join(res.Errors, ","); got != "forbidden,invalid,invalid,not_found" {
				t.Errorf("error acks = %s", got)
			}
		})
	}
}
