package imaging

import (
	"bytes"
	"encoding/binary"
	"net/http"
	"strings"
)

// SniffLen is how many leading bytes Sniff needs to see when the content
// has that many; more are ignored.
const SniffLen = 512

// Sniff returns the content type of content from its first bytes (head,
// ideally SniffLen of them), never from what the uploader claimed. It
// knows what http.DetectContentType knows, plus what phones send that
// DetectContentType misses: HEIC/HEIF and AVIF photos, QuickTime and
// non-"mp4"-branded MP4 videos, M4A, Ogg Opus/Vorbis, AMR, AAC and MP3
// voice notes, FLAC, TIFF, 7z, EPUB and OpenDocument. Unknown binary is
// "application/octet-stream"; text types carry a charset parameter.
//
// Text that is HTML (or SVG, which DetectContentType reports as text/xml)
// is reported as such: it is for the caller to serve user content so that
// a browser never runs it (as an attachment, with nosniff).
func Sniff(head []byte) string {
	if len(head) > SniffLen {
		head = head[:SniffLen]
	}
	if len(head) == 0 {
		return "application/octet-stream"
	}
	if ct := sniffISOBMFF(head); ct != "" {
		return ct
	}
	for _, s := range sniffers {
		if bytes.HasPrefix(head, []byte(s.prefix)) {
			if s.more == nil {
				return s.ct
			}
			if ct := s.more(head); ct != "" {
				return ct
			}
		}
	}
	if ct := sniffMPEGAudio(head); ct != "" {
		return ct
	}
	return http.DetectContentType(head)
}

// sniffer recognises a prefix; more, if set, looks further and returns ""
// to leave the decision to the next sniffers.
type sniffer struct {
	prefix string
	ct     string
	more   func(head []byte) string
}

var sniffers = []sniffer{
	{prefix: "OggS\x00", more: sniffOgg},
	{prefix: "fLaC", ct: "audio/flac"},
	{prefix: "#!AMR\n", ct: "audio/amr"},
	{prefix: "#!AMR-WB\n", ct: "audio/amr-wb"},
	{prefix: "II*\x00", ct: "image/tiff"},
	{prefix: "MM\x00*", ct: "image/tiff"},
	{prefix: "7z\xbc\xaf\x27\x1c", ct: "application/x-7z-compressed"},
	{prefix: "PK\x03\x04", more: sniffZipMimetype},
}

// sniffOgg tells audio from video in an Ogg stream by its first codec
// header, which sits in the first page.
func sniffOgg(head []byte) string {
	switch {
	case bytes.Contains(head, []byte("OpusHead")), bytes.Contains(head, []byte("\x01vorbis")),
		bytes.Contains(head, []byte("\x7fFLAC")), bytes.Contains(head, []byte("Speex   ")):
		return "audio/ogg"
	case bytes.Contains(head, []byte("\x80theora")):
		return "video/ogg"
	}
	return "application/ogg"
}

// sniffZipMimetype recognises the ZIP containers that declare their type
// in a first, stored entry named "mimetype" (EPUB, OpenDocument).
func sniffZipMimetype(head []byte) string {
	if len(head) < 30 {
		return ""
	}
	flags := binary.LittleEndian.Uint16(head[6:])
	method := binary.LittleEndian.Uint16(head[8:])
	size := int(binary.LittleEndian.Uint32(head[18:]))
	nameLen := int(binary.LittleEndian.Uint16(head[26:]))
	extraLen := int(binary.LittleEndian.Uint16(head[28:]))
	start := 30 + nameLen + extraLen
	if method != 0 || start > len(head) || string(head[30:min(30+nameLen, len(head))]) != "mimetype" {
		return ""
	}
	if flags&0x08 != 0 && size == 0 {
		// Sizes follow the data (a streaming writer): the stored text
		// runs up to the data descriptor or the next header.
		size = bytes.Index(head[start:], []byte("PK"))
	}
	if size <= 0 || start+size > len(head) {
		return ""
	}
	mt := string(head[start : start+size])
	if mt == "application/epub+zip" || strings.HasPrefix(mt, "application/vnd.oasis.opendocument.") && isToken(mt) {
		return mt
	}
	return ""
}

// isToken reports whether s is a plain media type (no spaces, no controls).
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == ';' {
			return false
		}
	}
	return true
}

// sniffISOBMFF reads the ftyp box that opens MP4, QuickTime, HEIF and AVIF
// files (ISO base media file format) and names the type from its brands.
func sniffISOBMFF(head []byte) string {
	if len(head) < 12 || string(head[4:8]) != "ftyp" {
		return ""
	}
	size := int(binary.BigEndian.Uint32(head))
	if size < 16 || size%4 != 0 {
		size = 16 // only the major brand is trusted then
	}
	box := head[8:min(size, len(head))]
	major := string(box[:4])
	var compatible []string
	for i := 8; i+4 <= len(box); i += 4 {
		compatible = append(compatible, string(box[i:i+4]))
	}
	has := func(brands ...string) bool {
		for _, b := range brands {
			if major == b {
				return true
			}
			for _, c := range compatible {
				if c == b {
					return true
				}
			}
		}
		return false
	}
	// Image brands first: a HEIC photo may also list video brands.
	switch {
	case major == "avif" || major == "avis" || major == "mif1" && has("avif"):
		return "image/avif"
	case has("heic", "heix", "heim", "heis"):
		return "image/heic"
	case has("hevc", "hevx"):
		return "image/heic-sequence"
	case has("mif1"):
		return "image/heif"
	case has("msf1"):
		return "image/heif-sequence"
	case major == "qt  ":
		return "video/quicktime"
	case major == "M4A " || major == "M4B " || major == "M4P ":
		return "audio/mp4"
	case strings.HasPrefix(major, "3gp"), strings.HasPrefix(major, "3ge"), strings.HasPrefix(major, "3gg"):
		return "video/3gpp"
	case strings.HasPrefix(major, "3g2"):
		return "video/3gpp2"
	case has("isom", "iso2", "iso3", "iso4", "iso5", "iso6", "mp41", "mp42", "avc1", "M4V ", "dash", "MSNV", "f4v "):
		return "video/mp4"
	}
	return ""
}

// sniffMPEGAudio recognises an MP3 (or other MPEG audio) frame header and
// an AAC ADTS header at the very start, as voice recorders write them
// without an ID3 tag.
func sniffMPEGAudio(head []byte) string {
	if len(head) < 4 || head[0] != 0xff {
		return ""
	}
	switch {
	case head[1]&0xf6 == 0xf0 && (head[2]>>2)&0x0f < 13: // ADTS: sync, layer 0, valid rate
		return "audio/aac"
	case head[1]&0xe0 == 0xe0 && head[1]&0x18 != 0x08 && head[1]&0x06 != 0 &&
		head[2]>>4 != 0x0f && head[2]>>4 != 0 && (head[2]>>2)&3 != 3: // frame sync, valid version/layer/bitrate/rate
		return "audio/mpeg"
	}
	return ""
}
