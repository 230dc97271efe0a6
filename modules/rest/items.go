package rest

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/gofiber/fiber/v2"

	"strata/modules/apierr"
	"strata/modules/formats"
	"strata/modules/migration"
	"strata/modules/query"
	"strata/modules/records"
	"strata/schema"
)

// itemsTable finds the table an items route names, with the request's records scope.
func (a *API) itemsTable(c *fiber.Ctx) (*records.Scope, *schema.Table, error) {
	sc, err := a.scope(c)
	if err != nil {
		return nil, nil, err
	}
	name, routed := c.Locals(routeTable{}).(string)
	if !routed {
		name = c.Params("table")
	}
	t := sc.Model.Table(name)
	if t == nil {
		return nil, nil, errNotFound("table", name)
	}
	if routed {
		return sc, t, nil // a system table its own route serves (folders)
	}
	if strings.HasPrefix(t.Name, "strata_") {
		// Users, roles, permissions, sessions and keys have their own routes, which
		// never show password or token hashes.
		return nil, nil, apierr.Forbidden("%s is served by its own routes (/users, /roles, /permissions, /api-keys)", t.Name)
	}
	return sc, t, nil
}

// params collects the query string with repeated and bracket-form keys intact.
func params(c *fiber.Ctx) query.Params {
	p := query.Params{}
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		p[string(k)] = append(p[string(k)], string(v))
	})
	return p
}

// resolver validates queries for this request's caller against model m.
func (a *API) resolver(c *fiber.Ctx, m *schema.Model) *query.Resolver {
	return a.Records.Resolver(a.scopeAt(c, m))
}

// runner runs queries on the request's tenant.
func (a *API) runner(c *fiber.Ctx) *query.Runner { return a.Records.Runner(a.scopeAt(c, nil)) }

func (a *API) listItems(c *fiber.Ctx) error {
	sc, t, err := a.itemsTable(c)
	if err != nil {
		return err
	}
	res, err := a.Records.List(c.UserContext(), sc, t, params(c))
	if err != nil {
		return err
	}
	return listing(c, res)
}

// listing answers a query's rows, and its counts when it asked for them.
func listing(c *fiber.Ctx, res *query.Result) error {
	out := fiber.Map{"data": res.Data}
	if len(res.Meta) > 0 {
		out["meta"] = res.Meta
	}
	return c.JSON(out)
}

func (a *API) getItem(c *fiber.Ctx) error {
	sc, t, err := a.itemsTable(c)
	if err != nil {
		return err
	}
	id := c.Params("id")
	if !schema.IsUUID(id) {
		return apierr.NotFound("item %q not found in %s", id, t.Name)
	}
	rows, err := a.Records.Read(c.UserContext(), sc, t, params(c), []string{id})
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
	sc, t, err := a.writableTable(c)
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
	ctx := c.UserContext()
	ids, err := a.Records.Create(ctx, sc, t, objects)
	if err != nil {
		return err
	}
	out, err := a.Records.Read(ctx, sc, t, params(c), ids)
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

// writableTable finds a user table for an item write; metadata tables are written
// through the schema path and the ledger not at all.
func (a *API) writableTable(c *fiber.Ctx) (*records.Scope, *schema.Table, error) {
	sc, t, err := a.itemsTable(c)
	if err != nil {
		return nil, nil, err
	}
	if _, routed := c.Locals(routeTable{}).(string); t.System && !routed {
		return nil, nil, apierr.Forbidden("%s is written through its own routes", t.Name)
	}
	return sc, t, nil
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
	sc, t, err := a.writableTable(c)
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
	ctx := c.UserContext()
	if err := a.Records.Update(ctx, sc, t, []records.Change{{IDs: []string{id}, Data: body}}, []string{id}, true); err != nil {
		return err
	}
	rows, err := a.Records.Read(ctx, sc, t, params(c), []string{id})
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
	sc, t, err := a.writableTable(c)
	if err != nil {
		return err
	}
	var changes []records.Change
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
			changes = append(changes, records.Change{IDs: []string{id}, Data: obj})
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
		changes, ids = []records.Change{{IDs: in.Keys, Data: in.Data}}, in.Keys
	}
	ctx := c.UserContext()
	if err := a.Records.Update(ctx, sc, t, changes, ids, false); err != nil {
		return err
	}
	rows, err := a.Records.Read(ctx, sc, t, params(c), ids)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": rows})
}

// deleteItem deletes one row; on metadata tables it is a schema change.
func (a *API) deleteItem(c *fiber.Ctx) error {
	switch c.Params("table") {
	case "table_definition", "column_definition", "relation_definition":
		return a.deleteMetadata(c)
	}
	sc, t, err := a.writableTable(c)
	if err != nil {
		return err
	}
	if err := a.Records.Delete(c.UserContext(), sc, t, []string{c.Params("id")}, true); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// deleteItems is DELETE /items/{t} with {"keys":[…]} or a bare array of keys.
func (a *API) deleteItems(c *fiber.Ctx) error {
	sc, t, err := a.writableTable(c)
	if err != nil {
		return err
	}
	keys, err := deleteKeys(c)
	if err != nil {
		return err
	}
	if err := a.Records.Delete(c.UserContext(), sc, t, keys, false); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
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
	formats.Column
	Table   string `json:"table,omitempty"`
	TableID string `json:"table_id,omitempty"`
}

// UnmarshalJSON takes the row's table out before the column reads the rest: the
// embedded column's own UnmarshalJSON would otherwise read the whole row, strictly.
func (in *columnDefinitionInput) UnmarshalJSON(b []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return err
	}
	for key, dst := range map[string]*string{"table": &in.Table, "table_id": &in.TableID} {
		if raw, ok := fields[key]; ok {
			if err := json.Unmarshal(raw, dst); err != nil {
				return apierr.InvalidPayload(key, "%s must be a string", key)
			}
			delete(fields, key)
		}
	}
	rest, err := json.Marshal(fields)
	if err != nil {
		return err
	}
	return in.Column.UnmarshalJSON(rest)
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
		var in formats.TableInput
		if err := decode(c, &in); err != nil {
			return err
		}
		ch, err := formats.CreateTableChange(in)
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
		col := in.Schema()
		res, err := a.apply(c, schema.Change{Type: schema.AddColumn, Table: table, Def: &col})
		if err != nil {
			return err
		}
		return a.metadataRow(c, res, "column_definition", res.Change.Def.ID)
	default: // relation_definition
		var in formats.Relation
		if err := decode(c, &in); err != nil {
			return err
		}
		r := in.Schema()
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
		var in formats.TablePatch
		if err := decode(c, &in); err != nil {
			return err
		}
		changes, err := formats.TableChanges(name, in)
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
	body, err := schemaBody(c)
	if err != nil {
		return err
	}
	changes, err := formats.ColumnChanges(m, table, column, body)
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
