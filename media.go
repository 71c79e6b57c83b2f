package parley

import (
	"context"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Media limits.
const (
	DefaultMaxUploadBytes = 16 << 20
	// MaxImagePixels bounds width×height of an image Parley will decode
	// (for thumbnails); larger images are refused before decoding.
	MaxImagePixels = 50_000_000
	// MaxFilenameLen bounds Media.Filename, in bytes.
	MaxFilenameLen = 255
)

// Media is an uploaded image or file. Its bytes live in a BlobStore under
// the content-addressed key BlobKey; the metadata lives in the Store.
//
// Knowing a media id or its hash grants nothing: a user may read media it
// uploaded, and media that a log entry it may see carries (a thumbnail
// when it may read what the thumbnail previews).
type Media struct {
	ID          ID     `json:"id"`
	OwnerID     ID     `json:"owner_id"`
	SHA256      string `json:"sha256"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
	Filename    string `json:"filename,omitempty"`
	Width       int    `json:"width,omitempty"`
	Height      int    `json:"height,omitempty"`
	ThumbnailID ID     `json:"thumbnail_id,omitempty"`
	// ThumbnailOf is set on a thumbnail: the media it previews. Thumbnails
	// are made by the server and never carried by messages themselves.
	ThumbnailOf ID        `json:"thumbnail_of,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	BlobKey     string    `json:"-"`
}

// CleanFilename returns the name an uploader gave, fit to be stored and
// shown: only its last path element, without control characters, cut to
// MaxFilenameLen bytes; "" when nothing usable is left.
func CleanFilename(name string) string {
	name = strings.ToValidUTF8(name, "")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		// Format characters (bidi overrides and the like) could make
		// "invoice\u202Efdp.exe" show as "invoiceexe.pdf".
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '"' {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	for len(name) > MaxFilenameLen {
		_, n := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-n]
	}
	if name == "." || name == ".." {
		return ""
	}
	return name
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

// MediaReference is a log entry that carries a media object, as one user
// saw it: the entry's conversation and seq, and the user's membership of
// that conversation, from which the app decides whether the user may see
// the entry.
type MediaReference struct {
	ConversationID ID
	Seq            int64
	Member         Member
	// ExpiresAt is the entry's expiry, nil if it never expires.
	ExpiresAt *time.Time
}

// MediaCollection selects the media DeleteUnreferencedMedia deletes.
type MediaCollection struct {
	// IDs, when set, names the media to delete (whatever their age) if no
	// log entry carries them: what a recall released.
	IDs []ID
	// CreatedBefore, when IDs is empty, selects media created before it
	// that no log entry carries (uploads never sent, media whose messages
	// were recalled or removed by retention), looked at in id order after
	// AfterID, Limit of them per call.
	CreatedBefore time.Time
	AfterID       ID
	// Limit bounds how many media one call looks at; zero means 500.
	Limit int
	// Now is the time the returned blob keys are claimed at; keys claimed
	// before ReclaimBefore by a collection that never finished are claimed
	// again and returned too.
	Now, ReclaimBefore time.Time
}

// MediaCollected is what one DeleteUnreferencedMedia call did.
type MediaCollected struct {
	// Deleted counts the media deleted, thumbnails not counted.
	Deleted int
	// BlobKeys are the keys claimed for deletion: no media uses them.
	BlobKeys []string
	// Next is the AfterID of the next call of a sweep by age, 0 when the
	// sweep is complete.
	Next ID
}

// MediaStore persists media metadata. The blobs themselves are the
// BlobStore's; the MediaStore says which blob keys are in use, so a blob is
// deleted only when no media uses its key.
type MediaStore interface {
	// CreateMedia inserts m and, when thumb is not nil, thumb as its
	// thumbnail, setting their ids, m.ThumbnailID and thumb.ThumbnailOf.
	// It returns ECONFLICT, storing nothing, when the blob key of either
	// is claimed for deletion (see DeleteUnreferencedMedia): the caller
	// keeps those bytes under another key.
	CreateMedia(ctx context.Context, m, thumb *Media) error
	// Media returns the media object, or ENOTFOUND.
	Media(ctx context.Context, id ID) (*Media, error)
	// MediaByIDs returns the media objects among ids that exist, in no
	// order.
	MediaByIDs(ctx context.Context, ids []ID) ([]*Media, error)
	// MediaReferences returns up to limit log entries that carry the media
	// in conversations userID is or was a member of, each with that
	// membership.
	MediaReferences(ctx context.Context, mediaID, userID ID, limit int) ([]MediaReference, error)
	// DeleteUnreferencedMedia deletes the media that c selects and that no
	// log entry carries, with their thumbnails. The blob keys no remaining
	// media uses are claimed for deletion in the same transaction: from
	// then on CreateMedia refuses them, until ReleaseBlobKeys. It returns
	// the keys it claimed, with those it claimed again (see
	// MediaCollection).
	DeleteUnreferencedMedia(ctx context.Context, c MediaCollection) (MediaCollected, error)
	// ReleaseBlobKeys ends the claims on keys whose blobs are deleted.
	ReleaseBlobKeys(ctx context.Context, keys []string) error
}

// MediaReader reads length bytes of a media object's blob from offset (to
// the end when length is negative).
type MediaReader func(ctx context.Context, offset, length int64) (io.ReadCloser, error)

// MediaService stores uploads and serves media to those who may see it.
type MediaService interface {
	// Upload stores the bytes r holds as media of the caller, named
	// filename (which may be empty). The content type is sniffed from the
	// bytes; an image has its dimensions read from its header (EINVALID
	// for one too large to decode, or corrupt) and a thumbnail made.
	// ETOOLARGE when r holds more than the upload limit.
	Upload(ctx context.Context, c Caller, r io.Reader, filename string) (*Media, error)
	// OpenMedia returns a media object the caller may see, and a reader
	// of its bytes; ENOTFOUND for any other id.
	OpenMedia(ctx context.Context, c Caller, id ID) (*Media, MediaReader, error)
}
