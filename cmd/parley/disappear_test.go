package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	parleyclient "github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/internal/testenv"
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

// collector keeps the message events one socket gets, by seq.
type collector struct {
	mu   sync.Mutex
	msgs map[int64]*parley.Message
}

func (c *collector) on(ev parleyclient.Event) {
	if m, ok := ev.Data.(*parley.Message); ok {
		c.mu.Lock()
		c.msgs[m.Seq] = m
		c.mu.Unlock()
	}
}

// visible returns the seqs the socket's client shows at now: what it got,
// less what it hid at expires_at.
func (c *collector) visible(now time.Time) []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int64
	for seq, m := range c.msgs {
		if !m.Expired(now) {
			out = append(out, seq)
		}
	}
	slices.Sort(out)
	return out
}

func (c *collector) get(seq int64) *parley.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.msgs[seq]
}

func (c *collector) has(seq int64) bool { return c.get(seq) != nil }

// TestClusterDisappearing: three nodes on one PostgreSQL and one Redis
// share a clock the test moves. The timer is set through one node, a
// message sent through another reaches a device on the third live with
// its expires_at, and a device that was offline meanwhile syncs later
// through yet another node: it gets both setting entries and not the
// expired message, so the two devices show the same conversation.
func TestClusterDisappearing(t *testing.T) {
	pg, rd := testenv.MustPostgres(t), testenv.MustRedis(t)
	clk := &testClock{t: time.Now().UTC().Truncate(time.Second)}
	urls := startCluster(t, 3, pg, rd, clk.now)
	ctx := context.Background()
	login := func(url, handle string) (*parleyclient.Client, *parley.Session) { return mustAccount(t, url, handle) }
	dial := func(c *parleyclient.Client, col *collector) *parleyclient.Socket { return mustDial(t, c, col.on) }
	alice, _ := login(urls[0], "alice")
	phone, bs := login(urls[1], "bob")
	conv, _, err := alice.CreateConversation(ctx, parley.CreateConversationRequest{MemberIDs: []parley.ID{bs.User.ID}})
	if err != nil {
		t.Fatal(err)
	}
	live := &collector{msgs: map[int64]*parley.Message{}}
	dial(phone, live)
	aliceSock := dial(alice, &collector{msgs: map[int64]*parley.Message{}})

	if _, err := alice.SetDisappearAfter(ctx, conv.ID, 60); err != nil { // seq 1
		t.Fatal(err)
	}
	gone, err := aliceSock.Send(ctx, parley.SendRequest{ConversationID: conv.ID, ClientMsgID: "gone", Type: parley.TextMessage, Body: "for a minute"}) // seq 2
	if err != nil || gone.ExpiresAt == nil {
		t.Fatalf("send = %+v, %v", gone, err)
	}
	waitFor(t, "the live device to get the setting entry and the message", func() bool { return live.has(1) && live.has(2) })
	if m := live.get(2); m.ExpiresAt == nil || !m.ExpiresAt.Equal(*gone.ExpiresAt) {
		t.Fatalf("live message = %+v", m)
	}
	clk.add(time.Minute)                                                                                                  // seq 2 expires
	if _, err := parleyclient.New(urls[2], nil).WithToken(alice.Token()).SetDisappearAfter(ctx, conv.ID, 0); err != nil { // seq 3
		t.Fatal(err)
	}
	if _, err := aliceSock.Send(ctx, parley.SendRequest{ConversationID: conv.ID, ClientMsgID: "kept", Type: parley.TextMessage, Body: "for good"}); err != nil { // seq 4
		t.Fatal(err)
	}
	waitFor(t, "the live device to get the rest", func() bool { return live.has(3) && live.has(4) })

	laptop, _ := login(urls[2], "bob")
	late := &collector{msgs: map[int64]*parley.Message{}}
	sock := dial(laptop, late)
	if err := sock.Sync(ctx, map[parley.ID]int64{}); err != nil {
		t.Fatal(err)
	}
	now := clk.now()
	if got := fmt.Sprint(late.visible(now)); got != "[1 3 4]" || late.has(2) {
		t.Fatalf("the device that synced late shows %s (expired message held: %v), want [1 3 4]", got, late.has(2))
	}
	if s := late.get(1); s.Type != parley.SettingEntry || s.DisappearAfter == nil || *s.DisappearAfter != 60 {
		t.Fatalf("setting entry = %+v", s)
	}
	if a, b := fmt.Sprint(live.visible(now)), fmt.Sprint(late.visible(now)); a != b {
		t.Fatalf("the devices show %s and %s", a, b)
	}
	ms, err := phone.History(ctx, conv.ID, parley.HistoryQuery{})
	if err != nil || len(ms) != 3 {
		t.Fatalf("history = %+v, %v", ms, err)
	}
}
