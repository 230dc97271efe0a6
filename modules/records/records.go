// Package records reads and writes a tenant's rows for a caller. It is the one record
// path under every surface: REST items, GraphQL, realtime reads and data migrations
// all come here, so the permission guards, the transaction, to-many link writes, the
// hooks and the publishing after commit happen the same way whoever asks.
//
// It knows nothing of HTTP: a Scope carries the tenant's database, the model at the
// version the request uses, and the caller.
package records

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"strata/modules/access"
	"strata/modules/apierr"
	"strata/modules/database"
	"strata/modules/query"
	"strata/schema"
)

// Scope is one caller's view of one tenant for one request.
type Scope struct {
	TenantID string
	Slug     string // for logs
	DB       *database.DB
	// Version is the schema version Model is at; statements on user tables are tagged
	// with it (query.Tagged), so a statement prepared for an older shape is not reused.
	Version int64
	Model   *schema.Model
	Caller  *access.Caller
	// Tx, when set, is a transaction the scope's reads run in: a before hook reads
	// inside the write it runs in (it does not write through the scope).
	Tx schema.Querier
	// Origin is the request the writes come from (nil: a function's schedule, a
	// template, the CLI), for the activity log.
	Origin *Origin
}

// Origin is where a request came from.
type Origin struct {
	IP        string
	UserAgent string
}

// Q runs statements on user tables (inner, or the scope's transaction or tenant's pool
// when nil) tagged with the scope's schema version.
func (sc *Scope) Q(inner schema.Querier) schema.Querier {
	if inner == nil && sc.Tx != nil {
		inner = sc.Tx
	}
	if inner == nil {
		inner = sc.DB
	}
	if t, ok := inner.(query.Tagged); ok {
		return t
	}
	return query.NewTagged(inner, sc.Version)
}

// policy is the caller's policy for the query engine; nil (everything) for admins.
func (sc *Scope) policy() *access.Policy {
	if sc.Caller == nil || sc.Caller.Admin() {
		return nil
	}
	return sc.Caller.Policy
}

func (sc *Scope) user() string {
	if sc.Caller == nil {
		return ""
	}
	return sc.Caller.UserID
}

// Publisher announces rows a write changed, after its commit. A failure to publish is
// the publisher's to report; it is never the write's failure.
type Publisher interface {
	Publish(ctx context.Context, sc *Scope, table, action string, ids []string)
}

// Write is what a hook sees of a write: the table, the action (create, update or
// delete) and the rows' ids. Data holds the values written, one map per id for a
// create and one shared map for an update; nil for a delete.
type Write struct {
	Scope  *Scope
	Table  *schema.Table
	Action string
	IDs    []string
	Data   []map[string]any
	// DataIDs, for an update of several changes, are the rows each of Data went to (nil:
	// Data[0] went to every row).
	DataIDs [][]string
}

// Payload is what the write set, for whoever is told of it: nil for a delete, the map
// when there is one, else all of them.
func (w *Write) Payload() any {
	switch len(w.Data) {
	case 0:
		return nil
	case 1:
		return w.Data[0]
	default:
		return w.Data
	}
}

// Hooks run around every write, in the order they were added: Before inside the
// write's transaction after the rows are written and checked (an error undoes the
// write and is the caller's answer); After once it is committed.
type Hooks struct {
	Before []func(ctx context.Context, q schema.Querier, w *Write) error
	After  []func(ctx context.Context, w *Write)
	// BeforeOn are before hooks of some tables only (by name), run after Before: a
	// table without any writes a single row without a transaction.
	BeforeOn map[string][]func(ctx context.Context, q schema.Querier, w *Write) error
	// Tenant are the hooks tenants write themselves (their functions).
	Tenant TenantHooks
	// Trail records writes with statements of its own, run in the write (after the
	// Before hooks); a single-row create ships them in the row's own statement where the
	// dialect can (one round trip, no transaction).
	Trail Trail
}

// Trail is what records writes (the activity log): the statements a write adds.
type Trail interface {
	// Wants reports whether writes of t are recorded.
	Wants(t *schema.Table) bool
	// Statements are a write's records, read through q if need be.
	Statements(ctx context.Context, q schema.Querier, w *Write) ([]Stmt, error)
}

// Stmt is one statement with ? placeholders and its arguments.
type Stmt struct {
	SQL  string
	Args []any
}

// Run executes statements through q.
func Run(ctx context.Context, q schema.Querier, d schema.Dialect, stmts []Stmt) error {
	for _, st := range stmts {
		if _, err := q.ExecContext(ctx, d.Rebind(st.SQL), st.Args...); err != nil {
			return err
		}
	}
	return nil
}

// oneStatement joins inserts into one statement where the dialect allows it: on
// PostgreSQL, data-modifying WITH clauses; ok false elsewhere.
func oneStatement(d schema.Dialect, stmts []Stmt) (Stmt, bool) {
	if d.Name() != "postgres" || len(stmts) < 2 {
		return Stmt{}, false
	}
	var sb strings.Builder
	var args []any
	sb.WriteString("WITH ")
	for i, st := range stmts[:len(stmts)-1] {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "w%d AS (%s)", i, st.SQL)
		args = append(args, st.Args...)
	}
	last := stmts[len(stmts)-1]
	sb.WriteString(" ")
	sb.WriteString(last.SQL)
	return Stmt{SQL: sb.String(), Args: append(args, last.Args...)}, true
}

// TenantHooks are hooks a tenant writes itself: its functions. Wants is asked first,
// so a write nothing watches keeps its fast path.
type TenantHooks interface {
	// Wants reports whether writes of action to table in sc's tenant run any before
	// their rows are written (Prepare) and after they commit (Written, Committed).
	Wants(sc *Scope, table, action string) (before, after bool)
	// Prepare runs inside the write's transaction before its rows are written, once per
	// row created, per change of an update and per delete: it may change w.Data[0] in
	// place or refuse the write. For a create, the transaction begins when q is first
	// used: a hook that reads nothing holds no lock while it runs.
	Prepare(ctx context.Context, q schema.Querier, w *Write) error
	// Written runs inside the transaction after the rows are written and checked: what
	// must happen once the write commits is recorded here, with the write.
	Written(ctx context.Context, q schema.Querier, w *Write) error
	// Committed runs after the commit.
	Committed(ctx context.Context, w *Write)
}

// JoinedHooks are several sets of tenant hooks (functions, webhooks) as one: each is
// run, in order, for the writes it wants.
type JoinedHooks []TenantHooks

// Wants implements TenantHooks.
func (j JoinedHooks) Wants(sc *Scope, table, action string) (before, after bool) {
	for _, h := range j {
		b, a := h.Wants(sc, table, action)
		before, after = before || b, after || a
	}
	return before, after
}

// Prepare implements TenantHooks.
func (j JoinedHooks) Prepare(ctx context.Context, q schema.Querier, w *Write) error {
	for _, h := range j {
		if before, _ := h.Wants(w.Scope, w.Table.Name, w.Action); before {
			if err := h.Prepare(ctx, q, w); err != nil {
				return err
			}
		}
	}
	return nil
}

// Written implements TenantHooks.
func (j JoinedHooks) Written(ctx context.Context, q schema.Querier, w *Write) error {
	for _, h := range j {
		if _, after := h.Wants(w.Scope, w.Table.Name, w.Action); after {
			if err := h.Written(ctx, q, w); err != nil {
				return err
			}
		}
	}
	return nil
}

// Committed implements TenantHooks.
func (j JoinedHooks) Committed(ctx context.Context, w *Write) {
	for _, h := range j {
		if _, after := h.Wants(w.Scope, w.Table.Name, w.Action); after {
			h.Committed(ctx, w)
		}
	}
}

// hooked reports whether writes of action to t have hooks that must run in their
// transaction once the rows are written (and so need one).
func (h *Hooks) hooked(sc *Scope, t *schema.Table, action string) bool {
	if len(h.Before) > 0 || len(h.BeforeOn[t.Name]) > 0 || h.Trail != nil && h.Trail.Wants(t) {
		return true
	}
	_, after := h.tenant(sc, t, action)
	return after
}

// onlyTrail reports whether the trail is all that hooks writes of action to t.
func (h *Hooks) onlyTrail(sc *Scope, t *schema.Table, action string) bool {
	if h.Trail == nil || !h.Trail.Wants(t) || len(h.Before) > 0 || len(h.BeforeOn[t.Name]) > 0 {
		return false
	}
	_, after := h.tenant(sc, t, action)
	return !after
}

// wanted reports whether the tenant's hooks see writes of action to t at all.
func (h *Hooks) wanted(sc *Scope, t *schema.Table, action string) bool {
	before, after := h.tenant(sc, t, action)
	return before || after
}

func (h *Hooks) tenant(sc *Scope, t *schema.Table, action string) (before, after bool) {
	if h.Tenant == nil {
		return false, false
	}
	return h.Tenant.Wants(sc, t.Name, action)
}

// prepare runs the tenant's hooks before a write of rows.
func (s *Service) prepare(ctx context.Context, q schema.Querier, sc *Scope, t *schema.Table, action string, ids []string, data map[string]any) error {
	if !s.Hooks.wanted(sc, t, action) {
		return nil
	}
	w := &Write{Scope: sc, Table: t, Action: action, IDs: ids}
	if data != nil {
		w.Data = []map[string]any{data}
	}
	return s.Hooks.Tenant.Prepare(ctx, q, w)
}

// Service reads and writes rows.
type Service struct {
	Limits query.Limits
	// MaxBatch bounds the rows of one write (a create of many, keys of an update).
	MaxBatch  int
	Now       func() time.Time
	Publisher Publisher // nil: writes are not announced
	Hooks     Hooks
}

// Resolver is the query parser for the scope's caller: $CURRENT_USER is them, and
// their policy limits what may be read (none for admins).
func (s *Service) Resolver(sc *Scope) *query.Resolver {
	r := &query.Resolver{Model: sc.Model, Limits: s.Limits, User: sc.user(), Now: s.Now}
	if p := sc.policy(); p != nil { // a nil *Policy in the interface would not read as "no limits"
		r.Perms = p
	}
	return r
}

// Runner runs parsed queries on the scope's tenant.
func (s *Service) Runner(sc *Scope) *query.Runner {
	return &query.Runner{DB: sc.Q(nil), D: sc.DB.Dialect, Limits: s.Limits}
}

// List reads rows of t as the caller, with the query string's parameters.
func (s *Service) List(ctx context.Context, sc *Scope, t *schema.Table, p query.Params) (*query.Result, error) {
	q, err := s.Resolver(sc).Parse(t, p)
	if err != nil {
		return nil, err
	}
	return s.Runner(sc).Run(ctx, q)
}

// Read reads rows by id in the ids' order, with p's fields and deep (other parameters
// are ignored); rows the caller may not read are left out.
func (s *Service) Read(ctx context.Context, sc *Scope, t *schema.Table, p query.Params, ids []string) ([]map[string]any, error) {
	shape := query.Params{}
	for k, v := range p { // in every form: fields[]=…, deep[rel][_limit]=…
		if name, _, _ := strings.Cut(k, "["); name == "fields" || name == "deep" {
			shape[k] = v
		}
	}
	q, err := s.Resolver(sc).Parse(t, shape)
	if err != nil {
		return nil, err
	}
	q.Filter = query.IDsIn(t, ids)
	q.Limit = len(ids)
	res, err := s.Runner(sc).Run(ctx, q)
	if err != nil {
		return nil, err
	}
	// The id may not be among the requested fields: match on the order of ids instead.
	if len(res.Data) == len(ids) && !slices.Contains(q.Select.Columns, t.Column("id")) {
		return res.Data, nil
	}
	byID := map[string]map[string]any{}
	for _, row := range res.Data {
		if id, ok := row["id"].(string); ok {
			byID[id] = row
		}
	}
	out := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		if row := byID[strings.ToLower(id)]; row != nil {
			out = append(out, row)
		}
	}
	return out, nil
}

// Create inserts rows for the caller, within its create rule and field list, all or
// none, and returns their ids in order.
func (s *Service) Create(ctx context.Context, sc *Scope, t *schema.Table, objects []map[string]any) ([]string, error) {
	return s.CreateSet(ctx, sc, t, objects, nil)
}

// CreateSet is Create with values the server sets on every row (a file's size and
// location): they are not the caller's to write, so they are not checked against the
// fields the caller may write, and they win over the body.
func (s *Service) CreateSet(ctx context.Context, sc *Scope, t *schema.Table, objects []map[string]any, set map[string]any) ([]string, error) {
	if s.MaxBatch > 0 && len(objects) > s.MaxBatch {
		return nil, apierr.InvalidPayload("body", "at most %d items per request", s.MaxBatch)
	}
	g, err := s.Guard(sc, t, access.Create)
	if err != nil {
		return nil, err
	}
	for _, obj := range objects {
		if err := g.Fields(obj); err != nil {
			return nil, err
		}
		maps.Copy(obj, set)
	}
	d := sc.DB.Dialect
	// One row is one atomic statement; a batch, a row with links, a row that must then
	// pass the create rule, a write whose hooks record something with it, or one whose
	// before hooks read, is all or nothing in a transaction.
	var exec schema.Querier = sc.Q(nil)
	var tx *sql.Tx
	begin := func() error {
		if tx != nil {
			return nil
		}
		if tx, err = sc.DB.BeginTx(ctx, nil); err != nil {
			return err
		}
		exec = sc.Q(tx)
		return nil
	}
	defer func() {
		if tx != nil {
			_ = tx.Rollback() // a no-op after commit
		}
	}()
	ids := make([]string, len(objects))
	for i := range ids {
		ids[i] = uuid.Must(uuid.NewV7()).String()
	}
	if before, _ := s.Hooks.tenant(sc, t, "create"); before {
		// The transaction begins when a hook first reads: one that only looks at or
		// changes the payload runs holding no connection and, on SQLite, not the write
		// lock every other writer of the tenant waits on.
		hookQ := sc.Q(&lazyTx{fallback: sc.DB, open: func() (schema.Querier, error) {
			if err := begin(); err != nil {
				return nil, err
			}
			return tx, nil
		}})
		for i, obj := range objects {
			if err := s.prepare(ctx, hookQ, sc, t, "create", ids[i:i+1], obj); err != nil {
				return nil, err
			}
		}
	}
	links := make([][]query.Links, len(objects))
	linking := false
	for i, obj := range objects {
		if links[i], err = query.SplitLinks(s.Resolver(sc), t, obj); err != nil {
			return nil, err
		}
		linking = linking || len(links[i]) > 0
	}
	now := s.Now()
	if tx == nil && len(objects) == 1 && g.cond == nil && !linking && s.Hooks.onlyTrail(sc, t, "create") {
		if key, done, err := s.createWithTrail(ctx, sc, t, exec, objects[0], ids[0], now); done || err != nil {
			if err != nil {
				return nil, err
			}
			return []string{key}, nil
		}
	}
	if len(objects) > 1 || g.cond != nil || linking || s.Hooks.hooked(sc, t, "create") {
		if err := begin(); err != nil {
			return nil, err
		}
	}
	others := Touched{}
	for i, obj := range objects {
		id, err := query.Insert(ctx, exec, d, sc.Model, t, obj, ids[i], sc.user(), now)
		if err != nil {
			return nil, s.writeError(ctx, sc, t, obj, err)
		}
		if err := s.WriteLinks(ctx, sc, exec, t, id, links[i], others); err != nil {
			return nil, s.writeError(ctx, sc, t, nil, err)
		}
		ids[i] = id
	}
	w := &Write{Scope: sc, Table: t, Action: "create", IDs: ids, Data: objects}
	if tx != nil {
		if err := g.Rows(ctx, exec, d, ids); err != nil {
			return nil, err
		}
		if err := s.before(ctx, exec, w); err != nil {
			return nil, err
		}
		if err := tx.Commit(); err != nil {
			return nil, s.writeError(ctx, sc, t, nil, err)
		}
	}
	s.committed(ctx, w, others)
	return ids, nil
}

// createWithTrail writes one row and its trail in a single statement where the dialect
// can join them (done false elsewhere: the caller goes the transaction's way), so the
// record is as atomic as the row without a transaction's round trips.
func (s *Service) createWithTrail(ctx context.Context, sc *Scope, t *schema.Table, exec schema.Querier, obj map[string]any, id string, now time.Time) (string, bool, error) {
	d := sc.DB.Dialect
	if d.Name() != "postgres" {
		return "", false, nil
	}
	stmt, args, key, err := query.InsertStatement(d, sc.Model, t, obj, id, sc.user(), now)
	if err != nil {
		return "", true, s.writeError(ctx, sc, t, obj, err)
	}
	w := &Write{Scope: sc, Table: t, Action: "create", IDs: []string{key}, Data: []map[string]any{obj}}
	trail, err := s.Hooks.Trail.Statements(ctx, exec, w)
	if err != nil {
		return "", true, err
	}
	one, ok := oneStatement(d, append([]Stmt{{SQL: stmt, Args: args}}, trail...))
	if !ok {
		return "", false, nil
	}
	if _, err := exec.ExecContext(ctx, d.Rebind(one.SQL), one.Args...); err != nil {
		return "", true, s.writeError(ctx, sc, t, obj, err)
	}
	s.committed(ctx, w, nil)
	return key, true, nil
}

// Change is one change to some rows. Set holds values the server sets (a replaced
// file's size): not checked against the fields the caller may write.
type Change struct {
	IDs  []string
	Data map[string]any
	Set  map[string]any
}

// Update applies changes for the caller, all or none: the rows must be within its
// update rule before and after (it may not move a row out of it), and the fields within
// its list. With one, a missing row is a 404.
func (s *Service) Update(ctx context.Context, sc *Scope, t *schema.Table, changes []Change, ids []string, one bool) error {
	if err := s.checkKeys(t, ids, one); err != nil {
		return err
	}
	g, err := s.Guard(sc, t, access.Update)
	if err != nil {
		return err
	}
	for _, ch := range changes {
		if err := g.Fields(ch.Data); err != nil {
			return err
		}
		maps.Copy(ch.Data, ch.Set)
	}
	tx, q, err := s.begin(ctx, sc, g, ids)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after commit
	links := make([][]query.Links, len(changes))
	for i, ch := range changes {
		if err := s.prepare(ctx, q, sc, t, "update", ch.IDs, ch.Data); err != nil {
			return err
		}
		if links[i], err = query.SplitLinks(s.Resolver(sc), t, ch.Data); err != nil {
			return err
		}
	}
	d := sc.DB.Dialect
	others := Touched{}
	data := make([]map[string]any, 0, len(changes))
	dataIDs := make([][]string, 0, len(changes))
	for i, ch := range changes {
		n, err := query.Update(ctx, q, d, sc.Model, t, ch.IDs, ch.Data, s.Now())
		if err != nil {
			return s.writeError(ctx, sc, t, ch.Data, err)
		}
		if one && n == 0 {
			return apierr.NotFound("item %q not found in %s", ids[0], t.Name)
		}
		for _, id := range ch.IDs {
			if err := s.WriteLinks(ctx, sc, q, t, id, links[i], others); err != nil {
				return s.writeError(ctx, sc, t, nil, err)
			}
		}
		data = append(data, ch.Data)
		dataIDs = append(dataIDs, ch.IDs)
	}
	if err := g.Rows(ctx, q, d, ids); err != nil {
		return err
	}
	w := &Write{Scope: sc, Table: t, Action: "update", IDs: ids, Data: data, DataIDs: dataIDs}
	if err := s.before(ctx, q, w); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return s.writeError(ctx, sc, t, nil, err)
	}
	s.committed(ctx, w, others)
	return nil
}

// Delete deletes rows by key, all or none, within the caller's delete rule; with one,
// a missing row is a 404.
func (s *Service) Delete(ctx context.Context, sc *Scope, t *schema.Table, keys []string, one bool) error {
	if err := s.checkKeys(t, keys, one); err != nil {
		return err
	}
	g, err := s.Guard(sc, t, access.Delete)
	if err != nil {
		return err
	}
	tx, q, err := s.begin(ctx, sc, g, keys)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after commit
	if err := s.prepare(ctx, q, sc, t, "delete", keys, nil); err != nil {
		return err
	}
	d := sc.DB.Dialect
	n, err := query.Delete(ctx, q, d, t, keys)
	if err != nil {
		return s.writeError(ctx, sc, t, nil, err)
	}
	if one && n == 0 {
		return apierr.NotFound("item %q not found in %s", keys[0], t.Name)
	}
	w := &Write{Scope: sc, Table: t, Action: "delete", IDs: keys}
	if err := s.before(ctx, q, w); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return s.writeError(ctx, sc, t, nil, err)
	}
	s.committed(ctx, w, nil)
	return nil
}

// begin opens the transaction of a write on existing rows and checks, inside it, that
// every one of them is within the guard's rule; it returns the transaction and its
// tagged querier. On an error the transaction is already rolled back.
func (s *Service) begin(ctx context.Context, sc *Scope, g *Guard, ids []string) (*sql.Tx, schema.Querier, error) {
	tx, err := sc.DB.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	q := sc.Q(tx)
	if err := g.Rows(ctx, q, sc.DB.Dialect, ids); err != nil {
		_ = tx.Rollback()
		return nil, nil, err
	}
	return tx, q, nil
}

// checkKeys refuses a write's keys before anything runs: between 1 and MaxBatch of
// them, each a UUID (with one, a key that is not names no row: 404).
func (s *Service) checkKeys(t *schema.Table, keys []string, one bool) error {
	if len(keys) == 0 || (s.MaxBatch > 0 && len(keys) > s.MaxBatch) {
		return apierr.InvalidPayload("keys", "between 1 and %d keys", s.MaxBatch)
	}
	for _, k := range keys {
		if !schema.IsUUID(k) {
			if one {
				return apierr.NotFound("item %q not found in %s", k, t.Name)
			}
			return apierr.InvalidPayload("keys", "%q is not a UUID", k)
		}
	}
	return nil
}

// Before runs the before hooks on a write made outside Create/Update/Delete (a data
// migration's, inside its own transaction q).
func (s *Service) Before(ctx context.Context, q schema.Querier, w *Write) error {
	return s.before(ctx, q, w)
}

// After runs the after hooks of a write committed outside Create/Update/Delete; the
// caller announces its rows.
func (s *Service) After(ctx context.Context, w *Write) {
	ctx = context.WithoutCancel(ctx)
	for _, h := range s.Hooks.After {
		h(ctx, w)
	}
	if s.Hooks.wanted(w.Scope, w.Table, w.Action) {
		s.Hooks.Tenant.Committed(ctx, w)
	}
}

func (s *Service) before(ctx context.Context, q schema.Querier, w *Write) error {
	for _, h := range s.Hooks.Before {
		if err := h(ctx, q, w); err != nil {
			return err
		}
	}
	for _, h := range s.Hooks.BeforeOn[w.Table.Name] {
		if err := h(ctx, q, w); err != nil {
			return err
		}
	}
	if s.Hooks.Trail != nil && s.Hooks.Trail.Wants(w.Table) {
		stmts, err := s.Hooks.Trail.Statements(ctx, q, w)
		if err != nil {
			return err
		}
		if err := Run(ctx, q, w.Scope.DB.Dialect, stmts); err != nil {
			return err
		}
	}
	if s.Hooks.wanted(w.Scope, w.Table, w.Action) {
		return s.Hooks.Tenant.Written(ctx, q, w)
	}
	return nil
}

// committed runs the after hooks and announces the write and the rows it linked.
func (s *Service) committed(ctx context.Context, w *Write, others Touched) {
	s.After(ctx, w)
	s.Announce(ctx, w.Scope, w.Table.Name, w.Action, w.IDs)
	others.Announce(ctx, s, w.Scope, "update")
}

// Announce publishes rows changed in a committed write.
func (s *Service) Announce(ctx context.Context, sc *Scope, table, action string, ids []string) {
	if s.Publisher != nil && len(ids) > 0 {
		s.Publisher.Publish(context.WithoutCancel(ctx), sc, table, action, ids)
	}
}

// writeError maps a refused write onto the contract's codes, naming the field; body is
// the object written, when there is one, to find a dangling key SQLite does not name.
func (s *Service) writeError(ctx context.Context, sc *Scope, t *schema.Table, body map[string]any, err error) error {
	err = query.ClassifyWriteError(sc.Model, t, err)
	var ce *query.ConstraintError
	if errors.As(err, &ce) && ce.Code == "INVALID_FOREIGN_KEY" && ce.Field == "" && body != nil {
		if f := query.DanglingKey(ctx, sc.Q(nil), sc.DB.Dialect, sc.Model, t, body); f != "" {
			ce.Field, ce.Message = f, "field "+f+" does not reference an existing row"
		}
	}
	return err
}

// WriteError is writeError for writes made outside Create/Update/Delete (data
// migrations), so their refusals read the same.
func (s *Service) WriteError(ctx context.Context, sc *Scope, t *schema.Table, body map[string]any, err error) error {
	return s.writeError(ctx, sc, t, body, err)
}
