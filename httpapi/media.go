package httpapi

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"time"

	"github.com/parleyhq/parley"
)

// multipartSlack is what a multipart/form-data envelope may add to an
// upload's size before the request is refused without being read.
const multipartSlack = 16 << 10

// A multipart upload may carry a few small fields before its "file" part
// (browsers' forms do); each is skipped, but read within these bounds.
const (
	maxFormParts     = 8
	maxFormPartBytes = 1 << 10
)

// maxRanges is how many byte ranges a download honours. A request for
// more is answered with the whole content (200), which RFC 9110 allows: a
// multi-range request would open the blob once per range.
const maxRanges = 1

// upload stores a media upload: the request body itself, or the "file"
// part of a multipart/form-data body. The name comes from ?filename=, the
// part's file name, or a Content-Disposition header; the content type the
// client sends is never used.
func (h *Handler) upload(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	if h.svc.Media == nil {
		h.writeError(w, r, parley.Errorf(parley.ENOTFOUND, "no such endpoint"))
		return
	}
	if r.ContentLength > h.cfg.MaxUploadBytes+multipartSlack {
		// Refused before reading: the connection cannot be reused.
		w.Header().Set("Connection", "close")
		h.writeError(w, r, parley.Errorf(parley.ETOOLARGE, "uploads are limited to %d bytes", h.cfg.MaxUploadBytes))
		return
	}
	body := io.Reader(r.Body)
	name := r.URL.Query().Get("filename")
	if name == "" {
		if _, params, err := mime.ParseMediaType(r.Header.Get("Content-Disposition")); err == nil {
			name = params["filename"]
		}
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		r.Body = http.MaxBytesReader(w, r.Body, h.cfg.MaxUploadBytes+multipartSlack)
		part, err := filePart(r)
		if err != nil {
			w.Header().Set("Connection", "close")
			h.writeError(w, r, err)
			return
		}
		if name == "" {
			name = part.FileName()
		}
		body = part
	}
	m, err := h.svc.Media.Upload(r.Context(), c, body, name)
	if err != nil {
		if code := parley.ErrorCode(err); code == parley.ETOOLARGE || errors.Is(err, errSlowBody) {
			w.Header().Set("Connection", "close")
		}
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, m)
}

// filePart returns the "file" part of a multipart upload, skipping at
// most maxFormParts small parts before it.
func filePart(r *http.Request) (*multipart.Part, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, parley.Errorf(parley.EINVALID, "malformed multipart body")
	}
	for i := 0; ; i++ {
		part, err := mr.NextPart()
		if errors.Is(err, errSlowBody) {
			return nil, errSlowBody
		}
		if err != nil {
			return nil, parley.Errorf(parley.EINVALID, `a multipart upload needs a "file" part`)
		}
		if part.FormName() == "file" {
			return part, nil
		}
		if i >= maxFormParts {
			return nil, parley.Errorf(parley.EINVALID, `a multipart upload may have at most %d parts before its "file" part`, maxFormParts)
		}
		n, err := io.Copy(io.Discard, io.LimitReader(part, maxFormPartBytes+1))
		if errors.Is(err, errSlowBody) {
			return nil, errSlowBody
		}
		if n > maxFormPartBytes {
			return nil, parley.Errorf(parley.ETOOLARGE, "a multipart field other than \"file\" is over %d bytes", maxFormPartBytes)
		}
	}
}

func (h *Handler) media(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	h.serveMedia(w, r, c, false)
}

func (h *Handler) thumbnail(w http.ResponseWriter, r *http.Request, c parley.Caller) {
	h.serveMedia(w, r, c, true)
}

// inlineTypes are the media types a browser may show in place: images it
// renders without running anything. Everything else is served as an
// attachment, so user content never runs in the API's origin.
var inlineTypes = map[string]bool{
	"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true, "image/avif": true,
}

// serveMedia serves media (or its thumbnail) to a caller who may see it,
// with Range requests and conditional requests on the ETag, which is the
// SHA-256 of the bytes: they never change under an id.
func (h *Handler) serveMedia(w http.ResponseWriter, r *http.Request, c parley.Caller, thumb bool) {
	if h.svc.Media == nil {
		h.writeError(w, r, parley.Errorf(parley.ENOTFOUND, "no such endpoint"))
		return
	}
	id, err := pathID(r, "id")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	m, open, err := h.svc.Media.OpenMedia(ctx, c, id)
	if err == nil && thumb {
		if m.ThumbnailID == 0 {
			err = parley.Errorf(parley.ENOTFOUND, "media has no thumbnail")
		} else {
			m, open, err = h.svc.Media.OpenMedia(ctx, c, m.ThumbnailID)
		}
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if rg := r.Header.Get("Range"); rg != "" && strings.Count(rg, ",") >= maxRanges {
		r.Header.Del("Range")
	}
	etag := `"` + m.SHA256 + `"`
	content := &blobSeeker{ctx: ctx, open: open, size: m.Size}
	defer content.Close()
	// Open the blob before any header goes out, so a missing blob is an
	// error answer rather than a cut-off body; not for a request that
	// will be answered 304, nor for ranges, which open where they start.
	if r.Header.Get("Range") == "" && !strings.Contains(r.Header.Get("If-None-Match"), etag) {
		rc, err := open(ctx, 0, -1)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		content.rc = rc
	}
	hdr := w.Header()
	ct, _, err := mime.ParseMediaType(m.ContentType)
	if err != nil {
		ct = "application/octet-stream"
	}
	hdr.Set("Content-Type", m.ContentType)
	hdr.Set("ETag", etag)
	hdr.Set("Cache-Control", "private, max-age=31536000, immutable")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	disposition := "attachment"
	if inlineTypes[ct] {
		disposition = "inline"
	}
	if m.Filename != "" {
		if d := mime.FormatMediaType(disposition, map[string]string{"filename": m.Filename}); d != "" {
			disposition = d
		}
	}
	hdr.Set("Content-Disposition", disposition)
	// A download may take long, but not forever: at least the slowest
	// body rate accepted for uploads.
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(writeTimeout +
		time.Duration(float64(m.Size)/float64(h.cfg.MinBodyRate)*float64(time.Second))))
	http.ServeContent(w, r, "", m.CreatedAt, content)
}

// blobSeeker is an io.ReadSeeker over a blob that opens it where the
// reading starts, so a Range request reads only its range from the blob
// store.
type blobSeeker struct {
	ctx  context.Context
	open parley.MediaReader
	size int64
	pos  int64
	rc   io.ReadCloser
	at   int64 // where rc is
}

func (b *blobSeeker) Read(p []byte) (int, error) {
	if b.pos >= b.size {
		return 0, io.EOF
	}
	if b.rc == nil || b.at != b.pos {
		b.Close()
		rc, err := b.open(b.ctx, b.pos, -1)
		if err != nil {
			return 0, err
		}
		b.rc, b.at = rc, b.pos
	}
	n, err := b.rc.Read(p)
	b.pos += int64(n)
	b.at += int64(n)
	return n, err
}

func (b *blobSeeker) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += b.pos
	case io.SeekEnd:
		offset += b.size
	default:
		return 0, errors.New("blob seek: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("blob seek: negative position")
	}
	b.pos = offset
	return offset, nil
}

func (b *blobSeeker) Close() error {
	if b.rc == nil {
		return nil
	}
	err := b.rc.Close()
	b.rc = nil
	return err
}
