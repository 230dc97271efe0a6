// Package storage keeps the bytes of files: named locations (local disk, S3-compatible
// stores), each a flat namespace of keys. It knows nothing of tenants or rows; the files
// service builds every key from ids it made, under the tenant's own prefix, and never
// from a client's input.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// ErrNotFound: no object has that key.
var ErrNotFound = errors.New("storage: object not found")

// Object describes a stored object.
type Object struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Backend is one location.
type Backend interface {
	// Put stores r under key, replacing what was there, and returns the bytes written.
	// A failed Put leaves nothing under key.
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	// Open reads n bytes from offset off (n < 0: to the end).
	Open(ctx context.Context, key string, off, n int64) (io.ReadCloser, error)
	Stat(ctx context.Context, key string) (Object, error)
	// Delete removes an object; a missing one is not an error.
	Delete(ctx context.Context, key string) error
	// List lists the objects whose key starts with prefix.
	List(ctx context.Context, prefix string) ([]Object, error)
	// DeletePrefix removes every object whose key starts with prefix (which ends in
	// "/"), a page at a time; it can be called again after a failure to resume.
	DeletePrefix(ctx context.Context, prefix string) error
}

// Locations are the configured backends by name; Default names the one new files go
// to unless a tenant picks another.
type Locations struct {
	Default  string
	backends map[string]Backend
	order    []string
}

// Add names a backend; the first added is the default.
func (l *Locations) Add(name string, b Backend) {
	if l.backends == nil {
		l.backends = map[string]Backend{}
	}
	if _, ok := l.backends[name]; !ok {
		l.order = append(l.order, name)
	}
	l.backends[name] = b
	if l.Default == "" {
		l.Default = name
	}
}

// Get returns the named backend.
func (l *Locations) Get(name string) (Backend, error) {
	b, ok := l.backends[name]
	if !ok {
		return nil, fmt.Errorf("storage location %q is not configured", name)
	}
	return b, nil
}

// Names lists the locations in the order they were added.
func (l *Locations) Names() []string { return append([]string(nil), l.order...) }

// keyPattern is what keys may contain: segments of letters, digits, '.', '_' and '-',
// none of them "." or "..", joined by "/".
var keyPattern = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*/?$`)

// CheckKey refuses a key that could name something outside its prefix.
func CheckKey(key string) error {
	if len(key) == 0 || len(key) > 512 || !keyPattern.MatchString(key) || strings.Contains(key, "..") {
		return fmt.Errorf("storage: invalid key %q", key)
	}
	return nil
}
