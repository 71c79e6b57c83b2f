package main

import (
	"testing"
	"time"
)

// TestAPIDisappearing drives the disappearing-messages timer over HTTP,
// with its errors; every answer is checked against docs/openapi.yaml.
func TestAPIDisappearing(t *testing.T) {
	m := MustRunMain(t, testConfig(t))
	anon := newClient(t, m.Addr())
	anon.record = openAPIRecorder(t)
	alice, _ := anon.mustSignUp("alice")
	bob, bs := anon.mustSignUp("bob")
	carol, cs := anon.mustSignUp("carol")
	var direct, group conversation
	if s := alice.do("POST", "/v1/conversation", map[string]any{"member_ids": []string{bs.User.ID}}, &direct); s != 201 {
		t.Fatalf("create direct = %d", s)
	}
	if s := alice.do("POST", "/v1/conversation", map[string]any{"member_ids": []string{bs.User.ID, cs.User.ID}, "title": "Team"}, &group); s != 201 {
		t.Fatalf("create group = %d", s)
	}
	path := "/v1/conversation/" + direct.ID

	var view struct {
		DisappearAfter int64 `json:"disappear_after"`
		LastSeq        int64 `json:"last_seq"`
	}
	if s := bob.do("PATCH", path, map[string]int64{"disappear_after": 3600}, &view); s != 200 || view.DisappearAfter != 3600 || view.LastSeq != 1 {
		t.Fatalf("set timer = %d %+v", s, view)
	}
	var sent struct {
		CreatedAt string `json:"created_at"`
		ExpiresAt string `json:"expires_at"`
	}
	if s := alice.do("POST", path+"/messages", map[string]string{"client_msg_id": "d1", "body": "for an hour"}, &sent); s != 201 || sent.ExpiresAt == "" {
		t.Fatalf("send = %d %+v", s, sent)
	}
	var page struct {
		Messages []struct {
			Seq            int64      `json:"seq"`
			Type           string     `json:"type"`
			DisappearAfter *int64     `json:"disappear_after"`
			CreatedAt      time.Time  `json:"created_at"`
			ExpiresAt      *time.Time `json:"expires_at"`
		} `json:"messages"`
	}
	if s := alice.do("GET", path+"/details", nil, &page); s != 200 || len(page.Messages) != 2 ||
		page.Messages[0].Type != "setting" || page.Messages[0].DisappearAfter == nil || *page.Messages[0].DisappearAfter != 3600 ||
		page.Messages[0].ExpiresAt != nil || page.Messages[1].ExpiresAt == nil || !page.Messages[1].ExpiresAt.Equal(page.Messages[1].CreatedAt.Add(time.Hour)) {
		t.Fatalf("details = %+v", page)
	}
	if s := alice.do("GET", path, nil, &view); s != 200 || view.DisappearAfter != 3600 {
		t.Fatalf("conversation = %d %+v", s, view)
	}
	alice.want("PATCH", path, map[string]int64{"disappear_after": 0}, 200, "")

	alice.want("PATCH", path, map[string]int64{"disappear_after": 4}, 400, "invalid")
	alice.want("PATCH", path, map[string]int64{"disappear_after": 7776001}, 400, "invalid")
	alice.want("PATCH", path, map[string]string{"disappear_after": "1h"}, 400, "invalid")
	alice.want("PATCH", path, map[string]any{}, 400, "invalid")
	alice.want("PATCH", path, map[string]any{"title": "x", "disappear_after": 60}, 400, "invalid") // a direct conversation has no title
	carol.want("PATCH", path, map[string]int64{"disappear_after": 60}, 404, "not_found")
	carol.want("PATCH", "/v1/conversation/"+group.ID, map[string]int64{"disappear_after": 60}, 403, "forbidden")
	alice.want("PATCH", "/v1/conversation/"+group.ID, map[string]any{"title": "Crew", "disappear_after": 60}, 200, "")
	bob.want("PATCH", "/v1/conversation/"+group.ID, map[string]string{"title": "Mine"}, 403, "forbidden")
}
