package rest

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"strata/modules/access"
	"strata/modules/apierr"
	"strata/modules/migration"
	"strata/modules/query"
	"strata/schema"
)

// itemsTable finds the table an items route names.
func (a *API) itemsTable(c *fiber.Ctx) (*schema.Model, *schema.Table, error) {
	m, err := a.model(c)
	if err != nil {
		return nil, nil, err
	}
	t := m.Table(c.Params("table"))
	if t == nil {
		return nil, nil, errNotFound("table", c.Params("table"))
	}
	if strings.HasPrefix(t.Name, "strata_") {
		// Users, roles, permissions, sessions and keys have their own routes, which
		// never show password or token hashes.
		return nil, nil, apierr.Forbidden("%s is served by its own routes (/users, /roles, /permissions, /api-keys)", t.Name)
	}
	return m, t, nil
}

// params collects the query string with repeated and bracket-form keys intact.
func params(c *fiber.Ctx) query.Params {
	p := query.Params{}
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		p[string(k)] = append(p[string(k)], string(v))
	})
	return p
}

// resolver validates queries for this request's caller against the tenant's model.
func (a *API) resolver(c *fiber.Ctx, m *schema.Model) *query.Resolver {
	return a.newResolver(m, callerID(c), perms(c))
}

// newResolver is the query parser for a caller: user for $CURRENT_USER, policy nil for
// admins. REST, GraphQL and realtime all read through it.
func (a *API) newResolver(m *schema.Model, user string, policy *access.Policy) *query.Resolver {
	r := &query.Resolver{Model: m, Limits: a.Limits.Query, User: user, Now: a.Now}
	if policy != nil { // a nil *Policy in the interface would not read as "no limits"
		r.Perms = policy
	}
	return r
}

func (a *API) runner(c *fiber.Ctx) *query.Runner { return a.newRunner(tenantOf(c)) }

// newRunner runs queries on a tenant's tables, tagged with the request's schema version.
func (a *API) newRunner(tc *tenantCtx) *query.Runner {
	return &query.Runner{DB: tc.q(nil), D: tc.db.Dialect, Limits: a.Limits.Query}
}

func (a *API) listItems(c *fiber.Ctx) error {
	m, t, err := a.itemsTable(c)
	if err != nil {
		return err
	}
	q, err := a.resolver(c, m).Parse(t, params(c))
	if err != nil {
		return err
	}
	res, err := a.runner(c).Run(c.UserContext(), q)
	if err != nil {
		return err
	}
	out := fiber.Map{"data": res.Data}
	if res.Meta != nil {
		out["meta"] = res.Meta
	}
	return c.JSON(out)
}

// readItems reads rows by id with the request's fields and deep, in the ids' order.
func (a *API) readItems(c *fiber.Ctx, m *schema.Model, t *schema.Table, ids []string) ([]map[string]any, error) {
	p := query.Params{}
	for k, v := range params(c) { // in every form: fields[]=…, deep[rel][_limit]=…
		if name, _, _ := strings.Cut(k, "["); name == "fields" || name == "deep" {
			p[k] = v
		}
	}
	q, err := a.resolver(c, m).Parse(t, p)
	if err != nil {
		return nil, err
	}
	q.Filter = query.IDsIn(t, ids)
	q.Limit = len(ids)
	res, err := a.runner(c).Run(c.UserContext(), q)
	if err != nil {
		return nil, err
	}
	byID := map[string]map[string]any{}
	// The id may not be among the requested fields: match on the order of ids instead.
	if len(res.Data) == len(ids) && !slices.Contains(q.Select.Columns, t.Column("id")) {
		return res.Data, nil
	}
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

func (a *API) getItem(c *fiber.Ctx) error {
	m, t, err := a.itemsTable(c)
	if err != nil {
		return err
	}
	id := c.Params("id")
	if !schema.IsUUID(id) {
		return apierr.NotFound("item %q not found in %s", id, t.Name)
	}
	rows, err := a.readItems(c, m, t, []string{id})
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return apierr.NotFound("item %q not found in %s", id, t.Name)
	}
	return c.JSON(fiber.Map{"data": rows[0]})
}

func (a *API) createItems(c *fiber.Ctx) error {
	switch c.Params("table") {
	case "table_definition", "column_definition", "relation_definition":
		return a.createMetadata(c)
	}
	m, t, err := a.writableTable(c)
	if err != nil {
		return err
	}
	body := bytes.TrimSpace(c.Body())
	var objects []map[string]any
	many := len(body) > 0 && body[0] == '['
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if many {
		err = dec.Decode(&objects)
	} else {
		var one map[string]any
		err = dec.Decode(&one)
		objects = []map[string]any{one}
	}
	if err != nil || len(objects) == 0 || objects[0] == nil {
		return apierr.InvalidPayload("body", "expected a JSON object or an array of objects")
	}
	if len(objects) > a.Limits.MaxLimit {
		return apierr.InvalidPayload("body", "at most %d items per request", a.Limits.MaxLimit)
	}
	ids, err := a.insertRows(c, m, t, objects)
	if err != nil {
		return err
	}
	out, err := a.readItems(c, m, t, ids)
	if err != nil {
		return err
	}
	if len(out) < len(ids) {
		// Created, but the caller may not read (all of) it back: say so without data.
		return c.SendStatus(fiber.StatusNoContent)
	}
	if many {
		return c.JSON(fiber.Map{"data": out})
	}
	return c.JSON(fiber.Map{"data": out[0]})
}

// insertRows creates rows for the caller, within its create rule and field list, all
// or none, and returns their ids in order.
func (a *API) insertRows(c *fiber.Ctx, m *schema.Model, t *schema.Table, objects []map[string]any) ([]string, error) {
	g, err := a.writeGuard(c, m, t, access.Create)
	if err != nil {
		return nil, err
	}
	links := make([][]query.Links, len(objects))
	linking := false
	for i, obj := range objects {
		if err := g.fields(obj); err != nil {
			return nil, err
		}
		if links[i], err = query.SplitLinks(a.resolver(c, m), t, obj); err != nil {
			return nil, err
		}
		linking = linking || len(links[i]) > 0
	}
	tc := tenantOf(c)
	d := tc.db.Dialect
	// One row is one atomic statement; a batch, a row with links, or a row that must
	// then pass the create rule, is all or nothing in a transaction.
	var exec schema.Querier = tc.q(nil)
	var tx *sql.Tx
	if len(objects) > 1 || g.cond != nil || linking {
		if tx, err = tc.db.BeginTx(c.UserContext(), nil); err != nil {
			return nil, err
		}
		defer tx.Rollback() //nolint:errcheck // a no-op after commit
		exec = tc.q(tx)
	}
	ids := make([]string, 0, len(objects))
	now := a.Now()
	others := touched{}
	for i, obj := range objects {
		id, err := query.Insert(c.UserContext(), exec, d, m, t, obj, uuid.Must(uuid.NewV7()).String(), callerID(c), now)
		if err != nil {
			return nil, a.writeError(c, m, t, obj, err)
		}
		if err := a.writeLinks(c, m, t, exec, id, links[i], others); err != nil {
			return nil, a.writeError(c, m, t, nil, err)
		}
		ids = append(ids, id)
	}
	if tx != nil {
		if err := g.rows(c.UserContext(), exec, d, ids); err != nil {
			return nil, err
		}
		if err := tx.Commit(); err != nil {
			return nil, a.writeError(c, m, t, nil, err)
		}
	}
	a.publish(c, t.Name, "create", ids)
	others.publish(a, c, "update")
	return ids, nil
}

// writeError maps a refused write onto the contract's codes, naming the field; body is
// the object written, when there is one, to find a dangling key SQLite does not name.
func (a *API) writeError(c *fiber.Ctx, m *schema.Model, t *schema.Table, body map[string]any, err error) error {
	err = query.ClassifyWriteError(m, t, err)
	var ce *query.ConstraintError
	if errors.As(err, &ce) && ce.Code == "INVALID_FOREIGN_KEY" && ce.Field == "" && body != nil {
		tc := tenantOf(c)
		if f := query.DanglingKey(c.UserContext(), tc.q(nil), tc.db.Dialect, m, t, body); f != "" {
			ce.Field, ce.Message = f, "field "+f+" does not reference an existing row"
		}
	}
	return err
}

// writableTable finds a user table for an item write; metadata tables are written
// through the schema path and the ledger not at all.
func (a *API) writableTable(c *fiber.Ctx) (*schema.Model, *schema.Table, error) {
	m, t, err := a.itemsTable(c)
	if err != nil {
		return nil, nil, err
	}
	if t.System {
		return nil, nil, apierr.Forbidden("%s is written through its own routes", t.Name)
	}
	return m, t, nil
}

// decodeJSON reads a body keeping numbers exact.
func decodeJSON(c *fiber.Ctx, v any) error {
	dec := json.NewDecoder(bytes.NewReader(c.Body()))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return apierr.InvalidPayload("body", "invalid JSON body: %v", err)
	}
	return nil
}

// patchItem updates one row; on metadata tables it is a schema change.
func (a *API) patchItem(c *fiber.Ctx) error {
	switch c.Params("table") {
	case "table_definition", "column_definition":
		return a.patchMetadata(c)
	}
	m, t, err := a.writableTable(c)
	if err != nil {
		return err
	}
	var body map[string]any
	if err := decodeJSON(c, &body); err != nil || body == nil {
		return apierr.InvalidPayload("body", "expected a JSON object")
	}
	id := c.Params("id")
	if !schema.IsUUID(id) {
		return apierr.NotFound("item %q not found in %s", id, t.Name)
	}
	if err := a.updateRows(c, m, t, []rowChange{{[]string{id}, body}}, []string{id}, true); err != nil {
		return err
	}
	rows, err := a.readItems(c, m, t, []string{id})
	if err != nil {
		return err
	}
	if len(rows) == 0 { // updated, but not readable by the caller
		return c.SendStatus(fiber.StatusNoContent)
	}
	return c.JSON(fiber.Map{"data": rows[0]})
}

// batchUpdate is PATCH /items/{t}: {"keys":[…],"data":{…}} applies one change to many
// rows; an array of objects with ids applies each its own change. All or nothing.
type batchUpdate struct {
	Keys []string       `json:"keys"`
	Data map[string]any `json:"data"`
}

func (a *API) patchItems(c *fiber.Ctx) error {
	m, t, err := a.writableTable(c)
	if err != nil {
		return err
	}
	var changes []rowChange
	var ids []string
	if b := bytes.TrimSpace(c.Body()); len(b) > 0 && b[0] == '[' {
		var list []map[string]any
		if err := decodeJSON(c, &list); err != nil {
			return err
		}
		for i, obj := range list {
			id, _ := obj["id"].(string)
			if id == "" {
				return apierr.InvalidPayload("id", "item %d has no id", i)
			}
			delete(obj, "id")
			changes = append(changes, rowChange{[]string{id}, obj})
			ids = append(ids, id)
		}
	} else {
		var in batchUpdate
		if err := decodeJSON(c, &in); err != nil {
			return err
		}
		if in.Data == nil {
			return apierr.InvalidPayload("data", "data is required")
		}
		changes, ids = []rowChange{{in.Keys, in.Data}}, in.Keys
	}
	if len(ids) == 0 || len(ids) > a.Limits.MaxLimit {
		return apierr.InvalidPayload("keys", "between 1 and %d keys", a.Limits.MaxLimit)
	}
	if err := a.updateRows(c, m, t, changes, ids, false); err != nil {
		return err
	}
	rows, err := a.readItems(c, m, t, ids)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": rows})
}

// rowChange is one change to some rows.
type rowChange struct {
	ids  []string
	data map[string]any
}

// updateRows applies changes for the caller, all or none: the rows must be within its
// update rule before and after (it may not move a row out of it), and the fields within
// its list. With one, a missing row is a 404.
func (a *API) updateRows(c *fiber.Ctx, m *schema.Model, t *schema.Table, changes []rowChange, ids []string, one bool) error {
	for _, id := range ids {
		if !schema.IsUUID(id) {
			if one {
				return apierr.NotFound("item %q not found in %s", id, t.Name)
			}
			return apierr.InvalidPayload("keys", "%q is not a UUID", id)
		}
	}
	g, err := a.writeGuard(c, m, t, access.Update)
	if err != nil {
		return err
	}
	links := make([][]query.Links, len(changes))
	for i, ch := range changes {
		if err := g.fields(ch.data); err != nil {
			return err
		}
		if links[i], err = query.SplitLinks(a.resolver(c, m), t, ch.data); err != nil {
			return err
		}
	}
	tc := tenantOf(c)
	tx, err := tc.db.BeginTx(c.UserContext(), nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after commit
	if err := g.rows(c.UserContext(), tc.q(tx), tc.db.Dialect, ids); err != nil {
		return err
	}
	others := touched{}
	for i, ch := range changes {
		n, err := query.Update(c.UserContext(), tc.q(tx), tc.db.Dialect, m, t, ch.ids, ch.data, a.Now())
		if err != nil {
			return a.writeError(c, m, t, ch.data, err)
		}
		if one && n == 0 {
			return apierr.NotFound("item %q not found in %s", ids[0], t.Name)
		}
		for _, id := range ch.ids {
			if err := a.writeLinks(c, m, t, tc.q(tx), id, links[i], others); err != nil {
				return a.writeError(c, m, t, nil, err)
			}
		}
	}
	if err := g.rows(c.UserContext(), tc.q(tx), tc.db.Dialect, ids); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return a.writeError(c, m, t, nil, err)
	}
	a.publish(c, t.Name, "update", ids)
	others.publish(a, c, "update")
	return nil
}

// deleteItem deletes one row; on metadata tables it is a schema change.
func (a *API) deleteItem(c *fiber.Ctx) error {
	switch c.Params("table") {
	case "table_definition", "column_definition", "relation_definition":
		return a.deleteMetadata(c)
	}
	m, t, err := a.writableTable(c)
	if err != nil {
		return err
	}
	id := c.Params("id")
	if !schema.IsUUID(id) {
		return apierr.NotFound("item %q not found in %s", id, t.Name)
	}
	return a.deleteKeys(c, m, t, []string{id}, true)
}

// deleteKeys deletes rows by key, all or none, within the caller's delete rule.
func (a *API) deleteKeys(c *fiber.Ctx, m *schema.Model, t *schema.Table, keys []string, one bool) error {
	if err := a.deleteRows(c, m, t, keys, one); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// deleteRows deletes rows by key, all or none, within the caller's delete rule; with
// one, a missing row is a 404.
func (a *API) deleteRows(c *fiber.Ctx, m *schema.Model, t *schema.Table, keys []string, one bool) error {
	g, err := a.writeGuard(c, m, t, access.Delete)
	if err != nil {
		return err
	}
	tc := tenantOf(c)
	tx, err := tc.db.BeginTx(c.UserContext(), nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after commit
	if err := g.rows(c.UserContext(), tc.q(tx), tc.db.Dialect, keys); err != nil {
		return err
	}
	n, err := query.Delete(c.UserContext(), tc.q(tx), tc.db.Dialect, t, keys)
	if err != nil {
		return a.writeError(c, m, t, nil, err)
	}
	if one && n == 0 {
		return apierr.NotFound("item %q not found in %s", keys[0], t.Name)
	}
	if err := tx.Commit(); err != nil {
		return a.writeError(c, m, t, nil, err)
	}
	a.publish(c, t.Name, "delete", keys)
	return nil
}

// deleteItems is DELETE /items/{t} with {"keys":[…]} or a bare array of keys.
func (a *API) deleteItems(c *fiber.Ctx) error {
	m, t, err := a.writableTable(c)
	if err != nil {
		return err
	}
	var keys []string
	if b := bytes.TrimSpace(c.Body()); len(b) > 0 && b[0] == '[' {
		if err := decodeJSON(c, &keys); err != nil {
			return err
		}
	} else {
		var in struct {
			Keys []string `json:"keys"`
		}
		if err := decodeJSON(c, &in); err != nil {
			return err
		}
		keys = in.Keys
	}
	if len(keys) == 0 || len(keys) > a.Limits.MaxLimit {
		return apierr.InvalidPayload("keys", "between 1 and %d keys", a.Limits.MaxLimit)
	}
	for _, k := range keys {
		if !schema.IsUUID(k) {
			return apierr.InvalidPayload("keys", "%q is not a UUID", k)
		}
	}
	return a.deleteKeys(c, m, t, keys, false)
}

// metadataRow answers a metadata write the items way: the row as it now reads.
func (a *API) metadataRow(c *fiber.Ctx, res *migration.Result, table, id string) error {
	if c.QueryBool("dry_run") {
		return respond(c, res, "", nil)
	}
	tc := tenantOf(c)
	t := res.After.Table(table)
	var row any
	if id != "" && t != nil {
		rows, err := query.Select(c.UserContext(), tc.db, tc.db.Dialect, t, id, 1)
		if err != nil {
			return err
		}
		if len(rows) > 0 {
			row = rows[0]
		}
	}
	c.Set("X-Strata-Migration", res.Migration.ID)
	if row == nil {
		return c.SendStatus(fiber.StatusNoContent)
	}
	return c.JSON(fiber.Map{"data": row})
}

// columnDefinitionInput is a column_definition row as written through /items.
type columnDefinitionInput struct {
	columnInput
	Table   string `json:"table,omitempty"`
	TableID string `json:"table_id,omitempty"`
}

func (a *API) createMetadata(c *fiber.Ctx) error {
	if err := adminOnly(c); err != nil {
		return err
	}
	m, err := a.model(c)
	if err != nil {
		return err
	}
	switch c.Params("table") {
	case "table_definition":
		var in tableInput
		if err := decode(c, &in); err != nil {
			return err
		}
		ch, err := createTableChange(in)
		if err != nil {
			return err
		}
		res, err := a.apply(c, ch)
		if err != nil {
			return err
		}
		return a.metadataRow(c, res, "table_definition", res.Change.Create.ID)
	case "column_definition":
		var in columnDefinitionInput
		if err := decode(c, &in); err != nil {
			return err
		}
		table := in.Table
		if in.TableID != "" {
			table = tableNameByID(m, in.TableID)
		}
		if table == "" {
			return apierr.InvalidPayload("table", "table or table_id is required")
		}
		col := in.column()
		res, err := a.apply(c, schema.Change{Type: schema.AddColumn, Table: table, Def: &col})
		if err != nil {
			return err
		}
		return a.metadataRow(c, res, "column_definition", res.Change.Def.ID)
	default: // relation_definition
		var in relationInput
		if err := decode(c, &in); err != nil {
			return err
		}
		r := in.relation()
		res, err := a.apply(c, schema.Change{Type: schema.AddRelation, Relation: &r})
		if err != nil {
			return err
		}
		return a.metadataRow(c, res, "relation_definition", res.Change.Relation.ID)
	}
}

func tableNameByID(m *schema.Model, id string) string {
	for _, t := range m.Tables {
		if t.ID == id {
			return t.Name
		}
	}
	return ""
}

func columnByID(m *schema.Model, id string) (string, string) {
	for _, t := range m.Tables {
		for _, col := range t.Columns {
			if col.ID == id {
				return t.Name, col.Name
			}
		}
	}
	return "", ""
}

func (a *API) patchMetadata(c *fiber.Ctx) error {
	if err := adminOnly(c); err != nil {
		return err
	}
	m, err := a.model(c)
	if err != nil {
		return err
	}
	id := c.Params("id")
	if c.Params("table") == "table_definition" {
		name := tableNameByID(m, id)
		if name == "" {
			return errNotFound("table", id)
		}
		var in tablePatch
		if err := decode(c, &in); err != nil {
			return err
		}
		changes, err := patchTableChanges(name, in)
		if err != nil {
			return err
		}
		res, err := a.applyChanges(c, changes)
		if err != nil {
			return err
		}
		return a.metadataRow(c, res, "table_definition", id)
	}
	table, column := columnByID(m, id)
	if table == "" {
		return errNotFound("column", id)
	}
	changes, err := patchColumnChanges(m, table, column, c.Body())
	if err != nil {
		return err
	}
	res, err := a.applyChanges(c, changes)
	if err != nil {
		return err
	}
	return a.metadataRow(c, res, "column_definition", id)
}

// applyChanges runs the changes of one metadata write as one request (see
// applyRequest) and returns the last one's result.
func (a *API) applyChanges(c *fiber.Ctx, changes []schema.Change) (*migration.Result, error) {
	results, err := a.applyRequest(c, changes)
	if err != nil {
		return nil, err
	}
	return results[len(results)-1], nil
}

func (a *API) deleteMetadata(c *fiber.Ctx) error {
	if err := adminOnly(c); err != nil {
		return err
	}
	m, err := a.model(c)
	if err != nil {
		return err
	}
	id := c.Params("id")
	var ch schema.Change
	switch c.Params("table") {
	case "table_definition":
		name := tableNameByID(m, id)
		if name == "" {
			return errNotFound("table", id)
		}
		ch = schema.Change{Type: schema.DropTable, Table: name}
	case "column_definition":
		table, column := columnByID(m, id)
		if table == "" {
			return errNotFound("column", id)
		}
		ch = schema.Change{Type: schema.DropColumn, Table: table, Column: column}
	default:
		ch = schema.Change{Type: schema.DropRelation, Relation: &schema.Relation{ID: id}}
	}
	res, err := a.apply(c, ch)
	if err != nil {
		return err
	}
	if c.QueryBool("dry_run") {
		return respond(c, res, "", nil)
	}
	c.Set("X-Strata-Migration", res.Migration.ID)
	return c.SendStatus(fiber.StatusNoContent)
}
