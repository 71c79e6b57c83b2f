// Package blob implements parley.BlobStore, the store of media bytes:
// Disk keeps blobs in a directory tree on the local file system (the
// single-node default), S3 keeps them in a bucket of any S3-compatible
// object store (what a cluster of stateless nodes shares).
//
// Both implementations follow the same contract, checked by the
// conformance suite in package blobtest:
//
//   - A key is 4 to 200 characters from [0-9a-z._-] whose first four are
//     [0-9a-z]. The media pipeline uses the hex SHA-256 of the content,
//     possibly with a suffix (".thumb"). Anything else is EINVALID, which
//     also rules out path traversal on disk.
//   - Put reads exactly size bytes. A body shorter or longer than size is
//     EINVALID and leaves no blob under the key (an earlier blob with that
//     key stays as it was); a blob is only ever visible whole.
//   - Open with offset ≥ 0 reads length bytes from offset, or to the end
//     when length < 0; a range running past the end is cut at the end, as
//     in HTTP. Offset equal to the size reads nothing; offset beyond the
//     size is EINVALID. A missing blob is ENOTFOUND.
//   - Delete of a missing blob succeeds.
//
// Failures of the storage itself (disk full, object store unreachable or
// overloaded) are EUNAVAILABLE, so the caller may retry; configuration
// mistakes (bad credentials, missing bucket) are internal errors whose
// details are meant for the log.
package blob

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/parleyhq/parley"
)

// Key length bounds. The upper bound keeps a disk path well under the
// 255-byte file name limit of common file systems.
const (
	minKeyLen = 4
	maxKeyLen = 200
)

// checkKey returns EINVALID unless key is a valid blob key (see the
// package doc).
func checkKey(key string) error {
	if len(key) < minKeyLen || len(key) > maxKeyLen {
		return parley.Errorf(parley.EINVALID, "invalid blob key: want %d to %d characters", minKeyLen, maxKeyLen)
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z':
		case (c == '.' || c == '_' || c == '-') && i >= minKeyLen:
			// Not in the first four: those name the fan-out directories
			// on disk, which must be plain names (never "." or "..").
		default:
			return parley.Errorf(parley.EINVALID, "invalid blob key: only [0-9a-z._-] allowed, the first %d [0-9a-z]", minKeyLen)
		}
	}
	return nil
}

// checkRange returns EINVALID for a negative offset.
func checkRange(offset int64) error {
	if offset < 0 {
		return parley.Errorf(parley.EINVALID, "invalid blob range: negative offset")
	}
	return nil
}

// errNotFound is what Open returns for a missing blob. The message is for
// clients: the key is an internal name.
var errNotFound = parley.Errorf(parley.ENOTFOUND, "media not found")

// errShortBody and errLongBody report a Put body that does not match its
// declared size: the upload was cut off, or the caller got the size wrong.
var (
	errShortBody = parley.Errorf(parley.EINVALID, "blob body shorter than its declared size")
	errLongBody  = parley.Errorf(parley.EINVALID, "blob body longer than its declared size")
)

// exactReader reads exactly n bytes from r and fails if r holds fewer or
// more. It checks for excess before handing out the last byte, so a
// consumer that stops at n bytes (an HTTP request with Content-Length n)
// never sees a complete body from a reader that was too long: the request
// fails before the server could take it as whole.
//
// Its failure can be read with Err from another goroutine: an HTTP
// transport may still be reading the body when its caller looks.
type exactReader struct {
	ctx context.Context
	r   io.Reader
	n   int64 // bytes still to hand out

	mu  sync.Mutex
	err error // sticky failure, reported again on every call
}

// Err returns the failure that ended the reading, if any.
func (e *exactReader) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// fail records err as the sticky failure and returns it.
func (e *exactReader) fail(err error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.err = err
	return err
}

func newExactReader(ctx context.Context, r io.Reader, size int64) *exactReader {
	return &exactReader{ctx: ctx, r: r, n: size}
}

func (e *exactReader) Read(p []byte) (int, error) {
	if err := e.Err(); err != nil {
		return 0, err
	}
	if err := e.ctx.Err(); err != nil {
		return 0, e.fail(err)
	}
	if e.n == 0 {
		// Size 0, or a caller reading again after the last byte.
		if err := e.probeEnd(); err != nil {
			return 0, err
		}
		return 0, io.EOF
	}
	if int64(len(p)) > e.n {
		p = p[:e.n]
	}
	nr, err := e.r.Read(p)
	e.n -= int64(nr)
	if e.n == 0 {
		if perr := e.probeEnd(); perr != nil {
			// Withhold the final bytes: the consumer must not complete.
			return 0, perr
		}
		return nr, nil
	}
	if errors.Is(err, io.EOF) {
		if nr > 0 {
			// Hand out what we have; the next call meets EOF again.
			return nr, nil
		}
		return 0, e.fail(errShortBody)
	}
	if err != nil {
		return nr, e.fail(err)
	}
	return nr, nil
}

// probeEnd checks that r has nothing after the declared size.
func (e *exactReader) probeEnd() error {
	var one [1]byte
	for range 100 {
		nr, err := e.r.Read(one[:])
		if nr > 0 {
			return e.fail(errLongBody)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return e.fail(err)
		}
		// (0, nil) is allowed by io.Reader; ask again, a few times.
	}
	return e.fail(io.ErrNoProgress)
}

// readCloser joins a reader with the Close of what it reads from.
type readCloser struct {
	io.Reader
	io.Closer
}
