package files

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"strata/modules/access"
	"strata/modules/apierr"
	"strata/modules/records"
	"strata/modules/storage"
)

// A resumable upload (the tus protocol's) is kept in the tenant's default location while
// it arrives: its description in uploads/{id}/info.json and each chunk received as an
// object of its own, uploads/{id}/part-{offset}, so any node can take the next chunk.
// When the last byte is in, the parts are read back in order as one upload through
// Create, with every check an upload has, and removed.

// Resumable describes an upload in progress.
type Resumable struct {
	ID       string         `json:"id"`
	Length   int64          `json:"length"`
	Offset   int64          `json:"-"`
	Filename string         `json:"filename"`
	Fields   map[string]any `json:"fields"`
	Location string         `json:"location"`
	Owner    string         `json:"owner"`
	Created  time.Time      `json:"created"`
	// FileID is the file made of it, once complete.
	FileID string `json:"file_id,omitempty"`
}

func uploadPrefix(tenantID, id string) string { return tenantID + "/uploads/" + id + "/" }

// uploadLocks serialises the chunks of one upload on this node.
type uploadLocks struct {
	mu sync.Mutex
	m  map[string]*uploadLock
}

type uploadLock struct {
	sync.Mutex
	users int
}

func (l *uploadLocks) lock(id string) func() {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*uploadLock{}
	}
	m := l.m[id]
	if m == nil {
		m = &uploadLock{}
		l.m[id] = m
	}
	m.users++
	l.mu.Unlock()
	m.Lock()
	return func() {
		m.Unlock()
		l.mu.Lock()
		if m.users--; m.users == 0 {
			delete(l.m, id) // no one waits: the map keeps only uploads under way
		}
		l.mu.Unlock()
	}
}

// callerKey names who may continue an upload: its creator.
func callerKey(sc *records.Scope) string {
	if sc.Caller == nil {
		return ""
	}
	return sc.Caller.Kind + ":" + sc.Caller.UserID
}

// StartUpload begins a resumable upload of length bytes: the caller's create rule, the
// fields and the limits are checked now, before any byte arrives.
func (s *Service) StartUpload(ctx context.Context, sc *records.Scope, length int64, filename string, fields map[string]any) (*Resumable, error) {
	if fields == nil {
		fields = map[string]any{}
	}
	if _, err := s.admit(sc, access.Create, fields); err != nil {
		return nil, err
	}
	lim, err := s.limits(ctx, sc)
	if err != nil {
		return nil, err
	}
	if length < 0 {
		return nil, apierr.InvalidPayload("Upload-Length", "Upload-Length is required (deferred lengths are not supported)")
	}
	if lim.maxUpload > 0 && length > lim.maxUpload {
		return nil, tooLarge(lim.maxUpload)
	}
	if lim.quota > 0 {
		inUse, err := used(ctx, sc)
		if err != nil {
			return nil, err
		}
		if inUse+length > lim.quota {
			return nil, quotaError(lim.quota)
		}
	}
	r := &Resumable{ID: uuid.NewString(), Length: length, Filename: SafeName(filename), Fields: fields, Location: s.Locations.Default,
		Owner: callerKey(sc), Created: s.Now().UTC()}
	if err := s.saveUpload(ctx, sc, r); err != nil {
		return nil, err
	}
	s.expireUploads(context.WithoutCancel(ctx), sc)
	return r, nil
}

// UploadLifetime is how long an unfinished resumable upload is kept.
const UploadLifetime = 24 * time.Hour

// expireUploads removes the tenant's resumable uploads left unfinished for longer than
// UploadLifetime (and finished ones' records as old): each new upload tidies its
// tenant's.
func (s *Service) expireUploads(ctx context.Context, sc *records.Scope) {
	b, err := s.Locations.Get(s.Locations.Default)
	if err != nil {
		return
	}
	objs, err := b.List(ctx, sc.TenantID+"/uploads/")
	if err != nil {
		s.Log.Warn("files: list resumable uploads", "err", err)
		return
	}
	stale := map[string]bool{}
	fresh := map[string]bool{}
	for _, o := range objs {
		id := strings.SplitN(strings.TrimPrefix(o.Key, sc.TenantID+"/uploads/"), "/", 2)[0]
		if s.Now().Sub(o.ModTime) > UploadLifetime {
			stale[id] = true
		} else {
			fresh[id] = true
		}
	}
	for id := range stale {
		if !fresh[id] {
			if err := b.DeletePrefix(ctx, uploadPrefix(sc.TenantID, id)); err != nil {
				s.Log.Warn("files: expire a resumable upload", "upload", id, "err", err)
			}
		}
	}
}

func (s *Service) saveUpload(ctx context.Context, sc *records.Scope, r *Resumable) error {
	b, err := s.Locations.Get(r.Location)
	if err != nil {
		return err
	}
	data, _ := json.Marshal(r)
	if _, err := b.Put(ctx, uploadPrefix(sc.TenantID, r.ID)+"info.json", bytes.NewReader(data)); err != nil {
		return fmt.Errorf("record the upload: %w", err)
	}
	return nil
}

// Upload reads a resumable upload's state, for its creator (anyone else: 404, as for
// an upload that does not exist).
func (s *Service) Upload(ctx context.Context, sc *records.Scope, id string) (*Resumable, []storage.Object, error) {
	notFound := apierr.NotFound("upload %q not found", id)
	if _, err := uuid.Parse(id); err != nil {
		return nil, nil, notFound
	}
	b, err := s.Locations.Get(s.Locations.Default)
	if err != nil {
		return nil, nil, err
	}
	rd, err := b.Open(ctx, uploadPrefix(sc.TenantID, id)+"info.json", 0, -1)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, notFound
	}
	if err != nil {
		return nil, nil, err
	}
	defer rd.Close()
	var r Resumable
	if err := json.NewDecoder(io.LimitReader(rd, 1<<20)).Decode(&r); err != nil {
		return nil, nil, fmt.Errorf("read upload %s: %w", id, err)
	}
	if r.Owner != callerKey(sc) && (sc.Caller == nil || !sc.Caller.Admin()) {
		return nil, nil, notFound
	}
	objs, err := b.List(ctx, uploadPrefix(sc.TenantID, id)+"part-")
	if err != nil {
		return nil, nil, err
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].Key < objs[j].Key })
	for _, o := range objs {
		r.Offset += o.Size
	}
	if r.FileID != "" {
		r.Offset = r.Length
	}
	return &r, objs, nil
}

// OffsetError: a chunk sent for another offset than the upload's (409).
type OffsetError struct{ Offset int64 }

func (e *OffsetError) Error() string {
	return "the upload is at offset " + strconv.FormatInt(e.Offset, 10)
}

// WriteChunk appends a chunk at offset and, with the last byte in, makes the file. It
// returns the upload's state after it.
func (s *Service) WriteChunk(ctx context.Context, sc *records.Scope, id string, offset int64, body io.Reader) (*Resumable, error) {
	unlock := s.uploads.lock(sc.TenantID + "/" + id)
	defer unlock()
	r, parts, err := s.Upload(ctx, sc, id)
	if err != nil {
		return nil, err
	}
	if offset != r.Offset || r.FileID != "" {
		return nil, &OffsetError{Offset: r.Offset}
	}
	b, err := s.Locations.Get(r.Location)
	if err != nil {
		return nil, err
	}
	left := r.Length - r.Offset
	limited := &bounded{r: body, left: left, bounded: true}
	key := fmt.Sprintf("%spart-%020d", uploadPrefix(sc.TenantID, id), offset)
	n, err := b.Put(ctx, key, limited)
	if limited.over {
		return nil, apierr.New(http.StatusRequestEntityTooLarge, "CONTENT_TOO_LARGE", "the chunk goes past the upload's length of %d bytes", r.Length)
	}
	if err != nil {
		return nil, fmt.Errorf("store the chunk: %w", err)
	}
	if n > 0 {
		parts = append(parts, storage.Object{Key: key, Size: n})
	} else {
		_ = b.Delete(ctx, key)
	}
	r.Offset += n
	if r.Offset < r.Length {
		return r, nil
	}
	// Complete: the parts, in order, are one upload.
	fileID, err := s.Create(ctx, sc, Upload{Fields: r.Fields, Filename: r.Filename, Body: &partsReader{ctx: ctx, b: b, parts: parts}})
	if err != nil {
		return nil, err
	}
	r.FileID = fileID
	if err := s.saveUpload(context.WithoutCancel(ctx), sc, r); err != nil {
		s.Log.Warn("files: record a finished upload", "upload", id, "err", err)
	}
	for _, p := range parts {
		_ = b.Delete(context.WithoutCancel(ctx), p.Key)
	}
	return r, nil
}

// EndUpload abandons an upload and removes what it received.
func (s *Service) EndUpload(ctx context.Context, sc *records.Scope, id string) error {
	r, _, err := s.Upload(ctx, sc, id)
	if err != nil {
		return err
	}
	b, err := s.Locations.Get(r.Location)
	if err != nil {
		return err
	}
	return b.DeletePrefix(ctx, uploadPrefix(sc.TenantID, id))
}

// partsReader reads stored parts one after the other.
type partsReader struct {
	ctx   context.Context
	b     storage.Backend
	parts []storage.Object
	cur   io.ReadCloser
}

func (p *partsReader) Read(buf []byte) (int, error) {
	for {
		if p.cur == nil {
			if len(p.parts) == 0 {
				return 0, io.EOF
			}
			r, err := p.b.Open(p.ctx, p.parts[0].Key, 0, -1)
			if err != nil {
				return 0, err
			}
			p.cur, p.parts = r, p.parts[1:]
		}
		n, err := p.cur.Read(buf)
		if errors.Is(err, io.EOF) {
			p.cur.Close()
			p.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

// ParseMetadata reads tus's Upload-Metadata: comma-separated "key base64value" pairs.
func ParseMetadata(h string, decode func(string) ([]byte, error)) (map[string]string, error) {
	out := map[string]string{}
	for _, pair := range strings.Split(h, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		key, value, _ := strings.Cut(pair, " ")
		v, err := decode(strings.TrimSpace(value))
		if err != nil {
			return nil, apierr.InvalidPayload("Upload-Metadata", "Upload-Metadata: the value of %q is not base64", key)
		}
		out[key] = string(v)
	}
	return out, nil
}
