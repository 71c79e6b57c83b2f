package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/app"
)

func seconds(v int64) *int64 { return &v }

func (e *env) setTimer(c parley.Caller, conv parley.ID, v int64) (*parley.ConversationView, error) {
	return e.app.UpdateConversation(context.Background(), c, conv, parley.ConversationUpdate{DisappearAfter: &v})
}

func (e *env) mustSetTimer(tb testing.TB, u *user, conv parley.ID, v int64) *parley.ConversationView {
	tb.Helper()
	view, err := e.setTimer(u.c, conv, v)
	if err != nil {
		tb.Fatalf("set timer: %v", err)
	}
	return view
}

func (e *env) history(tb testing.TB, u *user, conv parley.ID, q parley.HistoryQuery) string {
	tb.Helper()
	if q.Limit == 0 {
		q.Limit = parley.MaxHistoryLimit
	}
	ms, err := e.app.History(context.Background(), u.c, conv, q)
	if err != nil {
		tb.Fatal(err)
	}
	return fmt.Sprint(msgSeqs(ms))
}

func msgSeqs(ms []*parley.Message) []int64 {
	out := make([]int64, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.Seq)
	}
	return out
}

func TestDisappearTimerAuthorisation(t *testing.T) {
	e := MustApp(t, app.Config{})
	ctx := context.Background()
	a, b, c, d := e.MustUser(t), e.MustUser(t), e.MustUser(t), e.MustUser(t)
	direct := e.MustDirect(t, a, b)
	group := e.MustGroup(t, a, b, c)

	t.Run("EitherDirectMember", func(t *testing.T) {
		watch := e.Watch(t, a)
		v := e.mustSetTimer(t, b, direct, 3600)
		if v.DisappearAfter != 3600 || v.LastSeq != 1 {
			t.Fatalf("view = %+v", v)
		}
		if v := e.mustSetTimer(t, a, direct, 0); v.DisappearAfter != 0 || v.LastSeq != 2 {
			t.Fatalf("view after turning off = %+v", v)
		}
		// Each change is a log entry on every device of every member.
		deadline := time.Now().Add(5 * time.Second)
		for len(watch.named(parley.EventMessage)) < 2 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		evs := watch.named(parley.EventMessage)
		if len(evs) != 2 {
			t.Fatalf("message events = %d, want 2", len(evs))
		}
		var m parley.Message
		if err := json.Unmarshal(evs[0].Data, &m); err != nil || m.Type != parley.SettingEntry || m.DisappearAfter == nil || *m.DisappearAfter != 3600 || m.SenderID != b.ID || evs[0].Seq != 1 {
			t.Fatalf("first event = %s, %v", evs[0].Data, err)
		}
	})
	t.Run("SameValueAppendsNothing", func(t *testing.T) {
		if v := e.mustSetTimer(t, a, direct, 0); v.LastSeq != 2 {
			t.Fatalf("LastSeq = %d after setting the timer it had", v.LastSeq)
		}
	})
	t.Run("ErrBounds", func(t *testing.T) {
		for _, v := range []int64{-1, 1, parley.MinDisappearAfter - 1, parley.MaxDisappearAfter + 1} {
			_, err := e.setTimer(a.c, direct, v)
			wantCode(t, err, parley.EINVALID)
		}
		for _, v := range []int64{parley.MinDisappearAfter, parley.MaxDisappearAfter} {
			e.mustSetTimer(t, a, direct, v)
		}
	})
	t.Run("ErrNotMember", func(t *testing.T) {
		_, err := e.setTimer(d.c, direct, 60)
		wantCode(t, err, parley.ENOTFOUND)
		_, err = e.setTimer(d.c, 999999, 60)
		wantCode(t, err, parley.ENOTFOUND)
	})
	t.Run("GroupOwnerAndAdminsOnly", func(t *testing.T) {
		_, err := e.setTimer(b.c, group, 60)
		wantCode(t, err, parley.EFORBIDDEN)
		e.mustSetTimer(t, a, group, 60)
		if err := e.app.SetRole(ctx, a.c, group, b.ID, parley.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		if v := e.mustSetTimer(t, b, group, 120); v.DisappearAfter != 120 {
			t.Fatalf("view = %+v", v)
		}
	})
	t.Run("ErrFormerMember", func(t *testing.T) {
		if err := e.app.SetRole(ctx, a.c, group, c.ID, parley.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		if err := e.app.RemoveMember(ctx, c.c, group, c.ID); err != nil {
			t.Fatal(err)
		}
		_, err := e.setTimer(c.c, group, 60)
		wantCode(t, err, parley.EFORBIDDEN)
	})
	t.Run("ErrBlocked", func(t *testing.T) {
		bd := e.MustDirect(t, b, d)
		if err := e.app.Block(ctx, d.c, b.ID); err != nil {
			t.Fatal(err)
		}
		_, err := e.setTimer(b.c, bd, 60)
		wantCode(t, err, parley.EFORBIDDEN)
	})
	t.Run("WholeOrNothing", func(t *testing.T) {
		title, bad := "renamed", int64(3)
		_, err := e.app.UpdateConversation(ctx, a.c, group, parley.ConversationUpdate{Title: &title, DisappearAfter: &bad})
		wantCode(t, err, parley.EINVALID)
		v, err := e.app.Conversation(ctx, a.c, group)
		if err != nil || v.Title != "group" {
			t.Fatalf("title after a refused update = %q, %v", v.Title, err)
		}
		_, err = e.app.UpdateConversation(ctx, a.c, direct, parley.ConversationUpdate{Title: &title, DisappearAfter: seconds(60)})
		wantCode(t, err, parley.EINVALID)
		_, err = e.app.UpdateConversation(ctx, a.c, group, parley.ConversationUpdate{})
		wantCode(t, err, parley.EINVALID)
		v, err = e.app.UpdateConversation(ctx, a.c, group, parley.ConversationUpdate{Title: &title, DisappearAfter: seconds(0)})
		if err != nil || v.Title != "renamed" || v.DisappearAfter != 0 {
			t.Fatalf("update both = %+v, %v", v, err)
		}
	})
}

func TestDisappearingMessages(t *testing.T) {
	e := MustApp(t, app.Config{})
	ctx := context.Background()
	a, b := e.MustUser(t), e.MustUser(t)
	conv := e.MustDirect(t, a, b)
	old := e.MustSend(t, a, conv, "said before the timer") // seq 1
	e.mustSetTimer(t, a, conv, 60)                         // seq 2
	gone := e.MustSend(t, a, conv, "said once")            // seq 3
	if gone.ExpiresAt == nil || !gone.ExpiresAt.Equal(gone.CreatedAt.Add(time.Minute)) || old.ExpiresAt != nil {
		t.Fatalf("expires_at = %v (created %v), before the timer %v", gone.ExpiresAt, gone.CreatedAt, old.ExpiresAt)
	}
	e.clock.add(30 * time.Second)
	kept := e.MustSend(t, b, conv, "said later") // seq 4, expires 30 s after gone
	if got := e.history(t, b, conv, parley.HistoryQuery{}); got != "[1 2 3 4]" {
		t.Fatalf("history before expiry = %s", got)
	}
	e.clock.add(30 * time.Second) // gone expires now

	t.Run("GoneFromHistory", func(t *testing.T) {
		for _, u := range []*user{a, b} {
			if got := e.history(t, u, conv, parley.HistoryQuery{}); got != "[1 2 4]" {
				t.Fatalf("history = %s", got)
			}
		}
		// The page after the hole holds the next entry there is: a stream
		// filling the hole moves on.
		if got := e.history(t, b, conv, parley.HistoryQuery{AfterSeq: 2, Ascending: true, Limit: 1}); got != "[4]" {
			t.Fatalf("page after the expired message = %s", got)
		}
	})
	t.Run("GoneFromLookups", func(t *testing.T) {
		_, err := e.app.Recall(ctx, a.c, conv, gone.ID)
		wantCode(t, err, parley.ENOTFOUND)
		_, _, err = e.app.Send(ctx, b.c, parley.SendRequest{ConversationID: conv, ClientMsgID: "reply", Body: "re", ReplyTo: gone.ID}, nil)
		wantCode(t, err, parley.EINVALID)
	})
	t.Run("ListShowsWhatIsLeft", func(t *testing.T) {
		e.clock.add(30 * time.Second) // kept expires too
		v, err := e.app.Conversation(ctx, b.c, conv)
		if err != nil || v.LatestMessage == nil || v.LatestMessage.Seq != 2 || v.DisappearAfter != 60 {
			t.Fatalf("view = %+v, %v", v, err)
		}
		vs, err := e.app.Conversations(ctx, b.c, parley.ConversationListQuery{PageNumber: 1, PageSize: 10})
		if err != nil || len(vs) != 1 || vs[0].LatestMessage == nil || vs[0].LatestMessage.Seq != 2 {
			t.Fatalf("list = %+v, %v", vs, err)
		}
	})
	t.Run("Erased", func(t *testing.T) {
		n, err := e.app.EraseExpired(ctx)
		if err != nil || n != 2 {
			t.Fatalf("EraseExpired = %d, %v", n, err)
		}
		if n, err := e.app.EraseExpired(ctx); err != nil || n != 0 {
			t.Fatalf("EraseExpired again = %d, %v", n, err)
		}
		for _, id := range []parley.ID{gone.ID, kept.ID} {
			if _, err := e.store.Message(ctx, id); parley.ErrorCode(err) != parley.ENOTFOUND {
				t.Fatalf("message %s still stored: %v", id, err)
			}
		}
		if got := e.history(t, a, conv, parley.HistoryQuery{}); got != "[1 2]" {
			t.Fatalf("history after erasure = %s", got)
		}
	})
}

// TestDisappearingConverges has one device of a member online while the
// timer changes and messages come and go, and another offline that syncs
// afterwards: the late one gets the setting entry and none of the expired
// messages, and once the online one hides what expired (at expires_at, as
// clients do) both hold the same log.
func TestDisappearingConverges(t *testing.T) {
	e := MustApp(t, app.Config{})
	ctx := context.Background()
	a, b := e.MustUser(t), e.MustUser(t)
	conv := e.MustDirect(t, a, b)
	laptop := e.MustLogin(t, b.Handle)
	live := e.Watch(t, b) // every event published to b's devices, as the phone's socket gets them

	e.MustSend(t, a, conv, "before")   // seq 1
	e.mustSetTimer(t, b, conv, 10)     // seq 2, set from b's first device
	e.MustSend(t, a, conv, "fleeting") // seq 3, expires in 10 s
	e.clock.add(5 * time.Second)
	e.MustSend(t, a, conv, "also fleeting") // seq 4, expires in 10 s
	e.clock.add(5 * time.Second)            // seq 3 expired, seq 4 not yet

	deadline := time.Now().Add(5 * time.Second)
	for len(live.named(parley.EventMessage)) < 4 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	now := e.clock.now()
	phoneLog := map[int64]*parley.Message{}
	for _, ev := range live.named(parley.EventMessage) {
		var m parley.Message
		if err := json.Unmarshal(ev.Data, &m); err != nil {
			t.Fatal(err)
		}
		phoneLog[m.Seq] = &m
	}
	if len(phoneLog) != 4 {
		t.Fatalf("the online device got %d entries, want 4", len(phoneLog))
	}
	for seq, m := range phoneLog {
		if m.Expired(now) { // what a client hides at expires_at
			delete(phoneLog, seq)
		}
	}

	var laptopLog []*parley.Message
	err := e.app.Sync(ctx, laptop, parley.SyncQuery{Cursors: map[parley.ID]int64{}}, func(name string, data any) error {
		if m, ok := data.(*parley.Message); ok {
			laptopLog = append(laptopLog, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(msgSeqs(laptopLog)); got != "[1 2 4]" {
		t.Fatalf("the device that synced late got %s, want [1 2 4]", got)
	}
	if s := laptopLog[1]; s.Type != parley.SettingEntry || s.DisappearAfter == nil || *s.DisappearAfter != 10 {
		t.Fatalf("setting entry = %+v", s)
	}
	if len(phoneLog) != len(laptopLog) {
		t.Fatalf("the devices hold %d and %d entries", len(phoneLog), len(laptopLog))
	}
	for _, m := range laptopLog {
		p := phoneLog[m.Seq]
		if p == nil || p.ID != m.ID || (p.ExpiresAt == nil) != (m.ExpiresAt == nil) {
			t.Fatalf("seq %d: phone %+v, laptop %+v", m.Seq, p, m)
		}
	}
}

func TestDisappearingMedia(t *testing.T) {
	e := mustMediaApp(t, app.Config{MediaGrace: time.Hour})
	a, b, c := e.MustUser(t), e.MustUser(t), e.MustUser(t)
	conv := e.MustDirect(t, a, b)
	group := e.MustGroup(t, a, b, c)
	e.mustSetTimer(t, a, conv, 60)
	only, shared := MustPNG(t, 40, 30), MustPNG(t, 41, 30)
	m1 := e.MustUpload(t, a, only, "gone.png")
	m2 := e.MustUpload(t, a, shared, "kept.png")
	for _, m := range []*parley.Media{m1, m2} {
		if _, err := sendMedia(e, a, conv, parley.ImageMessage, m.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sendMedia(e, a, group, parley.ImageMessage, m2.ID); err != nil { // never expires
		t.Fatal(err)
	}
	e.wantReadable(t, b, m1.ID, only)
	e.wantReadable(t, b, m1.ThumbnailID, nil)
	e.clock.add(time.Minute)

	t.Run("HiddenOnceExpired", func(t *testing.T) {
		for _, u := range []*user{a, b} { // the uploader too: it went out in a message that expired
			e.wantHidden(t, u, m1.ID)
			e.wantHidden(t, u, m1.ThumbnailID)
		}
		e.wantReadable(t, b, m2.ID, shared) // another message carries it
		e.wantHidden(t, c, m1.ID)
	})
	t.Run("ErasedWithTheirBlobs", func(t *testing.T) {
		n, err := e.app.EraseExpired(context.Background())
		if err != nil || n != 2 {
			t.Fatalf("EraseExpired = %d, %v", n, err)
		}
		if e.blobExists(t, only) {
			t.Fatal("the blob of the expired message's media is still stored")
		}
		if _, err := e.store.Media(context.Background(), m1.ThumbnailID); parley.ErrorCode(err) != parley.ENOTFOUND {
			t.Fatalf("thumbnail of the erased media: %v", err)
		}
		if !e.blobExists(t, shared) {
			t.Fatal("media another message carries was deleted")
		}
		e.wantReadable(t, c, m2.ID, shared)
	})
}

// TestDisappearingPush: a message that expired before its push was due is
// not announced.
func TestDisappearingPush(t *testing.T) {
	e := mustPushApp(t, app.Config{})
	a, b := e.MustUser(t), e.MustUser(t)
	conv := e.MustDirect(t, a, b)
	e.MustRegister(t, b.c, "https://push.example/b")
	e.env.mustSetTimer(t, a, conv, parley.MinDisappearAfter)
	e.MustSend(t, a, conv, "brief")
	e.clock.add(time.Duration(parley.MinDisappearAfter) * time.Second)
	if got := e.settle(); len(got) != 0 {
		t.Fatalf("pushes = %+v, want none for an expired message", got)
	}
	e.MustSend(t, a, conv, "still here")
	if got := e.settle(); len(got) != 1 || got[0].n.Preview != "still here" {
		t.Fatalf("pushes = %+v, want one", got)
	}
}

// TestDisappearUnreadCount: a message that expires unread leaves the
// member's unread count, in the conversation and in the list.
func TestDisappearUnreadCount(t *testing.T) {
	e := MustApp(t, app.Config{})
	ctx := context.Background()
	a, b := e.MustUser(t), e.MustUser(t)
	conv := e.MustDirect(t, a, b)
	e.MustSend(t, a, conv, "stays")
	e.mustSetTimer(t, a, conv, 60)
	e.MustSend(t, a, conv, "fleeting one")
	e.MustSend(t, a, conv, "fleeting two")
	unread := func() (one, listed int64) {
		t.Helper()
		v, err := e.app.Conversation(ctx, b.c, conv)
		if err != nil {
			t.Fatal(err)
		}
		vs, err := e.app.Conversations(ctx, b.c, parley.ConversationListQuery{PageNumber: 1, PageSize: 20})
		if err != nil || len(vs) != 1 {
			t.Fatalf("Conversations = %+v, %v", vs, err)
		}
		return v.UnreadCount, vs[0].UnreadCount
	}
	if one, listed := unread(); one != 3 || listed != 3 {
		t.Fatalf("unread before expiry = %d (list %d), want 3: the timer change is not news", one, listed)
	}
	e.clock.add(61 * time.Second)
	if one, listed := unread(); one != 1 || listed != 1 {
		t.Fatalf("unread after expiry = %d (list %d), want 1", one, listed)
	}
}
