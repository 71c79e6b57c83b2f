package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/parleyhq/parley"
)

// testMedia runs the media cases.
func testMedia(t *testing.T, open Opener) {
	t.Run("CreateAndRead", func(t *testing.T) { testMediaCreate(t, open(t)) })
	t.Run("References", func(t *testing.T) { testMediaReferences(t, open(t)) })
	t.Run("CollectByAge", func(t *testing.T) { testMediaCollectByAge(t, open(t)) })
	t.Run("CollectRecalled", func(t *testing.T) { testMediaCollectRecalled(t, open(t)) })
	t.Run("SharedBlob", func(t *testing.T) { testMediaSharedBlob(t, open(t)) })
	t.Run("ClaimedKey", func(t *testing.T) { testMediaClaimedKey(t, open(t)) })
}

// blobKey is the content-addressed key of content, as the app names blobs.
func blobKey(content string) string {
	sum := sha256.Sum256([]byte(content))
	return hex.EncodeToString(sum[:])
}

// newMedia returns unsaved media of the owner holding content.
func newMedia(owner *parley.User, content string, at time.Time) *parley.Media {
	k := blobKey(content)
	return &parley.Media{OwnerID: owner.ID, SHA256: k, Size: int64(len(content)), ContentType: "image/png",
		Filename: "cat ✓.png", Width: 640, Height: 480, CreatedAt: at, BlobKey: k}
}

// MustMedia stores media of the owner holding content, with a thumbnail
// when thumb is set.
func MustMedia(tb testing.TB, s parley.Store, owner *parley.User, content string, at time.Time, thumb bool) *parley.Media {
	tb.Helper()
	m := newMedia(owner, content, at)
	var th *parley.Media
	if thumb {
		th = newMedia(owner, content+" thumbnail", at)
		th.ContentType, th.Filename, th.Width, th.Height = "image/jpeg", "", 320, 240
	}
	if err := s.CreateMedia(context.Background(), m, th); err != nil {
		tb.Fatalf("create media: %v", err)
	}
	return m
}

// MustSendMedia appends an image message carrying the media.
func MustSendMedia(tb testing.TB, s parley.Store, conv *parley.Conversation, u *parley.User, d *parley.Device, m *parley.Media, at time.Time) *parley.Message {
	tb.Helper()
	cmid := fmt.Sprintf("media-%d-%d", m.ID, handleSeq.Add(1))
	msg := &parley.Message{ConversationID: conv.ID, SenderID: u.ID, SenderDeviceID: d.ID, ClientMsgID: cmid, Type: parley.ImageMessage, MediaID: m.ID, CreatedAt: at}
	got, _, err := s.AppendMessage(context.Background(), msg, hash(cmid), nil)
	if err != nil {
		tb.Fatalf("append media message: %v", err)
	}
	return got
}

func testMediaCreate(t *testing.T, s parley.Store) {
	ctx := context.Background()
	a := MustUser(t, s)
	m := newMedia(a, "pixels", epoch.Add(1500*time.Microsecond))
	th := newMedia(a, "small pixels", epoch)
	th.ContentType, th.Width, th.Height = "image/jpeg", 32, 24
	if err := s.CreateMedia(ctx, m, th); err != nil {
		t.Fatal(err)
	}
	if m.ID == 0 || th.ID == 0 || m.ID == th.ID || m.ThumbnailID != th.ID || th.ThumbnailOf != m.ID || m.ThumbnailOf != 0 {
		t.Fatalf("CreateMedia set media %+v, thumbnail %+v", m, th)
	}
	t.Run("RoundTrip", func(t *testing.T) {
		got, err := s.Media(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.OwnerID != a.ID || got.SHA256 != m.SHA256 || got.Size != 6 || got.ContentType != "image/png" || got.Filename != "cat ✓.png" ||
			got.Width != 640 || got.Height != 480 || got.ThumbnailID != th.ID || got.ThumbnailOf != 0 || got.BlobKey != m.BlobKey || !got.CreatedAt.Equal(m.CreatedAt) {
			t.Fatalf("Media = %+v, want %+v", got, m)
		}
		gt, err := s.Media(ctx, th.ID)
		if err != nil || gt.ThumbnailOf != m.ID || gt.ThumbnailID != 0 || gt.Width != 32 || gt.BlobKey != th.BlobKey {
			t.Fatalf("thumbnail = %+v, %v", gt, err)
		}
	})
	t.Run("WithoutThumbnail", func(t *testing.T) {
		f := newMedia(a, "a file", epoch)
		f.ContentType, f.Width, f.Height = "application/pdf", 0, 0
		if err := s.CreateMedia(ctx, f, nil); err != nil {
			t.Fatal(err)
		}
		got, err := s.Media(ctx, f.ID)
		if err != nil || got.ThumbnailID != 0 || got.Width != 0 || got.ContentType != "application/pdf" {
			t.Fatalf("Media = %+v, %v", got, err)
		}
	})
	t.Run("ByIDs", func(t *testing.T) {
		got, err := s.MediaByIDs(ctx, []parley.ID{th.ID, m.ID, 999999})
		if err != nil || len(got) != 2 {
			t.Fatalf("MediaByIDs = %v, %v", got, err)
		}
		got, err = s.MediaByIDs(ctx, nil)
		if err != nil || len(got) != 0 {
			t.Fatalf("MediaByIDs(nil) = %v, %v", got, err)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := s.Media(ctx, 999999)
		wantCode(t, err, parley.ENOTFOUND)
	})
}

func testMediaReferences(t *testing.T, s parley.Store) {
	ctx := context.Background()
	a, b, c := MustUser(t, s), MustUser(t, s), MustUser(t, s)
	da := MustDevice(t, s, a)
	direct := MustConversation(t, s, parley.Direct, a, b)
	group := MustConversation(t, s, parley.Group, a, b)
	m := MustMedia(t, s, a, "shared picture", epoch, true)
	MustSend(t, s, direct, a, da, "t1", "before")
	sent := MustSendMedia(t, s, direct, a, da, m, epoch)
	sentGroup := MustSendMedia(t, s, group, a, da, m, epoch)

	refs, err := s.MediaReferences(ctx, m.ID, b.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(refs, func(x, y parley.MediaReference) int { return int(x.ConversationID - y.ConversationID) })
	if len(refs) != 2 || refs[0].ConversationID != direct.ID || refs[0].Seq != sent.Seq || refs[1].ConversationID != group.ID || refs[1].Seq != sentGroup.Seq {
		t.Fatalf("references = %+v", refs)
	}
	if r := refs[0]; r.Member.UserID != b.ID || r.Member.ConversationID != direct.ID || !r.Member.Active() || !r.Member.Visible(r.Seq) {
		t.Fatalf("membership = %+v", r.Member)
	}
	t.Run("Limit", func(t *testing.T) {
		refs, err := s.MediaReferences(ctx, m.ID, b.ID, 1)
		if err != nil || len(refs) != 1 {
			t.Fatalf("references = %+v, %v", refs, err)
		}
	})
	t.Run("NotAMember", func(t *testing.T) {
		refs, err := s.MediaReferences(ctx, m.ID, c.ID, 10)
		if err != nil || len(refs) != 0 {
			t.Fatalf("references = %+v, %v", refs, err)
		}
	})
	t.Run("MembershipAsItIsNow", func(t *testing.T) {
		if _, err := s.HideConversation(ctx, direct.ID, b.ID); err != nil {
			t.Fatal(err)
		}
		refs, err := s.MediaReferences(ctx, m.ID, b.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range refs {
			if r.ConversationID == direct.ID && r.Member.Visible(r.Seq) {
				t.Fatalf("a hidden conversation's entry still visible: %+v", r)
			}
		}
	})
	t.Run("ThumbnailsAreNotCarried", func(t *testing.T) {
		refs, err := s.MediaReferences(ctx, m.ThumbnailID, b.ID, 10)
		if err != nil || len(refs) != 0 {
			t.Fatalf("thumbnail references = %+v, %v", refs, err)
		}
	})
}

// collectAll runs a sweep by age to its end and returns the deleted count
// and the claimed keys, sorted.
func collectAll(tb testing.TB, s parley.Store, before time.Time, limit int) (int, []string) {
	tb.Helper()
	var n int
	var keys []string
	var after parley.ID
	for {
		got, err := s.DeleteUnreferencedMedia(context.Background(), parley.MediaCollection{CreatedBefore: before, AfterID: after, Limit: limit, Now: epoch})
		if err != nil {
			tb.Fatal(err)
		}
		n += got.Deleted
		keys = append(keys, got.BlobKeys...)
		if got.Next == 0 {
			break
		}
		if got.Next <= after {
			tb.Fatalf("sweep did not advance: %d after %d", got.Next, after)
		}
		after = got.Next
	}
	slices.Sort(keys)
	return n, keys
}

func testMediaCollectByAge(t *testing.T, s parley.Store) {
	ctx := context.Background()
	a, b := MustUser(t, s), MustUser(t, s)
	da := MustDevice(t, s, a)
	conv := MustConversation(t, s, parley.Direct, a, b)
	day := 24 * time.Hour
	unsent := MustMedia(t, s, a, "never sent", epoch, true)
	sent := MustMedia(t, s, a, "sent", epoch, false)
	young := MustMedia(t, s, a, "just uploaded", epoch.Add(2*day), false)
	expiring := MustMedia(t, s, a, "sent long ago", epoch, false)
	MustSendMedia(t, s, conv, a, da, sent, epoch.Add(3*day))
	MustSendMedia(t, s, conv, a, da, expiring, epoch)
	for i := range 3 { // more than one page of candidates
		MustMedia(t, s, a, fmt.Sprint("filler ", i), epoch, false)
	}

	n, keys := collectAll(t, s, epoch.Add(day), 2)
	want := []string{unsent.BlobKey, blobKey("never sent thumbnail"), blobKey("filler 0"), blobKey("filler 1"), blobKey("filler 2")}
	slices.Sort(want)
	if n != 4 || !slices.Equal(keys, want) {
		t.Fatalf("collected %d, keys %v; want 4, %v", n, keys, want)
	}
	for _, id := range []parley.ID{unsent.ID, unsent.ThumbnailID} {
		_, err := s.Media(ctx, id)
		wantCode(t, err, parley.ENOTFOUND)
	}
	for _, m := range []*parley.Media{sent, young, expiring} {
		if _, err := s.Media(ctx, m.ID); err != nil {
			t.Fatalf("media %d was collected: %v", m.ID, err)
		}
	}
	t.Run("AfterRetention", func(t *testing.T) {
		if _, err := s.DeleteMessagesBefore(ctx, epoch.Add(day)); err != nil {
			t.Fatal(err)
		}
		n, keys := collectAll(t, s, epoch.Add(day), 100)
		if n != 1 || !slices.Equal(keys, []string{expiring.BlobKey}) {
			t.Fatalf("collected %d, keys %v; want the expired message's media", n, keys)
		}
		if _, err := s.Media(ctx, sent.ID); err != nil {
			t.Fatalf("media of a kept message was collected: %v", err)
		}
	})
}

func testMediaCollectRecalled(t *testing.T, s parley.Store) {
	ctx := context.Background()
	a, b := MustUser(t, s), MustUser(t, s)
	da := MustDevice(t, s, a)
	conv := MustConversation(t, s, parley.Direct, a, b)
	m := MustMedia(t, s, a, "regretted", epoch, true)
	msg := MustSendMedia(t, s, conv, a, da, m, epoch)
	byID := parley.MediaCollection{IDs: []parley.ID{m.ID}, Now: epoch}

	got, err := s.DeleteUnreferencedMedia(ctx, byID)
	if err != nil || got.Deleted != 0 || len(got.BlobKeys) != 0 || got.Next != 0 {
		t.Fatalf("collecting carried media = %+v, %v", got, err)
	}
	entry := &parley.Message{ConversationID: conv.ID, SenderID: a.ID, SenderDeviceID: da.ID, Type: parley.RecallEntry, RecallOf: msg.ID, CreatedAt: epoch.Add(time.Minute)}
	if _, err := s.RecallMessage(ctx, entry); err != nil {
		t.Fatal(err)
	}
	got, err = s.DeleteUnreferencedMedia(ctx, byID)
	slices.Sort(got.BlobKeys)
	want := []string{m.BlobKey, blobKey("regretted thumbnail")}
	slices.Sort(want)
	if err != nil || got.Deleted != 1 || !slices.Equal(got.BlobKeys, want) {
		t.Fatalf("collecting recalled media = %+v, %v; want keys %v", got, err, want)
	}
	_, err = s.Media(ctx, m.ID)
	wantCode(t, err, parley.ENOTFOUND)
}

func testMediaSharedBlob(t *testing.T, s parley.Store) {
	ctx := context.Background()
	a, b := MustUser(t, s), MustUser(t, s)
	first := MustMedia(t, s, a, "same bytes", epoch, false)
	second := MustMedia(t, s, b, "same bytes", epoch, false)
	if first.ID == second.ID || first.BlobKey != second.BlobKey {
		t.Fatalf("two uploads of the same bytes: %+v %+v", first, second)
	}
	got, err := s.DeleteUnreferencedMedia(ctx, parley.MediaCollection{IDs: []parley.ID{first.ID}, Now: epoch})
	if err != nil || got.Deleted != 1 || len(got.BlobKeys) != 0 {
		t.Fatalf("deleting one of two users of a blob = %+v, %v; want the key kept", got, err)
	}
	got, err = s.DeleteUnreferencedMedia(ctx, parley.MediaCollection{IDs: []parley.ID{second.ID}, Now: epoch})
	if err != nil || got.Deleted != 1 || !slices.Equal(got.BlobKeys, []string{second.BlobKey}) {
		t.Fatalf("deleting the last user of a blob = %+v, %v", got, err)
	}
}

func testMediaClaimedKey(t *testing.T, s parley.Store) {
	ctx := context.Background()
	a := MustUser(t, s)
	m := MustMedia(t, s, a, "claimed", epoch, false)
	got, err := s.DeleteUnreferencedMedia(ctx, parley.MediaCollection{IDs: []parley.ID{m.ID}, Now: epoch})
	if err != nil || !slices.Equal(got.BlobKeys, []string{m.BlobKey}) {
		t.Fatalf("claim = %+v, %v", got, err)
	}
	t.Run("ErrConflictWhileClaimed", func(t *testing.T) {
		again := newMedia(a, "claimed", epoch)
		wantCode(t, s.CreateMedia(ctx, again, nil), parley.ECONFLICT)
		withThumb := newMedia(a, "other", epoch)
		thumb := newMedia(a, "claimed", epoch)
		wantCode(t, s.CreateMedia(ctx, withThumb, thumb), parley.ECONFLICT)
		if _, err := s.Media(ctx, withThumb.ID); withThumb.ID != 0 && err == nil {
			t.Fatal("a refused CreateMedia stored the media")
		}
	})
	t.Run("Reclaim", func(t *testing.T) {
		got, err := s.DeleteUnreferencedMedia(ctx, parley.MediaCollection{IDs: []parley.ID{999999}, Now: epoch.Add(time.Minute), ReclaimBefore: epoch})
		if err != nil || len(got.BlobKeys) != 0 {
			t.Fatalf("a fresh claim was taken again: %+v, %v", got, err)
		}
		got, err = s.DeleteUnreferencedMedia(ctx, parley.MediaCollection{IDs: []parley.ID{999999}, Now: epoch.Add(time.Hour), ReclaimBefore: epoch.Add(30 * time.Minute)})
		if err != nil || !slices.Equal(got.BlobKeys, []string{m.BlobKey}) {
			t.Fatalf("a stale claim was not taken again: %+v, %v", got, err)
		}
	})
	t.Run("Release", func(t *testing.T) {
		if err := s.ReleaseBlobKeys(ctx, []string{m.BlobKey}); err != nil {
			t.Fatal(err)
		}
		if err := s.ReleaseBlobKeys(ctx, nil); err != nil {
			t.Fatal(err)
		}
		again := newMedia(a, "claimed", epoch)
		if err := s.CreateMedia(ctx, again, nil); err != nil {
			t.Fatalf("a released key is still refused: %v", err)
		}
	})
}
