package rest

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"strata/modules/access"
	"strata/modules/apierr"
	"strata/modules/migration"
	"strata/modules/query"
	"strata/modules/records"
	"strata/schema"
)

// dataMigration is data-migration.json, in Enfyra's shape:
//
//	{"_deletedTables": ["logs"],
//	 "_deletedRecords": [{"table": "posts", "filter": {"slug": {"_eq": "old"}}}],
//	 "posts": [{"_unique": {"slug": {"_eq": "hello"}}, "title": "Hello"}]}
//
// Rows are upserted by their _unique filter (inserted when it matches none, updated
// when it matches one); _deletedRecords deletes the rows a filter matches;
// _deletedTables empties tables of their rows (Enfyra's meaning: the tables stay; a
// snapshot-migration's tablesToDrop drops tables). Applied as Enfyra applies them:
// _deletedTables, then _deletedRecords, then the tables in the file's order.
type dataMigration struct {
	DeletedTables  []string         `json:"_deletedTables,omitempty"`
	DeletedRecords []deletedRecords `json:"_deletedRecords,omitempty"`
	Tables         []dataTable      `json:"tables,omitempty"`
}

type deletedRecords struct {
	Table  string         `json:"table"`
	Filter map[string]any `json:"filter"`
}

type dataTable struct {
	Name    string       `json:"name"`
	Records []dataRecord `json:"records"`
}

type dataRecord struct {
	Unique map[string]any `json:"_unique"` // a filter that finds the row
	Fields map[string]any `json:"fields"`
}

// parseDataMigration reads a data-migration.json body and checks its shape; at most
// limit records, deletions and emptied tables. Tables keep the file's order, so rows that others refer to
// can come first.
func parseDataMigration(body []byte, limit int) (*dataMigration, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, apierr.InvalidPayload("body", "a JSON body is required")
	}
	bad := func(field, format string, args ...any) error {
		return apierr.InvalidPayload(field, "%s: %s", field, fmt.Sprintf(format, args...))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, bad("body", "a data-migration file is a JSON object of table names and their records")
	}
	dm := &dataMigration{}
	seen := map[string]bool{}
	count := 0
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, bad("body", "invalid JSON body: %v", err)
		}
		key, _ := tok.(string)
		if seen[key] {
			return nil, bad(key, "appears twice")
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, bad("body", "invalid JSON body: %v", err)
		}
		switch {
		case key == "_deletedTables":
			if err := strictJSON(raw, &dm.DeletedTables); err != nil {
				return nil, bad(key, "must be a list of table names")
			}
			count += len(dm.DeletedTables)
		case key == "_deletedRecords":
			if err := strictJSON(raw, &dm.DeletedRecords); err != nil {
				return nil, bad(key, `must be a list of {"table": …, "filter": {…}}: %v`, err)
			}
			for i, dr := range dm.DeletedRecords {
				if dr.Table == "" || len(dr.Filter) == 0 {
					return nil, bad(fmt.Sprintf("_deletedRecords[%d]", i), "table and a non-empty filter are required")
				}
			}
			count += len(dm.DeletedRecords)
		case strings.HasPrefix(key, "_"):
			return nil, bad(key, "unknown directive (want _deletedTables or _deletedRecords)")
		default:
			dt, err := parseDataTable(key, raw)
			if err != nil {
				return nil, err
			}
			dm.Tables = append(dm.Tables, *dt)
			count += len(dt.Records)
		}
		if count > limit {
			return nil, bad("body", "at most %d records, deletions and emptied tables per file", limit)
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, bad("body", "invalid JSON body: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, bad("body", "the body must be a single JSON object")
	}
	return dm, nil
}

// parseDataTable reads one table's records: a list of objects, or one object.
func parseDataTable(name string, raw json.RawMessage) (*dataTable, error) {
	var list []json.RawMessage
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '{' {
		list = []json.RawMessage{raw}
	} else if err := json.Unmarshal(raw, &list); err != nil {
		return nil, apierr.InvalidPayload(name, "%s: must be a list of records", name)
	}
	dt := &dataTable{Name: name}
	for i, r := range list {
		at := fmt.Sprintf("%s[%d]", name, i)
		var fields map[string]any
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.UseNumber()
		if err := dec.Decode(&fields); err != nil || fields == nil {
			return nil, apierr.InvalidPayload(at, "%s: a record is a JSON object", at)
		}
		rec := dataRecord{Fields: fields}
		switch u := fields["_unique"].(type) {
		case map[string]any:
			if len(u) == 0 {
				return nil, apierr.InvalidPayload(at+"._unique", "%s._unique: an empty filter matches every row", at)
			}
			rec.Unique = u
		case []any:
			// The short form: the names of the record's fields that identify it.
			var and []any
			for j, f := range u {
				name, _ := f.(string)
				v, ok := fields[name]
				if !ok {
					return nil, apierr.InvalidPayload(fmt.Sprintf("%s._unique[%d]", at, j), "%s._unique[%d]: the record has no field %v", at, j, f)
				}
				and = append(and, map[string]any{name: map[string]any{"_eq": v}})
			}
			if len(and) == 0 {
				return nil, apierr.InvalidPayload(at+"._unique", "%s._unique: name at least one field", at)
			}
			rec.Unique = map[string]any{"_and": and}
		case nil:
			id, ok := fields["id"]
			if !ok {
				return nil, apierr.InvalidPayload(at+"._unique", `%s._unique is required: a filter such as {"slug":{"_eq":"hello"}}, or the list of fields that identify the row`, at)
			}
			rec.Unique = map[string]any{"id": map[string]any{"_eq": id}}
		default:
			return nil, apierr.InvalidPayload(at+"._unique", "%s._unique must be a filter object or a list of field names", at)
		}
		delete(fields, "_unique")
		for k := range fields {
			if strings.HasPrefix(k, "_") {
				return nil, apierr.InvalidPayload(at+"."+k, "%s.%s: unknown directive", at, k)
			}
		}
		dt.Records = append(dt.Records, rec)
	}
	return dt, nil
}

// strictJSON decodes refusing unknown fields and keeping numbers exact.
func strictJSON(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	return dec.Decode(v)
}

// uniquePresets are the values a _unique filter pins with _eq, at its top or under
// _and: a row inserted because the filter matched none gets them, so that the same file
// applied again finds it.
func uniquePresets(f map[string]any, out map[string]any) {
	for k, v := range f {
		switch spec := v.(type) {
		case []any:
			if k == "_and" {
				for _, sub := range spec {
					if m, ok := sub.(map[string]any); ok {
						uniquePresets(m, out)
					}
				}
			}
		case map[string]any:
			if eq, ok := spec["_eq"]; ok && len(spec) == 1 && !strings.HasPrefix(k, "_") {
				out[k] = eq
			}
		}
	}
}

// dataTarget is a table of a data migration, resolved against the model.
type dataTarget struct {
	at    string
	t     *schema.Table
	find  *query.Query // the rows to update or delete; nil to empty the table
	rec   *dataRecord
	guard *records.Guard
}

// resolveData checks every entry of the file against the model and the caller's
// permissions before anything is written.
func (a *API) resolveData(c *fiber.Ctx, m *schema.Model, dm *dataMigration) (empty, deletes, upserts []dataTarget, err error) {
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
			p["filter"] = []string{string(mustJSON(filter))}
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
	dm, err := parseDataMigration(body, a.Limits.MaxLimit)
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
		err := a.Migration.Confirm(tc.t.ID, "apply data-migration "+string(mustJSON(dm)), c.Get("X-Schema-Confirm-Hash"), c.Get("X-Schema-Confirm-Token"), []string{})
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
	w := &dataWriter{a: a, c: c, m: m, tx: tx, exec: a.scopeAt(c, m).Q(tx), d: tc.db.Dialect, written: map[string]records.Touched{"create": {}, "update": {}, "delete": {}}}
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
	tx   *sql.Tx
	exec schema.Querier
	d    schema.Dialect
	// written is the rows changed, by action, published once committed.
	written map[string]records.Touched
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
	return n, nil
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
		uniquePresets(e.rec.Unique, presets)
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
		return true, create.Rows(ctx, w.exec, w.d, []string{id})
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
		return false, e.guard.Rows(ctx, w.exec, w.d, ids)
	}
	return false, apierr.InvalidPayload(e.at+"._unique", "%s._unique matches more than one row of %s; it must identify one row", e.at, e.t.Name)
}
