package rest

import (
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"strata/modules/access"
	"strata/modules/apierr"
	"strata/modules/formats"
	"strata/modules/migration"
	"strata/modules/query"
	"strata/modules/records"
	"strata/schema"
)

// dataTarget is a table of a data migration, resolved against the model.
type dataTarget struct {
	at    string
	t     *schema.Table
	find  *query.Query // the rows to update or delete; nil to empty the table
	rec   *formats.DataRecord
	guard *records.Guard
}

// resolveData checks every entry of the file against the model and the caller's
// permissions before anything is written.
func (a *API) resolveData(c *fiber.Ctx, m *schema.Model, dm *formats.DataMigration) (empty, deletes, upserts []dataTarget, err error) {
	guards := map[string]*records.Guard{}
	target := func(at, name, action string, filter map[string]any, limit int) (dataTarget, error) {
		t := m.Table(name)
		if t == nil {
			return dataTarget{}, apierr.InvalidPayload(at, "%s: table %q not found", at, name)
		}
		if t.System || strings.HasPrefix(t.Name, "strata_") {
			return dataTarget{}, apierr.InvalidPayload(at, "%s: %q is a system table; its rows are written through its own routes", at, name)
		}
		g := guards[name+" "+action]
		if g == nil {
			if g, err = a.Records.Guard(a.scopeAt(c, m), t, action); err != nil {
				return dataTarget{}, err
			}
			guards[name+" "+action] = g
		}
		p := query.Params{"fields": {"id"}}
		if filter != nil {
			p["filter"] = []string{string(formats.MustJSON(filter))}
		}
		q, err := a.resolver(c, m).Parse(t, p)
		if err != nil {
			var qe *query.Error
			if errors.As(err, &qe) && !qe.Forbidden {
				return dataTarget{}, apierr.InvalidPayload(at, "%s: %s", at, qe.Error())
			}
			return dataTarget{}, err
		}
		q.Limit = limit
		return dataTarget{at: at, t: t, find: q, guard: g}, nil
	}
	for i, name := range dm.DeletedTables {
		dt, err := target(fmt.Sprintf("_deletedTables[%d]", i), name, access.Delete, nil, emptyBatch)
		if err != nil {
			return nil, nil, nil, err
		}
		empty = append(empty, dt)
	}
	for i, dr := range dm.DeletedRecords {
		// One more than allowed, to tell a filter that matches too many rows.
		dt, err := target(fmt.Sprintf("_deletedRecords[%d]", i), dr.Table, access.Delete, dr.Filter, a.Limits.MaxLimit+1)
		if err != nil {
			return nil, nil, nil, err
		}
		deletes = append(deletes, dt)
	}
	for _, tbl := range dm.Tables {
		for i := range tbl.Records {
			rec := &tbl.Records[i]
			at := fmt.Sprintf("%s[%d]", tbl.Name, i)
			dt, err := target(at+"._unique", tbl.Name, access.Update, rec.Unique, 2)
			if err != nil {
				return nil, nil, nil, err
			}
			create, err := a.Records.Guard(a.scopeAt(c, m), dt.t, access.Create)
			if err != nil {
				return nil, nil, nil, err
			}
			// Checked on copies: presets are filled in when the row is written.
			for _, g := range []*records.Guard{create, dt.guard} {
				if err := g.Fields(maps.Clone(rec.Fields)); err != nil {
					return nil, nil, nil, err
				}
			}
			dt.at, dt.rec = at, rec
			upserts = append(upserts, dt)
		}
	}
	return empty, deletes, upserts, nil
}

// emptyBatch is how many rows emptying a table deletes per statement.
const emptyBatch = 500

// applyDataMigration applies a data-migration.json body through the items path (the
// same writes, validation and permission checks as /items), in one transaction: a bad
// record leaves nothing written. A dry run does it all and rolls back, so its counts are
// what the apply would do. Emptying tables is confirmed with the usual hash and token.
// Data changes are not migrations: the ledger is the schema's history, which sandboxes
// replay, and it records none.
func (a *API) applyDataMigration(c *fiber.Ctx, body []byte) error {
	dm, err := formats.ParseDataMigration(body, a.Limits.MaxLimit)
	if err != nil {
		return err
	}
	m, err := a.model(c)
	if err != nil {
		return err
	}
	empty, deletes, upserts, err := a.resolveData(c, m, dm)
	if err != nil {
		return err
	}
	tc := tenantOf(c)
	dry := c.QueryBool("dry_run")
	if len(empty) > 0 && !dry {
		names := make([]string, len(empty))
		for i, e := range empty {
			names[i] = e.t.Name
		}
		err := a.Migration.Confirm(tc.t.ID, "apply data-migration "+string(formats.MustJSON(dm)), c.Get("X-Schema-Confirm-Hash"), c.Get("X-Schema-Confirm-Token"), []string{})
		if err != nil {
			var cr *migration.ConfirmRequiredError
			if errors.As(err, &cr) {
				if e, ok := Translate(err).(*apierr.Error); ok {
					e.Message = "emptying tables needs confirmation: " + cr.Reason
					return e.With("emptiedTables", names)
				}
			}
			return err
		}
	}
	ctx := c.UserContext()
	tx, err := tc.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin data migration: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after commit
	sc := a.scopeAt(c, m)
	w := &dataWriter{a: a, c: c, m: m, sc: sc, tx: tx, exec: sc.Q(tx), d: tc.db.Dialect, written: map[string]records.Touched{"create": {}, "update": {}, "delete": {}}}
	emptied := []fiber.Map{}
	for _, e := range empty {
		n, err := w.empty(e)
		if err != nil {
			return err
		}
		emptied = append(emptied, fiber.Map{"table": e.t.Name, "deleted": n})
	}
	deleted := []fiber.Map{}
	for _, e := range deletes {
		n, err := w.delete(e)
		if err != nil {
			return err
		}
		deleted = append(deleted, fiber.Map{"at": e.at, "table": e.t.Name, "deleted": n})
	}
	type counts struct{ inserted, updated int }
	per := map[string]*counts{}
	var order []string
	for _, u := range upserts {
		inserted, err := w.upsert(u)
		if err != nil {
			return err
		}
		cnt := per[u.t.Name]
		if cnt == nil {
			cnt = &counts{}
			per[u.t.Name] = cnt
			order = append(order, u.t.Name)
		}
		if inserted {
			cnt.inserted++
		} else {
			cnt.updated++
		}
	}
	tables := []fiber.Map{}
	for _, name := range order {
		tables = append(tables, fiber.Map{"table": name, "inserted": per[name].inserted, "updated": per[name].updated})
	}
	data := fiber.Map{"format": formatDataMigration, "emptied_tables": emptied, "deleted_records": deleted, "tables": tables}
	if dry {
		data["dry_run"] = true
		return c.JSON(fiber.Map{"data": data}) // the deferred rollback undoes it all
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit data migration: %w", err)
	}
	// The after hooks hear of each write, as they do of any other.
	for _, wr := range w.writes {
		a.Records.After(ctx, wr)
	}
	// Realtime subscribers hear of these rows as of any other write.
	for _, action := range []string{"delete", "create", "update"} {
		w.written[action].Announce(ctx, a.Records, a.scopeAt(c, m), action)
	}
	return c.JSON(fiber.Map{"data": data})
}

// dataWriter runs a data migration's writes in its transaction.
type dataWriter struct {
	a    *API
	c    *fiber.Ctx
	m    *schema.Model
	sc   *records.Scope
	tx   *sql.Tx
	exec schema.Querier
	d    schema.Dialect
	// written is the rows changed, by action, published once committed.
	written map[string]records.Touched
	// writes are the writes the after hooks hear of once committed.
	writes []*records.Write
}

// wrote records rows the migration changed.
func (w *dataWriter) wrote(action, table string, ids ...string) {
	w.written[action][table] = append(w.written[action][table], ids...)
}

func (w *dataWriter) runner() *query.Runner {
	return &query.Runner{DB: w.exec, D: w.d, Limits: w.a.Limits.Query}
}

func (w *dataWriter) ids(q *query.Query) ([]string, error) {
	res, err := w.runner().Run(w.c.UserContext(), q)
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

// hook runs the records service's before hooks on one write of the migration, inside
// its transaction, and keeps the write for the after hooks once it commits: a data
// migration writes rows as every other surface does.
func (w *dataWriter) hook(t *schema.Table, action string, ids []string, data map[string]any) error {
	wr := &records.Write{Scope: w.sc, Table: t, Action: action, IDs: ids}
	if data != nil {
		wr.Data = []map[string]any{data}
	}
	if err := w.a.Records.Before(w.c.UserContext(), w.exec, wr); err != nil {
		return err
	}
	w.writes = append(w.writes, wr)
	return nil
}

// fail names the entry a write was refused for.
func (w *dataWriter) fail(at string, t *schema.Table, body map[string]any, err error) error {
	err = Translate(w.a.Records.WriteError(w.c.UserContext(), w.a.scopeAt(w.c, w.m), t, body, err))
	if e, ok := err.(*apierr.Error); ok && e.Status < 500 {
		e.Message = at + ": " + e.Message
		return e.With("entry", at)
	}
	return err
}

func (w *dataWriter) remove(e dataTarget, ids []string) (int64, error) {
	ctx := w.c.UserContext()
	if err := e.guard.Rows(ctx, w.exec, w.d, ids); err != nil {
		return 0, err
	}
	n, err := query.Delete(ctx, w.exec, w.d, e.t, ids)
	if err != nil {
		return 0, w.fail(e.at, e.t, nil, err)
	}
	w.wrote("delete", e.t.Name, ids...)
	return n, w.hook(e.t, "delete", ids, nil)
}

// empty deletes every row of a table, a batch at a time.
func (w *dataWriter) empty(e dataTarget) (int64, error) {
	var total int64
	for {
		ids, err := w.ids(e.find)
		if err != nil || len(ids) == 0 {
			return total, err
		}
		n, err := w.remove(e, ids)
		if err != nil {
			return total, err
		}
		if n == 0 {
			return total, fmt.Errorf("empty %s: rows listed but not deleted", e.t.Name)
		}
		total += n
	}
}

func (w *dataWriter) delete(e dataTarget) (int64, error) {
	ids, err := w.ids(e.find)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	if len(ids) > w.a.Limits.MaxLimit {
		return 0, apierr.InvalidPayload(e.at, "%s: the filter matches more than %d rows", e.at, w.a.Limits.MaxLimit)
	}
	return w.remove(e, ids)
}

// upsert inserts the record when its _unique filter matches no row and updates the
// row when it matches one; more than one is refused, since the key does not identify
// a row. It reports whether it inserted.
func (w *dataWriter) upsert(e dataTarget) (bool, error) {
	ctx := w.c.UserContext()
	ids, err := w.ids(e.find)
	if err != nil {
		return false, err
	}
	body := make(map[string]any, len(e.rec.Fields))
	for k, v := range e.rec.Fields {
		body[k] = v
	}
	links, err := query.SplitLinks(w.a.resolver(w.c, w.m), e.t, body)
	if err != nil {
		return false, w.fail(e.at, e.t, nil, err)
	}
	switch len(ids) {
	case 0:
		presets := map[string]any{}
		formats.UniquePresets(e.rec.Unique, presets)
		for k, v := range presets {
			if _, given := body[k]; !given {
				body[k] = v
			}
		}
		create, err := w.a.Records.Guard(w.a.scopeAt(w.c, w.m), e.t, access.Create)
		if err != nil {
			return false, err
		}
		if err := create.Fields(body); err != nil {
			return false, err
		}
		id, err := query.Insert(ctx, w.exec, w.d, w.m, e.t, body, uuid.Must(uuid.NewV7()).String(), callerID(w.c), w.a.Now())
		if err != nil {
			return false, w.fail(e.at, e.t, body, err)
		}
		if err := w.a.Records.WriteLinks(ctx, w.a.scopeAt(w.c, w.m), w.exec, e.t, id, links, w.written["update"]); err != nil {
			return false, w.fail(e.at, e.t, nil, err)
		}
		w.wrote("create", e.t.Name, id)
		if err := create.Rows(ctx, w.exec, w.d, []string{id}); err != nil {
			return true, err
		}
		return true, w.hook(e.t, "create", []string{id}, body)
	case 1:
		if id, ok := body["id"]; ok {
			if s, _ := id.(string); !strings.EqualFold(s, ids[0]) {
				return false, apierr.InvalidPayload(e.at+".id", "%s.id: the row _unique finds has id %s; an id cannot change", e.at, ids[0])
			}
			delete(body, "id")
		}
		if len(body) == 0 && len(links) == 0 {
			return false, nil
		}
		if err := e.guard.Rows(ctx, w.exec, w.d, ids); err != nil {
			return false, err
		}
		if _, err := query.Update(ctx, w.exec, w.d, w.m, e.t, ids, body, w.a.Now()); err != nil {
			return false, w.fail(e.at, e.t, body, err)
		}
		if err := w.a.Records.WriteLinks(ctx, w.a.scopeAt(w.c, w.m), w.exec, e.t, ids[0], links, w.written["update"]); err != nil {
			return false, w.fail(e.at, e.t, nil, err)
		}
		w.wrote("update", e.t.Name, ids...)
		if err := e.guard.Rows(ctx, w.exec, w.d, ids); err != nil {
			return false, err
		}
		return false, w.hook(e.t, "update", ids, body)
	}
	return false, apierr.InvalidPayload(e.at+"._unique", "%s._unique matches more than one row of %s; it must identify one row", e.at, e.t.Name)
}
