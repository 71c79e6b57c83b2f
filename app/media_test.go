package app_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/app"
	"github.com/parleyhq/parley/blob"
)

type mediaEnv struct {
	*env
	blobs *blob.Disk
}

func mustMediaApp(tb testing.TB, cfg app.Config) *mediaEnv {
	tb.Helper()
	d, err := blob.NewDisk(filepath.Join(tb.TempDir(), "media"))
	if err != nil {
		tb.Fatal(err)
	}
	cfg.TempDir = tb.TempDir()
	return &mediaEnv{env: MustAppWith(tb, cfg, app.Deps{Blobs: d}), blobs: d}
}

// MustPNG returns a w×h PNG.
func MustPNG(tb testing.TB, w, h int) []byte {
	tb.Helper()
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.Set(x, y, color.NRGBA{uint8(x), uint8(y), 200, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// bombPNG is the start of a PNG whose header claims w×h pixels: decoding it
// would need w×h×4 bytes.
func bombPNG(w, h uint32) []byte {
	var ihdr [13]byte
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	chunk := append([]byte("IHDR"), ihdr[:]...)
	out := []byte("\x89PNG\r\n\x1a\n")
	out = binary.BigEndian.AppendUint32(out, 13)
	out = append(out, chunk...)
	out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(chunk))
	return append(out, make([]byte, 4096)...) // and some "pixels"
}

func (e *mediaEnv) MustUpload(tb testing.TB, u *user, data []byte, name string) *parley.Media {
	tb.Helper()
	m, err := e.app.Upload(context.Background(), u.c, bytes.NewReader(data), name)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// read returns the bytes of media the user may see, or the error.
func (e *mediaEnv) read(u *user, id parley.ID) ([]byte, error) {
	_, open, err := e.app.OpenMedia(context.Background(), u.c, id)
	if err != nil {
		return nil, err
	}
	r, err := open(context.Background(), 0, -1)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func (e *mediaEnv) wantReadable(tb testing.TB, u *user, id parley.ID, want []byte) {
	tb.Helper()
	got, err := e.read(u, id)
	if err != nil {
		tb.Fatalf("read media %d: %v", id, err)
	}
	if want != nil && !bytes.Equal(got, want) {
		tb.Fatalf("media %d: %d bytes differ from the %d uploaded", id, len(got), len(want))
	}
}

func (e *mediaEnv) wantHidden(tb testing.TB, u *user, id parley.ID) {
	tb.Helper()
	_, err := e.read(u, id)
	wantCode(tb, err, parley.ENOTFOUND)
}

func sendMedia(e *mediaEnv, u *user, conv parley.ID, typ parley.MessageType, m parley.ID) (*parley.Message, error) {
	e.n++
	msg, _, err := e.app.Send(context.Background(), u.c, parley.SendRequest{ConversationID: conv, ClientMsgID: fmt.Sprint("m", e.n), Type: typ, Body: "look", MediaID: m}, nil)
	return msg, err
}

func TestUpload(t *testing.T) {
	e := mustMediaApp(t, app.Config{MaxUploadBytes: 64 << 10})
	ctx := context.Background()
	a := e.MustUser(t)
	pic := MustPNG(t, 800, 400)
	t.Run("Image", func(t *testing.T) {
		m := e.MustUpload(t, a, pic, "holiday.txt") // the name says nothing about the type
		sum := sha256.Sum256(pic)
		if m.ID == 0 || m.OwnerID != a.ID || m.SHA256 != hex.EncodeToString(sum[:]) || m.Size != int64(len(pic)) ||
			m.ContentType != "image/png" || m.Width != 800 || m.Height != 400 || m.Filename != "holiday.txt" || m.ThumbnailID == 0 {
			t.Fatalf("media = %+v", m)
		}
		e.wantReadable(t, a, m.ID, pic)
		th, open, err := e.app.OpenMedia(ctx, a.c, m.ThumbnailID)
		if err != nil || th.ThumbnailOf != m.ID || th.ContentType != "image/jpeg" || th.Width != 320 || th.Height != 160 {
			t.Fatalf("thumbnail = %+v, %v", th, err)
		}
		r, err := open(ctx, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if cfg, format, err := image.DecodeConfig(r); err != nil || format != "jpeg" || cfg.Width != 320 {
			t.Fatalf("thumbnail decodes as %s %+v, %v", format, cfg, err)
		}
	})
	t.Run("File", func(t *testing.T) {
		m := e.MustUpload(t, a, []byte("just some notes\n"), "../../etc/notes.png")
		if m.ContentType != "text/plain; charset=utf-8" || m.Width != 0 || m.ThumbnailID != 0 || m.Filename != "notes.png" {
			t.Fatalf("media = %+v", m)
		}
	})
	t.Run("SameBytesTwice", func(t *testing.T) {
		m1 := e.MustUpload(t, a, []byte("twice"), "")
		m2 := e.MustUpload(t, a, []byte("twice"), "")
		if m1.ID == m2.ID || m1.SHA256 != m2.SHA256 {
			t.Fatalf("uploads = %+v %+v", m1, m2)
		}
	})
	t.Run("ErrTooLarge", func(t *testing.T) {
		_, err := e.app.Upload(ctx, a.c, bytes.NewReader(make([]byte, 64<<10+1)), "")
		wantCode(t, err, parley.ETOOLARGE)
		if _, err := e.app.Upload(ctx, a.c, bytes.NewReader(make([]byte, 64<<10)), ""); err != nil {
			t.Fatalf("an upload of exactly the limit: %v", err)
		}
	})
	t.Run("ErrEmpty", func(t *testing.T) {
		_, err := e.app.Upload(ctx, a.c, bytes.NewReader(nil), "")
		wantCode(t, err, parley.EINVALID)
	})
	t.Run("ErrCorruptImage", func(t *testing.T) {
		_, err := e.app.Upload(ctx, a.c, bytes.NewReader(pic[:len(pic)/2]), "")
		wantCode(t, err, parley.EINVALID)
	})
	t.Run("ErrDecompressionBomb", func(t *testing.T) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := e.app.Upload(ctx, a.c, bytes.NewReader(bombPNG(100_000, 100_000)), "bomb.png")
		runtime.ReadMemStats(&after)
		wantCode(t, err, parley.EINVALID)
		if !strings.Contains(parley.ErrorMessage(err), "too large") {
			t.Fatalf("message = %q", parley.ErrorMessage(err))
		}
		// Decoding would take 40 GB; the refusal takes next to nothing.
		if n := after.TotalAlloc - before.TotalAlloc; n > 8<<20 {
			t.Fatalf("refusing the bomb allocated %d bytes", n)
		}
	})
	t.Run("NoTemporaryFilesLeft", func(t *testing.T) {
		left, _ := os.ReadDir(e.app.Config().TempDir)
		if len(left) != 0 {
			t.Fatalf("left behind: %v", left)
		}
	})
	t.Run("ErrNotConfigured", func(t *testing.T) {
		plain := MustApp(t, app.Config{})
		u := plain.MustUser(t)
		_, err := plain.app.Upload(ctx, u.c, bytes.NewReader(pic), "")
		wantCode(t, err, parley.EUNAVAILABLE)
	})
}

func TestMediaMessages(t *testing.T) {
	e := mustMediaApp(t, app.Config{})
	ctx := context.Background()
	a, b, c := e.MustUser(t), e.MustUser(t), e.MustUser(t)
	conv := e.MustDirect(t, a, b)
	evB := e.Watch(t, b)
	pic := MustPNG(t, 64, 64)
	m := e.MustUpload(t, a, pic, "cat.png")
	doc := e.MustUpload(t, a, []byte("%PDF-1.7\n..."), "doc.pdf")
	others := e.MustUpload(t, c, MustPNG(t, 8, 8), "")

	t.Run("HiddenBeforeSent", func(t *testing.T) {
		e.wantHidden(t, b, m.ID)
		e.wantHidden(t, b, m.ThumbnailID)
		e.wantHidden(t, b, 999999)
	})
	for _, tc := range []struct {
		name  string
		typ   parley.MessageType
		media parley.ID
		code  string
	}{
		{"ErrSomeoneElsesMedia", parley.ImageMessage, others.ID, parley.ENOTFOUND},
		{"ErrUnknownMedia", parley.ImageMessage, 999999, parley.ENOTFOUND},
		{"ErrThumbnail", parley.ImageMessage, m.ThumbnailID, parley.ENOTFOUND},
		{"ErrFileAsImage", parley.ImageMessage, doc.ID, parley.EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sendMedia(e, a, conv, tc.typ, tc.media)
			wantCode(t, err, tc.code)
		})
	}
	msg, err := sendMedia(e, a, conv, parley.ImageMessage, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("MessageCarriesMetadata", func(t *testing.T) {
		if msg.Media == nil || msg.Media.ID != m.ID || msg.Media.Width != 64 || msg.Media.ThumbnailID != m.ThumbnailID {
			t.Fatalf("sent message media = %+v", msg.Media)
		}
		evs := evB.named(parley.EventMessage)
		var back parley.Message
		if len(evs) != 1 || json.Unmarshal(evs[0].Data, &back) != nil || back.Media == nil || back.Media.SHA256 != m.SHA256 || back.Media.ContentType != "image/png" {
			t.Fatalf("message event = %s", evs[0].Data)
		}
		hist, err := e.app.History(ctx, b.c, conv, parley.HistoryQuery{})
		if err != nil || len(hist) != 1 || hist[0].Media == nil || hist[0].Media.ID != m.ID {
			t.Fatalf("history = %+v, %v", hist, err)
		}
		v, err := e.app.Conversation(ctx, b.c, conv)
		if err != nil || v.LatestMessage == nil || v.LatestMessage.Media == nil {
			t.Fatalf("conversation view = %+v, %v", v, err)
		}
		var synced []*parley.Message
		err = e.app.Sync(ctx, b.c, parley.SyncQuery{Cursors: map[parley.ID]int64{}}, func(name string, data any) error {
			if name == parley.EventMessage {
				synced = append(synced, data.(*parley.Message))
			}
			return nil
		})
		if err != nil || len(synced) != 1 || synced[0].Media == nil {
			t.Fatalf("sync = %+v, %v", synced, err)
		}
	})
	t.Run("FileMessage", func(t *testing.T) {
		f, err := sendMedia(e, a, conv, parley.FileMessage, doc.ID)
		if err != nil || f.Media == nil || f.Media.ContentType != "application/pdf" {
			t.Fatalf("file message = %+v, %v", f, err)
		}
	})
	t.Run("MembersMayRead", func(t *testing.T) {
		e.wantReadable(t, b, m.ID, pic)
		e.wantReadable(t, b, m.ThumbnailID, nil)
		e.wantHidden(t, c, m.ID)
		e.wantHidden(t, c, m.ThumbnailID)
	})
	t.Run("LateJoinerMayNot", func(t *testing.T) {
		g := e.MustGroup(t, a, b)
		if _, err := sendMedia(e, a, g, parley.ImageMessage, m.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.app.AddMembers(ctx, a.c, g, []parley.ID{c.ID}); err != nil {
			t.Fatal(err)
		}
		e.wantHidden(t, c, m.ID)
	})
	t.Run("RemovedConversation", func(t *testing.T) {
		if err := e.app.RemoveConversation(ctx, b.c, conv); err != nil {
			t.Fatal(err)
		}
		// Still visible to b in the group it was sent to as well.
		e.wantReadable(t, b, m.ID, pic)
		e.wantHidden(t, b, doc.ID)
	})
}

// waitGone waits for the background release of recalled media.
func (e *mediaEnv) waitGone(tb testing.TB, u *user, id parley.ID) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := e.read(u, id)
		if parley.ErrorCode(err) == parley.ENOTFOUND {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("media %d still readable: %v", id, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// blobExists reports whether the blob store still holds the blob of the
// content.
func (e *mediaEnv) blobExists(tb testing.TB, data []byte) bool {
	tb.Helper()
	sum := sha256.Sum256(data)
	r, err := e.blobs.Open(context.Background(), hex.EncodeToString(sum[:]), 0, -1)
	if err == nil {
		r.Close()
		return true
	}
	if parley.ErrorCode(err) != parley.ENOTFOUND {
		tb.Fatal(err)
	}
	return false
}

func TestMediaRelease(t *testing.T) {
	e := mustMediaApp(t, app.Config{MediaGrace: time.Hour, Retention: 24 * time.Hour})
	ctx := context.Background()
	a, b := e.MustUser(t), e.MustUser(t)
	conv := e.MustDirect(t, a, b)
	t.Run("Recall", func(t *testing.T) {
		pic := MustPNG(t, 30, 30)
		m := e.MustUpload(t, a, pic, "")
		msg, err := sendMedia(e, a, conv, parley.ImageMessage, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.app.Recall(ctx, a.c, conv, msg.ID); err != nil {
			t.Fatal(err)
		}
		e.waitGone(t, a, m.ID)
		e.wantHidden(t, b, m.ID)
		// The row goes first, then the blob.
		deadline := time.Now().Add(10 * time.Second)
		for e.blobExists(t, pic) {
			if time.Now().After(deadline) {
				t.Fatal("the recalled image's blob is still stored")
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	t.Run("UnsentAfterGrace", func(t *testing.T) {
		data := []byte("never sent")
		m := e.MustUpload(t, a, data, "")
		if n, err := e.app.CollectMedia(ctx); err != nil || n != 0 {
			t.Fatalf("collected %d, %v within the grace period", n, err)
		}
		e.wantReadable(t, a, m.ID, data)
		e.clock.add(time.Hour + time.Second)
		if n, err := e.app.CollectMedia(ctx); err != nil || n != 1 {
			t.Fatalf("collected %d, %v; want 1", n, err)
		}
		e.wantHidden(t, a, m.ID)
		if e.blobExists(t, data) {
			t.Fatal("blob still stored")
		}
	})
	t.Run("SharedBytesStay", func(t *testing.T) {
		data := []byte("uploaded by both")
		mine := e.MustUpload(t, a, data, "")
		theirs := e.MustUpload(t, b, data, "")
		if _, err := sendMedia(e, b, conv, parley.FileMessage, theirs.ID); err != nil {
			t.Fatal(err)
		}
		e.clock.add(2 * time.Hour)
		if _, err := e.app.CollectMedia(ctx); err != nil {
			t.Fatal(err)
		}
		e.wantHidden(t, a, mine.ID)
		e.wantReadable(t, a, theirs.ID, data) // a sees b's message
	})
	t.Run("Retention", func(t *testing.T) {
		data := []byte("sent, then expired")
		m := e.MustUpload(t, a, data, "")
		if _, err := sendMedia(e, a, conv, parley.FileMessage, m.ID); err != nil {
			t.Fatal(err)
		}
		e.clock.add(25 * time.Hour)
		if _, err := e.app.Prune(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := e.app.CollectMedia(ctx); err != nil {
			t.Fatal(err)
		}
		e.wantHidden(t, a, m.ID)
		if e.blobExists(t, data) {
			t.Fatal("blob still stored")
		}
	})
	t.Run("KeyBeingDeleted", func(t *testing.T) {
		// A collection claimed a key and stopped before deleting its blob;
		// the same bytes uploaded now must not be lost when it finishes.
		data := []byte("claimed meanwhile")
		m := e.MustUpload(t, a, data, "")
		if _, err := e.store.DeleteUnreferencedMedia(ctx, parley.MediaCollection{IDs: []parley.ID{m.ID}, Now: e.clock.now()}); err != nil {
			t.Fatal(err)
		}
		again := e.MustUpload(t, a, data, "")
		if again.BlobKey == again.SHA256 {
			t.Fatalf("the upload took the claimed key %s", again.BlobKey)
		}
		if _, err := sendMedia(e, a, conv, parley.FileMessage, again.ID); err != nil {
			t.Fatal(err)
		}
		e.clock.add(time.Hour) // the claim is stale: the next collection deletes that blob
		if _, err := e.app.CollectMedia(ctx); err != nil {
			t.Fatal(err)
		}
		e.wantReadable(t, b, again.ID, data)
	})
}

// BenchmarkUploadPhoto uploads a 12-megapixel JPEG: spooling, hashing,
// header check, decoding for the thumbnail, and storing both on disk.
//
//	go test ./app -run '^$' -bench Upload -benchtime 20x
func BenchmarkUploadPhoto(b *testing.B) {
	e := mustMediaApp(b, app.Config{})
	u := e.MustUser(b)
	m := image.NewRGBA(image.Rect(0, 0, 4000, 3000))
	for i := range m.Pix {
		m.Pix[i] = uint8(i * 7 / 5)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: 85}); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		e.MustUpload(b, u, data, "photo.jpg")
	}
}

// BenchmarkUploadFile uploads 16 MiB that is not an image.
func BenchmarkUploadFile(b *testing.B) {
	e := mustMediaApp(b, app.Config{})
	u := e.MustUser(b)
	data := make([]byte, 16<<20)
	r := rand.NewChaCha8([32]byte{1})
	r.Read(data)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		e.MustUpload(b, u, data, "")
	}
}
