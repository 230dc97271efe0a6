package records

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/google/uuid"

	"strata/modules/access"
	"strata/modules/apierr"
	"strata/modules/query"
	"strata/schema"
)

// A Batch is record operations applied together in one transaction, all or none: what
// a data-migration file becomes. Tables are emptied first, then the deletions run,
// then the upserts, each in the order given, so rows others refer to can come first.
type Batch struct {
	Empty   []Entry
	Deletes []Entry
	Upserts []Upsert
}

// Entry is one operation on a table's rows. At names it in errors and in the report
// ("_deletedRecords[2]"); Filter picks the rows (nil: every row).
type Entry struct {
	At     string
	Table  string
	Filter map[string]any
}

// Upsert writes one row found by its Filter: inserted when the filter matches none,
// updated when it matches one, refused when it matches more.
type Upsert struct {
	Entry
	Fields map[string]any
	// Presets are filled into an insert where Fields does not give them (the equalities
	// of the filter, so the new row is the one the filter finds next time).
	Presets map[string]any
}

// BatchReport counts what a batch did (or, dry, would have done).
type BatchReport struct {
	Emptied []Deleted  `json:"emptied_tables"`
	Deleted []Deleted  `json:"deleted_records"`
	Tables  []Upserted `json:"tables"`
}

// Deleted counts the rows an entry deleted.
type Deleted struct {
	At      string `json:"at,omitempty"`
	Deleted int64  `json:"deleted"`
	Table   string `json:"table"`
}

// Upserted counts a table's upserts.
type Upserted struct {
	Inserted int    `json:"inserted"`
	Table    string `json:"table"`
	Updated  int    `json:"updated"`
}

// EntryError is a write of one batch entry the database refused; the surface names the
// entry when it reports the cause.
type EntryError struct {
	At  string
	Err error
}

func (e *EntryError) Error() string { return e.At + ": " + e.Err.Error() }
func (e *EntryError) Unwrap() error { return e.Err }

// PlannedBatch is a batch checked against the model and the caller's permissions;
// nothing is written until it runs.
type PlannedBatch struct {
	sc                     *Scope
	empty, deletes, upsert []target
	// maxRows bounds the rows one deletion may match.
	maxRows int
}

// target is an entry resolved against the model.
type target struct {
	at    string
	t     *schema.Table
	find  *query.Query // the rows acted on
	guard *Guard
	up    *Upsert
}

// Emptied names the tables the batch empties (an emptying is confirmed before it runs).
func (p *PlannedBatch) Emptied() []string {
	names := make([]string, len(p.empty))
	for i, e := range p.empty {
		names[i] = e.t.Name
	}
	return names
}

// emptyBatch is how many rows emptying a table deletes per statement.
const emptyBatch = 500

// PlanBatch checks every entry of b against the model and the caller's permissions
// before anything is written. A deletion may match at most maxRows rows.
func (s *Service) PlanBatch(sc *Scope, b Batch, maxRows int) (*PlannedBatch, error) {
	p := &PlannedBatch{sc: sc, maxRows: maxRows}
	guards := map[string]*Guard{}
	guard := func(t *schema.Table, action string) (*Guard, error) {
		g := guards[t.Name+" "+action]
		if g == nil {
			var err error
			if g, err = s.Guard(sc, t, action); err != nil {
				return nil, err
			}
			guards[t.Name+" "+action] = g
		}
		return g, nil
	}
	resolve := func(e Entry, action string, limit int) (target, error) {
		t := sc.Model.Table(e.Table)
		if t == nil {
			return target{}, apierr.InvalidPayload(e.At, "%s: table %q not found", e.At, e.Table)
		}
		if t.System || strings.HasPrefix(t.Name, "strata_") {
			return target{}, apierr.InvalidPayload(e.At, "%s: %q is a system table; its rows are written through its own routes", e.At, e.Table)
		}
		g, err := guard(t, action)
		if err != nil {
			return target{}, err
		}
		params := query.Params{"fields": {"id"}}
		if e.Filter != nil {
			f, err := json.Marshal(e.Filter)
			if err != nil {
				return target{}, apierr.InvalidPayload(e.At, "%s: %v", e.At, err)
			}
			params["filter"] = []string{string(f)}
		}
		q, err := s.Resolver(sc).Parse(t, params)
		if err != nil {
			var qe *query.Error
			if errors.As(err, &qe) && !qe.Forbidden {
				return target{}, apierr.InvalidPayload(e.At, "%s: %s", e.At, qe.Error())
			}
			return target{}, err
		}
		q.Limit = limit
		return target{at: e.At, t: t, find: q, guard: g}, nil
	}
	for _, e := range b.Empty {
		tg, err := resolve(e, access.Delete, emptyBatch)
		if err != nil {
			return nil, err
		}
		p.empty = append(p.empty, tg)
	}
	for _, e := range b.Deletes {
		// One more than allowed, to tell a filter that matches too many rows.
		tg, err := resolve(e, access.Delete, maxRows+1)
		if err != nil {
			return nil, err
		}
		p.deletes = append(p.deletes, tg)
	}
	for i := range b.Upserts {
		up := &b.Upserts[i]
		tg, err := resolve(Entry{At: up.At + "._unique", Table: up.Table, Filter: up.Filter}, access.Update, 2)
		if err != nil {
			return nil, err
		}
		create, err := guard(tg.t, access.Create)
		if err != nil {
			return nil, err
		}
		// Checked on copies: presets are filled in when the row is written.
		for _, g := range []*Guard{create, tg.guard} {
			if err := g.Fields(maps.Clone(up.Fields)); err != nil {
				return nil, err
			}
		}
		tg.at, tg.up = up.At, up
		p.upsert = append(p.upsert, tg)
	}
	return p, nil
}

// RunBatch applies a planned batch in one transaction: an entry refused leaves nothing
// written. The before hooks see each write inside the transaction; once it commits the
// after hooks hear of them and their rows are announced, as for any other write. A dry
// run does it all and rolls back, so its counts are what the run would do.
func (s *Service) RunBatch(ctx context.Context, p *PlannedBatch, dry bool) (*BatchReport, error) {
	sc := p.sc
	tx, err := sc.DB.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin batch: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after commit
	w := &batchWriter{s: s, sc: sc, q: sc.Q(tx), d: sc.DB.Dialect, maxRows: p.maxRows,
		written: map[string]Touched{"create": {}, "update": {}, "delete": {}}}
	report := &BatchReport{Emptied: []Deleted{}, Deleted: []Deleted{}, Tables: []Upserted{}}
	for _, e := range p.empty {
		n, err := w.empty(ctx, e)
		if err != nil {
			return nil, err
		}
		report.Emptied = append(report.Emptied, Deleted{Table: e.t.Name, Deleted: n})
	}
	for _, e := range p.deletes {
		n, err := w.delete(ctx, e)
		if err != nil {
			return nil, err
		}
		report.Deleted = append(report.Deleted, Deleted{At: e.at, Table: e.t.Name, Deleted: n})
	}
	per := map[string]int{}
	for _, u := range p.upsert {
		inserted, err := w.upsert(ctx, u)
		if err != nil {
			return nil, err
		}
		i, ok := per[u.t.Name]
		if !ok {
			i = len(report.Tables)
			per[u.t.Name] = i
			report.Tables = append(report.Tables, Upserted{Table: u.t.Name})
		}
		if inserted {
			report.Tables[i].Inserted++
		} else {
			report.Tables[i].Updated++
		}
	}
	if dry {
		return report, nil // the deferred rollback undoes it all
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit batch: %w", err)
	}
	for _, wr := range w.writes {
		s.After(ctx, wr)
	}
	for _, action := range []string{"delete", "create", "update"} {
		w.written[action].Announce(ctx, s, sc, action)
	}
	return report, nil
}

// batchWriter runs a batch's writes in its transaction.
type batchWriter struct {
	s       *Service
	sc      *Scope
	q       schema.Querier
	d       schema.Dialect
	maxRows int
	// written is the rows changed, by action, announced once committed.
	written map[string]Touched
	// writes are what the after hooks hear of once committed.
	writes []*Write
}

func (w *batchWriter) wrote(action, table string, ids ...string) {
	w.written[action][table] = append(w.written[action][table], ids...)
}

// ids lists the ids of the rows q finds, inside the transaction.
func (w *batchWriter) ids(ctx context.Context, q *query.Query) ([]string, error) {
	res, err := (&query.Runner{DB: w.q, D: w.d, Limits: w.s.Limits}).Run(ctx, q)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(res.Data))
	for _, row := range res.Data {
		if id, ok := row["id"].(string); ok {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// hook runs the before hooks on one write inside the transaction and keeps it for the
// after hooks.
func (w *batchWriter) hook(ctx context.Context, t *schema.Table, action string, ids []string, data map[string]any) error {
	wr := &Write{Scope: w.sc, Table: t, Action: action, IDs: ids}
	if data != nil {
		wr.Data = []map[string]any{data}
	}
	if err := w.s.before(ctx, w.q, wr); err != nil {
		return err
	}
	w.writes = append(w.writes, wr)
	return nil
}

// refused names the entry whose write the database refused.
func (w *batchWriter) refused(ctx context.Context, at string, t *schema.Table, body map[string]any, err error) error {
	return &EntryError{At: at, Err: w.s.writeError(ctx, w.sc, t, body, err)}
}

func (w *batchWriter) remove(ctx context.Context, e target, ids []string) (int64, error) {
	if err := e.guard.Rows(ctx, w.q, w.d, ids); err != nil {
		return 0, err
	}
	if err := w.s.prepare(ctx, w.q, w.sc, e.t, "delete", ids, nil); err != nil {
		return 0, err
	}
	n, err := query.Delete(ctx, w.q, w.d, e.t, ids)
	if err != nil {
		return 0, w.refused(ctx, e.at, e.t, nil, err)
	}
	w.wrote("delete", e.t.Name, ids...)
	return n, w.hook(ctx, e.t, "delete", ids, nil)
}

// empty deletes every row of a table, a batch at a time.
func (w *batchWriter) empty(ctx context.Context, e target) (int64, error) {
	var total int64
	for {
		ids, err := w.ids(ctx, e.find)
		if err != nil || len(ids) == 0 {
			return total, err
		}
		n, err := w.remove(ctx, e, ids)
		if err != nil {
			return total, err
		}
		if n == 0 {
			return total, fmt.Errorf("empty %s: rows listed but not deleted", e.t.Name)
		}
		total += n
	}
}

func (w *batchWriter) delete(ctx context.Context, e target) (int64, error) {
	ids, err := w.ids(ctx, e.find)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	if len(ids) > w.maxRows {
		return 0, apierr.InvalidPayload(e.at, "%s: the filter matches more than %d rows", e.at, w.maxRows)
	}
	return w.remove(ctx, e, ids)
}

// upsert inserts the entry's row when its filter matches no row and updates the row
// when it matches one; more than one is refused, since the filter does not identify a
// row. It reports whether it inserted.
func (w *batchWriter) upsert(ctx context.Context, e target) (bool, error) {
	ids, err := w.ids(ctx, e.find)
	if err != nil {
		return false, err
	}
	body := maps.Clone(e.up.Fields)
	if body == nil {
		body = map[string]any{}
	}
	// The tenant's hooks see the body before its links are split off, as for any write.
	split := func(action string, ids []string) ([]query.Links, error) {
		if err := w.s.prepare(ctx, w.q, w.sc, e.t, action, ids, body); err != nil {
			return nil, err
		}
		links, err := query.SplitLinks(w.s.Resolver(w.sc), e.t, body)
		if err != nil {
			return nil, w.refused(ctx, e.at, e.t, nil, err)
		}
		return links, nil
	}
	m := w.sc.Model
	switch len(ids) {
	case 0:
		for k, v := range e.up.Presets {
			if _, given := body[k]; !given {
				body[k] = v
			}
		}
		create, err := w.s.Guard(w.sc, e.t, access.Create)
		if err != nil {
			return false, err
		}
		if err := create.Fields(body); err != nil {
			return false, err
		}
		id := uuid.Must(uuid.NewV7()).String()
		links, err := split("create", []string{id})
		if err != nil {
			return false, err
		}
		id, err = query.Insert(ctx, w.q, w.d, m, e.t, body, id, w.sc.user(), w.s.Now())
		if err != nil {
			return false, w.refused(ctx, e.at, e.t, body, err)
		}
		if err := w.s.WriteLinks(ctx, w.sc, w.q, e.t, id, links, w.written["update"]); err != nil {
			return false, w.refused(ctx, e.at, e.t, nil, err)
		}
		w.wrote("create", e.t.Name, id)
		if err := create.Rows(ctx, w.q, w.d, []string{id}); err != nil {
			return true, err
		}
		return true, w.hook(ctx, e.t, "create", []string{id}, body)
	case 1:
		if id, ok := body["id"]; ok {
			if s, _ := id.(string); !strings.EqualFold(s, ids[0]) {
				return false, apierr.InvalidPayload(e.at+".id", "%s.id: the row _unique finds has id %s; an id cannot change", e.at, ids[0])
			}
			delete(body, "id")
		}
		if len(body) == 0 {
			return false, nil
		}
		links, err := split("update", ids)
		if err != nil {
			return false, err
		}
		if err := e.guard.Rows(ctx, w.q, w.d, ids); err != nil {
			return false, err
		}
		if _, err := query.Update(ctx, w.q, w.d, m, e.t, ids, body, w.s.Now()); err != nil {
			return false, w.refused(ctx, e.at, e.t, body, err)
		}
		if err := w.s.WriteLinks(ctx, w.sc, w.q, e.t, ids[0], links, w.written["update"]); err != nil {
			return false, w.refused(ctx, e.at, e.t, nil, err)
		}
		w.wrote("update", e.t.Name, ids...)
		if err := e.guard.Rows(ctx, w.q, w.d, ids); err != nil {
			return false, err
		}
		return false, w.hook(ctx, e.t, "update", ids, body)
	}
	return false, apierr.InvalidPayload(e.at+"._unique", "%s._unique matches more than one row of %s; it must identify one row", e.at, e.t.Name)
}
