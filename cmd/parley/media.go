package main

import (
	"context"
	"fmt"
	"os"
	"syscall"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/blob"
)

// openBlobs opens the media blob store: an S3-compatible bucket when one
// is configured, else a directory of the data dir. It also empties the
// directory uploads are checked in, of what a crash left there.
func (m *Main) openBlobs() (parley.BlobStore, error) {
	cfg := m.Config
	if err := os.RemoveAll(cfg.uploadDir()); err != nil {
		return nil, fmt.Errorf("clear upload directory: %w", err)
	}
	if err := os.MkdirAll(cfg.uploadDir(), 0o700); err != nil {
		return nil, fmt.Errorf("create upload directory: %w", err)
	}
	if cfg.S3Endpoint == "" {
		return blob.NewDisk(cfg.mediaDir())
	}
	s, err := blob.NewS3(blob.S3Config{
		Endpoint:     cfg.S3Endpoint,
		PathStyle:    cfg.S3PathStyle,
		Region:       cfg.S3Region,
		Bucket:       cfg.S3Bucket,
		AccessKey:    cfg.S3AccessKey,
		SecretKey:    cfg.S3SecretKey,
		SessionToken: cfg.Ops.S3SessionToken,
		Credentials:  m.s3Credentials(),
		Prefix:       cfg.S3Prefix,
	})
	if err != nil {
		return nil, err
	}
	m.closers = append(m.closers, s.Close)
	return s, nil
}

// s3Credentials is nil with static keys, else the standard AWS chain:
// environment, ECS task role, EC2 instance role.
func (m *Main) s3Credentials() func(context.Context) (blob.Credentials, error) {
	if m.Config.S3AccessKey != "" {
		return nil
	}
	return blob.AWSCredentials(blob.AWSChainConfig{Getenv: m.Getenv})
}

// freeSpace returns the bytes available to the server on the file system
// that holds dir.
func freeSpace(dir string) func() (int64, error) {
	return func() (int64, error) {
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err != nil {
			return 0, fmt.Errorf("statfs %s: %w", dir, err)
		}
		return int64(st.Bavail) * int64(st.Bsize), nil
	}
}
