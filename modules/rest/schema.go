package rest

import (
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"strata/modules/access"
	"strata/modules/apierr"
	"strata/modules/formats"
	"strata/modules/migration"
	"strata/modules/query"
	"strata/schema"
)

// tableView is a table as the API shows it, with the relations that give it fields.
type tableView struct {
	*schema.Table
	Relations []schema.Relation `json:"relations"`
}

func viewTable(m *schema.Model, t *schema.Table) tableView {
	shown := *t
	shown.Columns = make([]schema.Column, len(t.Columns))
	for i, c := range t.Columns {
		shown.Columns[i] = apiColumn(c)
	}
	v := tableView{Table: &shown, Relations: []schema.Relation{}}
	for _, r := range m.Relations {
		if r.Table == t.Name || r.Target == t.Name {
			v.Relations = append(v.Relations, r)
		}
	}
	return v
}

// tableAfter finds the table in the model a change produced.
func tableAfter(res *migration.Result, name string) any {
	if t := res.After.Table(name); t != nil {
		return viewTable(res.After, t)
	}
	return nil
}

// apiColumn is a column as the API shows it. A relation's key is a field users read and
// write like any other, so it is not `system` there (that names the four columns every
// table carries); `relation` says it is changed through its relation. The model keeps
// its own flag: there it means "not altered as a column" (see decision 0021).
func apiColumn(c schema.Column) schema.Column {
	if c.Relation != "" {
		c.System = false
	}
	return c
}

// visibleTables is the model as the caller may see it (visibleTable, table by table).
func visibleTables(m *schema.Model, p *access.Policy) []tableView {
	out := make([]tableView, 0, len(m.Tables))
	for i := range m.Tables {
		if v, ok := visibleTable(m, p, &m.Tables[i]); ok {
			out = append(out, v)
		}
	}
	return out
}

// mayUse reports whether a caller with policy p sees table t at all: admins see every
// table, anyone else the user tables their role may do something with.
func mayUse(p *access.Policy, t *schema.Table) bool {
	return t != nil && (p == nil || p.Admin || (!t.System && !t.Junction && p.Grants(t.Name)))
}

// visibleTable is table t as the caller may see it, and whether it may see it at all.
// Admins see it whole. Anyone else sees only the columns some rule of theirs lets them
// touch (and id), no indexes, and only the relations between tables they may use: a
// non-admin's data app is built from this, so it shows what they may use and says
// nothing of the rest of the schema.
func visibleTable(m *schema.Model, p *access.Policy, t *schema.Table) (tableView, bool) {
	if !mayUse(p, t) {
		return tableView{}, false
	}
	if p == nil || p.Admin {
		return viewTable(m, t), true
	}
	shown := schema.Table{ID: t.ID, Name: t.Name, Description: t.Description, Label: t.Label, Accountability: t.Accountability, DisplayTemplate: t.DisplayTemplate, Indexes: []schema.Index{}}
	for _, col := range t.Columns {
		if col.Name == "id" || allowsAny(p, t.Name, col.Name) {
			shown.Columns = append(shown.Columns, apiColumn(col))
		}
	}
	v := tableView{Table: &shown, Relations: []schema.Relation{}}
	for _, r := range m.Relations {
		if (r.Table == t.Name || r.Target == t.Name) && mayUse(p, m.Table(r.Table)) && mayUse(p, m.Table(r.Target)) {
			v.Relations = append(v.Relations, r)
		}
	}
	return v, true
}

// allowsAny reports whether some action the policy grants on table may touch field.
func allowsAny(p *access.Policy, table, field string) bool {
	for _, action := range access.Actions {
		if r := p.Rule(table, action); r != nil && r.AllowsField(field) {
			return true
		}
	}
	return false
}

// listTables answers every caller with the tables they may see (visibleTables).
func (a *API) listTables(c *fiber.Ctx) error {
	m, err := a.model(c)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": visibleTables(m, callerOf(c).Policy)})
}

func (a *API) getTable(c *fiber.Ctx) error {
	m, err := a.model(c)
	if err != nil {
		return err
	}
	if v, ok := visibleTable(m, callerOf(c).Policy, m.Table(c.Params("table"))); ok {
		return c.JSON(fiber.Map{"data": v})
	}
	return errNotFound("table", c.Params("table"))
}

// myPermissions answers GET /permissions/me as Directus does: per table the caller may
// use, per action, its access ("none", "partial" or "full"), the fields it may touch
// and the presets applied. Tables the caller may do nothing with are left out.
func (a *API) myPermissions(c *fiber.Ctx) error {
	m, err := a.model(c)
	if err != nil {
		return err
	}
	p := callerOf(c).Policy
	out := map[string]map[string]any{}
	for i := range m.Tables {
		v := &m.Tables[i]
		if v.System || v.Junction || !mayUse(p, v) {
			continue
		}
		actions := map[string]any{"share": fiber.Map{"access": "none"}}
		for _, action := range access.Actions {
			r := p.Rule(v.Name, action)
			entry := fiber.Map{"access": access.Access(r)}
			if r != nil {
				entry["fields"] = r.Fields
				if r.Fields == nil {
					entry["fields"] = []string{"*"}
				}
				if len(r.Presets) > 0 {
					entry["presets"] = r.Presets
				}
			}
			actions[action] = entry
		}
		out[v.Name] = actions
	}
	return c.JSON(fiber.Map{"data": out})
}

func (a *API) createTable(c *fiber.Ctx) error {
	var in formats.TableInput
	if err := decode(c, &in); err != nil {
		return err
	}
	ch, err := formats.CreateTableChange(in)
	if err != nil {
		return err
	}
	grants, err := a.parseACL(c, in.Permissions)
	if err != nil {
		return err
	}
	res, err := a.apply(c, ch)
	if err != nil {
		return err
	}
	if !c.QueryBool("dry_run") {
		if err := a.applyACL(c, in.Name, in.Permissions, grants); err != nil {
			return err
		}
	}
	return respond(c, res, "table", tableAfter(res, in.Name))
}

func (a *API) patchTable(c *fiber.Ctx) error {
	var in formats.TablePatch
	if err := decode(c, &in); err != nil {
		return err
	}
	changes, err := formats.TableChanges(c.Params("table"), in)
	if err != nil {
		return err
	}
	grants, err := a.parseACL(c, in.Permissions)
	if err != nil {
		return err
	}
	name := c.Params("table")
	if in.Name != nil {
		name = *in.Name
	}
	if len(changes) == 0 { // permissions only: no schema change, no migration
		m, err := a.model(c)
		if err != nil {
			return err
		}
		t := m.Table(name)
		if t == nil {
			return errNotFound("table", name)
		}
		if err := a.applyACL(c, name, in.Permissions, grants); err != nil {
			return err
		}
		return c.JSON(fiber.Map{"data": fiber.Map{"table": viewTable(m, t)}})
	}
	err = a.applyAll(c, changes, func(res *migration.Result) (string, any) {
		name := c.Params("table")
		if in.Name != nil {
			name = *in.Name
		}
		return "table", tableAfter(res, name)
	})
	if err == nil && !c.QueryBool("dry_run") {
		err = a.applyACL(c, name, in.Permissions, grants)
	}
	return err
}

// applyAll runs the changes of one request (each its own migration; the whole request
// is validated and confirmed before any runs) and answers with the last one's result;
// the earlier migrations are listed too.
func (a *API) applyAll(c *fiber.Ctx, changes []schema.Change, view func(*migration.Result) (string, any)) error {
	results, err := a.applyRequest(c, changes)
	if err != nil {
		return err
	}
	res := results[len(results)-1]
	var earlier []fiber.Map
	for _, r := range results[:len(results)-1] {
		earlier = append(earlier, migrationView(r, c.QueryBool("dry_run")))
	}
	key, value := view(res)
	data := fiber.Map{"migration": migrationView(res, c.QueryBool("dry_run")), key: value}
	if res.Migration.Status == migration.StatusPending && !c.QueryBool("dry_run") {
		c.Status(fiber.StatusAccepted) // held for approval
		delete(data, key)
	}
	if len(earlier) > 0 {
		data["previous_migrations"] = earlier
	}
	if c.QueryBool("dry_run") {
		data["dry_run"] = true
	}
	return c.JSON(fiber.Map{"data": data})
}

func (a *API) dropTable(c *fiber.Ctx) error {
	res, err := a.apply(c, schema.Change{Type: schema.DropTable, Table: c.Params("table")})
	if err != nil {
		return err
	}
	return respond(c, res, "", nil)
}

func (a *API) addColumn(c *fiber.Ctx) error {
	var in formats.Column
	if err := decode(c, &in); err != nil {
		return err
	}
	change := schema.Change{Type: schema.AddColumn, Table: c.Params("table")}
	if r, ok := in.Relation(c.Params("table")); ok {
		change = schema.Change{Type: schema.AddRelation, Relation: &r}
	} else {
		col := in.Schema()
		change.Def = &col
	}
	res, err := a.apply(c, change)
	if err != nil {
		return err
	}
	return respond(c, res, "table", tableAfter(res, c.Params("table")))
}

func (a *API) patchColumn(c *fiber.Ctx) error {
	m, err := a.model(c)
	if err != nil {
		return err
	}
	body, err := schemaBody(c)
	if err != nil {
		return err
	}
	changes, err := formats.ColumnChanges(m, c.Params("table"), c.Params("column"), body)
	if err != nil {
		return err
	}
	return a.applyAll(c, changes, func(res *migration.Result) (string, any) { return "table", tableAfter(res, c.Params("table")) })
}

func (a *API) dropColumn(c *fiber.Ctx) error {
	res, err := a.apply(c, schema.Change{Type: schema.DropColumn, Table: c.Params("table"), Column: c.Params("column")})
	if err != nil {
		return err
	}
	return respond(c, res, "table", tableAfter(res, c.Params("table")))
}

func (a *API) listIndexes(c *fiber.Ctx) error {
	m, err := a.model(c)
	if err != nil {
		return err
	}
	t := m.Table(c.Params("table"))
	if t == nil {
		return errNotFound("table", c.Params("table"))
	}
	return c.JSON(fiber.Map{"data": t.Indexes})
}

func (a *API) addIndex(c *fiber.Ctx) error {
	var in formats.Index
	if err := decode(c, &in); err != nil {
		return err
	}
	res, err := a.apply(c, schema.Change{Type: schema.AddIndex, Table: c.Params("table"), Index: &schema.Index{Name: in.Name, Columns: in.Columns, Unique: in.Unique}})
	if err != nil {
		return err
	}
	return respond(c, res, "index", res.Change.Index)
}

func (a *API) dropIndex(c *fiber.Ctx) error {
	res, err := a.apply(c, schema.Change{Type: schema.DropIndex, Table: c.Params("table"), Column: c.Params("name")})
	if err != nil {
		return err
	}
	return respond(c, res, "", nil)
}

func (a *API) listRelations(c *fiber.Ctx) error {
	m, err := a.model(c)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": m.Relations})
}

func (a *API) addRelation(c *fiber.Ctx) error {
	var in formats.Relation
	if err := decode(c, &in); err != nil {
		return err
	}
	if in.Table == "" {
		return apierr.InvalidPayload("table", "table is required")
	}
	r := in.Schema()
	res, err := a.apply(c, schema.Change{Type: schema.AddRelation, Relation: &r})
	if err != nil {
		return err
	}
	return respond(c, res, "relation", res.Change.Relation)
}

func (a *API) dropRelation(c *fiber.Ctx) error {
	res, err := a.apply(c, schema.Change{Type: schema.DropRelation, Relation: &schema.Relation{ID: c.Params("id")}})
	if err != nil {
		return err
	}
	return respond(c, res, "", nil)
}

func (a *API) listMigrations(c *fiber.Ctx) error {
	tc := tenantOf(c)
	limit := c.QueryInt("limit", 100)
	if limit < 1 || limit > a.Limits.MaxLimit {
		return apierr.InvalidQuery("limit", "limit must be between 1 and %d", a.Limits.MaxLimit)
	}
	page, err := strconv.Atoi(c.Query("page", "1"))
	if err != nil || page < 1 || page-1 > query.MaxOffset/limit {
		return apierr.InvalidQuery("page", "page must be an integer from 1 to %d", query.MaxOffset/limit+1)
	}
	status, typ := c.Query("status"), c.Query("type")
	if status != "" && !slices.Contains(migration.Statuses, status) {
		return apierr.InvalidQuery("status", "status must be one of %s", strings.Join(migration.Statuses, ", "))
	}
	if typ != "" && !slices.Contains(migration.Types, typ) {
		return apierr.InvalidQuery("type", "type must be one of %s", strings.Join(migration.Types, ", "))
	}
	list, total, err := migration.List(c.UserContext(), tc.db, tc.db.Dialect, migration.ListFilter{Status: status, Type: typ, Limit: limit, Page: page})
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": list, "meta": fiber.Map{"total_count": total, "filter_count": total}})
}

func (a *API) getMigration(c *fiber.Ctx) error {
	tc := tenantOf(c)
	m, err := migration.Get(c.UserContext(), tc.db, tc.db.Dialect, c.Params("id"))
	if err != nil {
		return err
	}
	if m == nil {
		return errNotFound("migration", c.Params("id"))
	}
	return c.JSON(fiber.Map{"data": m})
}

// trashView is a soft-dropped table or column as the API lists it.
type trashView struct {
	ID        string `json:"id"`
	Kind      string `json:"kind"`
	Table     string `json:"table"`
	Column    string `json:"column,omitempty"`
	TrashName string `json:"trash_name"`
	TrashedAt string `json:"trashed_at"`
}

func (a *API) listTrash(c *fiber.Ctx) error {
	m, err := a.model(c)
	if err != nil {
		return err
	}
	out := make([]trashView, 0, len(m.Trash))
	for _, tr := range m.Trash {
		out = append(out, trashView{ID: tr.ID, Kind: tr.Kind, Table: tr.Table, Column: tr.Column, TrashName: tr.TrashName, TrashedAt: tr.TrashedAt})
	}
	return c.JSON(fiber.Map{"data": out})
}

// purgeTrash drops a trashed table or column for good (confirm-hash like any drop).
func (a *API) purgeTrash(c *fiber.Ctx) error {
	res, err := a.apply(c, schema.Change{Type: schema.Purge, TrashID: c.Params("id")})
	if err != nil {
		return err
	}
	return respond(c, res, "", nil)
}

func (a *API) migrationAction(c *fiber.Ctx, run func(migration.Target, string) (*migration.Migration, error)) error {
	tc := tenantOf(c)
	m, err := run(a.Tenants.Target(tc.t, tc.db), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": m})
}

func (a *API) approveMigration(c *fiber.Ctx) error {
	return a.migrationAction(c, func(t migration.Target, id string) (*migration.Migration, error) {
		return a.Migration.Approve(c.UserContext(), t, id, callerID(c))
	})
}

func (a *API) retryMigration(c *fiber.Ctx) error {
	return a.migrationAction(c, func(t migration.Target, id string) (*migration.Migration, error) {
		return a.Migration.Retry(c.UserContext(), t, id, callerID(c))
	})
}

func (a *API) rejectMigration(c *fiber.Ctx) error {
	return a.migrationAction(c, func(t migration.Target, id string) (*migration.Migration, error) {
		return a.Migration.Reject(c.UserContext(), t, id)
	})
}

// customMigration records and runs hand-written SQL (tenant admins) through the one
// path, as the tenant's scoped database account.
func (a *API) customMigration(c *fiber.Ctx) error {
	var body struct {
		Name        string `json:"name"`
		Description string `json:"description"`
		UpSQL       string `json:"up_sql"`
		DownSQL     string `json:"down_sql"`
	}
	if err := decode(c, &body); err != nil {
		return err
	}
	tc := tenantOf(c)
	res, err := a.Migration.Custom(c.UserContext(), a.Tenants.Target(tc.t, tc.db), migration.CustomRequest{
		Name: body.Name, Description: body.Description, UpSQL: body.UpSQL, DownSQL: body.DownSQL,
		CreatedBy: callerID(c), DryRun: c.QueryBool("dry_run"),
	})
	if err != nil {
		return err
	}
	out := fiber.Map{"migration": res.Migration, "changes": nonNilChanges(res.Change.Steps)}
	if c.QueryBool("dry_run") {
		out["dry_run"] = true
	} else if res.Migration.Status == migration.StatusPending {
		c.Status(fiber.StatusAccepted) // held for approval
	}
	return c.JSON(fiber.Map{"data": out})
}

func nonNilChanges(s []schema.Change) []schema.Change {
	if s == nil {
		return []schema.Change{}
	}
	return s
}

// rollbackMigration undoes an executed migration (and, with cascade=true, the later
// ones that depend on it, newest first) through the one path.
func (a *API) rollbackMigration(c *fiber.Ctx) error {
	tc := tenantOf(c)
	results, err := a.Migration.Rollback(c.UserContext(), a.Tenants.Target(tc.t, tc.db), migration.RollbackRequest{
		ID: c.Params("id"), Cascade: c.QueryBool("cascade"), DryRun: c.QueryBool("dry_run"),
		ConfirmHash: c.Get("X-Schema-Confirm-Hash"), ConfirmToken: c.Get("X-Schema-Confirm-Token"),
		CreatedBy: callerID(c),
	})
	if err != nil {
		return err
	}
	migrations := migration.Migrations(results)
	if c.QueryBool("dry_run") {
		return c.JSON(fiber.Map{"data": fiber.Map{"dry_run": true, "migrations": migrations}})
	}
	return c.JSON(fiber.Map{"data": fiber.Map{"migrations": migrations}})
}

// exportMigrations answers the executed history as an SQL script for a dialect, or as
// a portable JSON bundle.
func (a *API) exportMigrations(c *fiber.Ctx) error {
	tc := tenantOf(c)
	switch c.Query("format", "sql") {
	case "json":
		b, err := migration.ExportBundle(c.UserContext(), tc.db, tc.db.Dialect, tc.t.Slug, a.Now())
		if err != nil {
			return err
		}
		return c.JSON(b)
	case "sql":
		target := tc.db.Dialect
		if name := c.Query("dialect"); name != "" {
			d, err := schema.DialectByName(name)
			if err != nil {
				return apierr.InvalidQuery("dialect", "dialect must be postgres, mysql or sqlite")
			}
			target = d
		}
		script, err := migration.ExportSQL(c.UserContext(), tc.db, tc.db.Dialect, target, tc.t.Slug, a.Now())
		if err != nil {
			return err
		}
		c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+tc.t.Slug+"-"+target.Name()+`.sql"`)
		return c.Type("sql", "utf-8").SendString(script)
	}
	return apierr.InvalidQuery("format", "format must be sql or json")
}

// drift compares the live database with the metadata: missing, extra and different
// tables, columns, indexes and foreign keys.
func (a *API) drift(c *fiber.Ctx) error {
	tc := tenantOf(c)
	diff, err := migration.Drift(c.UserContext(), tc.db, tc.db.Dialect)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": fiber.Map{"in_sync": len(diff) == 0, "differences": diff}})
}

// resolveMigration settles a failed migration by hand after a manual fix (the CLI's
// `strata migrate resolve`), recording who and why.
func (a *API) resolveMigration(c *fiber.Ctx) error {
	var in struct {
		As     string `json:"as"`
		Reason string `json:"reason"`
		Force  bool   `json:"force"`
	}
	if err := decode(c, &in); err != nil {
		return err
	}
	tc := tenantOf(c)
	m, res, err := a.Migration.Resolve(c.UserContext(), a.Tenants.Target(tc.t, tc.db), migration.ResolveRequest{
		ID: c.Params("id"), As: in.As, Reason: in.Reason, Force: in.Force, By: callerID(c),
	})
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": fiber.Map{"migration": m, "resolution": res}})
}
