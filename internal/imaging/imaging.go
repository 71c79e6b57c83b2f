// Package imaging is what the media pipeline knows about uploaded bytes:
// their content type from the bytes themselves (Sniff), the format and
// dimensions of an image from its header alone (Inspect), and a small
// JPEG preview of it (Thumbnail).
//
// Images come from anyone, so every decode is bounded before it starts:
// the header is read first and an image over parley.MaxImagePixels, or
// with a side over MaxSide, is refused before a single pixel buffer is
// allocated. Only PNG, JPEG and GIF are decoded, with the decoders of the
// standard library called directly: which formats are parsed from
// untrusted input is decided here, not by whatever else in the binary
// registers with image.RegisterFormat.
//
// The package uses the standard library only (and the root package for
// error codes), so the app can depend on it.
package imaging

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"github.com/parleyhq/parley"
)

// MaxSide is the largest width or height accepted, whatever the area: a
// 50-megapixel strip one pixel high is not a photo.
const MaxSide = 30_000

// Formats, as Inspect names them.
const (
	FormatPNG  = "png"
	FormatJPEG = "jpeg"
	FormatGIF  = "gif"
)

// ContentType returns the content type of an Inspect format, "" for
// another string.
func ContentType(format string) string {
	switch format {
	case FormatPNG:
		return "image/png"
	case FormatJPEG:
		return "image/jpeg"
	case FormatGIF:
		return "image/gif"
	}
	return ""
}

// Errors. They are *parley.Error values with code EINVALID: the upload is
// at fault, and the message may be shown to its sender.
var (
	errTooLarge    = parley.Errorf(parley.EINVALID, "image dimensions too large")
	errUnsupported = parley.Errorf(parley.EINVALID, "unsupported image format: want PNG, JPEG or GIF")
	errEmptyImage  = parley.Errorf(parley.EINVALID, "image has no pixels")
)

// corrupt wraps a decoder error.
func corrupt(format string, err error) error {
	return parley.WrapError(parley.EINVALID, "corrupt "+format+" image", err)
}

// header is what an image header says.
type header struct {
	format        string
	width, height int // as stored, before any EXIF orientation
	orientation   int // EXIF orientation 1…8, 1 when absent
}

// displaySize returns the dimensions the image is shown at once its EXIF
// orientation is applied.
func (h header) displaySize() (width, height int) {
	if h.orientation >= 5 {
		return h.height, h.width
	}
	return h.width, h.height
}

// Inspect reads the header of a PNG, JPEG or GIF image from r and returns
// its format ("png", "jpeg", "gif") and the dimensions it is displayed at
// (a JPEG whose EXIF orientation turns it a quarter is reported turned).
// It reads only as far as the header, allocates no pixels, and returns
// EINVALID with the message "image dimensions too large" when width ×
// height exceeds parley.MaxImagePixels or a side exceeds MaxSide, and
// EINVALID for anything that is not such an image.
func Inspect(r io.Reader) (format string, width, height int, err error) {
	// Keep the start of the stream for the EXIF block, which precedes the
	// JPEG frame header; more would only be memory.
	rec := &capBuffer{max: 128 << 10}
	h, err := readHeader(io.TeeReader(r, rec), rec, parley.MaxImagePixels)
	if err != nil {
		return "", 0, 0, err
	}
	width, height = h.displaySize()
	return h.format, width, height, nil
}

// readHeader reads an image header from r, which tees what it reads into
// rec, and checks the dimensions against the limits.
func readHeader(r io.Reader, rec interface{ Bytes() []byte }, maxPixels int64) (header, error) {
	var magic [8]byte
	n, err := io.ReadFull(r, magic[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return header{}, fmt.Errorf("read image header: %w", err)
	}
	h := header{format: detect(magic[:n]), orientation: 1}
	if h.format == "" {
		return header{}, errUnsupported
	}
	src := io.MultiReader(bytes.NewReader(magic[:n]), r)
	var cfg image.Config
	switch h.format {
	case FormatPNG:
		cfg, err = png.DecodeConfig(src)
	case FormatJPEG:
		cfg, err = jpeg.DecodeConfig(src)
	case FormatGIF:
		cfg, err = gif.DecodeConfig(src)
	}
	if err != nil {
		return header{}, corrupt(h.format, err)
	}
	h.width, h.height = cfg.Width, cfg.Height
	if err := checkSize(h.width, h.height, maxPixels); err != nil {
		return header{}, err
	}
	if h.format == FormatJPEG {
		h.orientation = jpegOrientation(rec.Bytes())
	}
	return h, nil
}

// checkSize applies the limits to dimensions.
func checkSize(width, height int, maxPixels int64) error {
	if width <= 0 || height <= 0 {
		return errEmptyImage
	}
	if width > MaxSide || height > MaxSide || int64(width)*int64(height) > maxPixels {
		return errTooLarge
	}
	return nil
}

// detect names the format that the first bytes announce, or "".
func detect(magic []byte) string {
	switch {
	case bytes.HasPrefix(magic, []byte("\x89PNG\r\n\x1a\n")):
		return FormatPNG
	case bytes.HasPrefix(magic, []byte("\xff\xd8\xff")):
		return FormatJPEG
	case bytes.HasPrefix(magic, []byte("GIF87a")), bytes.HasPrefix(magic, []byte("GIF89a")):
		return FormatGIF
	}
	return ""
}

// capBuffer keeps the first max bytes written to it and drops the rest
// without failing, so a TeeReader into it never breaks the read.
type capBuffer struct {
	buf []byte
	max int
}

func (c *capBuffer) Write(p []byte) (int, error) {
	if room := c.max - len(c.buf); room > 0 {
		c.buf = append(c.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (c *capBuffer) Bytes() []byte { return c.buf }
