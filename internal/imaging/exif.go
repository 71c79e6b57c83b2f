package imaging

import (
	"bytes"
	"encoding/binary"
	"image"
)

// Phone cameras store pixels as the sensor saw them and record how to turn
// them in the EXIF Orientation tag; browsers apply it. A thumbnail that
// ignored it would show a portrait photo lying on its side, so the tag is
// read (only it) and applied to the thumbnail.

// jpegOrientation returns the EXIF orientation (1…8) found in the segments
// of a JPEG stream start, or 1 (as stored) when there is none or the data
// is malformed.
func jpegOrientation(b []byte) int {
	if len(b) < 4 || b[0] != 0xff || b[1] != 0xd8 {
		return 1
	}
	i := 2
	for i+4 <= len(b) {
		if b[i] != 0xff {
			return 1
		}
		marker := b[i+1]
		switch {
		case marker == 0xff: // fill byte
			i++
			continue
		case marker == 0x01 || marker >= 0xd0 && marker <= 0xd8: // no length
			i += 2
			continue
		case marker == 0xda || marker == 0xd9: // scan data or end: no EXIF after
			return 1
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return 1
		}
		seg := b[i+4 : i+2+n]
		if marker == 0xe1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			return tiffOrientation(seg[6:])
		}
		i += 2 + n
	}
	return 1
}

// tiffOrientation reads tag 0x0112 of IFD0 of a TIFF structure.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var order binary.ByteOrder
	switch string(t[:4]) {
	case "II*\x00":
		order = binary.LittleEndian
	case "MM\x00*":
		order = binary.BigEndian
	default:
		return 1
	}
	off := int64(order.Uint32(t[4:]))
	if off < 8 || off+2 > int64(len(t)) {
		return 1
	}
	count := int64(order.Uint16(t[off:]))
	for e := off + 2; e+12 <= int64(len(t)) && count > 0; e, count = e+12, count-1 {
		entry := t[e : e+12]
		if order.Uint16(entry) != 0x0112 {
			continue
		}
		// Type SHORT, one value, stored in the first two value bytes.
		if order.Uint16(entry[2:]) != 3 || order.Uint32(entry[4:]) != 1 {
			return 1
		}
		if v := int(order.Uint16(entry[8:])); v >= 1 && v <= 8 {
			return v
		}
		return 1
	}
	return 1
}

// orient returns m turned and flipped as EXIF orientation o says, so that
// it looks the way the photographer saw it.
func orient(m *image.RGBA, o int) *image.RGBA {
	if o <= 1 || o > 8 {
		return m
	}
	w, h := m.Rect.Dx(), m.Rect.Dy()
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	out := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := range dh {
		for x := range dw {
			var sx, sy int
			switch o {
			case 2: // mirrored
				sx, sy = w-1-x, y
			case 3: // upside down
				sx, sy = w-1-x, h-1-y
			case 4: // mirrored upside down
				sx, sy = x, h-1-y
			case 5: // mirrored, quarter turn
				sx, sy = y, x
			case 6: // a quarter turn clockwise to view
				sx, sy = y, h-1-x
			case 7: // mirrored, quarter turn the other way
				sx, sy = w-1-y, h-1-x
			case 8: // a quarter turn counter-clockwise to view
				sx, sy = w-1-y, x
			}
			si := m.PixOffset(m.Rect.Min.X+sx, m.Rect.Min.Y+sy)
			di := out.PixOffset(x, y)
			copy(out.Pix[di:di+4], m.Pix[si:si+4])
		}
	}
	return out
}
