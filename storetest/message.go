package storetest

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley"
)

func seqs(ms []*parley.Message) []int64 {
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.Seq
	}
	return out
}

func testMessages(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	a, b := MustUser(t, s), MustUser(t, s)
	da, db := MustDevice(t, s, a), MustDevice(t, s, b)
	conv := MustConversation(t, s, parley.Direct, a, b)

	first := MustSend(t, s, conv, a, da, "c-1", "hello")
	t.Run("SeqAndID", func(t *testing.T) {
		if first.Seq != 1 || first.ID == 0 {
			t.Fatalf("first message = %+v", first)
		}
		got, err := s.Message(ctx, first.ID)
		if err != nil || got.Body != "hello" || got.Seq != 1 || got.SenderID != a.ID || got.ClientMsgID != "c-1" || got.SenderDeviceID != da.ID {
			t.Fatalf("Message = %+v, %v", got, err)
		}
		c, _ := s.Conversation(ctx, conv.ID)
		if c.LastSeq != 1 {
			t.Fatalf("LastSeq = %d", c.LastSeq)
		}
	})
	t.Run("RetryReturnsOriginal", func(t *testing.T) {
		m := &parley.Message{ConversationID: conv.ID, SenderID: a.ID, SenderDeviceID: da.ID, ClientMsgID: "c-1", Type: parley.TextMessage, Body: "hello", CreatedAt: epoch.Add(time.Hour)}
		got, created, err := s.AppendMessage(ctx, m, hash("c-1", "hello"), nil)
		if err != nil || created || got.ID != first.ID || got.Seq != 1 || !got.CreatedAt.Equal(first.CreatedAt) {
			t.Fatalf("retry = %+v created=%v err=%v", got, created, err)
		}
		c, _ := s.Conversation(ctx, conv.ID)
		if c.LastSeq != 1 {
			t.Fatalf("a retry consumed a seq: LastSeq = %d", c.LastSeq)
		}
	})
	t.Run("ErrConflictOnReusedClientMsgID", func(t *testing.T) {
		m := &parley.Message{ConversationID: conv.ID, SenderID: a.ID, SenderDeviceID: da.ID, ClientMsgID: "c-1", Type: parley.TextMessage, Body: "different", CreatedAt: epoch}
		_, _, err := s.AppendMessage(ctx, m, hash("c-1", "different"), nil)
		wantCode(t, err, parley.ECONFLICT)
	})
	t.Run("SameClientMsgIDOtherDevice", func(t *testing.T) {
		m := MustSend(t, s, conv, b, db, "c-1", "hello")
		if m.Seq != 2 || m.ID == first.ID {
			t.Fatalf("other device's message = %+v", m)
		}
	})
	t.Run("ErrUnknownConversation", func(t *testing.T) {
		m := &parley.Message{ConversationID: 999999, SenderID: a.ID, SenderDeviceID: da.ID, ClientMsgID: "x", Type: parley.TextMessage, Body: "x", CreatedAt: epoch}
		_, _, err := s.AppendMessage(ctx, m, hash("x"), nil)
		wantCode(t, err, parley.ENOTFOUND)
		_, err = s.Message(ctx, 999999)
		wantCode(t, err, parley.ENOTFOUND)
	})
	t.Run("FieldsRoundTrip", func(t *testing.T) {
		m := &parley.Message{ConversationID: conv.ID, SenderID: a.ID, SenderDeviceID: da.ID, ClientMsgID: "img", Type: parley.ImageMessage,
			Body: "caption ✓", MediaID: 77, ReplyTo: first.ID, CreatedAt: epoch.Add(1500 * time.Microsecond)}
		got, created, err := s.AppendMessage(ctx, m, hash("img"), nil)
		if err != nil || !created {
			t.Fatal(err)
		}
		back, err := s.Message(ctx, got.ID)
		if err != nil || back.Type != parley.ImageMessage || back.MediaID != 77 || back.ReplyTo != first.ID || back.Body != "caption ✓" || !back.CreatedAt.Equal(m.CreatedAt) || back.RecalledAt != nil {
			t.Fatalf("round trip = %+v, %v", back, err)
		}
	})
	for i := 4; i <= 20; i++ {
		MustSend(t, s, conv, a, da, fmt.Sprintf("w-%d", i), "x")
	}
	t.Run("Windows", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			f    parley.MessageFilter
			want string
		}{
			{"Newest", parley.MessageFilter{Limit: 3}, "[18 19 20]"},
			{"After", parley.MessageFilter{AfterSeq: 5, Limit: 3}, "[6 7 8]"},
			{"AscendingFromStart", parley.MessageFilter{Ascending: true, Limit: 3}, "[1 2 3]"},
			{"AscendingFromFloor", parley.MessageFilter{Ascending: true, Floor: 4, Limit: 2}, "[5 6]"},
			{"Before", parley.MessageFilter{BeforeSeq: 5, Limit: 3}, "[2 3 4]"},
			{"AfterAndBefore", parley.MessageFilter{AfterSeq: 5, BeforeSeq: 8, Limit: 10}, "[6 7]"},
			{"Floor", parley.MessageFilter{Floor: 17, Limit: 10}, "[18 19 20]"},
			{"Ceiling", parley.MessageFilter{Ceiling: 4, Limit: 2}, "[3 4]"},
			{"FloorWinsOverAfter", parley.MessageFilter{Floor: 10, AfterSeq: 2, Limit: 2}, "[11 12]"},
			{"Empty", parley.MessageFilter{Floor: 10, Ceiling: 10, Limit: 2}, "[]"},
			{"PastEnd", parley.MessageFilter{AfterSeq: 20, Limit: 2}, "[]"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ms, err := s.Messages(ctx, conv.ID, tc.f)
				if err != nil {
					t.Fatal(err)
				}
				if got := fmt.Sprint(seqs(ms)); got != tc.want {
					t.Fatalf("seqs = %s, want %s", got, tc.want)
				}
			})
		}
	})
}

// testConcurrentSeq sends from many goroutines into a few conversations at
// once: each conversation's seqs must be exactly 1..n, every send acked
// once, and retries racing the original must not duplicate.
func testConcurrentSeq(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	const senders, perSender, convs = 16, 40, 3
	users := make([]*parley.User, senders)
	devs := make([]*parley.Device, senders)
	for i := range users {
		users[i] = MustUser(t, s)
		devs[i] = MustDevice(t, s, users[i])
	}
	groups := make([]*parley.Conversation, convs)
	for i := range groups {
		groups[i] = MustConversation(t, s, parley.Group, users...)
	}
	type sent struct {
		conv parley.ID
		seq  int64
		id   parley.ID
	}
	var mu sync.Mutex
	var all []sent
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for i := 0; i < senders; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < perSender; j++ {
				g := groups[j%convs]
				cmid := fmt.Sprintf("s%d-%d", i, j)
				// Send twice at once: the original and a retry.
				var inner sync.WaitGroup
				res := make([]*parley.Message, 2)
				for k := 0; k < 2; k++ {
					inner.Add(1)
					go func(k int) {
						defer inner.Done()
						m := &parley.Message{ConversationID: g.ID, SenderID: users[i].ID, SenderDeviceID: devs[i].ID, ClientMsgID: cmid, Type: parley.TextMessage, Body: cmid, CreatedAt: epoch}
						got, _, err := s.AppendMessage(ctx, m, hash(cmid), nil)
						if err != nil {
							errs <- err
							return
						}
						res[k] = got
					}(k)
				}
				inner.Wait()
				if res[0] == nil || res[1] == nil {
					return
				}
				if res[0].ID != res[1].ID || res[0].Seq != res[1].Seq {
					errs <- fmt.Errorf("retry got another message: %+v vs %+v", res[0], res[1])
					return
				}
				mu.Lock()
				all = append(all, sent{g.ID, res[0].Seq, res[0].ID})
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	byConv := map[parley.ID][]int64{}
	for _, x := range all {
		byConv[x.conv] = append(byConv[x.conv], x.seq)
	}
	for _, g := range groups {
		got := byConv[g.ID]
		sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
		for i, seq := range got {
			if seq != int64(i+1) {
				t.Fatalf("conversation %s: acked seqs not dense at %d: %v", g.ID, i, got)
			}
		}
		ms, err := s.Messages(ctx, g.ID, parley.MessageFilter{Limit: 10000})
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != len(got) {
			t.Fatalf("conversation %s: stored %d messages, acked %d", g.ID, len(ms), len(got))
		}
		for i, m := range ms {
			if m.Seq != int64(i+1) {
				t.Fatalf("stored seqs not dense: %v", seqs(ms))
			}
		}
		c, _ := s.Conversation(ctx, g.ID)
		if c.LastSeq != int64(len(got)) {
			t.Fatalf("LastSeq = %d, want %d", c.LastSeq, len(got))
		}
	}
	if len(all) != senders*perSender {
		t.Fatalf("acked %d sends, want %d", len(all), senders*perSender)
	}
}

func testRecall(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	a, b := MustUser(t, s), MustUser(t, s)
	da := MustDevice(t, s, a)
	conv := MustConversation(t, s, parley.Direct, a, b)
	orig := MustSend(t, s, conv, a, da, "r1", "secret")
	at := epoch.Add(time.Minute)
	entry := &parley.Message{ConversationID: conv.ID, SenderID: a.ID, SenderDeviceID: da.ID, Type: parley.RecallEntry, RecallOf: orig.ID, CreatedAt: at}
	got, err := s.RecallMessage(ctx, entry)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("OriginalErased", func(t *testing.T) {
		if got.ID != orig.ID || got.Body != "" || got.RecalledAt == nil || !got.RecalledAt.Equal(at) {
			t.Fatalf("recalled = %+v", got)
		}
		back, _ := s.Message(ctx, orig.ID)
		if back.Body != "" || back.RecalledAt == nil {
			t.Fatalf("stored original not erased: %+v", back)
		}
	})
	t.Run("EntryAppended", func(t *testing.T) {
		if entry.Seq != 2 || entry.ID == 0 {
			t.Fatalf("entry = %+v", entry)
		}
		back, err := s.Message(ctx, entry.ID)
		if err != nil || back.Type != parley.RecallEntry || back.RecallOf != orig.ID {
			t.Fatalf("entry = %+v, %v", back, err)
		}
	})
	t.Run("ErrAlreadyRecalled", func(t *testing.T) {
		again := &parley.Message{ConversationID: conv.ID, SenderID: a.ID, SenderDeviceID: da.ID, Type: parley.RecallEntry, RecallOf: orig.ID, CreatedAt: at}
		_, err := s.RecallMessage(ctx, again)
		wantCode(t, err, parley.ECONFLICT)
		c, _ := s.Conversation(ctx, conv.ID)
		if c.LastSeq != 2 {
			t.Fatalf("failed recall appended an entry: LastSeq = %d", c.LastSeq)
		}
	})
	t.Run("ErrWrongConversation", func(t *testing.T) {
		other := MustConversation(t, s, parley.Group, a, b)
		m := MustSend(t, s, other, a, da, "r2", "x")
		bad := &parley.Message{ConversationID: conv.ID, SenderID: a.ID, SenderDeviceID: da.ID, Type: parley.RecallEntry, RecallOf: m.ID, CreatedAt: at}
		_, err := s.RecallMessage(ctx, bad)
		wantCode(t, err, parley.ENOTFOUND)
	})
}

func testReceipts(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	a, b := MustUser(t, s), MustUser(t, s)
	da := MustDevice(t, s, a)
	conv := MustConversation(t, s, parley.Direct, a, b)
	for i := 0; i < 5; i++ {
		MustSend(t, s, conv, a, da, fmt.Sprintf("r%d", i), "x")
	}
	t.Run("SenderWatermarksFollowSends", func(t *testing.T) {
		m, _ := s.Member(ctx, conv.ID, a.ID)
		if m.DeliveredSeq != 5 || m.ReadSeq != 5 || m.Unread(5) != 0 {
			t.Fatalf("sender member = %+v", m)
		}
		m, _ = s.Member(ctx, conv.ID, b.ID)
		if m.DeliveredSeq != 0 || m.ReadSeq != 0 || m.Unread(5) != 5 {
			t.Fatalf("recipient member = %+v", m)
		}
	})
	t.Run("NeverDecrease", func(t *testing.T) {
		r, changed, err := s.RaiseWatermarks(ctx, conv.ID, b.ID, 4, 0)
		if err != nil || !changed || r.DeliveredSeq != 4 || r.ReadSeq != 0 {
			t.Fatalf("raise delivered = %+v %v %v", r, changed, err)
		}
		r, changed, err = s.RaiseWatermarks(ctx, conv.ID, b.ID, 2, 0)
		if err != nil || changed || r.DeliveredSeq != 4 {
			t.Fatalf("lower delivered = %+v %v %v", r, changed, err)
		}
		r, changed, err = s.RaiseWatermarks(ctx, conv.ID, b.ID, 0, 5)
		if err != nil || !changed || r.DeliveredSeq != 5 || r.ReadSeq != 5 {
			t.Fatalf("read implies delivered: %+v %v %v", r, changed, err)
		}
		r, changed, _ = s.RaiseWatermarks(ctx, conv.ID, b.ID, 1, 1)
		if changed || r.ReadSeq != 5 || r.DeliveredSeq != 5 {
			t.Fatalf("lower read = %+v %v", r, changed)
		}
		m, _ := s.Member(ctx, conv.ID, b.ID)
		if m.DeliveredSeq != 5 || m.ReadSeq != 5 {
			t.Fatalf("stored = %+v", m)
		}
	})
	t.Run("ErrNotMember", func(t *testing.T) {
		c := MustUser(t, s)
		_, _, err := s.RaiseWatermarks(ctx, conv.ID, c.ID, 1, 1)
		wantCode(t, err, parley.ENOTFOUND)
	})
	t.Run("DeviceCursors", func(t *testing.T) {
		other := MustConversation(t, s, parley.Group, a, b)
		for _, x := range []struct {
			conv parley.ID
			seq  int64
		}{{conv.ID, 3}, {conv.ID, 2}, {other.ID, 7}, {conv.ID, 4}} {
			if err := s.RaiseDeviceCursor(ctx, da.ID, x.conv, x.seq); err != nil {
				t.Fatal(err)
			}
		}
		cur, err := s.DeviceCursors(ctx, da.ID)
		if err != nil || len(cur) != 2 || cur[conv.ID] != 4 || cur[other.ID] != 7 {
			t.Fatalf("cursors = %v, %v", cur, err)
		}
		cur, _ = s.DeviceCursors(ctx, 999999)
		if len(cur) != 0 {
			t.Fatalf("unknown device cursors = %v", cur)
		}
	})
}

func testFriends(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	a, b, c := MustUser(t, s), MustUser(t, s), MustUser(t, s)
	if err := s.SetFriendship(ctx, a.ID, b.ID, parley.FriendOutgoing, parley.FriendIncoming, epoch); err != nil {
		t.Fatal(err)
	}
	st, err := s.FriendState(ctx, b.ID, a.ID)
	if err != nil || st != parley.FriendIncoming {
		t.Fatalf("state = %q, %v", st, err)
	}
	if err := s.SetFriendship(ctx, a.ID, b.ID, parley.FriendAccepted, parley.FriendAccepted, epoch.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetFriendship(ctx, c.ID, a.ID, parley.FriendOutgoing, parley.FriendIncoming, epoch.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	fs, err := s.Friends(ctx, a.ID)
	if err != nil || len(fs) != 2 || fs[0].UserID != b.ID || fs[0].State != parley.FriendAccepted || fs[1].UserID != c.ID || fs[1].State != parley.FriendIncoming {
		t.Fatalf("friends = %+v, %v", fs, err)
	}
	if err := s.SetFriendship(ctx, a.ID, b.ID, "", "", epoch); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.FriendState(ctx, a.ID, b.ID); st != "" {
		t.Fatalf("deleted friendship state = %q", st)
	}
	if st, _ := s.FriendState(ctx, b.ID, a.ID); st != "" {
		t.Fatalf("deleted friendship reverse state = %q", st)
	}
	t.Run("Blocks", func(t *testing.T) {
		if err := s.SetBlocked(ctx, a.ID, c.ID, true, epoch); err != nil {
			t.Fatal(err)
		}
		if err := s.SetBlocked(ctx, a.ID, c.ID, true, epoch); err != nil {
			t.Fatalf("blocking twice: %v", err)
		}
		if ok, _ := s.Blocked(ctx, a.ID, c.ID); !ok {
			t.Fatal("not blocked")
		}
		if ok, _ := s.Blocked(ctx, c.ID, a.ID); ok {
			t.Fatal("block is one-way")
		}
		ids, _ := s.BlockedUsers(ctx, a.ID)
		if len(ids) != 1 || ids[0] != c.ID {
			t.Fatalf("BlockedUsers = %v", ids)
		}
		if err := s.SetBlocked(ctx, a.ID, c.ID, false, epoch); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.Blocked(ctx, a.ID, c.ID); ok {
			t.Fatal("still blocked")
		}
	})
}

func testRetention(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	a, b := MustUser(t, s), MustUser(t, s)
	da := MustDevice(t, s, a)
	conv := MustConversation(t, s, parley.Direct, a, b)
	day := 24 * time.Hour
	var old *parley.Message
	for i := 0; i < 30; i++ {
		at := epoch.Add(time.Duration(i) * day / 3) // 3 per day over 10 days
		m := &parley.Message{ConversationID: conv.ID, SenderID: a.ID, SenderDeviceID: da.ID, ClientMsgID: fmt.Sprintf("k%d", i), Type: parley.TextMessage, Body: "x", CreatedAt: at}
		if _, _, err := s.AppendMessage(ctx, m, hash(m.ClientMsgID), nil); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			old = m
		}
	}
	n, err := s.DeleteMessagesBefore(ctx, epoch.Add(5*day))
	if err != nil || n != 15 {
		t.Fatalf("DeleteMessagesBefore = %d, %v; want 15", n, err)
	}
	ms, _ := s.Messages(ctx, conv.ID, parley.MessageFilter{Limit: 100})
	if len(ms) != 15 || ms[0].Seq != 16 {
		t.Fatalf("left %v", seqs(ms))
	}
	c, _ := s.Conversation(ctx, conv.ID)
	if c.LastSeq != 30 {
		t.Fatalf("retention changed LastSeq to %d", c.LastSeq)
	}
	// The idempotency record went with the message: the same client id is
	// accepted again as a new message with the next seq.
	m := &parley.Message{ConversationID: conv.ID, SenderID: a.ID, SenderDeviceID: da.ID, ClientMsgID: old.ClientMsgID, Type: parley.TextMessage, Body: "x", CreatedAt: epoch.Add(20 * day)}
	got, created, err := s.AppendMessage(ctx, m, hash("other"), nil)
	if err != nil || !created || got.Seq != 31 {
		t.Fatalf("append after retention = %+v %v %v", got, created, err)
	}
}
