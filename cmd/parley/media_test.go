package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/parleyhq/parley/internal/testenv"
)

// mediaJSON is the answer of an upload and the media of a message.
type mediaJSON struct {
	ID          string `json:"id"`
	OwnerID     string `json:"owner_id"`
	SHA256      string `json:"sha256"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
	Filename    string `json:"filename"`
	Width       int    `json:"width"`
	Height      int    `json:"height"`
	ThumbnailID string `json:"thumbnail_id"`
}

// request sends a request with a raw body and headers, and returns the
// response with its body read.
func (c *client) request(method, path string, body io.Reader, header http.Header) (*http.Response, []byte) {
	c.tb.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.tb.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.tb.Fatal(err)
	}
	return resp, b
}

// mustUpload uploads data as the request body (with a misleading content
// type: the server must not trust it) and returns the media.
func (c *client) mustUpload(data []byte, filename string) mediaJSON {
	c.tb.Helper()
	resp, b := c.request("POST", "/v1/media?filename="+filename, bytes.NewReader(data), http.Header{"Content-Type": {"text/plain"}})
	if resp.StatusCode != 201 {
		c.tb.Fatalf("upload: %d %s", resp.StatusCode, b)
	}
	var m mediaJSON
	if err := json.Unmarshal(b, &m); err != nil {
		c.tb.Fatal(err)
	}
	return m
}

// mustDownload returns the bytes of media the client may see.
func (c *client) mustDownload(path string) (*http.Response, []byte) {
	c.tb.Helper()
	resp, b := c.request("GET", path, nil, nil)
	if resp.StatusCode != 200 {
		c.tb.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return resp, b
}

func (c *client) wantNotFound(path string) {
	c.tb.Helper()
	resp, b := c.request("GET", path, nil, nil)
	if resp.StatusCode != 404 || !strings.Contains(string(b), `"not_found"`) {
		c.tb.Fatalf("GET %s = %d %s, want 404 not_found", path, resp.StatusCode, b)
	}
}

func testPNG(tb testing.TB, w, h int) []byte {
	tb.Helper()
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.Set(x, y, color.NRGBA{uint8(x * 7), uint8(y * 3), uint8(x ^ y), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// pngBomb is a small PNG whose header claims w×h pixels.
func pngBomb(w, h uint32) []byte {
	var ihdr [13]byte
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6
	chunk := append([]byte("IHDR"), ihdr[:]...)
	out := []byte("\x89PNG\r\n\x1a\n")
	out = binary.BigEndian.AppendUint32(out, 13)
	out = append(out, chunk...)
	out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(chunk))
	return append(out, make([]byte, 1024)...)
}

func sendMediaMessage(tb testing.TB, c *client, conv, typ, mediaID, cmid string) (int, []byte) {
	tb.Helper()
	body, _ := json.Marshal(map[string]string{"client_msg_id": cmid, "type": typ, "body": "look", "media_id": mediaID})
	return c.raw("POST", "/v1/conversation/"+conv+"/messages", body)
}

func TestMediaOnDisk(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxUploadBytes = 1 << 20
	testMediaEndToEnd(t, cfg, func(key string) bool {
		_, err := os.Stat(filepath.Join(cfg.mediaDir(), key[:2], key[2:4], key))
		return err == nil
	})
}

// TestMediaOnS3 runs the same walk as a node of a cluster would: media in
// a bucket of an S3-compatible service started by the test, metadata in
// PostgreSQL.
func TestMediaOnS3(t *testing.T) {
	pg := testenv.MustPostgres(t)
	backend := s3mem.New()
	if err := backend.CreateBucket("parley-media"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend, gofakes3.WithAutoBucket(false)).Server())
	t.Cleanup(srv.Close)
	cfg := testConfig(t)
	cfg.MaxUploadBytes = 1 << 20
	cfg.S3Endpoint, cfg.S3Bucket, cfg.S3PathStyle, cfg.S3Prefix = srv.URL, "parley-media", true, "node/media"
	cfg.S3AccessKey, cfg.S3SecretKey = "parley", "parley-secret"
	cfg.Store, cfg.PostgresDSN = "postgres", pg.DSN()
	objects := func() int {
		list, err := backend.ListBucket("parley-media", nil, gofakes3.ListBucketPage{})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range list.Contents {
			if !strings.HasPrefix(o.Key, "node/media/") {
				t.Errorf("object %q outside the prefix", o.Key)
			}
		}
		return len(list.Contents)
	}
	testMediaEndToEnd(t, cfg, func(key string) bool {
		_, err := backend.HeadObject("parley-media", "node/media/"+key)
		return err == nil
	})
	t.Run("BlobsInTheBucket", func(t *testing.T) {
		if n := objects(); n == 0 {
			t.Fatal("the bucket is empty")
		}
	})
}

// testMediaEndToEnd walks the media endpoints on a node; stored reports
// whether the node's blob store holds a blob.
func testMediaEndToEnd(t *testing.T, cfg Config, stored func(key string) bool) {
	m := MustRunMain(t, cfg)
	anon := newClient(t, m.Addr())
	anon.record = openAPIRecorder(t)
	alice, _ := anon.mustSignUp("alice")
	bob, bs := anon.mustSignUp("bob")
	carol, _ := anon.mustSignUp("carol")
	conv := directConversation(t, alice, bs.User.ID)
	pic := testPNG(t, 700, 350)
	big := make([]byte, 900<<10)
	rand.Read(big)

	var img, file mediaJSON
	t.Run("Upload", func(t *testing.T) {
		defer bind(t, alice)()
		img = alice.mustUpload(pic, "beach.txt")
		sum := sha256.Sum256(pic)
		if img.ContentType != "image/png" || img.SHA256 != hex.EncodeToString(sum[:]) || img.Size != int64(len(pic)) ||
			img.Width != 700 || img.Height != 350 || img.ThumbnailID == "" || img.Filename != "beach.txt" {
			t.Fatalf("upload = %+v", img)
		}
		file = alice.mustUpload(big, "random.bin")
		if file.ContentType != "application/octet-stream" || file.ThumbnailID != "" || file.Width != 0 {
			t.Fatalf("upload = %+v", file)
		}
	})
	t.Run("JPEGThumbnail", func(t *testing.T) {
		defer bind(t, alice)()
		m := image.NewRGBA(image.Rect(0, 0, 1200, 900))
		for i := range m.Pix {
			m.Pix[i] = uint8(i)
		}
		var b bytes.Buffer
		if err := jpeg.Encode(&b, m, nil); err != nil {
			t.Fatal(err)
		}
		up := alice.mustUpload(b.Bytes(), "photo")
		if up.ContentType != "image/jpeg" || up.Width != 1200 || up.Height != 900 || up.ThumbnailID == "" {
			t.Fatalf("upload = %+v", up)
		}
		_, th := alice.mustDownload("/v1/media/" + up.ID + "/thumbnail")
		cfg, format, err := image.DecodeConfig(bytes.NewReader(th))
		if err != nil || format != "jpeg" || cfg.Width != 320 || cfg.Height != 240 {
			t.Fatalf("thumbnail = %s %+v %v", format, cfg, err)
		}
	})
	t.Run("Multipart", func(t *testing.T) {
		defer bind(t, alice)()
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		mw.WriteField("caption", "ignored")
		fw, _ := mw.CreateFormFile("file", "note.txt")
		fw.Write([]byte("hello from a form\n"))
		mw.Close()
		resp, b := alice.request("POST", "/v1/media", &body, http.Header{"Content-Type": {mw.FormDataContentType()}})
		var got mediaJSON
		if resp.StatusCode != 201 || json.Unmarshal(b, &got) != nil || got.Filename != "note.txt" || got.ContentType != "text/plain; charset=utf-8" || got.Size != 18 {
			t.Fatalf("multipart upload = %d %s", resp.StatusCode, b)
		}
	})
	t.Run("RoundTripByteExact", func(t *testing.T) {
		defer bind(t, alice)()
		resp, b := alice.mustDownload("/v1/media/" + img.ID)
		if !bytes.Equal(b, pic) {
			t.Fatal("downloaded image differs from the upload")
		}
		h := resp.Header
		if h.Get("Content-Type") != "image/png" || h.Get("ETag") != `"`+img.SHA256+`"` || h.Get("X-Content-Type-Options") != "nosniff" ||
			!strings.Contains(h.Get("Cache-Control"), "private") || !strings.Contains(h.Get("Cache-Control"), "immutable") ||
			!strings.HasPrefix(h.Get("Content-Disposition"), "inline") || h.Get("Accept-Ranges") != "bytes" {
			t.Fatalf("headers = %v", h)
		}
		resp, b = alice.mustDownload("/v1/media/" + file.ID)
		if !bytes.Equal(b, big) {
			t.Fatal("downloaded file differs from the upload")
		}
		if d := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(d, "attachment") || !strings.Contains(d, "random.bin") {
			t.Fatalf("Content-Disposition = %q", d)
		}
	})
	t.Run("Range", func(t *testing.T) {
		defer bind(t, alice)()
		resp, b := alice.request("GET", "/v1/media/"+file.ID, nil, http.Header{"Range": {"bytes=1000-4999"}})
		if resp.StatusCode != 206 || !bytes.Equal(b, big[1000:5000]) || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 1000-4999/%d", len(big)) {
			t.Fatalf("range = %d %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Range"), len(b))
		}
		resp, b = alice.request("GET", "/v1/media/"+file.ID, nil, http.Header{"Range": {"bytes=-100"}})
		if resp.StatusCode != 206 || !bytes.Equal(b, big[len(big)-100:]) {
			t.Fatalf("suffix range = %d, %d bytes", resp.StatusCode, len(b))
		}
		resp, _ = alice.request("GET", "/v1/media/"+file.ID, nil, http.Header{"Range": {fmt.Sprintf("bytes=%d-", len(big)+10)}})
		if resp.StatusCode != 416 {
			t.Fatalf("unsatisfiable range = %d", resp.StatusCode)
		}
		resp, b = alice.request("GET", "/v1/media/"+img.ID, nil, http.Header{"If-None-Match": {`"` + img.SHA256 + `"`}})
		if resp.StatusCode != 304 || len(b) != 0 {
			t.Fatalf("conditional GET = %d", resp.StatusCode)
		}
	})
	t.Run("NonMembersGetNotFound", func(t *testing.T) {
		defer bind(t, bob, carol)()
		bob.wantNotFound("/v1/media/" + img.ID) // not sent yet
		bob.wantNotFound("/v1/media/" + img.ThumbnailID)
		bob.wantNotFound("/v1/media/" + img.ID + "/thumbnail")
		bob.wantNotFound("/v1/media/999999")
		bob.wantNotFound("/v1/media/nonsense")
	})
	t.Run("ImageMessage", func(t *testing.T) {
		defer bind(t, alice, bob, carol)()
		s, b := sendMediaMessage(t, alice, conv, "image", img.ID, "img-1")
		var msg struct {
			MediaID string     `json:"media_id"`
			Media   *mediaJSON `json:"media"`
		}
		if s != 201 || json.Unmarshal(b, &msg) != nil || msg.MediaID != img.ID || msg.Media == nil || msg.Media.SHA256 != img.SHA256 || msg.Media.ThumbnailID != img.ThumbnailID {
			t.Fatalf("send = %d %s", s, b)
		}
		var hist struct {
			Messages []struct {
				Media *mediaJSON `json:"media"`
			} `json:"messages"`
		}
		if s := bob.do("GET", "/v1/conversation/"+conv+"/details", nil, &hist); s != 200 || len(hist.Messages) != 1 || hist.Messages[0].Media == nil || hist.Messages[0].Media.Width != 700 {
			t.Fatalf("history = %d %+v", s, hist)
		}
		_, got := bob.mustDownload("/v1/media/" + img.ID)
		if !bytes.Equal(got, pic) {
			t.Fatal("bob's download differs")
		}
		resp, th := bob.mustDownload("/v1/media/" + img.ID + "/thumbnail")
		cfg, format, err := image.DecodeConfig(bytes.NewReader(th))
		if err != nil || format != "jpeg" || cfg.Width != 320 || cfg.Height != 160 || resp.Header.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("thumbnail = %s %+v %v (%s)", format, cfg, err, resp.Header.Get("Content-Type"))
		}
		bob.mustDownload("/v1/media/" + img.ThumbnailID)
		carol.wantNotFound("/v1/media/" + img.ID)
		carol.wantNotFound("/v1/media/" + img.ID + "/thumbnail")
	})
	t.Run("SendErrors", func(t *testing.T) {
		defer bind(t, alice, bob)()
		bobs := bob.mustUpload([]byte("bob's own file"), "")
		if s, b := sendMediaMessage(t, alice, conv, "file", bobs.ID, "e1"); s != 404 || !strings.Contains(string(b), "not_found") {
			t.Fatalf("someone else's media = %d %s", s, b)
		}
		if s, b := sendMediaMessage(t, alice, conv, "image", file.ID, "e2"); s != 400 || !strings.Contains(string(b), "invalid") {
			t.Fatalf("a file as an image = %d %s", s, b)
		}
		if s, _ := sendMediaMessage(t, alice, conv, "file", "999999", "e3"); s != 404 {
			t.Fatalf("unknown media = %d", s)
		}
	})
	t.Run("UnsafeTypesAreAttachments", func(t *testing.T) {
		defer bind(t, alice)()
		html := alice.mustUpload([]byte("<html><script>alert(1)</script></html>"), "page.png")
		if !strings.HasPrefix(html.ContentType, "text/html") {
			t.Fatalf("sniffed %q", html.ContentType)
		}
		resp, _ := alice.mustDownload("/v1/media/" + html.ID)
		if !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("headers = %v", resp.Header)
		}
	})
	t.Run("ErrTooLarge", func(t *testing.T) {
		defer bind(t, alice)()
		resp, b := alice.request("POST", "/v1/media", bytes.NewReader(make([]byte, 1<<20+1)), nil)
		if resp.StatusCode != 413 || !strings.Contains(string(b), `"too_large"`) {
			t.Fatalf("oversize = %d %s", resp.StatusCode, b)
		}
		// A request that announces its size is refused before it is read.
		resp, b = alice.request("POST", "/v1/media", io.LimitReader(zeros{}, 8<<20), http.Header{"Content-Length": {fmt.Sprint(8 << 20)}})
		if resp.StatusCode != 413 || !strings.Contains(string(b), `"too_large"`) {
			t.Fatalf("announced oversize = %d %s", resp.StatusCode, b)
		}
	})
	t.Run("ErrDecompressionBomb", func(t *testing.T) {
		defer bind(t, alice)()
		resp, b := alice.request("POST", "/v1/media", bytes.NewReader(pngBomb(100_000, 100_000)), nil)
		if resp.StatusCode != 400 || !strings.Contains(string(b), "too large") {
			t.Fatalf("bomb = %d %s", resp.StatusCode, b)
		}
	})
	t.Run("ErrUnauthenticated", func(t *testing.T) {
		defer bind(t, anon)()
		resp, _ := anon.request("POST", "/v1/media", strings.NewReader("x"), nil)
		if resp.StatusCode != 401 {
			t.Fatalf("anonymous upload = %d", resp.StatusCode)
		}
		resp, _ = anon.request("GET", "/v1/media/"+img.ID, nil, nil)
		if resp.StatusCode != 401 {
			t.Fatalf("anonymous download = %d", resp.StatusCode)
		}
	})
	t.Run("RecallReleases", func(t *testing.T) {
		defer bind(t, alice, bob)()
		gone := alice.mustUpload(testPNG(t, 40, 40), "gone.png")
		s, b := sendMediaMessage(t, alice, conv, "image", gone.ID, "to-recall")
		var msg message
		if s != 201 || json.Unmarshal(b, &msg) != nil {
			t.Fatalf("send = %d %s", s, b)
		}
		bob.mustDownload("/v1/media/" + gone.ID)
		if !stored(gone.SHA256) {
			t.Fatal("the blob is not where the store keeps blobs")
		}
		alice.want("DELETE", "/v1/conversation/"+conv+"/messages/"+msg.ID, nil, 200, "")
		waitFor(t, "the recalled image to go", func() bool {
			resp, _ := alice.request("GET", "/v1/media/"+gone.ID, nil, nil)
			return resp.StatusCode == 404
		})
		bob.wantNotFound("/v1/media/" + gone.ID)
		bob.wantNotFound("/v1/media/" + gone.ThumbnailID)
		// The row goes first, then the blob.
		waitFor(t, "the recalled image's blob to be deleted", func() bool { return !stored(gone.SHA256) })
	})
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
