package blob

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/blob/blobtest"
)

// MustDisk returns a Disk in a fresh temporary directory.
func MustDisk(tb testing.TB) *Disk {
	tb.Helper()
	d, err := NewDisk(filepath.Join(tb.TempDir(), "media"))
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func TestDiskConformance(t *testing.T) {
	blobtest.Run(t, func(tb testing.TB) parley.BlobStore { return MustDisk(tb) })
}

func TestDiskLayout(t *testing.T) {
	d := MustDisk(t)
	data := []byte("fanned out")
	key := blobtest.Key(data)
	blobtest.MustPut(t, d, key, data)
	got, err := os.ReadFile(filepath.Join(d.Root(), key[0:2], key[2:4], key))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("blob file: %q, %v", got, err)
	}
	// Failed writes leave no temporary file behind.
	if err := d.Put(context.Background(), key, strings.NewReader("short"), 100, ""); err == nil {
		t.Fatal("short Put succeeded")
	}
	if entries, _ := os.ReadDir(filepath.Join(d.Root(), tmpDir)); len(entries) != 0 {
		t.Errorf("temporary files left: %v", entries)
	}
}

func TestNewDiskRemovesStaleTemps(t *testing.T) {
	root := t.TempDir()
	if _, err := NewDisk(root); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(root, tmpDir, "put-stale")
	fresh := filepath.Join(root, tmpDir, "put-fresh")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * staleTemp)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := NewDisk(root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temporary file still there: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temporary file removed: %v", err)
	}
}

func TestNewDiskErrors(t *testing.T) {
	if _, err := NewDisk(""); err == nil {
		t.Error("NewDisk(\"\") succeeded")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewDisk(file); err == nil {
		t.Error("NewDisk on a regular file succeeded")
	}
}
