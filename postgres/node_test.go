package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/testenv"
	"github.com/parleyhq/parley/postgres"
	"github.com/parleyhq/parley/storetest"
)

// TestNodesShareConversations runs two stores, as two Parley nodes, on one
// database. Senders on both append to the same conversations, each send
// racing its own retry on the other node, while receipts are raised on
// both: seqs stay dense, every send is stored once and acknowledged with one
// id, and no group deadlocks.
func TestNodesShareConversations(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.MustPostgres(t).DSN()
	nodes := []*postgres.DB{MustOpenConfig(t, postgres.Config{DSN: dsn}), MustOpenConfig(t, postgres.Config{DSN: dsn})}
	const senders, perSender, convs = 12, 30, 3
	users := make([]*parley.User, senders)
	devs := make([]*parley.Device, senders)
	for i := range users {
		users[i] = storetest.MustUser(t, nodes[0])
		devs[i] = storetest.MustDevice(t, nodes[0], users[i])
	}
	groups := make([]*parley.Conversation, convs)
	for i := range groups {
		groups[i] = storetest.MustConversation(t, nodes[1], parley.Group, users...)
	}
	var mu sync.Mutex
	seqs := map[parley.ID]map[int64]string{}
	for _, g := range groups {
		seqs[g.ID] = map[int64]string{}
	}
	var wg sync.WaitGroup
	for i := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range perSender {
				g := groups[(i+j)%convs]
				cmid := fmt.Sprintf("s%d-%d", i, j)
				res := make([]*parley.Message, 2)
				var inner sync.WaitGroup
				for k := range 2 {
					inner.Add(1)
					go func() {
						defer inner.Done()
						m, _, err := nodes[(i+j+k)%2].AppendMessage(ctx, textMessage(g, users[i], devs[i], cmid), hashOf(cmid), nil)
						if err != nil {
							t.Errorf("send %s: %v", cmid, err)
							return
						}
						res[k] = m
					}()
				}
				// A receipt on the other conversation, through the other node.
				_, _, err := nodes[(i+j+1)%2].RaiseWatermarks(ctx, groups[(i+j+1)%convs].ID, users[i].ID, int64(j), int64(j/2))
				if err != nil {
					t.Errorf("raise watermarks: %v", err)
				}
				inner.Wait()
				if res[0] == nil || res[1] == nil {
					return
				}
				if res[0].ID != res[1].ID || res[0].Seq != res[1].Seq {
					t.Errorf("send %s acknowledged twice: %+v and %+v", cmid, res[0], res[1])
					return
				}
				mu.Lock()
				if prev, ok := seqs[g.ID][res[0].Seq]; ok {
					t.Errorf("seq %d of %s given to %s and %s", res[0].Seq, g.ID, prev, cmid)
				}
				seqs[g.ID][res[0].Seq] = cmid
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	total := 0
	for _, g := range groups {
		ms, err := nodes[0].Messages(ctx, g.ID, parley.MessageFilter{Ascending: true, Limit: 10000})
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != len(seqs[g.ID]) {
			t.Fatalf("conversation %s: %d stored, %d acknowledged", g.ID, len(ms), len(seqs[g.ID]))
		}
		for i, m := range ms {
			if m.Seq != int64(i+1) || seqs[g.ID][m.Seq] != m.ClientMsgID {
				t.Fatalf("conversation %s entry %d = seq %d %s, acknowledged %s", g.ID, i, m.Seq, m.ClientMsgID, seqs[g.ID][m.Seq])
			}
		}
		c, _ := nodes[1].Conversation(ctx, g.ID)
		if c.LastSeq != int64(len(ms)) {
			t.Fatalf("LastSeq %d, %d entries", c.LastSeq, len(ms))
		}
		total += len(ms)
	}
	if total != senders*perSender {
		t.Fatalf("%d stored, want %d", total, senders*perSender)
	}
}

// TestNodesRaceOnClientMsgID sends one client_msg_id into two conversations
// at once through two nodes: one send is stored, the other gets ECONFLICT,
// and neither group fails for it.
func TestNodesRaceOnClientMsgID(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.MustPostgres(t).DSN()
	nodes := []*postgres.DB{MustOpenConfig(t, postgres.Config{DSN: dsn}), MustOpenConfig(t, postgres.Config{DSN: dsn})}
	a, b := storetest.MustUser(t, nodes[0]), storetest.MustUser(t, nodes[0])
	da := storetest.MustDevice(t, nodes[0], a)
	convs := []*parley.Conversation{
		storetest.MustConversation(t, nodes[0], parley.Direct, a, b),
		storetest.MustConversation(t, nodes[0], parley.Group, a, b),
	}
	for i := range 30 {
		cmid := fmt.Sprint("race-", i)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for k := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, errs[k] = nodes[k].AppendMessage(ctx, textMessage(convs[k], a, da, cmid), hashOf(cmid), nil)
			}()
		}
		wg.Wait()
		c0, c1 := parley.ErrorCode(errs[0]), parley.ErrorCode(errs[1])
		if !(c0 == "" && c1 == parley.ECONFLICT || c0 == parley.ECONFLICT && c1 == "") {
			t.Fatalf("send %s into two conversations: %v and %v; want one stored and one conflict", cmid, errs[0], errs[1])
		}
	}
}
