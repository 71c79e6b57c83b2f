package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	parleyclient "github.com/parleyhq/parley/client"
)

// BenchmarkGroupFanout measures one message to a group whose 1,000
// members are all connected (DESIGN §6: all delivered within 50 ms): the
// time from the send to its delivery at the last member, one message at a
// time. PARLEY_BENCH_MEMBERS sets the group size.
//
//	go test ./cmd/parley -run '^$' -bench GroupFanout -benchtime 20x
func BenchmarkGroupFanout(b *testing.B) {
	members := 1000
	if v := os.Getenv("PARLEY_BENCH_MEMBERS"); v != "" {
		members = atoi(b, v)
	}
	cfg := testConfig(b)
	cfg.LogLevel = "error"
	cfg.MemberCap = members + 1
	m := MustRunMain(b, cfg)
	url := "http://" + m.Addr()
	ctx := context.Background()
	anon := newClient(b, m.Addr())
	owner, _ := anon.mustSignUp("owner")
	ids := make([]parley.ID, members)
	tokens := make([]string, members)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			c, s := anon.mustSignUp(fmt.Sprintf("member%04d", i))
			ids[i], tokens[i] = mustID(b, s.User.ID), c.token
		}(i)
	}
	wg.Wait()
	api := parleyclient.New(url, nil).WithToken(owner.token)
	var g *parley.ConversationView
	for start := 0; start < members; start += parley.MaxMembersPerCall {
		chunk := ids[start:min(start+parley.MaxMembersPerCall, members)]
		var err error
		if g == nil {
			g, _, err = api.CreateConversation(ctx, parley.CreateConversationRequest{MemberIDs: chunk, Title: "fan-out"})
		} else {
			_, err = api.AddMembers(ctx, g.ID, chunk...)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	// Every member connected; each reports the seqs it receives.
	got := make(chan time.Time, members*4)
	for i := range tokens {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			s, err := parleyclient.New(url, nil).WithToken(tokens[i]).Dial(ctx, parleyclient.SocketConfig{
				Handler: func(ev parleyclient.Event) {
					if ev.Name == parley.EventMessage {
						got <- time.Now()
					}
				},
			})
			if err != nil {
				b.Error(err)
				return
			}
			b.Cleanup(func() { s.Close() })
		}(i)
	}
	wg.Wait()
	sender, err := parleyclient.New(url, nil).WithToken(owner.token).Dial(ctx, parleyclient.SocketConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer sender.Close()
	var lasts []time.Duration
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		start := time.Now()
		if _, err := sender.Send(ctx, parley.SendRequest{ConversationID: g.ID, ClientMsgID: fmt.Sprint("f", n), Type: parley.TextMessage, Body: "to everyone"}); err != nil {
			b.Fatal(err)
		}
		var last time.Time
		for i := 0; i < members; i++ {
			select {
			case t := <-got:
				last = t
			case <-time.After(10 * time.Second):
				b.Fatalf("message %d reached %d of %d members", n, i, members)
			}
		}
		lasts = append(lasts, last.Sub(start))
	}
	b.StopTimer()
	b.ReportMetric(float64(lasts[0].Microseconds())/1000, "first-all-delivered-ms")
	sort.Slice(lasts, func(i, j int) bool { return lasts[i] < lasts[j] })
	b.ReportMetric(float64(lasts[len(lasts)/2].Microseconds())/1000, "p50-all-delivered-ms")
	b.ReportMetric(float64(lasts[len(lasts)-1].Microseconds())/1000, "max-all-delivered-ms")
}
