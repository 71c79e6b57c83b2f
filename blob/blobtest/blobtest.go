// Package blobtest is the conformance suite of parley.BlobStore: every
// implementation runs the same tests, so they keep one contract (the one
// written in the doc of package blob).
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/parleyhq/parley"
)

// Run runs the suite. newStore returns an empty store for one subtest and
// arranges its cleanup with tb.Cleanup.
func Run(t *testing.T, newStore func(tb testing.TB) parley.BlobStore) {
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, newStore(t)) })
	t.Run("Large", func(t *testing.T) { testLarge(t, newStore(t)) })
	t.Run("Ranges", func(t *testing.T) { testRanges(t, newStore(t)) })
	t.Run("Overwrite", func(t *testing.T) { testOverwrite(t, newStore(t)) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, newStore(t)) })
	t.Run("ErrNotFound", func(t *testing.T) { testNotFound(t, newStore(t)) })
	t.Run("ErrBadKey", func(t *testing.T) { testBadKeys(t, newStore(t)) })
	t.Run("ErrBadBody", func(t *testing.T) { testBadBody(t, newStore(t)) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, newStore(t)) })
}

// Key returns the content-addressed key of data, as the media pipeline
// names blobs.
func Key(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// RandomBytes returns n bytes from a PRNG seeded with seed.
func RandomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// unseekable hides the Seek of a reader, as a network body would have
// none.
type unseekable struct{ io.Reader }

// MustPut stores data under key from a seekable reader.
func MustPut(tb testing.TB, s parley.BlobStore, key string, data []byte) {
	tb.Helper()
	if err := s.Put(context.Background(), key, bytes.NewReader(data), int64(len(data)), "application/octet-stream"); err != nil {
		tb.Fatalf("Put(%s, %d bytes): %v", key, len(data), err)
	}
}

// MustRead reads a range of the blob under key.
func MustRead(tb testing.TB, s parley.BlobStore, key string, offset, length int64) []byte {
	tb.Helper()
	rc, err := s.Open(context.Background(), key, offset, length)
	if err != nil {
		tb.Fatalf("Open(%s, %d, %d): %v", key, offset, length, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		tb.Fatalf("read %s [%d, %d]: %v", key, offset, length, err)
	}
	return b
}

// wantCode fails unless err has the code.
func wantCode(tb testing.TB, what string, err error, code string) {
	tb.Helper()
	if got := parley.ErrorCode(err); got != code {
		tb.Errorf("%s: error %v (code %q), want code %q", what, err, got, code)
	}
}

// wantMissing fails unless the blob under key is missing.
func wantMissing(tb testing.TB, s parley.BlobStore, key string) {
	tb.Helper()
	rc, err := s.Open(context.Background(), key, 0, -1)
	if err == nil {
		rc.Close()
	}
	wantCode(tb, "Open "+key, err, parley.ENOTFOUND)
}

func testRoundTrip(t *testing.T, s parley.BlobStore) {
	for _, data := range [][]byte{[]byte("hello, parley"), {}, {0}, RandomBytes(70_000, 1)} {
		key := Key(data)
		MustPut(t, s, key, data)
		if got := MustRead(t, s, key, 0, -1); !bytes.Equal(got, data) {
			t.Errorf("%d bytes: read back %d different bytes", len(data), len(got))
		}
	}
	// A derived blob: the key of its source plus a suffix.
	data := []byte("thumbnail bytes")
	key := Key([]byte("source image")) + ".thumb"
	if err := s.Put(context.Background(), key, unseekable{bytes.NewReader(data)}, int64(len(data)), "image/jpeg"); err != nil {
		t.Fatalf("Put from an unseekable reader: %v", err)
	}
	if got := MustRead(t, s, key, 0, -1); !bytes.Equal(got, data) {
		t.Errorf("suffixed key: read back %q", got)
	}
}

func testLarge(t *testing.T, s parley.BlobStore) {
	data := RandomBytes(5<<20+123, 2)
	key := Key(data)
	MustPut(t, s, key, data)
	got := MustRead(t, s, key, 0, -1)
	if Key(got) != key {
		t.Fatalf("read back %d bytes with another hash", len(got))
	}
	if got := MustRead(t, s, key, 3<<20+7, 1<<20); !bytes.Equal(got, data[3<<20+7:4<<20+7]) {
		t.Errorf("1 MiB from the middle differs")
	}

	// The same through a reader that can only be read once.
	data = RandomBytes(3<<20+5, 3)
	key = Key(data)
	if err := s.Put(context.Background(), key, unseekable{bytes.NewReader(data)}, int64(len(data)), "video/mp4"); err != nil {
		t.Fatalf("Put unseekable: %v", err)
	}
	if got := MustRead(t, s, key, 0, -1); Key(got) != key {
		t.Fatalf("unseekable: read back %d bytes with another hash", len(got))
	}
}

func testRanges(t *testing.T, s parley.BlobStore) {
	data := RandomBytes(1000, 4)
	key := Key(data)
	MustPut(t, s, key, data)
	tests := []struct {
		name           string
		offset, length int64
		want           []byte
	}{
		{"Start", 0, 10, data[:10]},
		{"Middle", 500, 100, data[500:600]},
		{"End", 990, 10, data[990:]},
		{"ToEnd", 900, -1, data[900:]},
		{"Whole", 0, -1, data},
		{"WholeByLength", 0, 1000, data},
		{"OneByte", 999, 1, data[999:]},
		{"PastEndIsCut", 995, 10, data[995:]},
		{"AtEndToEnd", 1000, -1, []byte{}},
		{"AtEndWithLength", 1000, 5, []byte{}},
		{"ZeroLength", 10, 0, []byte{}},
		{"HugeLength", 10, math.MaxInt64, data[10:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MustRead(t, s, key, tt.offset, tt.length); !bytes.Equal(got, tt.want) {
				t.Errorf("Open(%d, %d): %d bytes, want %d", tt.offset, tt.length, len(got), len(tt.want))
			}
		})
	}
	for _, r := range []struct{ offset, length int64 }{{1001, -1}, {1001, 10}, {5000, 0}, {-1, 10}, {-5, -1}} {
		t.Run(fmt.Sprintf("ErrInvalid_%d_%d", r.offset, r.length), func(t *testing.T) {
			rc, err := s.Open(context.Background(), key, r.offset, r.length)
			if err == nil {
				rc.Close()
			}
			wantCode(t, "Open", err, parley.EINVALID)
		})
	}

	empty := []byte{}
	ekey := Key(empty)
	MustPut(t, s, ekey, empty)
	for _, r := range []struct{ offset, length int64 }{{0, -1}, {0, 0}, {0, 10}} {
		if got := MustRead(t, s, ekey, r.offset, r.length); len(got) != 0 {
			t.Errorf("empty blob Open(%d, %d): %d bytes", r.offset, r.length, len(got))
		}
	}
}

func testOverwrite(t *testing.T, s parley.BlobStore) {
	key := Key([]byte("overwritten"))
	long := RandomBytes(10_000, 5)
	short := []byte("shorter")
	MustPut(t, s, key, long)
	MustPut(t, s, key, short)
	if got := MustRead(t, s, key, 0, -1); !bytes.Equal(got, short) {
		t.Errorf("after overwrite: %d bytes, want %q", len(got), short)
	}
	MustPut(t, s, key, long)
	if got := MustRead(t, s, key, 0, -1); !bytes.Equal(got, long) {
		t.Errorf("after second overwrite: %d bytes, want %d", len(got), len(long))
	}
}

func testDelete(t *testing.T, s parley.BlobStore) {
	ctx := context.Background()
	data := []byte("to be recalled")
	key := Key(data)
	other := Key([]byte("stays"))
	MustPut(t, s, key, data)
	MustPut(t, s, other, []byte("stays"))
	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantMissing(t, s, key)
	if err := s.Delete(ctx, key); err != nil {
		t.Errorf("Delete again: %v", err)
	}
	if got := MustRead(t, s, other, 0, -1); string(got) != "stays" {
		t.Errorf("other blob: %q", got)
	}
	// A deleted key can be stored again.
	MustPut(t, s, key, data)
	if got := MustRead(t, s, key, 0, -1); !bytes.Equal(got, data) {
		t.Errorf("after re-put: %q", got)
	}
}

func testNotFound(t *testing.T, s parley.BlobStore) {
	ctx := context.Background()
	key := Key([]byte("never stored"))
	for _, r := range []struct{ offset, length int64 }{{0, -1}, {0, 10}, {100, -1}, {100, 10}, {0, 0}} {
		rc, err := s.Open(ctx, key, r.offset, r.length)
		if err == nil {
			rc.Close()
		}
		wantCode(t, fmt.Sprintf("Open(%d, %d)", r.offset, r.length), err, parley.ENOTFOUND)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Errorf("Delete of a missing blob: %v", err)
	}
}

func testBadKeys(t *testing.T, s parley.BlobStore) {
	ctx := context.Background()
	bad := []string{
		"", "abc", "../../etc/passwd", "..", "....", "ab/cd/ef", "abcd/../x", `abcd\x`,
		"ABCDEF", "abcd ef", "abcd\x00", "abcd%2f", ".abcdef", "ab.cdef", "-abcdef",
		"abcdé", strings.Repeat("a", 201), "abcd:ef", "abcd?x", "abcd#x",
	}
	for _, key := range bad {
		err := s.Put(ctx, key, strings.NewReader("x"), 1, "text/plain")
		wantCode(t, fmt.Sprintf("Put(%q)", key), err, parley.EINVALID)
		rc, err := s.Open(ctx, key, 0, -1)
		if err == nil {
			rc.Close()
		}
		wantCode(t, fmt.Sprintf("Open(%q)", key), err, parley.EINVALID)
		wantCode(t, fmt.Sprintf("Delete(%q)", key), s.Delete(ctx, key), parley.EINVALID)
	}
	// The longest and shortest keys allowed.
	for _, key := range []string{strings.Repeat("a", 200), "0000", "abcd.-_x"} {
		MustPut(t, s, key, []byte("ok"))
		if got := MustRead(t, s, key, 0, -1); string(got) != "ok" {
			t.Errorf("key %q: read %q", key, got)
		}
	}
}

// failingReader returns some bytes, then an error.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func testBadBody(t *testing.T, s parley.BlobStore) {
	ctx := context.Background()
	old := []byte("the blob stored before")
	data := RandomBytes(100_000, 6)
	errBroken := errors.New("client went away")
	tests := []struct {
		name string
		body func() io.Reader
		size int64
		code string
	}{
		{"Short", func() io.Reader { return bytes.NewReader(data[:50_000]) }, 100_000, parley.EINVALID},
		{"ShortUnseekable", func() io.Reader { return unseekable{bytes.NewReader(data[:50_000])} }, 100_000, parley.EINVALID},
		{"Long", func() io.Reader { return bytes.NewReader(data) }, 99_999, parley.EINVALID},
		{"LongUnseekable", func() io.Reader { return unseekable{bytes.NewReader(data)} }, 99_999, parley.EINVALID},
		{"LongByOne", func() io.Reader { return bytes.NewReader(data[:2]) }, 1, parley.EINVALID},
		{"EmptyButSized", func() io.Reader { return bytes.NewReader(nil) }, 10, parley.EINVALID},
		{"NotEmpty", func() io.Reader { return bytes.NewReader(data[:1]) }, 0, parley.EINVALID},
		{"NegativeSize", func() io.Reader { return bytes.NewReader(data) }, -1, parley.EINVALID},
		{"ReaderFails", func() io.Reader { return &failingReader{data: data[:70_000], err: errBroken} }, 100_000, parley.EINTERNAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// No blob appears under a fresh key...
			key := Key([]byte(t.Name()))
			err := s.Put(ctx, key, tt.body(), tt.size, "application/octet-stream")
			wantCode(t, "Put", err, tt.code)
			if tt.code == parley.EINTERNAL && !errors.Is(err, errBroken) {
				t.Errorf("Put: %v does not wrap the reader's error", err)
			}
			wantMissing(t, s, key)
			// ...and one stored before stays whole.
			MustPut(t, s, key, old)
			if err := s.Put(ctx, key, tt.body(), tt.size, "application/octet-stream"); err == nil {
				t.Fatal("Put over an existing blob succeeded")
			}
			if got := MustRead(t, s, key, 0, -1); !bytes.Equal(got, old) {
				t.Errorf("existing blob now %d bytes, want it unchanged", len(got))
			}
		})
	}
	t.Run("Canceled", func(t *testing.T) {
		key := Key([]byte(t.Name()))
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Put(cctx, key, bytes.NewReader(data), int64(len(data)), ""); !errors.Is(err, context.Canceled) {
			t.Errorf("Put with a canceled context: %v", err)
		}
		wantMissing(t, s, key)
	})
}

func testConcurrent(t *testing.T, s parley.BlobStore) {
	const workers = 8
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range 5 {
				data := RandomBytes(20_000+w*100+i, uint64(w*10+i))
				key := Key(data)
				if err := s.Put(context.Background(), key, bytes.NewReader(data), int64(len(data)), ""); err != nil {
					t.Errorf("Put: %v", err)
					return
				}
				// All workers also write the same key: last writer wins,
				// and a reader only ever sees one whole blob.
				shared := Key([]byte("shared"))
				if err := s.Put(context.Background(), shared, bytes.NewReader(data), int64(len(data)), ""); err != nil {
					t.Errorf("Put shared: %v", err)
					return
				}
				rc, err := s.Open(context.Background(), key, 0, -1)
				if err != nil {
					t.Errorf("Open: %v", err)
					return
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || !bytes.Equal(got, data) {
					t.Errorf("read back: %v, %d bytes", err, len(got))
				}
			}
		})
	}
	wg.Wait()
	got := MustRead(t, s, Key([]byte("shared")), 0, -1)
	if len(got) < 20_000 || !bytes.Equal(got, RandomBytes(len(got), uint64(sharedSeed(len(got))))) {
		t.Errorf("shared key holds %d bytes that no writer wrote whole", len(got))
	}
}

// sharedSeed recovers the seed testConcurrent used for a blob of n bytes
// (sizes are distinct per worker and round).
func sharedSeed(n int) int {
	x := n - 20_000
	return x/100*10 + x%100
}
