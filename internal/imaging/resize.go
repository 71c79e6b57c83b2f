package imaging

import (
	"image"
	"math"
)

// Downscaling by area averaging (a box filter): each thumbnail pixel is the
// mean of the source area it covers, partly covered source pixels weighted
// by the fraction covered. For shrinking, which is all a thumbnail does,
// this is alias-free and as sharp as a box can be, and it needs no library.
// Averaging is done on alpha-premultiplied values, so transparent pixels do
// not bleed their (invisible) colour into their neighbours, and in the
// sRGB values as stored, as browsers and most tools scale.

// fitSize returns the largest size with the aspect ratio of w×h whose sides
// are at most maxSide; never larger than w×h and never below 1×1.
func fitSize(w, h, maxSide int) (int, int) {
	if w <= maxSide && h <= maxSide {
		return w, h
	}
	if w >= h {
		return maxSide, max(1, int(math.Round(float64(h)*float64(maxSide)/float64(w))))
	}
	return max(1, int(math.Round(float64(w)*float64(maxSide)/float64(h)))), maxSide
}

// span lists the source pixels one destination pixel averages: weights
// for source indexes first, first+1, …, summing to 1.
type span struct {
	first   int
	weights []float32
}

// boxSpans computes the spans that shrink src pixels to dst (dst ≤ src).
func boxSpans(src, dst int) []span {
	spans := make([]span, dst)
	scale := float64(src) / float64(dst)
	for i := range spans {
		lo, hi := float64(i)*scale, float64(i+1)*scale
		first := int(lo)
		last := min(int(math.Ceil(hi)), src) // exclusive
		w := make([]float32, 0, last-first)
		for j := first; j < last; j++ {
			cover := math.Min(hi, float64(j+1)) - math.Max(lo, float64(j))
			w = append(w, float32(cover/scale))
		}
		spans[i] = span{first: first, weights: w}
	}
	return spans
}

// resize shrinks the canvas area of m to w×h (w, h no larger than the
// canvas) and flattens it on white: thumbnails are JPEG, which has no
// transparency, and chat bubbles are light. Canvas pixels outside m's
// bounds (a GIF frame smaller than its screen) are transparent.
func resize(m image.Image, canvas image.Rectangle, w, h int) *image.RGBA {
	sw, sh := canvas.Dx(), canvas.Dy()
	xs, ys := boxSpans(sw, w), boxSpans(sh, h)
	rd := newRowReader(m)
	inner := m.Bounds().Intersect(canvas)
	part := 4 * (inner.Min.X - canvas.Min.X) // where inner starts in a row

	src := make([]float32, 4*sw) // one canvas row, premultiplied RGBA
	hrow := make([]float32, 4*w) // that row shrunk horizontally
	acc := make([]float32, 4*w)  // the destination row being summed
	loaded := -1                 // canvas row currently in hrow
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for y, ysp := range ys {
		clear(acc)
		for k, wy := range ysp.weights {
			sy := ysp.first + k
			if sy != loaded {
				if inner != canvas {
					clear(src)
				}
				if y := canvas.Min.Y + sy; y >= inner.Min.Y && y < inner.Max.Y {
					rd.row(y, inner.Min.X, src[part:part+4*inner.Dx()])
				}
				shrinkRow(src, hrow, xs)
				loaded = sy
			}
			for i, v := range hrow {
				acc[i] += wy * v
			}
		}
		pix := out.Pix[y*out.Stride : y*out.Stride+4*w]
		for x := 0; x < 4*w; x += 4 {
			// Over white: c + (1 − α)·255, in premultiplied 0…255 units.
			bg := 255 - acc[x+3]
			pix[x] = clamp8(acc[x] + bg)
			pix[x+1] = clamp8(acc[x+1] + bg)
			pix[x+2] = clamp8(acc[x+2] + bg)
			pix[x+3] = 255
		}
	}
	return out
}

// shrinkRow averages a source row into dst along xs.
func shrinkRow(src, dst []float32, xs []span) {
	for x, sp := range xs {
		var r, g, b, a float32
		p := src[4*sp.first:]
		for k, wt := range sp.weights {
			r += wt * p[4*k]
			g += wt * p[4*k+1]
			b += wt * p[4*k+2]
			a += wt * p[4*k+3]
		}
		dst[4*x], dst[4*x+1], dst[4*x+2], dst[4*x+3] = r, g, b, a
	}
}

func clamp8(v float32) uint8 {
	switch {
	case v <= 0:
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v + 0.5)
}

// rowReader reads rows of an image as premultiplied RGBA floats, with fast
// paths for the types the standard decoders return.
type rowReader struct {
	m       image.Image
	palette [][4]float32 // premultiplied palette of an *image.Paletted
}

func newRowReader(m image.Image) *rowReader {
	rd := &rowReader{m: m}
	if p, ok := m.(*image.Paletted); ok {
		rd.palette = make([][4]float32, 256) // indexes past the palette: transparent
		for i, c := range p.Palette {
			if i == len(rd.palette) {
				break
			}
			r, g, b, a := c.RGBA()
			rd.palette[i] = [4]float32{float32(r >> 8), float32(g >> 8), float32(b >> 8), float32(a >> 8)}
		}
	}
	return rd
}

// row fills dst (4 floats per pixel) with the pixels of row y from column
// x0 on; they must lie inside the image.
func (rd *rowReader) row(y, x0 int, dst []float32) {
	x1 := x0 + len(dst)/4
	switch m := rd.m.(type) {
	case *image.YCbCr:
		// Every JPEG photo comes here: index the planes directly rather
		// than through YOffset/COffset per pixel, and convert to RGB with
		// the JFIF formulas in floats (what the result is anyway). Values
		// are not clamped per pixel, which cost a third of the resize:
		// out-of-gamut excursions are rare and small, and the output is
		// clamped after averaging.
		cx := 1 // horizontal chroma subsampling
		switch m.SubsampleRatio {
		case image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420:
			cx = 2
		case image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410:
			cx = 4
		}
		yrow := m.Y[m.YOffset(x0, y):]
		cbase, cfirst := m.COffset(x0, y), x0/cx
		for x := x0; x < x1; x++ {
			ci := cbase + x/cx - cfirst
			yy := float32(yrow[x-x0])
			cb, cr := float32(m.Cb[ci])-128, float32(m.Cr[ci])-128
			i := 4 * (x - x0)
			dst[i] = yy + 1.402*cr
			dst[i+1] = yy - 0.344136*cb - 0.714136*cr
			dst[i+2] = yy + 1.772*cb
			dst[i+3] = 255
		}
	case *image.RGBA:
		pix := m.Pix[m.PixOffset(x0, y):]
		for i := range dst {
			dst[i] = float32(pix[i])
		}
	case *image.NRGBA:
		pix := m.Pix[m.PixOffset(x0, y):]
		for i := 0; i < len(dst); i += 4 {
			a := float32(pix[i+3])
			dst[i] = float32(pix[i]) * a / 255
			dst[i+1] = float32(pix[i+1]) * a / 255
			dst[i+2] = float32(pix[i+2]) * a / 255
			dst[i+3] = a
		}
	case *image.Gray:
		pix := m.Pix[m.PixOffset(x0, y):]
		for x := 0; x < len(dst)/4; x++ {
			v := float32(pix[x])
			dst[4*x], dst[4*x+1], dst[4*x+2], dst[4*x+3] = v, v, v, 255
		}
	case *image.Paletted:
		pix := m.Pix[m.PixOffset(x0, y):]
		for x := 0; x < len(dst)/4; x++ {
			copy(dst[4*x:4*x+4], rd.palette[pix[x]][:])
		}
	case *image.NRGBA64: // 16-bit PNG with alpha
		pix := m.Pix[m.PixOffset(x0, y):]
		for i := 0; i < len(dst); i += 4 {
			a := float32(uint16(pix[2*i+6])<<8|uint16(pix[2*i+7])) / 257
			for c := range 3 {
				v := float32(uint16(pix[2*(i+c)])<<8|uint16(pix[2*(i+c)+1])) / 257
				dst[i+c] = v * a / 255
			}
			dst[i+3] = a
		}
	case *image.RGBA64: // 16-bit PNG without alpha
		pix := m.Pix[m.PixOffset(x0, y):]
		for i := range dst {
			dst[i] = float32(uint16(pix[2*i])<<8|uint16(pix[2*i+1])) / 257
		}
	case *image.Gray16:
		pix := m.Pix[m.PixOffset(x0, y):]
		for x := 0; x < len(dst)/4; x++ {
			v := float32(uint16(pix[2*x])<<8|uint16(pix[2*x+1])) / 257
			dst[4*x], dst[4*x+1], dst[4*x+2], dst[4*x+3] = v, v, v, 255
		}
	default:
		// CMYK JPEGs and the rarer PNG layouts: slower, still exact.
		for x := x0; x < x1; x++ {
			r, g, bl, a := m.At(x, y).RGBA()
			i := 4 * (x - x0)
			dst[i], dst[i+1], dst[i+2], dst[i+3] = float32(r)/257, float32(g)/257, float32(bl)/257, float32(a)/257
		}
	}
}
