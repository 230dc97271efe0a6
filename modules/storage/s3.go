package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config locates a bucket of an S3-compatible store.
type S3Config struct {
	// Endpoint is the store's URL (https://s3.eu-west-1.amazonaws.com,
	// http://127.0.0.1:9000); empty: AWS.
	Endpoint       string
	Region         string
	Bucket         string
	Key, Secret    string
	ForcePathStyle bool
	// Root prefixes every key, so that several deployments can share a bucket.
	Root string
}

// S3 stores objects in a bucket of an S3-compatible store.
type S3 struct {
	c      *minio.Client
	bucket string
	root   string
}

// partSize is the size of one part of a multipart upload: what one upload of unknown
// length holds in memory at a time.
const partSize = 8 << 20

// NewS3 connects to a bucket (it does not create it).
func NewS3(cfg S3Config) (*S3, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("storage s3: a bucket is required (STRATA_STORAGE_S3_BUCKET)")
	}
	host, secure := "s3.amazonaws.com", true
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("storage s3: endpoint %q must be an http(s) URL", cfg.Endpoint)
		}
		host, secure = u.Host, u.Scheme == "https"
	}
	lookup := minio.BucketLookupAuto
	if cfg.ForcePathStyle {
		lookup = minio.BucketLookupPath
	}
	c, err := minio.New(host, &minio.Options{Creds: credentials.NewStaticV4(cfg.Key, cfg.Secret, ""), Secure: secure,
		Region: cfg.Region, BucketLookup: lookup})
	if err != nil {
		return nil, fmt.Errorf("storage s3: %w", err)
	}
	root := strings.Trim(cfg.Root, "/")
	if root != "" {
		if err := CheckKey(root); err != nil {
			return nil, fmt.Errorf("storage s3: root: %w", err)
		}
		root += "/"
	}
	return &S3{c: c, bucket: cfg.Bucket, root: root}, nil
}

func (s *S3) key(key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", err
	}
	return s.root + key, nil
}

func notFound(err error) bool {
	code := minio.ToErrorResponse(err).Code
	return code == minio.NoSuchKey || code == "NotFound"
}

func (s *S3) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	k, err := s.key(key)
	if err != nil {
		return 0, err
	}
	// A failed multipart upload is aborted by the client: nothing is left under key.
	info, err := s.c.PutObject(ctx, s.bucket, k, r, -1, minio.PutObjectOptions{PartSize: partSize, NumThreads: 1,
		// Unsigned payloads, as the client sends over HTTPS anyway: the aws-chunked
		// signing it uses over plain HTTP is not spoken by every S3-compatible store.
		DisableContentSha256: true})
	if err != nil {
		return 0, fmt.Errorf("storage s3: put: %w", err)
	}
	return info.Size, nil
}

func (s *S3) Open(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	k, err := s.key(key)
	if err != nil {
		return nil, err
	}
	var opts minio.GetObjectOptions
	switch {
	case n == 0:
		return io.NopCloser(strings.NewReader("")), nil
	case n > 0:
		err = opts.SetRange(off, off+n-1)
	case off > 0:
		err = opts.SetRange(off, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("storage s3: %w", err)
	}
	obj, err := s.c.GetObject(ctx, s.bucket, k, opts)
	if err != nil {
		return nil, fmt.Errorf("storage s3: get: %w", err)
	}
	// The request is made on first use; Stat makes it now, so a missing object is
	// told here rather than midway through a response.
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		if notFound(err) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("storage s3: get: %w", err)
	}
	return obj, nil
}

func (s *S3) Stat(ctx context.Context, key string) (Object, error) {
	k, err := s.key(key)
	if err != nil {
		return Object{}, err
	}
	info, err := s.c.StatObject(ctx, s.bucket, k, minio.StatObjectOptions{})
	if err != nil {
		if notFound(err) {
			return Object{}, ErrNotFound
		}
		return Object{}, fmt.Errorf("storage s3: stat: %w", err)
	}
	return Object{Key: key, Size: info.Size, ModTime: info.LastModified}, nil
}

func (s *S3) Delete(ctx context.Context, key string) error {
	k, err := s.key(key)
	if err != nil {
		return err
	}
	if err := s.c.RemoveObject(ctx, s.bucket, k, minio.RemoveObjectOptions{}); err != nil && !notFound(err) {
		return fmt.Errorf("storage s3: delete: %w", err)
	}
	return nil
}

func (s *S3) List(ctx context.Context, prefix string) ([]Object, error) {
	p, err := s.key(prefix)
	if err != nil {
		return nil, err
	}
	var out []Object
	for info := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: p, Recursive: true}) {
		if info.Err != nil {
			return nil, fmt.Errorf("storage s3: list: %w", info.Err)
		}
		out = append(out, Object{Key: strings.TrimPrefix(info.Key, s.root), Size: info.Size, ModTime: info.LastModified})
	}
	return out, nil
}

func (s *S3) DeletePrefix(ctx context.Context, prefix string) error {
	if !strings.HasSuffix(prefix, "/") {
		return fmt.Errorf("storage: prefix %q must end in /", prefix)
	}
	p, err := s.key(prefix)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	listed := s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: p, Recursive: true})
	// Listed and removed in batches as the listing streams in; a failure stops here and
	// a later call resumes with whatever is left.
	for e := range s.c.RemoveObjects(ctx, s.bucket, listed, minio.RemoveObjectsOptions{}) {
		if e.Err != nil {
			return fmt.Errorf("storage s3: delete %s: %w", e.ObjectName, e.Err)
		}
	}
	return nil
}
