package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/parleyhq/parley"
)

var _ parley.BlobStore = (*Disk)(nil)

// tmpDir is the directory under the root that holds blobs being written.
// It cannot clash with a fan-out directory, whose names have two
// characters.
const tmpDir = "tmp"

// staleTemp is the age after which NewDisk removes a leftover temporary
// file: one a crash interrupted. Younger ones may belong to another
// process writing into the same root right now (a CLI import next to a
// running server), so they are left alone.
const staleTemp = time.Hour

// Disk is a BlobStore in a directory of the local file system. A blob with
// key k lives at root/k[0:2]/k[2:4]/k, so that no directory grows to
// millions of entries.
//
// Writes go to root/tmp, are fsynced and then renamed into place, and the
// directory is fsynced after the rename: a crash leaves either the old
// blob or the new one under a key, never part of one, and a Put that
// returned nil survives a power cut.
//
// The content type is not stored: the media metadata in the Store is the
// record of what a blob is.
type Disk struct {
	root string
}

// NewDisk returns a Disk keeping its blobs under root, which is created
// (mode 0700) if missing. It removes temporary files that a crash left
// behind. The root is usually the server's data directory + "/media".
func NewDisk(root string) (*Disk, error) {
	if root == "" {
		return nil, errors.New("blob: disk root directory not set")
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("blob: disk root: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(root, tmpDir), 0o700); err != nil {
		return nil, fmt.Errorf("blob: create disk root: %w", err)
	}
	d := &Disk{root: root}
	if err := d.removeStaleTemps(); err != nil {
		return nil, err
	}
	return d, nil
}

// Root returns the directory the blobs live under.
func (d *Disk) Root() string { return d.root }

func (d *Disk) removeStaleTemps() error {
	dir := filepath.Join(d.root, tmpDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("blob: list temporary files: %w", err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < staleTemp {
			continue // gone meanwhile, or possibly in use
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("blob: remove stale temporary file: %w", err)
		}
	}
	return nil
}

// dir returns the fan-out directory of a valid key.
func (d *Disk) dir(key string) string {
	return filepath.Join(d.root, key[0:2], key[2:4])
}

// Put stores size bytes from r under key, replacing an earlier blob.
// Returns EINVALID for a bad key or a body that does not match size,
// EUNAVAILABLE when the disk is full.
func (d *Disk) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if size < 0 {
		return parley.Errorf(parley.EINVALID, "invalid blob size %d", size)
	}
	dir := d.dir(key)
	if err := d.mkdir(dir); err != nil {
		return d.fail("put", key, err)
	}
	f, err := os.CreateTemp(filepath.Join(d.root, tmpDir), "put-*")
	if err != nil {
		return d.fail("put", key, err)
	}
	renamed := false
	defer func() {
		if !renamed {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := io.Copy(f, newExactReader(ctx, r, size)); err != nil {
		return d.fail("put", key, err)
	}
	if err := f.Sync(); err != nil {
		return d.fail("put", key, err)
	}
	if err := f.Close(); err != nil {
		return d.fail("put", key, err)
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, key)); err != nil {
		return d.fail("put", key, err)
	}
	renamed = true
	// The rename is only durable once the directory entry is on disk.
	if err := syncDir(dir); err != nil {
		return d.fail("put", key, err)
	}
	return nil
}

// mkdir creates the fan-out directory dir if it is missing, and makes the
// new directory entries durable, so that a blob renamed into it is not
// lost with its directory after a crash.
func (d *Disk) mkdir(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return err
	}
	return syncDir(d.root)
}

// Open returns a reader of length bytes of the blob from offset (to the end
// if length < 0). Returns ENOTFOUND if there is no such blob, EINVALID for
// a bad key or an offset beyond the end.
func (d *Disk) Open(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if err := checkRange(offset); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(d.dir(key), key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, d.fail("open", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, d.fail("open", key, err)
	}
	size := fi.Size()
	if offset > size {
		f.Close()
		return nil, parley.Errorf(parley.EINVALID, "blob range not satisfiable: offset %d, size %d", offset, size)
	}
	n := size - offset
	if length >= 0 && length < n {
		n = length
	}
	return readCloser{io.NewSectionReader(f, offset, n), f}, nil
}

// Delete removes the blob under key; a missing blob is not an error.
// Returns EINVALID for a bad key.
func (d *Disk) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	dir := d.dir(key)
	err := os.Remove(filepath.Join(dir, key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return d.fail("delete", key, err)
	}
	// Recalled media must stay gone after a crash too.
	if err := syncDir(dir); err != nil {
		return d.fail("delete", key, err)
	}
	return nil
}

// fail names the operation and turns file-system errors into codes.
func (d *Disk) fail(op, key string, err error) error {
	switch {
	case parley.ErrorCode(err) != parley.EINTERNAL:
		return fmt.Errorf("%s blob %s: %w", op, key, err)
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return parley.WrapError(parley.EUNAVAILABLE, "media storage is full", fmt.Errorf("%s blob %s: %w", op, key, err))
	}
	return fmt.Errorf("%s blob %s: %w", op, key, err)
}

// syncDir fsyncs a directory so that entries created, renamed or removed
// in it are durable.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		// Directories cannot be opened for sync there; NTFS journals
		// metadata itself.
		return nil
	}
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
