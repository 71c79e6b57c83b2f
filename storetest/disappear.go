package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley"
)

// testDisappearing runs the disappearing-messages cases.
func testDisappearing(t *testing.T, open Opener) {
	t.Run("Timer", func(t *testing.T) { testDisappearTimer(t, open(t)) })
	t.Run("ConcurrentSenders", func(t *testing.T) { testDisappearConcurrent(t, open(t)) })
	t.Run("Erase", func(t *testing.T) { testDisappearErase(t, open(t)) })
}

// MustSetTimer appends the setting entry that sets the conversation's
// disappearing-messages timer to seconds.
func MustSetTimer(tb testing.TB, s parley.Store, conv *parley.Conversation, u *parley.User, d *parley.Device, seconds int64, at time.Time) *parley.Message {
	tb.Helper()
	entry := &parley.Message{ConversationID: conv.ID, SenderID: u.ID, SenderDeviceID: d.ID, Type: parley.SettingEntry, DisappearAfter: &seconds, CreatedAt: at}
	if err := s.SetDisappearAfter(context.Background(), entry); err != nil {
		tb.Fatalf("set disappearing timer: %v", err)
	}
	return entry
}

// mustSendAt appends a text message created at at.
func mustSendAt(tb testing.TB, s parley.Store, conv *parley.Conversation, u *parley.User, d *parley.Device, cmid string, at time.Time) *parley.Message {
	tb.Helper()
	m := &parley.Message{ConversationID: conv.ID, SenderID: u.ID, SenderDeviceID: d.ID, ClientMsgID: cmid, Type: parley.TextMessage, Body: cmid, CreatedAt: at}
	got, _, err := s.AppendMessage(context.Background(), m, hash(cmid), nil)
	if err != nil {
		tb.Fatalf("append message: %v", err)
	}
	return got
}

func wantExpiry(t *testing.T, m *parley.Message, want *time.Time) {
	t.Helper()
	if (m.ExpiresAt == nil) != (want == nil) || (want != nil && !m.ExpiresAt.Equal(*want)) {
		t.Fatalf("seq %d expires_at = %v, want %v", m.Seq, m.ExpiresAt, want)
	}
}

func at(t time.Time) *time.Time { return &t }

func testDisappearTimer(t *testing.T, s parley.Store) {
	ctx := context.Background()
	a, b := MustUser(t, s), MustUser(t, s)
	da, db := MustDevice(t, s, a), MustDevice(t, s, b)
	conv := MustConversation(t, s, parley.Direct, a, b)
	t0 := epoch.Add(time.Hour)

	m1 := mustSendAt(t, s, conv, a, da, "before", t0)                    // seq 1
	on := MustSetTimer(t, s, conv, a, da, 60, t0.Add(time.Minute))       // seq 2
	m3 := mustSendAt(t, s, conv, a, da, "during", t0.Add(2*time.Minute)) // seq 3, expires t0+3m
	img := MustMedia(t, s, a, "vanishing pixels", t0, false)
	m4 := MustSendMedia(t, s, conv, a, da, img, t0.Add(2*time.Minute))  // seq 4, expires t0+3m
	off := MustSetTimer(t, s, conv, b, db, 0, t0.Add(4*time.Minute))    // seq 5
	m6 := mustSendAt(t, s, conv, a, da, "after", t0.Add(5*time.Minute)) // seq 6

	t.Run("SettingEntry", func(t *testing.T) {
		if on.Seq != 2 || on.ID == 0 || off.Seq != 5 {
			t.Fatalf("setting entries = %+v, %+v", on, off)
		}
		back, err := s.Message(ctx, on.ID)
		if err != nil || back.Type != parley.SettingEntry || back.DisappearAfter == nil || *back.DisappearAfter != 60 || back.ExpiresAt != nil || back.SenderID != a.ID {
			t.Fatalf("stored setting entry = %+v, %v", back, err)
		}
		back, err = s.Message(ctx, off.ID)
		if err != nil || back.DisappearAfter == nil || *back.DisappearAfter != 0 {
			t.Fatalf("stored entry that turned the timer off = %+v, %v", back, err)
		}
		if m1.DisappearAfter != nil || m3.DisappearAfter != nil {
			t.Fatal("a message carries disappear_after")
		}
		c, err := s.Conversation(ctx, conv.ID)
		if err != nil || c.DisappearAfter != 0 || c.LastSeq != 6 {
			t.Fatalf("conversation = %+v, %v", c, err)
		}
		m, _ := s.Member(ctx, conv.ID, b.ID)
		if m.ReadSeq != 5 {
			t.Fatalf("the setter's read watermark = %d, want 5", m.ReadSeq)
		}
	})
	t.Run("ExpiresAtFromTheTimer", func(t *testing.T) {
		wantExpiry(t, m1, nil)
		wantExpiry(t, m3, at(t0.Add(3*time.Minute)))
		wantExpiry(t, m4, at(t0.Add(3*time.Minute)))
		wantExpiry(t, m6, nil)
		back, err := s.Message(ctx, m3.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantExpiry(t, back, at(t0.Add(3*time.Minute)))
		// A retry answers the original, expiry included.
		again := &parley.Message{ConversationID: conv.ID, SenderID: a.ID, SenderDeviceID: da.ID, ClientMsgID: "during", Type: parley.TextMessage, Body: "during", CreatedAt: t0.Add(10 * time.Minute)}
		got, created, err := s.AppendMessage(ctx, again, hash("during"), nil)
		if err != nil || created || got.ID != m3.ID {
			t.Fatalf("retry = %+v %v %v", got, created, err)
		}
		wantExpiry(t, got, at(t0.Add(3*time.Minute)))
	})
	t.Run("TimerOnTheConversation", func(t *testing.T) {
		other := MustConversation(t, s, parley.Group, a, b)
		MustSetTimer(t, s, other, a, da, 3600, t0)
		c, err := s.Conversation(ctx, other.ID)
		if err != nil || c.DisappearAfter != 3600 {
			t.Fatalf("conversation = %+v, %v", c, err)
		}
		ucs, err := s.UserConversations(ctx, b.ID, parley.ConversationFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, uc := range ucs {
			if uc.Conversation.ID == other.ID && uc.Conversation.DisappearAfter != 3600 {
				t.Fatalf("listed conversation = %+v", uc.Conversation)
			}
		}
	})
	t.Run("ReadsLeaveOutExpired", func(t *testing.T) {
		before, expired := t0.Add(3*time.Minute-time.Microsecond), t0.Add(3*time.Minute)
		for _, tc := range []struct {
			name string
			f    parley.MessageFilter
			want string
		}{
			{"NoTimeGiven", parley.MessageFilter{Limit: 10}, "[1 2 3 4 5 6]"},
			{"BeforeExpiry", parley.MessageFilter{Limit: 10, Now: before}, "[1 2 3 4 5 6]"},
			{"AtExpiry", parley.MessageFilter{Limit: 10, Now: expired}, "[1 2 5 6]"},
			{"NewestPage", parley.MessageFilter{Limit: 3, Now: expired}, "[2 5 6]"},
			{"PageBefore", parley.MessageFilter{BeforeSeq: 5, Limit: 2, Now: expired}, "[1 2]"},
			// A page after a hole holds the next entries there are, so a
			// reader filling a hole moves on.
			{"NextAfterHole", parley.MessageFilter{AfterSeq: 2, Limit: 1, Now: expired}, "[5]"},
			{"AscendingFromStart", parley.MessageFilter{Ascending: true, Limit: 3, Now: expired}, "[1 2 5]"},
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
	t.Run("UnreadLeavesOutExpired", func(t *testing.T) {
		before, expired := t0.Add(3*time.Minute-time.Microsecond), t0.Add(3*time.Minute)
		for _, tc := range []struct {
			name   string
			lo, hi int64
			now    time.Time
			want   int64
		}{
			{"BeforeExpiry", 0, 6, before, 4},   // 1 3 4 6
			{"AtExpiry", 0, 6, expired, 2},      // 1 6
			{"OnlyExpired", 2, 4, expired, 0},   // the timer went off later
			{"TimerOffSince", 5, 6, expired, 1}, // 6
			{"Empty", 4, 4, expired, 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				n, err := s.UnreadEntries(ctx, conv.ID, tc.lo, tc.hi, tc.now)
				if err != nil || n != tc.want {
					t.Fatalf("UnreadEntries(%d, %d] = %d, %v; want %d", tc.lo, tc.hi, n, err, tc.want)
				}
			})
		}
		t.Run("OnBrieflyAfterALongRead", func(t *testing.T) {
			// A long stretch without a timer, then one switched on and off:
			// only the stretch where it was on has expired entries.
			c := MustConversation(t, s, parley.Group, a, b)
			for i := range 30 {
				mustSendAt(t, s, c, a, da, fmt.Sprintf("plain-%d", i), t0) // seqs 1..30
			}
			MustSetTimer(t, s, c, a, da, 30, t0)                          // 31
			mustSendAt(t, s, c, a, da, "brief-32", t0.Add(time.Second))   // 32, expires t0+31s
			MustSetTimer(t, s, c, b, db, 0, t0.Add(2*time.Second))        // 33
			mustSendAt(t, s, c, a, da, "after-34", t0.Add(3*time.Second)) // 34
			for _, tc := range []struct {
				lo, hi int64
				now    time.Time
				want   int64
			}{
				{0, 34, t0.Add(30 * time.Second), 32},
				{0, 34, t0.Add(31 * time.Second), 31},
				{31, 34, t0.Add(31 * time.Second), 1}, // from the change that turned it on
				{32, 34, t0.Add(31 * time.Second), 1},
				{10, 32, t0.Add(time.Hour), 20},
			} {
				if n, err := s.UnreadEntries(ctx, c.ID, tc.lo, tc.hi, tc.now); err != nil || n != tc.want {
					t.Errorf("UnreadEntries(%d, %d] at %v = %d, %v; want %d", tc.lo, tc.hi, tc.now.Sub(t0), n, err, tc.want)
				}
			}
		})
		t.Run("TimerOn", func(t *testing.T) {
			c := MustConversation(t, s, parley.Group, a, b)
			MustSetTimer(t, s, c, a, da, 30, t0)                           // seq 1, silent
			mustSendAt(t, s, c, a, da, "short-lived", t0.Add(time.Second)) // seq 2, expires t0+31s
			for now, want := range map[time.Time]int64{t0.Add(30 * time.Second): 1, t0.Add(31 * time.Second): 0} {
				if n, err := s.UnreadEntries(ctx, c.ID, 0, 2, now); err != nil || n != want {
					t.Fatalf("UnreadEntries at %v = %d, %v; want %d", now.Sub(t0), n, err, want)
				}
			}
		})
	})
	t.Run("ListPreviewLeavesOutExpired", func(t *testing.T) {
		c := MustConversation(t, s, parley.Group, a, b)
		MustSetTimer(t, s, c, a, da, 30, t0)                                // seq 1
		last := mustSendAt(t, s, c, a, da, "fleeting", t0.Add(time.Second)) // seq 2, expires t0+31s
		latest := func(now time.Time) int64 {
			ucs, err := s.UserConversations(ctx, b.ID, parley.ConversationFilter{Now: now})
			if err != nil {
				t.Fatal(err)
			}
			for _, uc := range ucs {
				if uc.Conversation.ID == c.ID && uc.LatestMessage != nil {
					return uc.LatestMessage.Seq
				}
			}
			return 0
		}
		if got := latest(t0.Add(30 * time.Second)); got != last.Seq {
			t.Fatalf("latest before expiry = %d, want %d", got, last.Seq)
		}
		if got := latest(t0.Add(31 * time.Second)); got != 1 {
			t.Fatalf("latest after expiry = %d, want the setting entry", got)
		}
	})
	t.Run("MediaReferenceExpiry", func(t *testing.T) {
		refs, err := s.MediaReferences(ctx, img.ID, b.ID, 10)
		if err != nil || len(refs) != 1 || refs[0].ExpiresAt == nil || !refs[0].ExpiresAt.Equal(t0.Add(3*time.Minute)) {
			t.Fatalf("references = %+v, %v", refs, err)
		}
	})
	t.Run("ErrUnknownConversation", func(t *testing.T) {
		v := int64(60)
		err := s.SetDisappearAfter(ctx, &parley.Message{ConversationID: 999999, SenderID: a.ID, SenderDeviceID: da.ID, Type: parley.SettingEntry, DisappearAfter: &v, CreatedAt: t0})
		wantCode(t, err, parley.ENOTFOUND)
	})
}

// testDisappearConcurrent changes the timer while many senders append: the
// messages after the setting entry in the log, and only those, carry the
// new expiry, however the sends and the change were grouped.
func testDisappearConcurrent(t *testing.T, s parley.Store) {
	ctx := context.Background()
	const senders, perSender = 8, 30
	users := make([]*parley.User, senders)
	devs := make([]*parley.Device, senders)
	for i := range users {
		users[i] = MustUser(t, s)
		devs[i] = MustDevice(t, s, users[i])
	}
	conv := MustConversation(t, s, parley.Group, users...)
	var wg sync.WaitGroup
	errs := make(chan error, senders+1)
	start := make(chan struct{})
	for i := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for j := range perSender {
				cmid := fmt.Sprintf("c%d-%d", i, j)
				m := &parley.Message{ConversationID: conv.ID, SenderID: users[i].ID, SenderDeviceID: devs[i].ID, ClientMsgID: cmid, Type: parley.TextMessage, Body: cmid, CreatedAt: epoch}
				got, _, err := s.AppendMessage(ctx, m, hash(cmid), nil)
				if err != nil {
					errs <- err
					return
				}
				if got.Seq == 0 {
					errs <- fmt.Errorf("no seq: %+v", got)
					return
				}
			}
		}()
	}
	var setting *parley.Message
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-start
		v := int64(600)
		setting = &parley.Message{ConversationID: conv.ID, SenderID: users[0].ID, SenderDeviceID: devs[0].ID, Type: parley.SettingEntry, DisappearAfter: &v, CreatedAt: epoch}
		if err := s.SetDisappearAfter(ctx, setting); err != nil {
			errs <- err
		}
	}()
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	ms, err := s.Messages(ctx, conv.ID, parley.MessageFilter{Limit: parley.MaxHistoryLimit * 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != senders*perSender+1 {
		t.Fatalf("%d entries, want %d", len(ms), senders*perSender+1)
	}
	for _, m := range ms {
		switch {
		case m.Seq == setting.Seq:
			if m.Type != parley.SettingEntry || m.ExpiresAt != nil {
				t.Fatalf("setting entry = %+v", m)
			}
		case m.Seq < setting.Seq:
			wantExpiry(t, m, nil)
		default:
			wantExpiry(t, m, at(epoch.Add(10*time.Minute)))
		}
	}
}

func testDisappearErase(t *testing.T, s parley.Store) {
	ctx := context.Background()
	a, b := MustUser(t, s), MustUser(t, s)
	da := MustDevice(t, s, a)
	conv := MustConversation(t, s, parley.Direct, a, b)
	plain := MustConversation(t, s, parley.Group, a, b)
	t0 := epoch.Add(time.Hour)
	MustSetTimer(t, s, conv, a, da, 10, t0) // seq 1
	var sent []*parley.Message
	for i := range 5 { // seqs 2..6, expiring t0+10s+i s
		sent = append(sent, mustSendAt(t, s, conv, a, da, fmt.Sprintf("gone-%d", i), t0.Add(time.Duration(i)*time.Second)))
	}
	own := MustMedia(t, s, a, "only here", t0, true)
	shared := MustMedia(t, s, a, "sent twice", t0, false)
	MustSendMedia(t, s, conv, a, da, own, t0)     // seq 7, expires t0+10s
	MustSendMedia(t, s, conv, a, da, shared, t0)  // seq 8, expires t0+10s
	MustSendMedia(t, s, plain, a, da, shared, t0) // never expires
	MustSetTimer(t, s, conv, a, da, 0, t0.Add(time.Minute))
	kept := mustSendAt(t, s, conv, a, da, "kept", t0.Add(time.Minute)) // seq 10

	t.Run("NothingBeforeExpiry", func(t *testing.T) {
		n, media, err := s.DeleteExpiredMessages(ctx, t0.Add(10*time.Second-time.Microsecond), 100)
		if err != nil || n != 0 || len(media) != 0 {
			t.Fatalf("DeleteExpiredMessages = %d %v %v", n, media, err)
		}
	})
	t.Run("InBatches", func(t *testing.T) {
		now := t0.Add(12 * time.Second) // gone-0..2 and both media messages
		n, media, err := s.DeleteExpiredMessages(ctx, now, 2)
		if err != nil || n != 2 {
			t.Fatalf("first batch = %d %v %v", n, media, err)
		}
		n2, media2, err := s.DeleteExpiredMessages(ctx, now, 100)
		if err != nil || n2 != 3 {
			t.Fatalf("second batch = %d %v %v", n2, media2, err)
		}
		all := append(media, media2...)
		slices.Sort(all)
		want := []parley.ID{own.ID, shared.ID}
		slices.Sort(want)
		if !slices.Equal(all, want) {
			t.Fatalf("media of the erased messages = %v, want %v", all, want)
		}
		ms, _ := s.Messages(ctx, conv.ID, parley.MessageFilter{Limit: 100})
		if got := fmt.Sprint(seqs(ms)); got != "[1 5 6 9 10]" {
			t.Fatalf("left %s", got)
		}
		if _, err := s.Message(ctx, sent[0].ID); parley.ErrorCode(err) != parley.ENOTFOUND {
			t.Fatalf("erased message read back: %v", err)
		}
		c, _ := s.Conversation(ctx, conv.ID)
		if c.LastSeq != 10 {
			t.Fatalf("erasing changed LastSeq to %d", c.LastSeq)
		}
	})
	t.Run("UnreadAfterErase", func(t *testing.T) {
		// Erased: 2 3 4 7 8; left 1 (silent), 5 and 6 (expiring at t0+13s
		// and t0+14s), 9 (silent) and 10.
		for now, want := range map[time.Time]int64{t0.Add(12 * time.Second): 3, t0.Add(14 * time.Second): 1} {
			if n, err := s.UnreadEntries(ctx, conv.ID, 0, 10, now); err != nil || n != want {
				t.Fatalf("UnreadEntries at %v = %d, %v; want %d", now.Sub(t0), n, err, want)
			}
		}
	})
	t.Run("MediaCarriedElsewhereKept", func(t *testing.T) {
		got, err := s.DeleteUnreferencedMedia(ctx, parley.MediaCollection{IDs: []parley.ID{own.ID, shared.ID}, Now: t0})
		slices.Sort(got.BlobKeys)
		want := []string{own.BlobKey, blobKey("only here thumbnail")}
		slices.Sort(want)
		if err != nil || got.Deleted != 1 || !slices.Equal(got.BlobKeys, want) {
			t.Fatalf("collecting the media of erased messages = %+v, %v; want keys %v", got, err, want)
		}
		if _, err := s.Media(ctx, shared.ID); err != nil {
			t.Fatalf("media another message carries: %v", err)
		}
	})
	t.Run("IdempotencyRecordsGo", func(t *testing.T) {
		// The record of an erased send goes with it: its key is free.
		got := mustSendAt(t, s, conv, a, da, "gone-0", t0.Add(2*time.Minute))
		if got.ID == sent[0].ID || got.Seq != 11 {
			t.Fatalf("send after erasure = %+v", got)
		}
	})
	t.Run("RestAndNeverExpiring", func(t *testing.T) {
		n, _, err := s.DeleteExpiredMessages(ctx, t0.Add(24*time.Hour), 100)
		if err != nil || n != 2 {
			t.Fatalf("DeleteExpiredMessages = %d, %v", n, err)
		}
		ms, _ := s.Messages(ctx, conv.ID, parley.MessageFilter{Limit: 100})
		if got := fmt.Sprint(seqs(ms)); got != "[1 9 10 11]" || ms[2].ID != kept.ID {
			t.Fatalf("left %s", got)
		}
	})
}
