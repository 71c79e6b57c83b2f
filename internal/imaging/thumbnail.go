package imaging

import (
	"bytes"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"github.com/parleyhq/parley"
)

// Thumbnail settings.
const (
	// DefaultThumbnailSide is the longest side of a thumbnail when the
	// caller asks for none: enough for a chat bubble on a dense screen.
	DefaultThumbnailSide = 320
	// ThumbnailContentType is the type of every thumbnail.
	ThumbnailContentType = "image/jpeg"
	// thumbnailQuality is the JPEG quality: previews, not archives.
	thumbnailQuality = 80
)

// Thumbnail decodes a PNG, JPEG or GIF image (its first frame) from r and
// returns a JPEG of it shrunk to fit maxSide × maxSide (DefaultThumbnailSide
// if maxSide ≤ 0), with its aspect ratio kept, its EXIF orientation applied
// and its metadata dropped, and the thumbnail's width and height. An image
// that already fits keeps its size. Transparent areas are flattened on
// white, so that every thumbnail is one small JPEG.
//
// The header is checked first, as by Inspect: an image over the limits is
// refused (EINVALID, "image dimensions too large") before it is decoded.
// Bytes that are not a supported image, or a corrupt one, give EINVALID.
// Decoding holds the whole image in memory, up to 4 bytes per pixel of
// parley.MaxImagePixels, so callers bound how many run at once.
func Thumbnail(r io.Reader, maxSide int) (jpg []byte, width, height int, err error) {
	return thumbnail(r, maxSide, parley.MaxImagePixels)
}

func thumbnail(r io.Reader, maxSide int, maxPixels int64) (jpg []byte, width, height int, err error) {
	defer func() {
		// The standard decoders are fuzzed upstream, but should one still
		// panic on some input, that costs one thumbnail, not the server.
		if p := recover(); p != nil {
			jpg, width, height = nil, 0, 0
			err = fmt.Errorf("imaging: thumbnail: panic: %v", p)
		}
	}()
	if maxSide <= 0 {
		maxSide = DefaultThumbnailSide
	}
	// What reading the header consumes is recorded and replayed to the
	// full decoder, so r is read once and need not seek.
	var rec bytes.Buffer
	h, err := readHeader(io.TeeReader(r, &rec), &rec, maxPixels)
	if err != nil {
		return nil, 0, 0, err
	}
	all := io.MultiReader(&rec, r)
	var m image.Image
	switch h.format {
	case FormatPNG:
		m, err = png.Decode(all)
	case FormatJPEG:
		m, err = jpeg.Decode(all)
	case FormatGIF:
		m, err = gif.Decode(all) // the first frame only
	}
	if err != nil {
		return nil, 0, 0, corrupt(h.format, err)
	}
	// The thumbnail shows the whole image as the header describes it: for
	// a GIF, the logical screen, which its first frame may not cover.
	canvas := m.Bounds()
	if h.format == FormatGIF {
		canvas = image.Rect(0, 0, h.width, h.height)
	}
	if err := checkSize(canvas.Dx(), canvas.Dy(), maxPixels); err != nil {
		return nil, 0, 0, err
	}
	w, ht := fitSize(canvas.Dx(), canvas.Dy(), maxSide)
	small := orient(resize(m, canvas, w, ht), h.orientation)
	var out bytes.Buffer
	if err := jpeg.Encode(&out, small, &jpeg.Options{Quality: thumbnailQuality}); err != nil {
		return nil, 0, 0, fmt.Errorf("imaging: encode thumbnail: %w", err)
	}
	return out.Bytes(), small.Rect.Dx(), small.Rect.Dy(), nil
}
