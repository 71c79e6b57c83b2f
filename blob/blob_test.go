package blob

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/parleyhq/parley"
)

func TestCheckKey(t *testing.T) {
	sha := strings.Repeat("ab", 32)
	for _, key := range []string{sha, sha + ".thumb", sha + ".thumb-320_v2", "0000", strings.Repeat("z", maxKeyLen)} {
		if err := checkKey(key); err != nil {
			t.Errorf("checkKey(%q): %v", key, err)
		}
	}
	for _, key := range []string{"", "abc", "ab/c", "a..b", "..ab", "abc.", "abc/", "ABCD", strings.Repeat("z", maxKeyLen+1), "abcd/..", "abcd\n"} {
		if err := checkKey(key); parley.ErrorCode(err) != parley.EINVALID {
			t.Errorf("checkKey(%q) = %v, want EINVALID", key, err)
		}
	}
}

func TestExactReader(t *testing.T) {
	data := []byte("0123456789")
	errBroken := errors.New("broken")
	tests := []struct {
		name    string
		r       io.Reader
		size    int64
		want    string
		wantErr error
	}{
		{"Exact", bytes.NewReader(data), 10, "0123456789", nil},
		{"ExactOneByte", iotest.OneByteReader(bytes.NewReader(data)), 10, "0123456789", nil},
		{"ExactDataErr", iotest.DataErrReader(bytes.NewReader(data)), 10, "0123456789", nil},
		{"ExactHalf", iotest.HalfReader(bytes.NewReader(data)), 10, "0123456789", nil},
		{"Empty", bytes.NewReader(nil), 0, "", nil},
		{"Short", bytes.NewReader(data), 11, "", errShortBody},
		{"ShortDataErr", iotest.DataErrReader(bytes.NewReader(data)), 11, "", errShortBody},
		{"Long", bytes.NewReader(data), 9, "", errLongBody},
		{"LongOneByte", iotest.OneByteReader(bytes.NewReader(data)), 9, "", errLongBody},
		{"NotEmpty", bytes.NewReader(data), 0, "", errLongBody},
		{"ReaderError", io.MultiReader(bytes.NewReader(data[:5]), iotest.ErrReader(errBroken)), 10, "", errBroken},
		{"ReaderErrorAtProbe", io.MultiReader(bytes.NewReader(data), iotest.ErrReader(errBroken)), 10, "", errBroken},
		{"NoProgressAtProbe", zeroReader{}, 0, "", io.ErrNoProgress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := io.ReadAll(newExactReader(context.Background(), tt.r, tt.size))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if err == nil && string(got) != tt.want {
				t.Errorf("read %q, want %q", got, tt.want)
			}
			// The last byte of a body that is too long is never handed
			// out: a consumer stopping at size bytes cannot complete.
			if errors.Is(err, errLongBody) && tt.size > 0 && int64(len(got)) >= tt.size {
				t.Errorf("handed out %d bytes of a too-long body of size %d", len(got), tt.size)
			}
		})
	}
}

// zeroReader is a reader that never makes progress.
type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestExactReaderCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := newExactReader(ctx, strings.NewReader("abcdef"), 6)
	buf := make([]byte, 2)
	if _, err := r.Read(buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := r.Read(buf); !errors.Is(err, context.Canceled) {
		t.Errorf("after cancel: %v", err)
	}
}
