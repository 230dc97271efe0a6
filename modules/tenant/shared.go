package tenant

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/gob"
	"encoding/hex"
	"fmt"
	"io"
	"reflect"
	"runtime/debug"
	"strings"
	"time"

	"github.com/klauspost/compress/s2"

	"strata/schema"
)

// The nodes share the tenants' models through the control database
// (strata_tenant_models). A tenant's first request on a node opens a connection as the
// tenant's account: on PostgreSQL a new backend whose catalog caches are cold, where
// reading the model's four tables costs more than anything else the request does. The
// node reads the shared entry instead, on a control connection already open, while the
// tenant's connection is being made; the schema state, from the login on PostgreSQL
// (meta.TagState) or else one statement on the new connection (meta.ReadState), says
// whether the entry is the tenant's schema now. An entry is keyed by that state's
// Stamp, so it can be stale but never wrong: a stale one is read from the tenant's
// tables as before, and written back for the next node.

// maxSharedWrites bounds the shared entries a node writes at once.
const maxSharedWrites = 4

// maxStamp is the longest stamp stored: a format, a version and a migration id fit.
const maxStamp = 128

// sharedFormat names how this build stores models: the Go shape of schema.Model (gob
// fills a field a stored entry lacks with its zero value, which would be a wrong model,
// not a miss) and, when the build knows it, its source revision (meta.Load may come to
// read the same rows differently). An entry of another format is a miss.
func sharedFormat() string {
	h := sha256.New()
	writeShape(h, reflect.TypeFor[schema.Model](), map[reflect.Type]bool{})
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" || s.Key == "vcs.modified" {
				fmt.Fprintf(h, "%s=%s;", s.Key, s.Value)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// writeShape writes a type's structure: kinds, field names, types and tags.
func writeShape(w io.Writer, t reflect.Type, seen map[reflect.Type]bool) {
	fmt.Fprintf(w, "%s/%s(", t.String(), t.Kind())
	defer fmt.Fprint(w, ")")
	if seen[t] {
		return
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		writeShape(w, t.Elem(), seen)
	case reflect.Map:
		writeShape(w, t.Key(), seen)
		writeShape(w, t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			fmt.Fprintf(w, "%s `%s` ", f.Name, f.Tag)
			writeShape(w, f.Type, seen)
		}
	}
}

// AddSharedModels creates the model cache the nodes share (a control migration).
func (r *Registry) AddSharedModels(ctx context.Context) error {
	d := r.cfg.Control.Dialect
	str := func(n int) string { return d.ColumnType(&schema.Column{Type: schema.TypeString, Length: n}) }
	q := "CREATE TABLE IF NOT EXISTS strata_tenant_models (tenant_id " + str(36) + " NOT NULL PRIMARY KEY, stamp " + str(maxStamp) +
		" NOT NULL, model " + d.ColumnType(&schema.Column{Type: schema.TypeText}) + " NOT NULL)"
	if _, err := r.cfg.Control.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("create shared model cache: %w", err)
	}
	return nil
}

// sharedEntry is a tenant's row of the shared model cache, as read and decoded (ok
// false: none; err: the model did not decode).
type sharedEntry struct {
	ok    bool
	stamp string
	model *schema.Model
	err   error
}

// fetchShared reads and decodes a tenant's shared entry beside the caller's other work
// (the login, which mostly waits on the server): decoding it before the stamp is known
// to match costs the node nothing then, and the match is the rule. The channel yields
// exactly one entry (a failed read yields none: the cache is only ever a shortcut).
func (r *Registry) fetchShared(ctx context.Context, tenantID string) <-chan sharedEntry {
	out := make(chan sharedEntry, 1)
	go func() {
		var e sharedEntry
		var enc string
		c := r.cfg.Control
		err := c.QueryRowContext(ctx, c.Dialect.Rebind("SELECT stamp, model FROM strata_tenant_models WHERE tenant_id = ?"), tenantID).Scan(&e.stamp, &enc)
		if e.ok = err == nil; e.ok {
			e.model, e.err = decodeModel(enc)
		}
		out <- e
	}()
	return out
}

// sharedModel returns the model of the shared entry if it was stored for stamp, else
// nil; miss says that the entry is absent or stale, and worth writing again.
func (r *Registry) sharedModel(ctx context.Context, t *Tenant, entry <-chan sharedEntry, stamp string) (m *schema.Model, miss bool) {
	var e sharedEntry
	select {
	case e = <-entry:
	case <-ctx.Done():
		return nil, false
	}
	if !e.ok || e.stamp != stamp {
		return nil, true
	}
	if e.err != nil {
		r.cfg.Log.Warn("shared model cache: unreadable entry, reading the tenant's tables", "tenant", t.Slug, "err", e.err)
		return nil, true
	}
	return e.model, false
}

// storeShared writes a tenant's model under stamp for the other nodes, after the
// request that read it: an entry is a shortcut, never worth a request's time. Two nodes
// storing at once both succeed or one is refused; either leaves a correct entry.
func (r *Registry) storeShared(t *Tenant, stamp string, m *schema.Model) {
	if len(stamp) > maxStamp {
		return
	}
	// At most maxSharedWrites at once: a burst of cold tenants must not queue a goroutine
	// and an encoded model each for the control pool. One not written is a miss for the
	// next node, which writes it then.
	select {
	case r.sharedWrites <- struct{}{}:
	default:
		return
	}
	r.background.Add(1)
	go func() {
		defer func() { <-r.sharedWrites; r.background.Done() }()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		enc, err := encodeModel(m)
		if err == nil {
			err = r.writeShared(ctx, t.ID, stamp, enc)
		}
		if err != nil {
			r.cfg.Log.Debug("shared model cache: not stored", "tenant", t.Slug, "err", err)
		}
	}()
}

// writeShared replaces a tenant's shared entry, or adds it.
func (r *Registry) writeShared(ctx context.Context, tenantID, stamp, model string) error {
	c := r.cfg.Control
	res, err := c.ExecContext(ctx, c.Dialect.Rebind("UPDATE strata_tenant_models SET stamp = ?, model = ? WHERE tenant_id = ?"), stamp, model, tenantID)
	if err != nil {
		return err
	}
	// MySQL counts only the rows an UPDATE changed: an entry already as wanted reads as
	// none, and the INSERT is then refused as a duplicate, which is as good.
	if n, err := res.RowsAffected(); err == nil && n > 0 {
		return nil
	}
	_, err = c.ExecContext(ctx, c.Dialect.Rebind("INSERT INTO strata_tenant_models (tenant_id, stamp, model) VALUES (?, ?, ?)"), tenantID, stamp, model)
	return err
}

// dropShared removes a deleted tenant's shared entry.
func (r *Registry) dropShared(ctx context.Context, tenantID string) error {
	c := r.cfg.Control
	if _, err := c.ExecContext(ctx, c.Dialect.Rebind("DELETE FROM strata_tenant_models WHERE tenant_id = ?"), tenantID); err != nil {
		return fmt.Errorf("drop shared model: %w", err)
	}
	return nil
}

// encodeModel is a model as stored: gob, compressed with S2, in base64 (the column is
// text on every dialect). Gob because decoding is on the cold path: a new tenant's model
// (26 tables, 322 columns) decodes in 0.3 ms from gob and in 1.0 to 1.3 ms from JSON;
// it is stored in 13 KB.
func encodeModel(m *schema.Model) (string, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(m); err != nil {
		return "", fmt.Errorf("encode model: %w", err)
	}
	return base64.StdEncoding.EncodeToString(s2.Encode(nil, buf.Bytes())), nil
}

// maxModelBytes bounds what a stored entry may expand to: far above any model a tenant
// can make, and a bound on what a damaged entry costs.
const maxModelBytes = 64 << 20

// decodeModel reverses encodeModel.
func decodeModel(s string) (*schema.Model, error) {
	z, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("decode model: %w", err)
	}
	if n, err := s2.DecodedLen(z); err != nil || n > maxModelBytes {
		return nil, fmt.Errorf("decode model: %d bytes, %v (at most %d)", n, err, maxModelBytes)
	}
	b, err := s2.Decode(nil, z)
	if err != nil {
		return nil, fmt.Errorf("decode model: %w", err)
	}
	var m schema.Model
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&m); err != nil {
		return nil, fmt.Errorf("decode model: %w", err)
	}
	emptySlices(reflect.ValueOf(&m))
	return &m, nil
}

// emptySlices gives every nil slice field whose JSON is not omitempty an empty slice,
// all the way down: gob sends no empty slice, and the API tells [] from null (meta.Load
// makes them empty).
func emptySlices(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			emptySlices(v.Elem())
		}
	case reflect.Slice:
		for i := range v.Len() {
			emptySlices(v.Index(i))
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f, sf := v.Field(i), v.Type().Field(i)
			if !sf.IsExported() {
				continue
			}
			if f.Kind() == reflect.Slice && f.IsNil() && f.Type().Elem().Kind() != reflect.Uint8 && !strings.Contains(sf.Tag.Get("json"), ",omitempty") {
				f.Set(reflect.MakeSlice(f.Type(), 0, 0))
			}
			emptySlices(f)
		}
	}
}
