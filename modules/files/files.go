// Package files is a tenant's file storage: the bytes in a storage location, the
// metadata as rows of the strata_files system table written through the records
// service, so the read, create, update and delete rules of strata_files govern files as
// they govern rows, and hooks and realtime hear of them.
//
// Every object key is built here from the tenant's id and the file's id; nothing a
// client sends becomes part of a key.
package files

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // image sizes of GIFs
	_ "image/jpeg"
	_ "image/png"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gabriel-vasile/mimetype"

	"strata/modules/access"
	"strata/modules/apierr"
	"strata/modules/cache"
	"strata/modules/database"
	"strata/modules/query"
	"strata/modules/records"
	"strata/modules/settings"
	"strata/modules/storage"
	"strata/schema"
)

// The system tables of files and folders, as permissions name them.
const (
	Table   = "strata_files"
	Folders = "strata_folders"
)

// serverFields are the fields of a file the server sets; a client cannot write them.
var serverFields = map[string]bool{
	"filename_disk": true, "filesize": true, "width": true, "height": true, "type": true,
	"uploaded_by": true, "uploaded_on": true, "modified_by": true, "modified_on": true,
}

// Service stores files.
type Service struct {
	Records   *records.Service
	Locations *storage.Locations
	Settings  *settings.Service
	// MaxUpload bounds one file and Quota one tenant's files, in bytes (0: no bound);
	// a tenant's settings can lower them, never raise them.
	MaxUpload int64
	Quota     int64
	// MaxPixels bounds the images a transformation decodes (width × height), and
	// MaxTransforms the transformations this node runs at once; more wait a moment,
	// then are answered 503.
	MaxPixels     int64
	MaxTransforms int
	// ImportPrivate lets /files/import reach private and loopback addresses
	// (STRATA_FILES_IMPORT_PRIVATE; for a platform whose file servers are internal).
	ImportPrivate bool
	Now           func() time.Time
	NewID         func() string
	Log           *slog.Logger

	once  sync.Once
	slots chan struct{}
	// variants remembers the sizes of stored transformations.
	variants cache.TTL[int64]
	// uploads serialises the chunks of each resumable upload on this node.
	uploads uploadLocks
	// objects remembers where files' bytes are, for CacheTTL.
	objects  cache.TTL[Object]
	CacheTTL time.Duration
}

// Upload is one file part of a request: the form fields sent before it, the name the
// client gave it, and its bytes.
type Upload struct {
	Fields   map[string]any
	Filename string
	Body     io.Reader
}

// limits are a tenant's effective bounds.
type limits struct {
	maxUpload, quota int64
	st               settings.Settings
}

func lower(node, tenant int64) int64 {
	if tenant > 0 && (node == 0 || tenant < node) {
		return tenant
	}
	return node
}

func (s *Service) limits(ctx context.Context, sc *records.Scope) (limits, error) {
	st, err := s.Settings.Get(ctx, sc.TenantID, sc.DB)
	if err != nil {
		return limits{}, err
	}
	return limits{maxUpload: lower(s.MaxUpload, st.FilesMaxUpload), quota: lower(s.Quota, st.FilesQuota), st: st}, nil
}

// table is the files table of the scope's model.
func table(sc *records.Scope, name string) (*schema.Table, error) {
	t := sc.Model.Table(name)
	if t == nil {
		return nil, fmt.Errorf("this tenant has no %s table yet (its system tables are upgraded at start)", name)
	}
	return t, nil
}

// checkFields refuses form or JSON fields a client may not write, and a storage
// location that is not configured.
func (s *Service) checkFields(fields map[string]any) error {
	for k := range fields {
		if serverFields[k] {
			return apierr.InvalidPayload(k, "%s is set by the server", k)
		}
	}
	if v, ok := fields["storage"]; ok {
		name, _ := v.(string)
		if _, err := s.Locations.Get(name); err != nil {
			return apierr.InvalidPayload("storage", "storage must name a configured location: %s", strings.Join(s.Locations.Names(), ", "))
		}
	}
	return nil
}

// admit checks a write of a file's fields before any byte is stored: the fields a
// client may send, and the caller's rule for action on the files table, whose guard it
// answers (for the rows an update touches).
func (s *Service) admit(sc *records.Scope, action string, fields map[string]any) (*records.Guard, error) {
	t, err := table(sc, Table)
	if err != nil {
		return nil, err
	}
	if err := s.checkFields(fields); err != nil {
		return nil, err
	}
	g, err := s.Records.Guard(sc, t, action)
	if err != nil {
		return nil, err
	}
	return g, g.Fields(copyMap(fields))
}

// used is the bytes a tenant's files take.
func used(ctx context.Context, sc *records.Scope) (int64, error) {
	d := sc.DB.Dialect
	var n any
	if err := sc.DB.QueryRowContext(ctx, "SELECT COALESCE(SUM("+d.Quote("filesize")+"), 0) FROM "+d.Quote(Table)).Scan(&n); err != nil {
		return 0, fmt.Errorf("sum the tenant's files: %w", err)
	}
	return database.Int64(n), nil
}

// QuotaError: the tenant's files would exceed its quota (507).
func quotaError(quota int64) error {
	return apierr.New(http.StatusInsufficientStorage, "QUOTA_EXCEEDED", "the tenant's files would exceed its storage quota of %d bytes", quota).With("quota", quota)
}

func tooLarge(max int64) error {
	return apierr.New(http.StatusRequestEntityTooLarge, "CONTENT_TOO_LARGE", "the file is larger than the limit of %d bytes", max).With("field", "file").With("limit", max)
}

// stored is a file's bytes once written.
type stored struct {
	location, key, disk, mime string
	size                      int64
	width, height             any // int, or nil for a file that is not an image
}

// store writes one upload's bytes under a new key and reports what they are. Nothing
// is left stored when it fails.
func (s *Service) store(ctx context.Context, sc *records.Scope, lim limits, id string, up Upload) (*stored, error) {
	location := lim.st.StorageDefault
	if v, ok := up.Fields["storage"].(string); ok && v != "" {
		location = v
	}
	if location == "" {
		location = s.Locations.Default
	}
	backend, err := s.Locations.Get(location)
	if err != nil {
		return nil, err
	}
	var inUse int64
	if lim.quota > 0 {
		if inUse, err = used(ctx, sc); err != nil {
			return nil, err
		}
		if inUse >= lim.quota {
			return nil, quotaError(lim.quota)
		}
	}
	// The type is read from the bytes, not taken from the client: what the file is
	// decides whether it may be stored and how it is served.
	br := bufio.NewReaderSize(up.Body, 4096)
	head, err := br.Peek(3072)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("read the upload: %w", err)
	}
	kind := detectType(head, up.Filename)
	if !lim.st.AllowsType(kind) {
		return nil, apierr.New(http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "files of type %s may not be uploaded here", kind).
			With("field", "file").With("type", kind)
	}
	st := &stored{location: location, mime: kind, disk: id + extension(up.Filename, kind)}
	st.key = sc.TenantID + "/" + st.disk
	limit := lim.maxUpload
	if lim.quota > 0 && (limit == 0 || lim.quota-inUse < limit) {
		limit = lim.quota - inUse
	}
	body := &bounded{r: br, left: limit, bounded: limit > 0}
	n, err := backend.Put(ctx, st.key, body)
	if body.over {
		if lim.maxUpload > 0 && body.read > lim.maxUpload {
			return nil, tooLarge(lim.maxUpload)
		}
		return nil, quotaError(lim.quota)
	}
	if err != nil {
		return nil, fmt.Errorf("store the upload: %w", err)
	}
	st.size = n
	if w, h, ok := imageSize(ctx, backend, st.key, kind); ok {
		st.width, st.height = w, h
	}
	return st, nil
}

// bounded fails a read past its limit (when bounded), so a body too large stops
// being stored as soon as it is.
type bounded struct {
	r       io.Reader
	left    int64
	read    int64
	bounded bool
	over    bool
}

func (b *bounded) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read += int64(n)
	if b.bounded {
		b.left -= int64(n)
		if b.left < 0 {
			b.over = true
			return n, errors.New("upload over its limit")
		}
	}
	return n, err
}

// imageSize reads an image's dimensions from its header, without decoding it.
func imageSize(ctx context.Context, b storage.Backend, key, kind string) (int, int, bool) {
	if !transformable[kind] {
		return 0, 0, false
	}
	r, err := b.Open(ctx, key, 0, 1<<20)
	if err != nil {
		return 0, 0, false
	}
	defer r.Close()
	cfg, _, err := image.DecodeConfig(r)
	if err != nil {
		return 0, 0, false
	}
	return cfg.Width, cfg.Height, true
}

// detectType names the bytes' MIME type (no parameters). A generic answer (plain
// text, unknown binary) defers to the file name's extension.
//
// The name only refines what the bytes already say: text may be named a kind of text
// (CSV, Markdown, JSON), unknown bytes any kind the sniffer cannot recognise; a name
// never makes text or unknown bytes into an image, a video or a sound, which the
// sniffer knows by their bytes.
func detectType(head []byte, filename string) string {
	kind, _, _ := strings.Cut(mimetype.Detect(head).String(), ";")
	byExt, _, _ := strings.Cut(mime.TypeByExtension(strings.ToLower(path.Ext(filename))), ";")
	if byExt == "" {
		return kind
	}
	family, _, _ := strings.Cut(byExt, "/")
	switch kind {
	case "text/plain":
		if family == "text" || byExt == "application/json" || strings.HasSuffix(byExt, "+json") {
			return byExt
		}
	case "application/octet-stream":
		if family != "image" && family != "video" && family != "audio" && family != "text" {
			return byExt
		}
	}
	return kind
}

var extPattern = regexp.MustCompile(`^\.[a-z0-9]{1,10}$`)

// extension is the stored object's extension: the file name's when it is plain, else
// one for its type.
func extension(filename, kind string) string {
	if ext := strings.ToLower(path.Ext(filename)); extPattern.MatchString(ext) {
		return ext
	}
	if exts, _ := mime.ExtensionsByType(kind); len(exts) > 0 && extPattern.MatchString(exts[0]) {
		return exts[0]
	}
	return ""
}

// SafeName is a file name a client sent, as it may be offered for download: its last
// path element, without control characters, at most 255 bytes.
func SafeName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '"' || r == utf8.RuneError {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	for len(name) > 255 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	if name == "" || name == "." || name == ".." {
		return "file"
	}
	return name
}

// title is a readable title from a file name: "summer-photo_01.jpg" → "Summer Photo 01".
func title(name string) string {
	base := strings.TrimSuffix(name, path.Ext(name))
	words := strings.FieldsFunc(base, func(r rune) bool { return r == '-' || r == '_' || r == ' ' || r == '.' })
	for i, w := range words {
		r, size := utf8.DecodeRuneInString(w)
		words[i] = string(unicode.ToUpper(r)) + w[size:]
	}
	if len(words) == 0 {
		return name
	}
	return strings.Join(words, " ")
}

// Create stores an upload and records its row; it returns the new file's id. The
// caller's create rule on strata_files decides, before any byte is stored.
func (s *Service) Create(ctx context.Context, sc *records.Scope, up Upload) (string, error) {
	if up.Fields == nil {
		up.Fields = map[string]any{}
	}
	if _, err := s.admit(sc, access.Create, up.Fields); err != nil {
		return "", err
	}
	t, err := table(sc, Table)
	if err != nil {
		return "", err
	}
	lim, err := s.limits(ctx, sc)
	if err != nil {
		return "", err
	}
	id := s.NewID()
	st, err := s.store(ctx, sc, lim, id, up)
	if err != nil {
		return "", err
	}
	name := SafeName(up.Filename)
	row := copyMap(up.Fields)
	row["id"] = id
	set := map[string]any{
		"storage": st.location, "filename_disk": st.disk, "type": st.mime, "filesize": st.size,
		"width": st.width, "height": st.height, "uploaded_by": userOf(sc), "uploaded_on": s.now(),
	}
	// Defaults the client did not send are the server's, not checked against the
	// fields the caller may write.
	if _, ok := row["title"]; !ok {
		set["title"] = title(name)
	}
	if _, ok := row["filename_download"]; !ok {
		set["filename_download"] = name
	}
	ids, err := s.Records.CreateSet(ctx, sc, t, []map[string]any{row}, set)
	if err != nil {
		s.discard(ctx, st.location, st.key)
		return "", err
	}
	return ids[0], nil
}

// Replace stores new bytes for a file (and any metadata sent with them); the old
// bytes go once the row says the new ones. The caller's update rule decides, before
// any byte is stored.
func (s *Service) Replace(ctx context.Context, sc *records.Scope, id string, up Upload) error {
	if up.Fields == nil {
		up.Fields = map[string]any{}
	}
	g, err := s.admit(sc, access.Update, up.Fields)
	if err != nil {
		return err
	}
	t, err := table(sc, Table)
	if err != nil {
		return err
	}
	old, err := s.locate(ctx, sc, []string{id})
	if err != nil {
		return err
	}
	if len(old) == 0 {
		return apierr.NotFound("file %q not found", id)
	}
	if err := g.Rows(ctx, sc.Q(nil), sc.DB.Dialect, []string{id}); err != nil {
		return err
	}
	lim, err := s.limits(ctx, sc)
	if err != nil {
		return err
	}
	// A new key: the old bytes stay readable until the row moves to the new ones.
	st, err := s.store(ctx, sc, lim, id+"-"+shortID(s.NewID()), up)
	if err != nil {
		return err
	}
	data := copyMap(up.Fields)
	set := map[string]any{
		"storage": st.location, "filename_disk": st.disk, "type": st.mime, "filesize": st.size, "width": st.width, "height": st.height,
		"modified_by": userOf(sc), "modified_on": s.now(),
	}
	if _, ok := data["filename_download"]; !ok {
		set["filename_download"] = SafeName(up.Filename)
	}
	err = s.Records.Update(ctx, sc, t, []records.Change{{IDs: []string{id}, Data: data, Set: set}}, []string{id}, true)
	if err != nil {
		s.discard(ctx, st.location, st.key)
		return err
	}
	s.forget(sc, id)
	// The old bytes go a little later: another node may have the file's old place in
	// its cache for CacheTTL, and keeps serving them until then rather than a 404.
	time.AfterFunc(2*s.CacheTTL, func() { s.discardFile(context.Background(), sc, old[0]) })
	return nil
}

// forget drops what this node cached of files.
func (s *Service) forget(sc *records.Scope, ids ...string) {
	s.init()
	for _, id := range ids {
		s.objects.Drop(sc.TenantID + "/" + id)
	}
}

// Update edits files' metadata (JSON); the bytes stay.
func (s *Service) Update(ctx context.Context, sc *records.Scope, ids []string, data map[string]any, one bool) error {
	t, err := table(sc, Table)
	if err != nil {
		return err
	}
	if err := s.checkFields(data); err != nil {
		return err
	}
	if _, ok := data["storage"]; ok {
		return apierr.InvalidPayload("storage", "a file's bytes stay in their location; upload them again to move them")
	}
	err = s.Records.Update(ctx, sc, t, []records.Change{{IDs: ids, Data: data, Set: map[string]any{
		"modified_by": userOf(sc), "modified_on": s.now(),
	}}}, ids, one)
	if err == nil {
		s.forget(sc, ids...)
	}
	return err
}

// Delete removes files: their rows under the caller's delete rule, then their bytes.
func (s *Service) Delete(ctx context.Context, sc *records.Scope, ids []string, one bool) error {
	t, err := table(sc, Table)
	if err != nil {
		return err
	}
	objects, err := s.locate(ctx, sc, ids)
	if err != nil {
		return err
	}
	if err := s.Records.Delete(ctx, sc, t, ids, one); err != nil {
		return err
	}
	s.forget(sc, ids...)
	for _, o := range objects {
		s.discardFile(ctx, sc, o)
	}
	return nil
}

// Object is where a file's bytes are, and what a response needs to say of them.
type Object struct {
	ID       string
	Location string
	Disk     string
	Download string
	Type     string
	Size     int64
	Modified time.Time
	// FocusX and FocusY are the focal point cover crops centre on (nil: the middle).
	FocusX, FocusY *int
}

// Key is the object's key in its location.
func (o Object) key(tenantID string) string { return tenantID + "/" + o.Disk }

// locate reads where files' bytes are, whoever may see them (the callers check), in
// one query.
func (s *Service) locate(ctx context.Context, sc *records.Scope, ids []string) ([]Object, error) {
	var keys []any
	for _, id := range ids {
		if schema.IsUUID(id) {
			keys = append(keys, id)
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	d := sc.DB.Dialect
	cols := make([]string, len(objectFields))
	for i, f := range objectFields {
		cols[i] = d.Quote(f)
	}
	rows, err := sc.DB.QueryContext(ctx, d.Rebind("SELECT "+strings.Join(cols, ", ")+" FROM "+d.Quote(Table)+" WHERE "+d.Quote("id")+
		" IN ("+schema.Placeholders(len(keys))+")"), keys...)
	if err != nil {
		return nil, fmt.Errorf("locate files: %w", err)
	}
	defer rows.Close()
	var out []Object
	for rows.Next() {
		vals := make([]any, len(objectFields))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("locate files: %w", err)
		}
		row := map[string]any{}
		for i, f := range objectFields {
			row[f] = vals[i]
		}
		out = append(out, *objectOf(row))
	}
	return out, rows.Err()
}

// discardFile deletes a file's bytes once its row no longer points at them. A failure
// leaves an orphan object, which is logged: the row is already right.
func (s *Service) discardFile(ctx context.Context, sc *records.Scope, o Object) {
	s.discard(ctx, o.Location, o.key(sc.TenantID))
	if b, err := s.Locations.Get(o.Location); err == nil {
		if err := b.DeletePrefix(context.WithoutCancel(ctx), transformsPrefix(sc.TenantID, o.Disk)); err != nil {
			s.Log.Warn("files: delete a file's transformations", "location", o.Location, "file", o.ID, "err", err)
		}
	}
}

// transformsPrefix holds the cached transformations of one original.
func transformsPrefix(tenantID, disk string) string {
	return tenantID + "/transforms/" + strings.TrimSuffix(disk, path.Ext(disk)) + "/"
}

func (s *Service) discard(ctx context.Context, location, key string) {
	b, err := s.Locations.Get(location)
	if err == nil {
		err = b.Delete(context.WithoutCancel(ctx), key)
	}
	if err != nil {
		s.Log.Warn("files: delete stored object", "location", location, "key", key, "err", err)
	}
}

// Find checks the caller may read the file and says where its bytes are: the read rule
// of strata_files decides (a file outside it is a 404, as a missing one).
func (s *Service) Find(ctx context.Context, sc *records.Scope, id string) (*Object, error) {
	t, err := table(sc, Table)
	if err != nil {
		return nil, err
	}
	if !schema.IsUUID(id) {
		return nil, apierr.NotFound("file %q not found", id)
	}
	// A caller who may read where the bytes are is answered in one query; one who may
	// read less is checked first, then the rest is read for the server.
	if rule, err := records.Rule(sc.Caller, Table, access.Read); err == nil && allowsAll(rule, objectFields) {
		// Without a row rule the answer is the same for every such caller: kept for the
		// cache's TTL (the writes on this node drop it at once).
		key := sc.TenantID + "/" + id
		s.init()
		if rule.Filter == nil {
			if o, _, ok := s.objects.Get(key); ok {
				return &o, nil
			}
		}
		_, gen, _ := s.objects.Get(key)
		rows, err := s.Records.Read(ctx, sc, t, query.Params{"fields": {strings.Join(objectFields, ",")}}, []string{id})
		if err != nil {
			return nil, err
		}
		if len(rows) == 0 {
			return nil, apierr.NotFound("file %q not found", id)
		}
		o := objectOf(rows[0])
		s.objects.Put(key, *o, gen)
		return o, nil
	}
	rows, err := s.Records.Read(ctx, sc, t, query.Params{"fields": {"id"}}, []string{id})
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, apierr.NotFound("file %q not found", id)
	}
	objects, err := s.locate(ctx, sc, []string{id})
	if err != nil {
		return nil, err
	}
	if len(objects) == 0 {
		return nil, apierr.NotFound("file %q not found", id)
	}
	return &objects[0], nil
}

// objectFields are what an Object is read from.
var objectFields = []string{"id", "storage", "filename_disk", "filename_download", "type", "filesize", "uploaded_on", "modified_on",
	"focal_point_x", "focal_point_y"}

func allowsAll(rule *access.Rule, fields []string) bool {
	for _, f := range fields {
		if !rule.AllowsField(f) {
			return false
		}
	}
	return true
}

// objectOf reads an Object from a row, as the query engine or the database answered.
func objectOf(row map[string]any) *Object {
	str := func(k string) string { return database.Text(row[k]) }
	o := &Object{ID: str("id"), Location: str("storage"), Disk: str("filename_disk"), Download: str("filename_download"), Type: str("type"),
		Size: database.Int64(row["filesize"])}
	for _, k := range []string{"modified_on", "uploaded_on"} {
		if !o.Modified.IsZero() || row[k] == nil {
			continue
		}
		if t, err := time.Parse(time.RFC3339Nano, str(k)); err == nil {
			o.Modified = t
		} else if t := database.Time(row[k]); t != nil {
			o.Modified = *t
		}
	}
	if row["focal_point_x"] != nil && row["focal_point_y"] != nil {
		x, y := int(database.Int64(row["focal_point_x"])), int(database.Int64(row["focal_point_y"]))
		o.FocusX, o.FocusY = &x, &y
	}
	return o
}

// Asset is bytes /assets serves: a file's, or a transformation of them.
type Asset struct {
	ID       string
	Location string
	Key      string
	Type     string
	Download string
	Size     int64
	Modified time.Time
	// Tag tells these bytes from any other version or transformation of the file.
	Tag string
	// Data holds a transformation just made, served from memory this once.
	Data []byte
}

var errNotImage = errors.New("not an image this server decodes")

// Asset finds the bytes to serve for a file the caller may read: the original, or the
// transformation asked for (by parameters, or by a preset's key), made once and then
// served from the cache in the file's location.
func (s *Service) Asset(ctx context.Context, sc *records.Scope, id string, tr Transform, preset string) (*Asset, error) {
	o, err := s.Find(ctx, sc, id)
	if err != nil {
		return nil, err
	}
	a := &Asset{ID: o.ID, Location: o.Location, Key: o.key(sc.TenantID), Type: o.Type, Download: o.Download, Size: o.Size, Modified: o.Modified,
		Tag: strings.TrimSuffix(o.Disk, path.Ext(o.Disk)) + "-" + strconv.FormatInt(o.Size, 10)}
	if preset == "" && empty(tr) {
		return a, nil
	}
	st, err := s.Settings.Get(ctx, sc.TenantID, sc.DB)
	if err != nil {
		return nil, err
	}
	switch {
	case st.AssetTransform == "none":
		return nil, apierr.InvalidQuery("key", "image transformations are turned off for this project (storage_asset_transform)")
	case preset != "":
		if !empty(tr) || tr.Fit != "" || tr.WithoutEnlargement {
			return nil, apierr.InvalidQuery("key", "a preset key cannot be combined with other transformation parameters")
		}
		found := false
		for _, p := range st.AssetPresets {
			if p.Key == preset {
				tr, found = p, true
			}
		}
		if !found {
			return nil, apierr.InvalidQuery("key", "no asset preset has the key %q", preset)
		}
	case st.AssetTransform == "presets":
		return nil, apierr.InvalidQuery("key", "only the project's presets (?key=) may transform images here")
	}
	if !transformable[o.Type] {
		return a, nil // not an image: served as it is
	}
	_, kind, ext := output(tr, o.Type)
	v := &Asset{ID: o.ID, Location: o.Location, Type: kind, Download: strings.TrimSuffix(o.Download, path.Ext(o.Download)) + ext,
		Modified: o.Modified, Tag: variant(o.Disk, tr)}
	v.Key = transformsPrefix(sc.TenantID, o.Disk) + v.Tag + ext
	backend, err := s.Locations.Get(o.Location)
	if err != nil {
		return nil, err
	}
	// A variant's key names its bytes for good (the original's key changes when its
	// bytes do), so its size, once seen, is remembered.
	s.init()
	sizeKey := o.Location + ":" + v.Key
	if size, _, ok := s.variants.Get(sizeKey); ok {
		v.Size = size
		return v, nil
	}
	_, gen, _ := s.variants.Get(sizeKey)
	if cached, err := backend.Stat(ctx, v.Key); err == nil {
		v.Size = cached.Size
		s.variants.Put(sizeKey, v.Size, gen)
		return v, nil
	}
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.release()
	img, err := decodeBounded(func() (io.ReadCloser, error) { return backend.Open(ctx, a.Key, 0, -1) }, s.MaxPixels)
	var many *tooManyPixels
	switch {
	case errors.As(err, &many):
		return nil, apierr.New(http.StatusUnprocessableEntity, "UNPROCESSABLE_CONTENT", "%s", many.Error()).With("pixels", many.pixels).With("limit", many.limit)
	case errors.Is(err, errNotImage):
		return a, nil // stored as an image, but not one this server reads: the original
	case errors.Is(err, storage.ErrNotFound):
		return nil, apierr.NotFound("the bytes of file %q are missing from storage", o.ID)
	case err != nil:
		return nil, err
	}
	data, err := render(img, tr, o.Type, o.FocusX, o.FocusY)
	if err != nil {
		return nil, err
	}
	v.Size, v.Data = int64(len(data)), data
	if _, err := backend.Put(context.WithoutCancel(ctx), v.Key, bytes.NewReader(data)); err != nil {
		s.Log.Warn("files: cache a transformation", "file", o.ID, "err", err)
	} else {
		s.variants.Put(sizeKey, v.Size, gen)
	}
	return v, nil
}

// init makes what the service keeps, on first use.
func (s *Service) init() {
	s.once.Do(func() {
		s.slots = make(chan struct{}, max(1, s.MaxTransforms))
		s.variants.TTL, s.variants.Max = time.Hour, 100_000
		s.objects.TTL, s.objects.Max = s.CacheTTL, 100_000
	})
}

// acquire takes one of the node's transformation slots, waiting a moment for one.
func (s *Service) acquire(ctx context.Context) error {
	s.init()
	wait := time.NewTimer(10 * time.Second)
	defer wait.Stop()
	select {
	case s.slots <- struct{}{}:
		return nil
	case <-wait.C:
		return apierr.New(http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "too many images are being transformed; send the request again").With("retryable", true)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Service) release() { <-s.slots }

// Open reads an asset's bytes, n of them from off (n < 0: to the end).
func (s *Service) Open(ctx context.Context, a *Asset, off, n int64) (io.ReadCloser, error) {
	if a.Data != nil {
		end := int64(len(a.Data))
		if n >= 0 {
			end = off + n
		}
		return io.NopCloser(bytes.NewReader(a.Data[off:end])), nil
	}
	b, err := s.Locations.Get(a.Location)
	if err != nil {
		return nil, err
	}
	r, err := b.Open(ctx, a.Key, off, n)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, apierr.NotFound("the bytes of file %q are missing from storage", a.ID)
	}
	return r, err
}

// DeleteTenant removes every object of a tenant from every location.
func (s *Service) DeleteTenant(ctx context.Context, tenantID string) error {
	var errs []error
	for _, name := range s.Locations.Names() {
		b, _ := s.Locations.Get(name)
		if err := b.DeletePrefix(ctx, tenantID+"/"); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// now is the time as a date-time field takes it.
func (s *Service) now() string { return s.Now().UTC().Format(time.RFC3339Nano) }

func userOf(sc *records.Scope) any {
	if sc.Caller == nil || sc.Caller.UserID == "" || !schema.IsUUID(sc.Caller.UserID) {
		return nil
	}
	return sc.Caller.UserID
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// shortID is the last 12 characters of an id, to tell a file's successive objects apart.
func shortID(id string) string {
	id = strings.ReplaceAll(id, "-", "")
	if len(id) > 12 {
		return id[len(id)-12:]
	}
	return id
}
