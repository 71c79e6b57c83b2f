package app_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/app"
	"github.com/parleyhq/parley/blob"
)

func TestUploadQuota(t *testing.T) {
	e := mustMediaApp(t, app.Config{MaxUploadBytes: 64 << 10, UploadQuota: 100 << 10})
	ctx := context.Background()
	a, b := e.MustUser(t), e.MustUser(t)
	upload := func(u *user, n int, fill byte) error {
		_, err := e.app.Upload(ctx, u.c, bytes.NewReader(bytes.Repeat([]byte{fill}, n)), "f.bin")
		return err
	}
	if err := upload(a, 60<<10, 1); err != nil {
		t.Fatal(err)
	}
	t.Run("ErrTooManyOverWhatIsLeft", func(t *testing.T) {
		err := upload(a, 50<<10, 2)
		wantCode(t, err, parley.ETOOMANY)
		if parley.RetryAfterOf(err) <= 0 {
			t.Fatal("no RetryAfter")
		}
	})
	t.Run("OKWithinWhatIsLeft", func(t *testing.T) {
		if err := upload(a, 40<<10, 3); err != nil {
			t.Fatal(err)
		}
		wantCode(t, upload(a, 1, 4), parley.ETOOMANY)
	})
	t.Run("OtherUsersUnaffected", func(t *testing.T) {
		if err := upload(b, 60<<10, 5); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("RefillsOverTheDay", func(t *testing.T) {
		e.clock.add(12 * time.Hour)
		if err := upload(a, 45<<10, 6); err != nil {
			t.Fatalf("after half a day: %v", err)
		}
	})
	t.Run("TempFilesRemoved", func(t *testing.T) {
		wantCode(t, upload(a, 60<<10, 7), parley.ETOOMANY)
		entries, err := os.ReadDir(e.app.Config().TempDir)
		if err != nil || len(entries) != 0 {
			t.Fatalf("temporary files left: %v %v", entries, err)
		}
	})
}

func TestUploadDiskFloor(t *testing.T) {
	d, err := blob.NewDisk(filepath.Join(t.TempDir(), "media"))
	if err != nil {
		t.Fatal(err)
	}
	var free atomic.Int64
	free.Store(10 << 30)
	e := MustAppWith(t, app.Config{MaxUploadBytes: 1 << 20, MinFreeBytes: 1 << 30, TempDir: t.TempDir()},
		app.Deps{Blobs: d, FreeSpace: func() (int64, error) { return free.Load(), nil }})
	ctx := context.Background()
	a, b := e.MustUser(t), e.MustUser(t)
	conv := e.MustDirect(t, a, b)
	upload := func() error {
		_, err := e.app.Upload(ctx, a.c, bytes.NewReader([]byte("some bytes")), "f.txt")
		return err
	}
	if err := upload(); err != nil {
		t.Fatal(err)
	}
	free.Store(1<<30 + 512<<10) // under the floor plus room for one upload
	t.Run("ErrUnavailableUnderTheFloor", func(t *testing.T) {
		err := upload()
		wantCode(t, err, parley.EUNAVAILABLE)
		if parley.RetryAfterOf(err) <= 0 {
			t.Fatal("no RetryAfter")
		}
	})
	t.Run("MessagesStillFlow", func(t *testing.T) {
		if _, _, err := e.app.Send(ctx, a.c, parley.SendRequest{ConversationID: conv, ClientMsgID: "m1", Body: "still here"}, nil); err != nil {
			t.Fatal(err)
		}
	})
	free.Store(10 << 30)
	t.Run("OKOnceFreed", func(t *testing.T) {
		if err := upload(); err != nil {
			t.Fatal(err)
		}
	})
}
