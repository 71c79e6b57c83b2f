package postgres_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/testenv"
	"github.com/parleyhq/parley/postgres"
	"github.com/parleyhq/parley/storetest"
)

func hashOf(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func textMessage(conv *parley.Conversation, u *parley.User, d *parley.Device, cmid string) *parley.Message {
	return &parley.Message{ConversationID: conv.ID, SenderID: u.ID, SenderDeviceID: d.ID, ClientMsgID: cmid,
		Type: parley.TextMessage, Body: "body of " + cmid, CreatedAt: time.Now()}
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := parley.ErrorCode(err); got != code {
		t.Fatalf("%s: error code %q (%v), want %q", what, got, err, code)
	}
}

// TestOutage stops the database under the store: requests fail at once
// with a retryable EUNAVAILABLE, nothing is acknowledged that was not
// stored, and the store works again by itself once the database is back.
func TestOutage(t *testing.T) {
	ctx := context.Background()
	pg := testenv.MustPostgresServer(t)
	db := MustOpenConfig(t, postgres.Config{DSN: pg.DSN()})
	a, b := storetest.MustUser(t, db), storetest.MustUser(t, db)
	da := storetest.MustDevice(t, db, a)
	conv := storetest.MustConversation(t, db, parley.Direct, a, b)
	var acked []*parley.Message
	for i := 1; i <= 3; i++ {
		m, _, err := db.AppendMessage(ctx, textMessage(conv, a, da, fmt.Sprint("before-", i)), hashOf(fmt.Sprint(i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		acked = append(acked, m)
	}

	pg.Stop()
	t.Run("ErrUnavailableWhileDown", func(t *testing.T) {
		start := time.Now()
		_, _, err := db.AppendMessage(ctx, textMessage(conv, a, da, "during"), hashOf("during"), nil)
		wantCode(t, "AppendMessage", err, parley.EUNAVAILABLE)
		if !parley.IsRetryable(err) {
			t.Fatalf("outage error is not retryable: %v", err)
		}
		t.Logf("AppendMessage failed after %v: %v", time.Since(start), err)
		wantCode(t, "Ping", db.Ping(ctx), parley.EUNAVAILABLE)
		_, err = db.Messages(ctx, conv.ID, parley.MessageFilter{})
		wantCode(t, "Messages", err, parley.EUNAVAILABLE)
		_, _, err = db.RaiseWatermarks(ctx, conv.ID, b.ID, 1, 1)
		wantCode(t, "RaiseWatermarks", err, parley.EUNAVAILABLE)
		_, err = db.User(ctx, a.ID)
		wantCode(t, "User", err, parley.EUNAVAILABLE)
	})

	pg.Restart()
	t.Run("RecoversByItself", func(t *testing.T) {
		// The client retries the send that failed: it is stored once, with
		// the next seq.
		m, created, err := db.AppendMessage(ctx, textMessage(conv, a, da, "during"), hashOf("during"), nil)
		if err != nil || !created || m.Seq != 4 {
			t.Fatalf("send after restart = %+v created=%v err=%v, want seq 4", m, created, err)
		}
		acked = append(acked, m)
		if err := db.Ping(ctx); err != nil {
			t.Fatalf("Ping after restart: %v", err)
		}
		ms, err := db.Messages(ctx, conv.ID, parley.MessageFilter{Limit: 100})
		if err != nil || len(ms) != len(acked) {
			t.Fatalf("history after restart = %d messages, %v; want %d", len(ms), err, len(acked))
		}
		for i, m := range ms {
			if m.ID != acked[i].ID || m.Seq != int64(i+1) {
				t.Fatalf("history[%d] = %+v, acked %+v", i, m, acked[i])
			}
		}
	})
}

// TestCrashUnderLoad kills the database (as a crash would) while senders
// keep sending and retrying like clients do. Every acknowledged message must
// be stored with the seq it was acknowledged with, every send stored once,
// and each conversation's seqs dense.
func TestCrashUnderLoad(t *testing.T) {
	ctx := context.Background()
	pg := testenv.MustPostgresServer(t)
	db := MustOpenConfig(t, postgres.Config{DSN: pg.DSN(), WriteTimeout: 3 * time.Second})
	const senders, convs = 8, 2
	users := make([]*parley.User, senders)
	devs := make([]*parley.Device, senders)
	for i := range users {
		users[i] = storetest.MustUser(t, db)
		devs[i] = storetest.MustDevice(t, db, users[i])
	}
	groups := make([]*parley.Conversation, convs)
	for i := range groups {
		groups[i] = storetest.MustConversation(t, db, parley.Group, users...)
	}

	type ack struct {
		id  parley.ID
		seq int64
	}
	var mu sync.Mutex
	acks := map[string]ack{} // by client_msg_id
	var stop atomic.Bool
	var failures atomic.Int64
	var wg sync.WaitGroup
	for i := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; !stop.Load(); j++ {
				cmid := fmt.Sprintf("s%d-%d", i, j)
				conv := groups[j%convs]
				// Like a client: retry the same send until it is acknowledged.
				for {
					m, _, err := db.AppendMessage(ctx, textMessage(conv, users[i], devs[i], cmid), hashOf(cmid), nil)
					if err == nil {
						mu.Lock()
						acks[cmid] = ack{m.ID, m.Seq}
						mu.Unlock()
						break
					}
					if !parley.IsRetryable(err) {
						t.Errorf("send %s: %v", cmid, err)
						return
					}
					failures.Add(1)
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	acked := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acks)
	}
	// Each phase waits for what shows it happened, not for a time: sends
	// acknowledged before the crash, sends failing during it, sends
	// acknowledged again after the restart.
	waitLoad := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) || t.Failed() {
				stop.Store(true)
				wg.Wait()
				t.Fatalf("timed out waiting for %s (%d acknowledged, %d attempts failed)", what, acked(), failures.Load())
			}
		}
	}
	waitLoad("sends acknowledged before the crash", func() bool { return acked() >= 50 })
	pg.Kill()
	waitLoad("sends failing while the database is down", func() bool { return failures.Load() > 0 })
	pg.Restart()
	again := acked()
	waitLoad("sends acknowledged after the restart", func() bool { return acked() >= again+50 })
	stop.Store(true)
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("%d sends acknowledged, %d attempts failed during the crash", len(acks), failures.Load())

	stored := map[string]*parley.Message{}
	for _, g := range groups {
		ms, err := db.Messages(ctx, g.ID, parley.MessageFilter{Ascending: true, Limit: 1_000_000})
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range ms {
			if m.Seq != int64(i+1) {
				t.Fatalf("conversation %s: seqs not dense at %d: seq %d", g.ID, i, m.Seq)
			}
			if stored[m.ClientMsgID] != nil {
				t.Fatalf("send %s stored twice", m.ClientMsgID)
			}
			stored[m.ClientMsgID] = m
		}
		c, err := db.Conversation(ctx, g.ID)
		if err != nil || c.LastSeq != int64(len(ms)) {
			t.Fatalf("conversation %s: LastSeq %d, %d entries, %v", g.ID, c.LastSeq, len(ms), err)
		}
	}
	var lost []string
	for cmid, a := range acks {
		m := stored[cmid]
		if m == nil {
			lost = append(lost, cmid)
			continue
		}
		if m.ID != a.id || m.Seq != a.seq {
			t.Fatalf("send %s acknowledged as id %s seq %d, stored as id %s seq %d", cmid, a.id, a.seq, m.ID, m.Seq)
		}
	}
	sort.Strings(lost)
	if len(lost) > 0 {
		t.Fatalf("%d acknowledged sends lost: %v", len(lost), lost)
	}
}
