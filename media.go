package parley

import (
	"context"
	"io"
	"time"
)

// Media limits.
const (
	DefaultMaxUploadBytes = 16 << 20
	// MaxImagePixels bounds width×height of an image Parley will decode
	// (for thumbnails); larger images are refused before decoding.
	MaxImagePixels = 50_000_000
)

// Media is an uploaded image or file. Its bytes live in a BlobStore under
// the content-addressed key BlobKey; the metadata lives in the Store.
type Media struct {
	ID          ID        `json:"id"`
	OwnerID     ID        `json:"owner_id"`
	SHA256      string    `json:"sha256"`
	Size        int64     `json:"size"`
	ContentType string    `json:"content_type"`
	Filename    string    `json:"filename,omitempty"`
	Width       int       `json:"width,omitempty"`
	Height      int       `json:"height,omitempty"`
	ThumbnailID ID        `json:"thumbnail_id,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	BlobKey     string    `json:"-"`
}

// BlobStore keeps media bytes by key. Implementations: local disk and
// S3-compatible services (package blob).
type BlobStore interface {
	// Put stores size bytes read from r under key, replacing any earlier
	// blob with that key.
	Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error
	// Open returns a reader of length bytes of the blob starting at offset;
	// a negative length reads to the end. Returns ENOTFOUND if there is no
	// such blob.
	Open(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	// Delete removes the blob; deleting a missing blob is not an error.
	Delete(ctx context.Context, key string) error
}
