package app

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"strings"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/imaging"
)

var (
	errNoMedia       = parley.Errorf(parley.ENOTFOUND, "media not found")
	errMediaDisabled = parley.Errorf(parley.EUNAVAILABLE, "media storage is not configured")
)

// mediaReferenceLimit bounds the log entries looked at to decide whether a
// user may see a media object: one visible entry is enough, and a media
// object is rarely sent more than a few times.
const mediaReferenceLimit = 100

// reclaimAfter is how long a blob key claimed for deletion stays with the
// collection that claimed it; after that a later one deletes it (the first
// one stopped half-way).
const reclaimAfter = 10 * time.Minute

// headBuffer keeps the first bytes written to it, for sniffing.
type headBuffer struct{ b []byte }

func (h *headBuffer) Write(p []byte) (int, error) {
	if room := imaging.SniffLen - len(h.b); room > 0 {
		h.b = append(h.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// Upload implements parley.MediaService. The bytes are spooled to a
// temporary file while their SHA-256 is computed, so nothing is decided
// from what the client claims and nothing of size is held in memory; an
// image's header is read before any decoding, and only an image within
// parley.MaxImagePixels is decoded for its thumbnail (a few at a time).
// The metadata is stored before the blobs, so a blob never exists without
// a row that a collection would find.
func (a *App) Upload(ctx context.Context, c parley.Caller, r io.Reader, filename string) (*parley.Media, error) {
	if a.blobs == nil {
		return nil, errMediaDisabled
	}
	if err := a.checkFreeSpace(); err != nil {
		return nil, err
	}
	limit := a.cfg.MaxUploadBytes
	quotaKey := c.UserID.String()
	left, wait := a.uploads.left(quotaKey)
	if left == 0 {
		return nil, tooMany(wait, "you reached your daily upload quota; try again later")
	}
	quotaBound := left >= 0 && left < limit
	if quotaBound {
		limit = left
	}
	f, err := os.CreateTemp(a.cfg.TempDir, "upload-*")
	if err != nil {
		return nil, parley.WrapError(parley.EUNAVAILABLE, "cannot store uploads right now", err)
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	sum := sha256.New()
	var head headBuffer
	n, err := io.Copy(io.MultiWriter(f, sum, &head), io.LimitReader(r, limit+1))
	switch {
	case errors.As(err, new(*parley.Error)):
		// Said by the transport (over a limit, arriving too slowly).
		return nil, err
	case err != nil && ctx.Err() == nil && !isDiskError(err):
		return nil, parley.WrapError(parley.EINVALID, "the upload could not be read", err)
	case err != nil:
		return nil, parley.WrapError(parley.EUNAVAILABLE, "cannot store uploads right now", err)
	case n > limit && quotaBound:
		return nil, tooMany(time.Duration(float64(n-limit)/float64(a.cfg.UploadQuota)*float64(24*time.Hour)),
			"this upload is over what is left of your daily upload quota (%d bytes); try again later", limit)
	case n > limit:
		return nil, parley.Errorf(parley.ETOOLARGE, "uploads are limited to %d bytes", limit)
	case n == 0:
		return nil, parley.Errorf(parley.EINVALID, "the upload is empty")
	}
	now := a.now.Now()
	hash := hex.EncodeToString(sum.Sum(nil))
	m := &parley.Media{OwnerID: c.UserID, SHA256: hash, Size: n, ContentType: imaging.Sniff(head.b),
		Filename: parley.CleanFilename(filename), CreatedAt: now, BlobKey: hash}
	var thumb *parley.Media
	var thumbBytes []byte
	if isDecodable(m.ContentType) {
		thumb, thumbBytes, err = a.inspectImage(ctx, f, m)
		if err != nil {
			return nil, err
		}
	}
	// Charged before storing, so that concurrent uploads see it.
	a.uploads.charge(quotaKey, float64(n))
	if err := a.storeMediaRows(ctx, m, thumb); err != nil {
		a.uploads.charge(quotaKey, -float64(n))
		return nil, err
	}
	if err := a.putBlobs(ctx, f, m, thumb, thumbBytes); err != nil {
		a.uploads.charge(quotaKey, -float64(n))
		// The rows name blobs that may be missing: take them back.
		a.releaseMedia(detach(ctx), []parley.ID{m.ID})
		return nil, err
	}
	return m, nil
}

// lowDiskRetryAfter is the wait suggested while uploads are paused for
// want of disk space.
const lowDiskRetryAfter = time.Minute

// checkFreeSpace refuses uploads while the data disk is below its floor:
// uploads are the first thing to go, so that messages keep being stored.
func (a *App) checkFreeSpace() error {
	if a.free == nil || a.cfg.MinFreeBytes <= 0 {
		return nil
	}
	free, err := a.free()
	if err != nil {
		a.logger.Warn("read free disk space", "err", err)
		return nil
	}
	if free < a.cfg.MinFreeBytes+a.cfg.MaxUploadBytes {
		return &parley.Error{Code: parley.EUNAVAILABLE, Message: "the server is low on storage; uploads are paused", RetryAfter: lowDiskRetryAfter}
	}
	return nil
}

// isDecodable reports whether the imaging package reads the content type.
func isDecodable(contentType string) bool {
	switch contentType {
	case "image/png", "image/jpeg", "image/gif":
		return true
	}
	return false
}

// isDiskError reports whether a copy failed on the temporary file rather
// than on the upload.
func isDiskError(err error) bool {
	var pe *os.PathError
	return errors.As(err, &pe)
}

// inspectImage reads the image's dimensions from its header, refusing
// one too large to decode, and makes its thumbnail.
func (a *App) inspectImage(ctx context.Context, f *os.File, m *parley.Media) (*parley.Media, []byte, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, nil, err
	}
	_, w, h, err := imaging.Inspect(bufio.NewReader(f))
	if err != nil {
		return nil, nil, err
	}
	m.Width, m.Height = w, h
	select {
	case a.thumbs <- struct{}{}:
		defer func() { <-a.thumbs }()
	case <-ctx.Done():
		return nil, nil, parley.WrapError(parley.EUNAVAILABLE, "upload abandoned", ctx.Err())
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, nil, err
	}
	jpg, tw, th, err := imaging.Thumbnail(bufio.NewReader(f), a.cfg.ThumbnailSide)
	if err != nil {
		return nil, nil, err
	}
	sum := sha256.Sum256(jpg)
	key := hex.EncodeToString(sum[:])
	return &parley.Media{OwnerID: m.OwnerID, SHA256: key, Size: int64(len(jpg)), ContentType: imaging.ThumbnailContentType,
		Width: tw, Height: th, CreatedAt: m.CreatedAt, BlobKey: key}, jpg, nil
}

// storeMediaRows stores the metadata. A blob key that a collection is
// deleting right now cannot be used: those bytes then go under a key of
// their own, the hash and a random suffix.
func (a *App) storeMediaRows(ctx context.Context, m, thumb *parley.Media) error {
	err := a.store.CreateMedia(ctx, m, thumb)
	if parley.ErrorCode(err) != parley.ECONFLICT {
		return err
	}
	var b [8]byte
	rand.Read(b[:])
	suffix := "." + hex.EncodeToString(b[:])
	m.BlobKey = m.SHA256 + suffix
	if thumb != nil {
		thumb.BlobKey = thumb.SHA256 + suffix
	}
	return a.store.CreateMedia(ctx, m, thumb)
}

func (a *App) putBlobs(ctx context.Context, f *os.File, m, thumb *parley.Media, thumbBytes []byte) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := a.blobs.Put(ctx, m.BlobKey, f, m.Size, m.ContentType); err != nil {
		return err
	}
	if thumb == nil {
		return nil
	}
	return a.blobs.Put(ctx, thumb.BlobKey, bytes.NewReader(thumbBytes), thumb.Size, thumb.ContentType)
}

// OpenMedia implements parley.MediaService.
func (a *App) OpenMedia(ctx context.Context, c parley.Caller, id parley.ID) (*parley.Media, parley.MediaReader, error) {
	if a.blobs == nil {
		return nil, nil, errNoMedia
	}
	m, err := a.store.Media(ctx, id)
	if parley.ErrorCode(err) == parley.ENOTFOUND {
		return nil, nil, errNoMedia
	}
	if err != nil {
		return nil, nil, err
	}
	subject := m
	if m.ThumbnailOf != 0 {
		if subject, err = a.store.Media(ctx, m.ThumbnailOf); parley.ErrorCode(err) == parley.ENOTFOUND {
			return nil, nil, errNoMedia
		} else if err != nil {
			return nil, nil, err
		}
	}
	ok, err := a.mayRead(ctx, c, subject)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, errNoMedia
	}
	key := m.BlobKey
	return m, func(ctx context.Context, offset, length int64) (io.ReadCloser, error) {
		return a.blobs.Open(ctx, key, offset, length)
	}, nil
}

// mayRead reports whether the user may read the media: carried by a log
// entry the user may see that has not expired, or its own upload unless
// it went out in a message that expired (the media vanishes with it).
func (a *App) mayRead(ctx context.Context, c parley.Caller, m *parley.Media) (bool, error) {
	refs, err := a.store.MediaReferences(ctx, m.ID, c.UserID, mediaReferenceLimit)
	if err != nil {
		return false, err
	}
	now := a.now.Now()
	expired := false
	for _, r := range refs {
		if r.ExpiresAt != nil && !r.ExpiresAt.After(now) {
			expired = true
			continue
		}
		if r.Member.Visible(r.Seq) {
			return true, nil
		}
	}
	return m.OwnerID == c.UserID && !expired, nil
}

// sendableMedia returns the media a send names, which must be the
// sender's own upload (ENOTFOUND otherwise: someone else's id grants
// nothing) and, for an image message, an image.
func (a *App) sendableMedia(ctx context.Context, c parley.Caller, req *parley.SendRequest) (*parley.Media, error) {
	m, err := a.store.Media(ctx, req.MediaID)
	if parley.ErrorCode(err) == parley.ENOTFOUND {
		return nil, errNoMedia
	}
	if err != nil {
		return nil, err
	}
	if m.OwnerID != c.UserID || m.ThumbnailOf != 0 {
		return nil, errNoMedia
	}
	if req.Type == parley.ImageMessage && !strings.HasPrefix(m.ContentType, "image/") {
		return nil, parley.Errorf(parley.EINVALID, "media %s is %s, not an image: send it as a file", m.ID, m.ContentType)
	}
	return m, nil
}

// attachMedia fills in the media metadata of the messages that carry
// media; a media object that is gone leaves Media nil.
func (a *App) attachMedia(ctx context.Context, ms []*parley.Message) error {
	var ids []parley.ID
	for _, m := range ms {
		if m != nil && m.MediaID != 0 && m.Media == nil {
			ids = append(ids, m.MediaID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	media, err := a.store.MediaByIDs(ctx, ids)
	if err != nil {
		return err
	}
	byID := make(map[parley.ID]*parley.Media, len(media))
	for _, x := range media {
		byID[x.ID] = x
	}
	for _, m := range ms {
		if m != nil && m.MediaID != 0 && m.Media == nil {
			m.Media = byID[m.MediaID]
		}
	}
	return nil
}

// releaseMedia deletes media no log entry carries any more (after a
// recall, or an upload that failed half-way) and their blobs.
func (a *App) releaseMedia(ctx context.Context, ids []parley.ID) {
	now := a.now.Now()
	got, err := a.store.DeleteUnreferencedMedia(ctx, parley.MediaCollection{IDs: ids, Now: now, ReclaimBefore: now.Add(-reclaimAfter)})
	if err != nil {
		a.logger.Warn("release media", "media", ids, "err", err)
		return
	}
	a.deleteBlobs(ctx, got.BlobKeys)
}

// deleteBlobs deletes claimed blobs and ends the claims of those it
// deleted; a key whose blob could not be deleted stays claimed and a
// later collection deletes it.
func (a *App) deleteBlobs(ctx context.Context, keys []string) {
	done := keys[:0:0]
	for _, k := range keys {
		if err := a.blobs.Delete(ctx, k); err != nil {
			a.logger.Warn("delete blob", "key", k, "err", err)
			continue
		}
		done = append(done, k)
	}
	a.stats.BlobsDeleted.Add(uint64(len(done)))
	if err := a.store.ReleaseBlobKeys(ctx, done); err != nil {
		a.logger.Warn("release blob keys", "err", err)
	}
}

// CollectMedia deletes the media that no log entry carries and that are
// older than the media grace period (uploads never sent, media of
// recalled messages or of messages removed by retention), and the blobs no
// media uses any more. It returns how many media it deleted.
func (a *App) CollectMedia(ctx context.Context) (int, error) {
	if a.blobs == nil {
		return 0, nil
	}
	now := a.now.Now()
	c := parley.MediaCollection{CreatedBefore: now.Add(-a.cfg.MediaGrace), Now: now, ReclaimBefore: now.Add(-reclaimAfter)}
	total := 0
	for {
		got, err := a.store.DeleteUnreferencedMedia(ctx, c)
		if err != nil {
			return total, err
		}
		total += got.Deleted
		a.deleteBlobs(ctx, got.BlobKeys)
		if got.Next == 0 || ctx.Err() != nil {
			return total, ctx.Err()
		}
		c.AfterID, c.ReclaimBefore = got.Next, time.Time{}
	}
}

// RunMediaCollection collects media at start and then every interval until
// ctx ends. Every node may run it: claims keep concurrent runs apart.
func (a *App) RunMediaCollection(ctx context.Context, interval time.Duration) {
	every(ctx, interval, func() {
		n, err := a.CollectMedia(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			a.logger.Warn("media collection", "err", err)
		case n > 0:
			a.logger.Info("media collection removed unused media", "media", n)
		}
	})
}

// janitor releases the media of recalled messages in the background, so a
// recall does not wait for the blob store.
func (a *App) janitor(ctx context.Context) {
	defer close(a.janitorDone)
	for id := range a.released {
		if ctx.Err() != nil {
			continue // closing: drain without work
		}
		rctx, cancel := context.WithTimeout(ctx, time.Minute)
		a.releaseMedia(rctx, []parley.ID{id})
		cancel()
	}
}

// release queues the media of a recalled message for release; when the
// queue is full the periodic collection gets to it.
func (a *App) release(id parley.ID) {
	a.closeMu.RLock()
	defer a.closeMu.RUnlock()
	if a.closed || a.blobs == nil {
		return
	}
	select {
	case a.released <- id:
	default:
	}
}
