package records

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"strata/modules/database"
	"strata/schema"
)

// SystemWriter writes rows of a tenant's system tables (users, roles, permissions, API
// keys) for the service that owns them and has checked each write itself: values are
// column values as stored, and no caller's guard applies. Its writes share one
// transaction; the before hooks see each inside it and the after hooks hear of them
// once it commits, as they do of every other write. Hooks never see secret columns
// (the *_hash ones). System rows are not announced: realtime offers no subscription
// to them.
type SystemWriter struct {
	s      *Service
	sc     *Scope
	q      schema.Querier
	d      schema.Dialect
	writes []*Write
}

// WriteSystem runs fn's writes in one transaction of the scope's tenant: all of them,
// or none when fn (or a before hook) fails.
func (s *Service) WriteSystem(ctx context.Context, sc *Scope, fn func(w *SystemWriter) error) error {
	tx, err := sc.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after commit
	w := &SystemWriter{s: s, sc: sc, q: tx, d: sc.DB.Dialect}
	if err := fn(w); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	for _, wr := range w.writes {
		s.After(ctx, wr)
	}
	return nil
}

// table is the model's table of that name; a bare one when the scope has no model.
func (w *SystemWriter) table(name string) *schema.Table {
	if w.sc.Model != nil {
		if t := w.sc.Model.Table(name); t != nil {
			return t
		}
	}
	return &schema.Table{Name: name, System: true}
}

// hook runs the before hooks on one write and keeps it for the after hooks.
func (w *SystemWriter) hook(ctx context.Context, table, action string, ids []string, cols map[string]any) error {
	wr := &Write{Scope: w.sc, Table: w.table(table), Action: action, IDs: ids}
	if cols != nil {
		shown := maps.Clone(cols)
		maps.DeleteFunc(shown, func(k string, _ any) bool { return strings.HasSuffix(k, "_hash") })
		wr.Data = []map[string]any{shown}
	}
	if err := w.s.before(ctx, w.q, wr); err != nil {
		return err
	}
	w.writes = append(w.writes, wr)
	return nil
}

// Insert adds a row with its id, its timestamps and cols.
func (w *SystemWriter) Insert(ctx context.Context, table, id string, cols map[string]any) error {
	d := w.d
	now := d.TimeValue(w.s.Now())
	names := []string{d.Quote("id"), d.Quote("created_at"), d.Quote("updated_at")}
	args := []any{id, now, now}
	for _, k := range slices.Sorted(maps.Keys(cols)) {
		names = append(names, d.Quote(k))
		args = append(args, cols[k])
	}
	q := "INSERT INTO " + d.Quote(table) + " (" + strings.Join(names, ", ") + ") VALUES (" + schema.Placeholders(len(names)) + ")"
	if _, err := w.q.ExecContext(ctx, d.Rebind(q), args...); err != nil {
		return err
	}
	return w.hook(ctx, table, "create", []string{id}, cols)
}

// Where picks rows by equality on each of its columns.
type Where map[string]any

// sql renders the conditions in a stable order, with their arguments.
func (wh Where) sql(d schema.Dialect) (string, []any) {
	conds := make([]string, 0, len(wh))
	args := make([]any, 0, len(wh))
	for _, k := range slices.Sorted(maps.Keys(wh)) {
		conds = append(conds, d.Quote(k)+" = ?")
		args = append(args, wh[k])
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// Update sets cols (and updated_at) on the rows where picks, and reports how many it
// changed.
func (w *SystemWriter) Update(ctx context.Context, table string, where Where, cols map[string]any) (int64, error) {
	ids, err := w.ids(ctx, table, where)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	d := w.d
	sets := []string{d.Quote("updated_at") + " = ?"}
	args := []any{d.TimeValue(w.s.Now())}
	for _, k := range slices.Sorted(maps.Keys(cols)) {
		sets = append(sets, d.Quote(k)+" = ?")
		args = append(args, cols[k])
	}
	cond, keys := where.sql(d)
	res, err := w.q.ExecContext(ctx, d.Rebind("UPDATE "+d.Quote(table)+" SET "+strings.Join(sets, ", ")+cond), append(args, keys...)...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	return n, w.hook(ctx, table, "update", ids, cols)
}

// Delete removes the rows where picks and reports how many it removed.
func (w *SystemWriter) Delete(ctx context.Context, table string, where Where) (int64, error) {
	ids, err := w.ids(ctx, table, where)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	cond, keys := where.sql(w.d)
	res, err := w.q.ExecContext(ctx, w.d.Rebind("DELETE FROM "+w.d.Quote(table)+cond), keys...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	return n, w.hook(ctx, table, "delete", ids, nil)
}

// ids lists the ids of the rows an update or a delete will touch, for the hooks (read
// in the transaction, so they are the rows it then changes).
func (w *SystemWriter) ids(ctx context.Context, table string, where Where) ([]string, error) {
	d := w.d
	cond, keys := where.sql(d)
	ids, err := database.Texts(ctx, w.q, d.Rebind("SELECT "+d.Quote("id")+" FROM "+d.Quote(table)+cond), keys...)
	if err != nil {
		return nil, fmt.Errorf("find %s rows: %w", table, err)
	}
	return ids, nil
}
