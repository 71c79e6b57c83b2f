package main

import (
	"fmt"
	"slices"
	"testing"
)

// listEntry is what the pin and archive routes change in a list entry.
type listEntry struct {
	ID       string  `json:"id"`
	Pinned   bool    `json:"pinned"`
	PinnedAt *string `json:"pinned_at"`
	Archived bool    `json:"archived"`
	Muted    bool    `json:"muted"`
}

func (c *client) list(query string) []listEntry {
	c.tb.Helper()
	var out struct {
		Conversations []listEntry `json:"conversations"`
	}
	if s := c.do("GET", "/v1/conversation"+query, nil, &out); s != 200 {
		c.tb.Fatalf("GET /v1/conversation%s = %d", query, s)
	}
	return out.Conversations
}

func ids(es []listEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

// TestPinArchiveHTTP walks the pin and archive routes through a real node,
// every answer checked against docs/openapi.yaml.
func TestPinArchiveHTTP(t *testing.T) {
	m := MustRunMain(t, testConfig(t))
	anon := newClient(t, m.Addr())
	anon.record = openAPIRecorder(t)
	alice, _ := anon.mustSignUp("alice")
	var convs []string // oldest activity first
	for i := range 6 {
		_, peer := anon.mustSignUp(fmt.Sprint("peer", i))
		var c conversation
		if s := alice.do("POST", "/v1/conversation", map[string]any{"member_ids": []string{peer.User.ID}}, &c); s != 201 {
			t.Fatalf("create = %d", s)
		}
		if s := alice.do("POST", "/v1/conversation/"+c.ID+"/messages", map[string]string{"client_msg_id": c.ID, "body": "hi"}, nil); s != 201 {
			t.Fatalf("send = %d", s)
		}
		convs = append(convs, c.ID)
	}
	_, carol := anon.mustSignUp("carol")
	_ = carol

	t.Run("PinnedFirst", func(t *testing.T) {
		defer bind(t, anon, alice)()
		alice.want("PUT", "/v1/conversation/"+convs[0]+"/pin", map[string]bool{"pinned": true}, 204, "")
		alice.want("PUT", "/v1/conversation/"+convs[2]+"/pin", map[string]bool{"pinned": true}, 204, "")
		l := alice.list("")
		want := []string{convs[2], convs[0], convs[5], convs[4], convs[3], convs[1]}
		if !slices.Equal(ids(l), want) || !l[0].Pinned || l[0].PinnedAt == nil || l[2].Pinned || l[2].PinnedAt != nil {
			t.Fatalf("list = %+v, want order %v", l, want)
		}
		page2 := alice.list("?page_size=4&page_number=2")
		if !slices.Equal(ids(page2), want[4:]) {
			t.Fatalf("page 2 = %v, want %v", ids(page2), want[4:])
		}
	})
	t.Run("ErrTooMany", func(t *testing.T) {
		defer bind(t, anon, alice)()
		for _, c := range convs[3:] {
			alice.want("PUT", "/v1/conversation/"+c+"/pin", map[string]bool{"pinned": true}, 204, "")
		}
		alice.want("PUT", "/v1/conversation/"+convs[1]+"/pin", map[string]bool{"pinned": true}, 429, "too_many")
		alice.want("PUT", "/v1/conversation/"+convs[5]+"/pin", map[string]bool{"pinned": false}, 204, "")
		alice.want("PUT", "/v1/conversation/"+convs[1]+"/pin", map[string]bool{"pinned": true}, 204, "")
	})
	t.Run("Archive", func(t *testing.T) {
		defer bind(t, anon, alice)()
		alice.want("PUT", "/v1/conversation/"+convs[1]+"/archive", map[string]bool{"archived": true}, 204, "")
		if l := alice.list(""); len(l) != 5 || slices.Contains(ids(l), convs[1]) {
			t.Fatalf("list = %v, without %s", ids(l), convs[1])
		}
		l := alice.list("?archived=true")
		i := slices.Index(ids(l), convs[1])
		if len(l) != 6 || i < 0 || !l[i].Archived || l[i].Pinned {
			t.Fatalf("list with archived = %+v", l)
		}
		var v listEntry
		if s := alice.do("GET", "/v1/conversation/"+convs[1], nil, &v); s != 200 || !v.Archived {
			t.Fatalf("conversation = %d %+v", s, v)
		}
		if l := alice.list("?archived=false"); len(l) != 5 {
			t.Fatalf("archived=false = %v", ids(l))
		}
		alice.want("PUT", "/v1/conversation/"+convs[1]+"/archive", map[string]bool{"archived": false}, 204, "")
		if l := alice.list(""); len(l) != 6 {
			t.Fatalf("after unarchive = %v", ids(l))
		}
	})
	t.Run("BadRequests", func(t *testing.T) {
		defer bind(t, anon, alice)()
		c := convs[1]
		alice.want("GET", "/v1/conversation?archived=yes", nil, 400, "invalid")
		alice.want("PUT", "/v1/conversation/"+c+"/pin", map[string]any{}, 400, "invalid")
		alice.want("PUT", "/v1/conversation/"+c+"/pin", map[string]any{"pinned": "yes"}, 400, "invalid")
		alice.want("PUT", "/v1/conversation/"+c+"/pin", map[string]any{"archived": true}, 400, "invalid")
		alice.want("PUT", "/v1/conversation/"+c+"/archive", map[string]any{"archived": nil}, 400, "invalid")
		alice.want("PUT", "/v1/conversation/"+c+"/archive", nil, 400, "invalid")
		alice.want("POST", "/v1/conversation/"+c+"/pin", map[string]bool{"pinned": true}, 405, "invalid")
		anon.want("PUT", "/v1/conversation/"+c+"/pin", map[string]bool{"pinned": true}, 401, "unauthorized")
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		defer bind(t, anon, alice)()
		carolc := anon.with(carol.Token)
		defer bind(t, carolc)()
		carolc.want("PUT", "/v1/conversation/"+convs[1]+"/pin", map[string]bool{"pinned": true}, 404, "not_found")
		carolc.want("PUT", "/v1/conversation/"+convs[1]+"/archive", map[string]bool{"archived": true}, 404, "not_found")
		alice.want("PUT", "/v1/conversation/999999/pin", map[string]bool{"pinned": true}, 404, "not_found")
		alice.want("PUT", "/v1/conversation/abc/archive", map[string]bool{"archived": true}, 404, "not_found")
	})
}
