package imaging

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"

	"github.com/parleyhq/parley"
)

// MustDecodeJPEG decodes a thumbnail and checks it is a w×h JPEG.
func MustDecodeJPEG(tb testing.TB, data []byte, w, h int) image.Image {
	tb.Helper()
	m, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		tb.Fatalf("thumbnail is not a JPEG: %v", err)
	}
	if b := m.Bounds(); b.Dx() != w || b.Dy() != h {
		tb.Fatalf("thumbnail decodes as %d×%d, want %d×%d", b.Dx(), b.Dy(), w, h)
	}
	return m
}

// wantColor checks the colour at (x, y) within JPEG's tolerance.
func wantColor(tb testing.TB, m image.Image, x, y int, want color.RGBA) {
	tb.Helper()
	r, g, b, _ := m.At(x, y).RGBA()
	got := [3]int{int(r >> 8), int(g >> 8), int(b >> 8)}
	for i, w := range [3]int{int(want.R), int(want.G), int(want.B)} {
		if d := got[i] - w; d < -12 || d > 12 {
			tb.Errorf("pixel (%d, %d) = %v, want about %v", x, y, got, want)
			return
		}
	}
}

func TestThumbnailSize(t *testing.T) {
	red := solid(color.NRGBA{255, 0, 0, 255})
	tests := []struct {
		name         string
		data         []byte
		maxSide      int
		wantW, wantH int
	}{
		{"Landscape", MustJPEG(t, 1000, 500, red), 0, 320, 160},
		{"Portrait", MustPNG(t, 500, 1000, red), 0, 160, 320},
		{"Square", MustPNG(t, 321, 321, red), 0, 320, 320},
		{"RoundsAspect", MustPNG(t, 1000, 333, red), 0, 320, 107},
		{"ThinStrip", MustPNG(t, 3000, 2, red), 0, 320, 1},
		{"SmallKeepsSize", MustPNG(t, 100, 50, red), 0, 100, 50},
		{"ExactFit", MustJPEG(t, 320, 200, red), 320, 320, 200},
		{"OnePixel", MustGIF(t, 1, 1, func(x, y int) uint8 { return 1 }), 0, 1, 1},
		{"MaxSide64", MustGIF(t, 200, 100, func(x, y int) uint8 { return 1 }), 64, 64, 32},
		{"NegativeMaxSideIsDefault", MustJPEG(t, 640, 640, red), -1, 320, 320},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jpg, w, h, err := Thumbnail(bytes.NewReader(tt.data), tt.maxSide)
			if err != nil {
				t.Fatal(err)
			}
			if w != tt.wantW || h != tt.wantH {
				t.Errorf("Thumbnail = %d×%d, want %d×%d", w, h, tt.wantW, tt.wantH)
			}
			m := MustDecodeJPEG(t, jpg, w, h)
			wantColor(t, m, w/2, h/2, color.RGBA{255, 0, 0, 255})
			if ct := Sniff(jpg); ct != ThumbnailContentType {
				t.Errorf("thumbnail sniffs as %s", ct)
			}
		})
	}
}

func TestThumbnailColors(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want color.RGBA
	}{
		// A box filter averages a one-pixel checkerboard to grey, where
		// picking pixels would give black or white.
		{"CheckerboardAveraged", MustPNG(t, 640, 640, func(x, y int) color.NRGBA {
			if (x+y)%2 == 0 {
				return color.NRGBA{255, 255, 255, 255}
			}
			return color.NRGBA{0, 0, 0, 255}
		}), color.RGBA{128, 128, 128, 255}},
		{"TransparentIsWhite", MustPNG(t, 400, 400, solid(color.NRGBA{0, 0, 0, 0})), color.RGBA{255, 255, 255, 255}},
		// Invisible colour does not bleed: transparent red next to opaque
		// blue averages to blue over white, not to purple.
		{"HalfTransparentBlack", MustPNG(t, 400, 400, solid(color.NRGBA{0, 0, 0, 128})), color.RGBA{127, 127, 127, 255}},
		{"NoBleed", MustPNG(t, 640, 640, func(x, y int) color.NRGBA {
			if x%2 == 0 {
				return color.NRGBA{255, 0, 0, 0}
			}
			return color.NRGBA{0, 0, 255, 255}
		}), color.RGBA{127, 127, 255, 255}},
		{"GIFTransparentIsWhite", MustGIF(t, 400, 400, func(x, y int) uint8 { return 0 }), color.RGBA{255, 255, 255, 255}},
		{"GIFPalette", MustGIF(t, 400, 400, func(x, y int) uint8 { return 2 }), color.RGBA{0, 0, 255, 255}},
		{"Gray16PNG", mustPNGImage(t, func() image.Image {
			m := image.NewGray16(image.Rect(0, 0, 500, 500))
			for i := range m.Pix {
				m.Pix[i] = 0x80
			}
			return m
		}()), color.RGBA{128, 128, 128, 255}},
		{"NRGBA64PNG", mustPNGImage(t, func() image.Image {
			m := image.NewNRGBA64(image.Rect(0, 0, 400, 400))
			for y := range 400 {
				for x := range 400 {
					m.SetNRGBA64(x, y, color.NRGBA64{0xffff, 0, 0, 0x8000}) // half-transparent red
				}
			}
			return m
		}()), color.RGBA{255, 127, 127, 255}},
		{"RGBA64PNG", mustPNGImage(t, func() image.Image {
			m := image.NewRGBA64(image.Rect(0, 0, 400, 400))
			for y := range 400 {
				for x := range 400 {
					m.SetRGBA64(x, y, color.RGBA64{0, 0xffff, 0, 0xffff})
				}
			}
			return m
		}()), color.RGBA{0, 255, 0, 255}},
		{"GrayJPEG", mustJPEGImage(t, image.NewUniform(color.Gray{200}), image.NewGray(image.Rect(0, 0, 500, 500))), color.RGBA{200, 200, 200, 255}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jpg, w, h, err := Thumbnail(bytes.NewReader(tt.data), 0)
			if err != nil {
				t.Fatal(err)
			}
			m := MustDecodeJPEG(t, jpg, w, h)
			for _, p := range []image.Point{{w / 2, h / 2}, {1, 1}, {w - 2, h - 2}} {
				wantColor(t, m, p.X, p.Y, tt.want)
			}
		})
	}
}

func mustPNGImage(tb testing.TB, m image.Image) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// mustJPEGImage fills dst (a gray image) with src and encodes it.
func mustJPEGImage(tb testing.TB, src image.Image, dst *image.Gray) []byte {
	tb.Helper()
	for y := range dst.Rect.Dy() {
		for x := range dst.Rect.Dx() {
			dst.Set(x, y, src.At(x, y))
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, dst, nil); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// A GIF whose first frame covers the right half of its screen: the
// thumbnail shows the whole screen, the uncovered half white.
func TestThumbnailGIFFrameSmallerThanScreen(t *testing.T) {
	pal := color.Palette{color.RGBA{}, color.RGBA{255, 0, 0, 255}}
	frame := image.NewPaletted(image.Rect(200, 0, 400, 200), pal)
	for i := range frame.Pix {
		frame.Pix[i] = 1
	}
	var b bytes.Buffer
	err := gif.EncodeAll(&b, &gif.GIF{
		Image:  []*image.Paletted{frame},
		Delay:  []int{0},
		Config: image.Config{ColorModel: pal, Width: 400, Height: 200},
	})
	if err != nil {
		t.Fatal(err)
	}
	jpg, w, h, err := Thumbnail(&b, 0)
	if err != nil {
		t.Fatal(err)
	}
	m := MustDecodeJPEG(t, jpg, 320, 160)
	wantColor(t, m, w/4, h/2, color.RGBA{255, 255, 255, 255})
	wantColor(t, m, 3*w/4, h/2, color.RGBA{255, 0, 0, 255})
}

// Image types without a fast path (CMYK JPEGs decode to one) go through
// the generic reader.
func TestResizeGenericPath(t *testing.T) {
	m := image.NewCMYK(image.Rect(5, 5, 105, 55))
	for i := 0; i < len(m.Pix); i += 4 {
		m.Pix[i], m.Pix[i+1], m.Pix[i+2], m.Pix[i+3] = 255, 255, 0, 0 // cyan + magenta
	}
	out := resize(m, m.Bounds(), 10, 5)
	for _, p := range []image.Point{{0, 0}, {9, 4}, {5, 2}} {
		if c := out.RGBAAt(p.X, p.Y); c != (color.RGBA{0, 0, 255, 255}) {
			t.Errorf("pixel %v = %v, want blue", p, c)
		}
	}
}

// A 200×100 photo stored with its left half red and right half blue, and
// an EXIF orientation: the thumbnail must show it the way it is viewed.
func TestThumbnailOrientation(t *testing.T) {
	red, blue := color.RGBA{255, 0, 0, 255}, color.RGBA{0, 0, 255, 255}
	stored := MustJPEG(t, 200, 100, func(x, y int) color.NRGBA {
		if x < 100 {
			return color.NRGBA{255, 0, 0, 255}
		}
		return color.NRGBA{0, 0, 255, 255}
	})
	tests := []struct {
		orientation   uint16
		w, h          int
		first, second color.RGBA // top/bottom or left/right, as viewed
	}{
		{1, 200, 100, red, blue},
		{2, 200, 100, blue, red},
		{3, 200, 100, blue, red},
		{4, 200, 100, red, blue},
		{5, 100, 200, red, blue},
		{6, 100, 200, red, blue},
		{7, 100, 200, blue, red},
		{8, 100, 200, blue, red},
	}
	for _, tt := range tests {
		data := withEXIFOrientation(stored, tt.orientation, binary.LittleEndian)
		format, iw, ih, err := Inspect(bytes.NewReader(data))
		if err != nil || format != FormatJPEG || iw != tt.w || ih != tt.h {
			t.Errorf("orientation %d: Inspect = %s %d×%d, %v; want jpeg %d×%d", tt.orientation, format, iw, ih, err, tt.w, tt.h)
		}
		jpg, w, h, err := Thumbnail(bytes.NewReader(data), 0)
		if err != nil {
			t.Fatalf("orientation %d: %v", tt.orientation, err)
		}
		if w != tt.w || h != tt.h {
			t.Errorf("orientation %d: thumbnail %d×%d, want %d×%d", tt.orientation, w, h, tt.w, tt.h)
			continue
		}
		m := MustDecodeJPEG(t, jpg, w, h)
		if w > h { // halves side by side
			wantColor(t, m, w/4, h/2, tt.first)
			wantColor(t, m, 3*w/4, h/2, tt.second)
		} else { // halves one above the other
			wantColor(t, m, w/2, h/4, tt.first)
			wantColor(t, m, w/2, 3*h/4, tt.second)
		}
	}
}

// Asymmetric orientation cases need a picture that is not symmetric in
// both axes: a red top-left quadrant on white.
func TestOrientMapping(t *testing.T) {
	m := image.NewRGBA(image.Rect(0, 0, 4, 2))
	for i := range m.Pix {
		m.Pix[i] = 255
	}
	m.SetRGBA(0, 0, color.RGBA{255, 0, 0, 255})
	// Where the stored top-left pixel is seen, per orientation.
	want := map[int]image.Point{1: {0, 0}, 2: {3, 0}, 3: {3, 1}, 4: {0, 1}, 5: {0, 0}, 6: {1, 0}, 7: {1, 3}, 8: {0, 3}}
	for o, p := range want {
		out := orient(m, o)
		found := image.Point{-1, -1}
		for y := range out.Rect.Dy() {
			for x := range out.Rect.Dx() {
				if out.RGBAAt(x, y).G == 0 {
					found = image.Point{x, y}
				}
			}
		}
		if found != p {
			t.Errorf("orientation %d: marked pixel at %v, want %v", o, found, p)
		}
	}
}

func TestThumbnailCorruptInput(t *testing.T) {
	red := solid(color.NRGBA{255, 0, 0, 255})
	for name, data := range map[string][]byte{
		"PNG":  MustPNG(t, 64, 48, red),
		"JPEG": MustJPEG(t, 64, 48, red),
		"GIF":  MustGIF(t, 64, 48, func(x, y int) uint8 { return uint8(x % 3) }),
	} {
		t.Run(name, func(t *testing.T) {
			// Every truncation is an error, never a panic; the first
			// bytes alone already name the format.
			for n := 0; n < len(data)-1; n += 1 + n/8 {
				_, _, _, err := Thumbnail(bytes.NewReader(data[:n]), 0)
				if parley.ErrorCode(err) != parley.EINVALID {
					t.Fatalf("first %d of %d bytes: %v, want EINVALID", n, len(data), err)
				}
			}
			// Flipped bytes may still decode (JPEG is forgiving) but must
			// give a valid thumbnail or EINVALID.
			for i := 0; i < len(data); i += 1 + i/16 {
				b := append([]byte{}, data...)
				b[i] ^= 0x5a
				jpg, w, h, err := Thumbnail(bytes.NewReader(b), 0)
				if err != nil {
					if parley.ErrorCode(err) != parley.EINVALID {
						t.Fatalf("byte %d flipped: %v, want EINVALID", i, err)
					}
					continue
				}
				MustDecodeJPEG(t, jpg, w, h)
			}
		})
	}
}

func TestFitSize(t *testing.T) {
	tests := []struct{ w, h, max, wantW, wantH int }{
		{4000, 3000, 320, 320, 240},
		{3000, 4000, 320, 240, 320},
		{320, 320, 320, 320, 320},
		{10, 10, 320, 10, 10},
		{30000, 1, 320, 320, 1},
		{1, 30000, 320, 1, 320},
		{641, 320, 320, 320, 160},
	}
	for _, tt := range tests {
		if w, h := fitSize(tt.w, tt.h, tt.max); w != tt.wantW || h != tt.wantH {
			t.Errorf("fitSize(%d, %d, %d) = %d×%d, want %d×%d", tt.w, tt.h, tt.max, w, h, tt.wantW, tt.wantH)
		}
	}
}

func TestBoxSpansSumToOne(t *testing.T) {
	for _, c := range [][2]int{{1000, 320}, {321, 320}, {7, 3}, {30000, 1}, {5, 5}, {3, 2}} {
		spans := boxSpans(c[0], c[1])
		total := float32(0)
		for _, sp := range spans {
			sum := float32(0)
			for _, w := range sp.weights {
				if w < 0 {
					t.Fatalf("%v: negative weight", c)
				}
				sum += w
			}
			if sum < 0.999 || sum > 1.001 {
				t.Errorf("%v: weights sum to %v", c, sum)
			}
			if sp.first < 0 || sp.first+len(sp.weights) > c[0] {
				t.Errorf("%v: span %d+%d outside the source", c, sp.first, len(sp.weights))
			}
			total += sum
		}
		if int(total+0.5) != c[1] {
			t.Errorf("%v: total weight %v", c, total)
		}
	}
}

func BenchmarkThumbnail(b *testing.B) {
	photo := MustJPEG(b, 4000, 3000, func(x, y int) color.NRGBA {
		return color.NRGBA{uint8(x), uint8(y), uint8(x ^ y), 255}
	})
	b.SetBytes(int64(len(photo)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := Thumbnail(bytes.NewReader(photo), 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInspect(b *testing.B) {
	photo := withEXIFOrientation(MustJPEG(b, 4000, 3000, solid(color.NRGBA{1, 2, 3, 255})), 6, binary.BigEndian)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := Inspect(bytes.NewReader(photo)); err != nil {
			b.Fatal(err)
		}
	}
}
