package imaging

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"hash/crc32"
	"image/color"
	"strings"
	"testing"
)

// ftyp returns an ISO base media file start: an ftyp box with the brands
// and the header of the box that follows.
func ftyp(major string, compatible ...string) []byte {
	size := 16 + 4*len(compatible)
	b := binary.BigEndian.AppendUint32(nil, uint32(size))
	b = append(b, "ftyp"+major+"\x00\x00\x00\x00"...)
	for _, c := range compatible {
		b = append(b, c...)
	}
	return append(b, "\x00\x00\x00\x08free"...)
}

// zipWith returns a ZIP whose first entry is a stored "mimetype" file, as
// EPUB and OpenDocument write them.
func zipWith(tb testing.TB, mimetype string, deflate bool) []byte {
	tb.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	method := zip.Store
	if deflate {
		method = zip.Deflate
	}
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "mimetype", Method: method})
	if err != nil {
		tb.Fatal(err)
	}
	w.Write([]byte(mimetype))
	w, _ = zw.Create("content.xml")
	w.Write([]byte("<doc/>"))
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// zipSized is zipWith as most EPUB tools write it: sizes in the local
// header, no data descriptor.
func zipSized(tb testing.TB, mimetype string) []byte {
	tb.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, err := zw.CreateRaw(&zip.FileHeader{
		Name:               "mimetype",
		Method:             zip.Store,
		CRC32:              crc32.ChecksumIEEE([]byte(mimetype)),
		CompressedSize64:   uint64(len(mimetype)),
		UncompressedSize64: uint64(len(mimetype)),
	})
	if err != nil {
		tb.Fatal(err)
	}
	w.Write([]byte(mimetype))
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func TestSniff(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("logs"))
	zw.Close()
	red := solid(color.NRGBA{255, 0, 0, 255})

	tests := []struct {
		name string
		head []byte
		want string
	}{
		{"Empty", nil, "application/octet-stream"},
		{"PNG", MustPNG(t, 2, 2, red), "image/png"},
		{"JPEG", MustJPEG(t, 2, 2, red), "image/jpeg"},
		{"GIF", MustGIF(t, 2, 2, func(x, y int) uint8 { return 1 }), "image/gif"},
		{"WebP", []byte("RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00"), "image/webp"},
		{"BMP", []byte("BM\x3a\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00"), "image/bmp"},
		{"TIFFLittleEndian", []byte("II*\x00\x08\x00\x00\x00"), "image/tiff"},
		{"TIFFBigEndian", []byte("MM\x00*\x00\x00\x00\x08"), "image/tiff"},
		{"HEIC", ftyp("heic", "mif1", "heic"), "image/heic"},
		{"HEICByCompatibleBrand", ftyp("mif1", "mif1", "heic", "miaf"), "image/heic"},
		{"HEIF", ftyp("mif1", "mif1", "miaf"), "image/heif"},
		{"HEICSequence", ftyp("hevc", "msf1", "hevc"), "image/heic-sequence"},
		{"AVIF", ftyp("avif", "mif1", "miaf", "MA1B"), "image/avif"},
		{"AVIFByCompatibleBrand", ftyp("mif1", "avif", "miaf"), "image/avif"},
		{"QuickTime", ftyp("qt  ", "qt  "), "video/quicktime"},
		{"MP4", ftyp("mp42", "isom", "mp42"), "video/mp4"},
		{"MP4IsomOnly", ftyp("isom", "isom", "iso2", "avc1"), "video/mp4"},
		{"M4A", ftyp("M4A ", "M4A ", "mp42", "isom"), "audio/mp4"},
		{"3GP", ftyp("3gp4", "isom", "3gp4"), "video/3gpp"},
		{"3G2", ftyp("3g2a", "3g2a"), "video/3gpp2"},
		{"FtypUnknownBrand", ftyp("zzzz"), "application/octet-stream"},
		{"WebM", []byte("\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01"), "video/webm"},
		{"OggOpus", []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x01\x02\x03\x04\x00\x00\x00\x00\x00\x00\x00\x00\x01\x13OpusHead\x01\x01"), "audio/ogg"},
		{"OggVorbis", []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x01\x02\x03\x04\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1e\x01vorbis\x00"), "audio/ogg"},
		{"OggTheora", []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x01\x02\x03\x04\x00\x00\x00\x00\x00\x00\x00\x00\x01\x2a\x80theora"), "video/ogg"},
		{"OggOther", []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00"), "application/ogg"},
		{"FLAC", []byte("fLaC\x00\x00\x00\x22"), "audio/flac"},
		{"AMR", []byte("#!AMR\n\x3c"), "audio/amr"},
		{"AMRWB", []byte("#!AMR-WB\n"), "audio/amr-wb"},
		{"AACADTS", []byte{0xff, 0xf1, 0x50, 0x80, 0x02, 0x1f, 0xfc}, "audio/aac"},
		{"MP3ID3", []byte("ID3\x04\x00\x00\x00\x00\x00\x00"), "audio/mpeg"},
		{"MP3Frame", []byte{0xff, 0xfb, 0x90, 0x64, 0x00}, "audio/mpeg"},
		{"WAV", []byte("RIFF\x24\x00\x00\x00WAVEfmt "), "audio/wave"},
		{"PDF", []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), "application/pdf"},
		{"Zip", zipWith(t, "anything/else", false), "application/zip"},
		{"ZipDeflatedMimetype", zipWith(t, "application/epub+zip", true), "application/zip"},
		{"EPUB", zipWith(t, "application/epub+zip", false), "application/epub+zip"},
		{"EPUBSized", zipSized(t, "application/epub+zip"), "application/epub+zip"},
		{"ODT", zipWith(t, "application/vnd.oasis.opendocument.text", false), "application/vnd.oasis.opendocument.text"},
		{"ZipBadMimetype", zipWith(t, "application/vnd.oasis.opendocument.x\r\nX-Evil: 1", false), "application/zip"},
		{"Gzip", gz.Bytes(), "application/x-gzip"},
		{"7z", []byte("7z\xbc\xaf\x27\x1c\x00\x04"), "application/x-7z-compressed"},
		{"Text", []byte("hello, world\n"), "text/plain; charset=utf-8"},
		{"HTML", []byte("<!DOCTYPE html><html><script>alert(1)</script>"), "text/html; charset=utf-8"},
		{"Binary", []byte{0x00, 0x01, 0x02, 0x03, 0xfe, 0x99}, "application/octet-stream"},
		{"LongHeadIsCut", append(MustPNG(t, 2, 2, red), make([]byte, 4096)...), "image/png"},
		{"BytesPastSniffLenIgnored", append([]byte(strings.Repeat("a", SniffLen)), 0xff, 0x00), "text/plain; charset=utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Sniff(tt.head); got != tt.want {
				t.Errorf("Sniff = %q, want %q", got, tt.want)
			}
		})
	}
}

// Sniff never panics, whatever it is fed, and always names a type.
func FuzzSniff(f *testing.F) {
	for _, seed := range [][]byte{ftyp("heic", "mif1"), []byte("OggS\x00"), []byte("PK\x03\x04"), {0xff, 0xf1}, nil} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		if Sniff(head) == "" {
			t.Fatal("empty content type")
		}
	})
}
