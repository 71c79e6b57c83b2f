package imaging

import (
	"bytes"
	"encoding/binary"
	"image/color"
	"testing"

	"github.com/parleyhq/parley"
)

// fuzzSeeds are small valid images and the headers the limits refuse.
func fuzzSeeds(f *testing.F) {
	f.Helper()
	grad := func(x, y int) color.NRGBA { return color.NRGBA{uint8(x * 16), uint8(y * 16), 0, uint8(255 - x)} }
	f.Add(MustPNG(f, 16, 9, grad))
	f.Add(MustJPEG(f, 16, 9, grad))
	f.Add(withEXIFOrientation(MustJPEG(f, 9, 16, grad), 6, binary.BigEndian))
	f.Add(MustGIF(f, 16, 9, func(x, y int) uint8 { return uint8((x + y) % 3) }))
	f.Add(hugePNG(100_000, 100_000))
	f.Add(hugeJPEG(65535, 65535))
	f.Add(hugeGIF(65535, 65535))
	f.Add([]byte("GIF89a"))
}

// Inspect never panics, and what it accepts is within the limits.
func FuzzInspect(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		format, w, h, err := Inspect(bytes.NewReader(data))
		if err != nil {
			if parley.ErrorCode(err) != parley.EINVALID {
				t.Fatalf("error %v, want EINVALID", err)
			}
			return
		}
		if ContentType(format) == "" || w <= 0 || h <= 0 || w > MaxSide || h > MaxSide || int64(w)*int64(h) > parley.MaxImagePixels {
			t.Fatalf("accepted %s %d×%d", format, w, h)
		}
	})
}

// Thumbnail never panics, and what it returns is a JPEG of the size it
// says, within the box. The pixel limit is lowered so that the fuzzer's
// headers claiming large images stay quick to decode.
func FuzzThumbnail(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		const maxSide = 64
		jpg, w, h, err := thumbnail(bytes.NewReader(data), maxSide, 1<<20)
		if err != nil {
			if code := parley.ErrorCode(err); code != parley.EINVALID {
				t.Fatalf("error %v (code %s), want EINVALID", err, code)
			}
			return
		}
		if w <= 0 || h <= 0 || w > maxSide || h > maxSide {
			t.Fatalf("thumbnail %d×%d", w, h)
		}
		MustDecodeJPEG(t, jpg, w, h)
	})
}
