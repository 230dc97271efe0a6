package rest

import (
	"bytes"
	"encoding/json"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

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
	return m, t, nil
}

func (a *API) listItems(c *fiber.Ctx) error {
	_, t, err := a.itemsTable(c)
	if err != nil {
		return err
	}
	limit := c.QueryInt("limit", a.Limits.DefaultLimit)
	if limit == -1 {
		limit = a.Limits.MaxLimit
	}
	if limit < 1 || limit > a.Limits.MaxLimit {
		return apierr.InvalidQuery("limit", "limit must be between 1 and %d, or -1", a.Limits.MaxLimit)
	}
	if f := c.Query("filter"); f != "" && !json.Valid([]byte(f)) {
		return apierr.InvalidQuery("filter", "filter is not valid JSON")
	}
	tc := tenantOf(c)
	rows, err := query.Select(c.UserContext(), tc.db, tc.db.Dialect, t, "", limit)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": rows})
}

func (a *API) getItem(c *fiber.Ctx) error {
	_, t, err := a.itemsTable(c)
	if err != nil {
		return err
	}
	tc := tenantOf(c)
	rows, err := query.Select(c.UserContext(), tc.db, tc.db.Dialect, t, c.Params("id"), 1)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return apierr.NotFound("item %q not found in %s", c.Params("id"), t.Name)
	}
	return c.JSON(fiber.Map{"data": rows[0]})
}

func (a *API) createItems(c *fiber.Ctx) error {
	switch c.Params("table") {
	case "table_definition", "column_definition", "relation_definition":
		return a.createMetadata(c)
	}
	m, t, err := a.itemsTable(c)
	if err != nil {
		return err
	}
	if t.System {
		return apierr.Forbidden("%s is written through its own routes", t.Name)
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
	tc := tenantOf(c)
	d := tc.db.Dialect
	tx, err := tc.db.BeginTx(c.UserContext(), nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after commit
	ids := make([]string, 0, len(objects))
	now := a.Now()
	for _, obj := range objects {
		id, err := query.Insert(c.UserContext(), tx, d, m, t, obj, uuid.Must(uuid.NewV7()).String(), callerID(c), now)
		if err != nil {
			return query.ClassifyWriteError(t, err)
		}
		ids = append(ids, id)
	}
	if err := tx.Commit(); err != nil {
		return query.ClassifyWriteError(t, err)
	}
	out := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		rows, err := query.Select(c.UserContext(), tc.db, d, t, id, 1)
		if err != nil {
			return err
		}
		out = append(out, rows...)
	}
	if many {
		return c.JSON(fiber.Map{"data": out})
	}
	return c.JSON(fiber.Map{"data": out[0]})
}

// patchItem and deleteItem on user tables arrive with the query engine; on metadata
// tables they are schema changes and take the one path.
func (a *API) patchItem(c *fiber.Ctx) error {
	switch c.Params("table") {
	case "table_definition", "column_definition":
		return a.patchMetadata(c)
	}
	return apierr.New(fiber.StatusNotImplemented, "ROUTE_NOT_FOUND", "updating items is not available yet")
}

func (a *API) deleteItem(c *fiber.Ctx) error {
	switch c.Params("table") {
	case "table_definition", "column_definition", "relation_definition":
		return a.deleteMetadata(c)
	}
	return apierr.New(fiber.StatusNotImplemented, "ROUTE_NOT_FOUND", "deleting items is not available yet")
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

func (a *API) applyChanges(c *fiber.Ctx, changes []schema.Change) (*migration.Result, error) {
	var res *migration.Result
	for _, ch := range changes {
		r, err := a.apply(c, ch)
		if err != nil {
			return nil, err
		}
		res = r
	}
	return res, nil
}

func (a *API) deleteMetadata(c *fiber.Ctx) error {
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
