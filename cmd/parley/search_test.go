package main

import (
	"net/url"
	"testing"
)

// TestSearchAPI runs GET /v1/search through a real node, with its error
// paths; every answer is checked against docs/openapi.yaml.
func TestSearchAPI(t *testing.T) {
	m := MustRunMain(t, testConfig(t))
	anon := newClient(t, m.Addr())
	anon.record = openAPIRecorder(t)
	alice, _ := anon.mustSignUp("alice")
	_, bs := anon.mustSignUp("bob")
	carol, _ := anon.mustSignUp("carol")
	var direct conversation
	if s := alice.do("POST", "/v1/conversation", map[string]any{"member_ids": []string{bs.User.ID}}, &direct); s != 201 {
		t.Fatalf("create = %d", s)
	}
	var sent message
	if s := alice.do("POST", "/v1/conversation/"+direct.ID+"/messages", map[string]any{"client_msg_id": "s1", "body": "Meet me at the café\nat noon"}, &sent); s != 201 {
		t.Fatalf("send = %d", s)
	}
	type result struct {
		Message        message `json:"message"`
		ConversationID string  `json:"conversation_id"`
		Snippet        string  `json:"snippet"`
	}
	var found struct {
		Results []result `json:"results"`
	}
	q := url.Values{"q": {`caf "at noon"`}, "conversation_id": {direct.ID}, "limit": {"5"}}
	if s := alice.do("GET", "/v1/search?"+q.Encode(), nil, &found); s != 200 || len(found.Results) != 1 ||
		found.Results[0].Message.ID != sent.ID || found.Results[0].ConversationID != direct.ID || found.Results[0].Snippet != "Meet me at the café at noon" {
		t.Fatalf("search = %d %+v", s, found)
	}
	if s := carol.do("GET", "/v1/search?q=meet", nil, &found); s != 200 || len(found.Results) != 0 {
		t.Fatalf("search by a stranger = %d %+v", s, found)
	}
	carol.want("GET", "/v1/search?q=meet&conversation_id="+direct.ID, nil, 404, "not_found")
	for _, bad := range []string{"", "?q=", "?q=%22open", "?q=meet&limit=0", "?q=meet&limit=51", "?q=meet&before_id=x", "?q=meet&conversation_id=-1"} {
		alice.want("GET", "/v1/search"+bad, nil, 400, "invalid")
	}
	anon.want("GET", "/v1/search?q=meet", nil, 401, "unauthorized")
}
