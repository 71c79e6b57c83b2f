package imaging

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"runtime"
	"testing"

	"github.com/parleyhq/parley"
)

// Test images are drawn by fill, which gives the colour of each pixel.

func fillNRGBA(w, h int, fill func(x, y int) color.NRGBA) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.SetNRGBA(x, y, fill(x, y))
		}
	}
	return m
}

func solid(c color.NRGBA) func(x, y int) color.NRGBA {
	return func(int, int) color.NRGBA { return c }
}

// MustPNG encodes an image of w×h pixels as PNG.
func MustPNG(tb testing.TB, w, h int, fill func(x, y int) color.NRGBA) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, fillNRGBA(w, h, fill)); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// MustJPEG encodes an image of w×h pixels as JPEG.
func MustJPEG(tb testing.TB, w, h int, fill func(x, y int) color.NRGBA) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, fillNRGBA(w, h, fill), &jpeg.Options{Quality: 95}); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// MustGIF encodes a w×h paletted image; palette index 0 is transparent.
func MustGIF(tb testing.TB, w, h int, index func(x, y int) uint8) []byte {
	tb.Helper()
	pal := color.Palette{color.RGBA{}, color.RGBA{255, 0, 0, 255}, color.RGBA{0, 0, 255, 255}}
	m := image.NewPaletted(image.Rect(0, 0, w, h), pal)
	for y := range h {
		for x := range w {
			m.SetColorIndex(x, y, index(x, y))
		}
	}
	var b bytes.Buffer
	if err := gif.Encode(&b, m, nil); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// withEXIFOrientation inserts an EXIF block with the orientation tag
// right after the start of a JPEG stream, as cameras write it.
func withEXIFOrientation(jpg []byte, o uint16, order binary.AppendByteOrder) []byte {
	tiff := make([]byte, 0, 32)
	if order == binary.LittleEndian {
		tiff = append(tiff, "II*\x00"...)
	} else {
		tiff = append(tiff, "MM\x00*"...)
	}
	tiff = order.AppendUint32(tiff, 8)      // IFD0 offset
	tiff = order.AppendUint16(tiff, 2)      // entries
	tiff = order.AppendUint16(tiff, 0x010f) // Make, an ASCII entry first
	tiff = order.AppendUint16(tiff, 2)
	tiff = order.AppendUint32(tiff, 4)
	tiff = append(tiff, "Cam\x00"...)
	tiff = order.AppendUint16(tiff, 0x0112) // Orientation
	tiff = order.AppendUint16(tiff, 3)
	tiff = order.AppendUint32(tiff, 1)
	tiff = order.AppendUint16(tiff, o)
	tiff = append(tiff, 0, 0)
	tiff = order.AppendUint32(tiff, 0) // no next IFD
	seg := append([]byte("Exif\x00\x00"), tiff...)
	app1 := []byte{0xff, 0xe1}
	app1 = binary.BigEndian.AppendUint16(app1, uint16(len(seg)+2))
	app1 = append(app1, seg...)
	out := append([]byte{}, jpg[:2]...)
	out = append(out, app1...)
	return append(out, jpg[2:]...)
}

// hugePNG is a valid PNG signature and IHDR chunk claiming w×h pixels, and
// nothing more.
func hugePNG(w, h uint32) []byte {
	b := []byte("\x89PNG\r\n\x1a\n")
	b = binary.BigEndian.AppendUint32(b, 13)
	chunk := []byte("IHDR")
	chunk = binary.BigEndian.AppendUint32(chunk, w)
	chunk = binary.BigEndian.AppendUint32(chunk, h)
	chunk = append(chunk, 8, 6, 0, 0, 0) // 8-bit RGBA, no interlace
	b = append(b, chunk...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(chunk))
}

// hugeJPEG is a JPEG start, a baseline frame header claiming w×h and a
// scan header, with no scan data.
func hugeJPEG(w, h uint16) []byte {
	b := []byte{0xff, 0xd8, 0xff, 0xc0, 0x00, 0x11, 8}
	b = binary.BigEndian.AppendUint16(b, h)
	b = binary.BigEndian.AppendUint16(b, w)
	b = append(b, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1)
	// Without a JFIF marker the decoder reads on to the scan header.
	return append(b, 0xff, 0xda, 0x00, 0x0c, 3, 1, 0, 2, 0x11, 3, 0x11, 0, 63, 0)
}

// hugeGIF is a GIF header claiming a w×h screen.
func hugeGIF(w, h uint16) []byte {
	b := []byte("GIF89a")
	b = binary.LittleEndian.AppendUint16(b, w)
	b = binary.LittleEndian.AppendUint16(b, h)
	return append(b, 0, 0, 0)
}

func TestInspect(t *testing.T) {
	red := solid(color.NRGBA{255, 0, 0, 255})
	tests := []struct {
		name       string
		data       []byte
		format     string
		w, h       int
		wantCT     string
		wantSniff  string
		wantFormat string
	}{
		{"PNG", MustPNG(t, 33, 17, red), FormatPNG, 33, 17, "image/png", "image/png", FormatPNG},
		{"JPEG", MustJPEG(t, 40, 30, red), FormatJPEG, 40, 30, "image/jpeg", "image/jpeg", FormatJPEG},
		{"GIF", MustGIF(t, 7, 9, func(x, y int) uint8 { return 1 }), FormatGIF, 7, 9, "image/gif", "image/gif", FormatGIF},
		{"JPEGOrientedUpright", withEXIFOrientation(MustJPEG(t, 40, 30, red), 3, binary.BigEndian), FormatJPEG, 40, 30, "image/jpeg", "image/jpeg", FormatJPEG},
		{"JPEGOrientedQuarter", withEXIFOrientation(MustJPEG(t, 40, 30, red), 6, binary.LittleEndian), FormatJPEG, 30, 40, "image/jpeg", "image/jpeg", FormatJPEG},
		{"AtPixelLimit", hugePNG(10_000, parley.MaxImagePixels/10_000), FormatPNG, 10_000, parley.MaxImagePixels / 10_000, "image/png", "image/png", FormatPNG},
		{"AtSideLimit", hugePNG(MaxSide, 1), FormatPNG, MaxSide, 1, "image/png", "image/png", FormatPNG},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			format, w, h, err := Inspect(bytes.NewReader(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if format != tt.format || w != tt.w || h != tt.h {
				t.Errorf("Inspect = %s %d×%d, want %s %d×%d", format, w, h, tt.format, tt.w, tt.h)
			}
			if ct := ContentType(format); ct != tt.wantCT {
				t.Errorf("ContentType(%s) = %s", format, ct)
			}
			if ct := Sniff(tt.data); ct != tt.wantSniff {
				t.Errorf("Sniff = %s, want %s", ct, tt.wantSniff)
			}
		})
	}
}

func TestInspectErrors(t *testing.T) {
	png := MustPNG(t, 10, 10, solid(color.NRGBA{0, 0, 0, 255}))
	tests := []struct {
		name    string
		data    []byte
		message string
	}{
		{"Empty", nil, errUnsupported.Message},
		{"Text", []byte("hello, this is not an image"), errUnsupported.Message},
		{"WebP", []byte("RIFF\x24\x00\x00\x00WEBPVP8 "), errUnsupported.Message},
		{"TruncatedPNG", png[:20], "corrupt png image"},
		{"TruncatedJPEG", []byte{0xff, 0xd8, 0xff, 0xe0, 0x00}, "corrupt jpeg image"},
		{"TruncatedGIF", []byte("GIF89a\x01"), "corrupt gif image"},
		{"ZeroWidth", hugePNG(0, 10), "corrupt png image"},
		{"PNG100kSquare", hugePNG(100_000, 100_000), errTooLarge.Message},
		{"PNGOverPixels", hugePNG(10_000, parley.MaxImagePixels/10_000+1), errTooLarge.Message},
		{"PNGOverSide", hugePNG(MaxSide+1, 1), errTooLarge.Message},
		{"PNGMaxInt", hugePNG(1<<31-1, 1<<31-1), "corrupt png image"}, // the decoder refuses it first
		{"JPEG65kSquare", hugeJPEG(65535, 65535), errTooLarge.Message},
		{"JPEGOverSide", hugeJPEG(MaxSide+1, 2), errTooLarge.Message},
		{"GIF65kSquare", hugeGIF(65535, 65535), errTooLarge.Message},
		{"GIFZero", hugeGIF(0, 0), errEmptyImage.Message},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, _, err := Inspect(bytes.NewReader(tt.data))
			if parley.ErrorCode(err) != parley.EINVALID || parley.ErrorMessage(err) != tt.message {
				t.Errorf("Inspect: %v, want EINVALID %q", err, tt.message)
			}
			_, _, _, err = Thumbnail(bytes.NewReader(tt.data), 0)
			if parley.ErrorCode(err) != parley.EINVALID || parley.ErrorMessage(err) != tt.message {
				t.Errorf("Thumbnail: %v, want EINVALID %q", err, tt.message)
			}
		})
	}
}

// A header claiming 100,000 × 100,000 pixels (40 GB of RGBA) must be
// refused for the price of reading it.
func TestHugeImageRefusedWithoutAllocating(t *testing.T) {
	const limit = 64 << 10 // bytes per call; a decode would need gigabytes
	for name, data := range map[string][]byte{
		"PNG":  hugePNG(100_000, 100_000),
		"JPEG": hugeJPEG(65535, 65535),
		"GIF":  hugeGIF(65535, 65535),
	} {
		t.Run(name, func(t *testing.T) {
			for fn, call := range map[string]func() error{
				"Inspect": func() error {
					_, _, _, err := Inspect(bytes.NewReader(data))
					return err
				},
				"Thumbnail": func() error {
					_, _, _, err := Thumbnail(bytes.NewReader(data), 0)
					return err
				},
			} {
				if err := call(); parley.ErrorMessage(err) != errTooLarge.Message {
					t.Fatalf("%s: %v", fn, err)
				}
				if perCall := allocatedBytes(100, func() { call() }); perCall > limit {
					t.Errorf("%s allocated %d bytes per call, want at most %d", fn, perCall, limit)
				}
			}
		})
	}
}

// allocatedBytes returns the average bytes allocated by one call of f.
func allocatedBytes(runs int, f func()) uint64 {
	f() // warm up one-time initialisation
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(runs)
}

func TestJPEGOrientationMalformed(t *testing.T) {
	good := withEXIFOrientation(MustJPEG(t, 4, 4, solid(color.NRGBA{A: 255})), 8, binary.BigEndian)
	if got := jpegOrientation(good); got != 8 {
		t.Fatalf("orientation %d, want 8", got)
	}
	// Every prefix, and every single-byte corruption of the EXIF block,
	// is read without panicking and gives a valid orientation.
	for n := range len(good) {
		if o := jpegOrientation(good[:n]); o < 1 || o > 8 {
			t.Fatalf("prefix %d: orientation %d", n, o)
		}
	}
	for i := 2; i < 60; i++ {
		for _, v := range []byte{0x00, 0xff, 0x7f, 0x12} {
			b := append([]byte{}, good...)
			b[i] = v
			if o := jpegOrientation(b); o < 1 || o > 8 {
				t.Fatalf("byte %d = %#x: orientation %d", i, v, o)
			}
		}
	}
	for _, o := range []uint16{0, 9, 0xffff} {
		if got := jpegOrientation(withEXIFOrientation(MustJPEG(t, 4, 4, solid(color.NRGBA{A: 255})), o, binary.BigEndian)); got != 1 {
			t.Errorf("orientation value %d read as %d, want 1", o, got)
		}
	}
}
