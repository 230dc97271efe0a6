package rest

import (
	"encoding/json"
	"maps"

	"github.com/gofiber/fiber/v2"

	"strata/modules/activity"
	"strata/modules/apierr"
	"strata/modules/auth"
	"strata/modules/migration"
	"strata/modules/query"
	"strata/modules/records"
	"strata/schema"
)

// listActivity is GET /activity with the query language: an admin reads every entry,
// any other signed-in user only their own.
func (a *API) listActivity(c *fiber.Ctx) error {
	caller := callerOf(c)
	var only *string
	switch {
	case caller.Admin():
	case caller.Kind == "user":
		only = &caller.UserID
	case caller.Kind == "anonymous":
		return apierr.Unauthorized("INVALID_CREDENTIALS", "authentication required")
	default:
		return apierr.Forbidden("the activity log is for admins and for signed-in users (their own)")
	}
	return a.trail(c, activity.ActivityTable, func(t *schema.Table) *query.Cond {
		if only == nil {
			return nil
		}
		return &query.Cond{Kind: query.CondLeaf, Column: t.Column("user"), Op: "_eq", Value: *only}
	})
}

// listRevisions is GET /revisions with the query language (admins).
func (a *API) listRevisions(c *fiber.Ctx) error {
	return a.trail(c, activity.RevisionsTable, func(*schema.Table) *query.Cond { return nil })
}

// trail lists one of the audit tables, read as an admin with limit on top of the
// request's own filter.
func (a *API) trail(c *fiber.Ctx, table string, limit func(t *schema.Table) *query.Cond) error {
	m, err := a.model(c)
	if err != nil {
		return err
	}
	t := m.Table(table)
	if t == nil {
		return apierr.NotFound("%s is not here yet: the tenant's system tables are being upgraded", table)
	}
	sc := tenantOf(c).scope(tenantOf(c).version, m, nil)
	q, err := a.Records.Resolver(sc).Parse(t, params(c))
	if err != nil {
		return err
	}
	q.Filter = query.And(q.Filter, limit(t))
	res, err := a.Records.Runner(sc).Run(c.UserContext(), q)
	if err != nil {
		return err
	}
	return listing(c, res)
}

// restoreRevision is POST /revisions/{id}/restore: the row's values as that revision
// kept them are written back through the records service as the caller, so their
// update rule, field permissions and hooks apply (and the restore is itself recorded).
func (a *API) restoreRevision(c *fiber.Ctx) error {
	caller := callerOf(c)
	if caller.Kind == "anonymous" {
		return apierr.Unauthorized("INVALID_CREDENTIALS", "authentication required")
	}
	m, err := a.model(c)
	if err != nil {
		return err
	}
	revs := m.Table(activity.RevisionsTable)
	if revs == nil {
		return apierr.NotFound("revision %q not found", c.Params("id"))
	}
	admin := tenantOf(c).scope(tenantOf(c).version, m, nil)
	rows, err := a.Records.Read(c.UserContext(), admin, revs, query.Params{"fields": {"collection,item,data"}}, []string{c.Params("id")})
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return apierr.NotFound("revision %q not found", c.Params("id"))
	}
	rev := rows[0]
	t := m.Table(toString(rev["collection"]))
	item := toString(rev["item"])
	if t == nil || t.System && t.Name != schema.FilesTable && t.Name != schema.FoldersTable {
		return apierr.New(fiber.StatusConflict, "INVALID_PAYLOAD", "the revision's table no longer exists")
	}
	values, err := revisionValues(rev["data"], t)
	if err != nil {
		return err
	}
	if len(values) == 0 {
		return apierr.New(fiber.StatusConflict, "INVALID_PAYLOAD", "the revision keeps no values to restore")
	}
	sc := a.scopeAt(c, m)
	if err := a.Records.Update(c.UserContext(), sc, t, []records.Change{{IDs: []string{item}, Data: values}}, []string{item}, true); err != nil {
		return err
	}
	out, err := a.Records.Read(c.UserContext(), sc, t, params(c), []string{item})
	if err != nil {
		return err
	}
	var row any
	if len(out) > 0 {
		row = out[0]
	}
	return c.JSON(fiber.Map{"data": row})
}

// revisionValues are the columns of a revision's data that a write may set: its user
// columns that the table still has (not the id, nor what Strata keeps itself).
func revisionValues(raw any, t *schema.Table) (map[string]any, error) {
	var data map[string]any
	switch v := raw.(type) {
	case map[string]any:
		data = maps.Clone(v)
	case string:
		if err := json.Unmarshal([]byte(v), &data); err != nil {
			return nil, apierr.New(fiber.StatusConflict, "INVALID_PAYLOAD", "the revision's data cannot be read")
		}
	case json.RawMessage:
		if err := json.Unmarshal(v, &data); err != nil {
			return nil, apierr.New(fiber.StatusConflict, "INVALID_PAYLOAD", "the revision's data cannot be read")
		}
	case []byte:
		if err := json.Unmarshal(v, &data); err != nil {
			return nil, apierr.New(fiber.StatusConflict, "INVALID_PAYLOAD", "the revision's data cannot be read")
		}
	}
	out := map[string]any{}
	for k, v := range data {
		if col := t.Column(k); col != nil && !col.System {
			out[k] = v
		}
	}
	return out, nil
}

func toString(v any) string {
	switch s := v.(type) {
	case string:
		return s
	case []byte:
		return string(s)
	}
	return ""
}

// recordLogin puts a tenant user's sign-in in the activity log. A failure to record is
// logged, not the sign-in's failure: the tokens are issued already.
func (a *API) recordLogin(c *fiber.Ctx, realm *auth.Realm, tok *auth.Tokens) {
	if realm.TenantID == "" || a.Activity == nil {
		return
	}
	if err := a.Activity.Login(c.UserContext(), realm.DB, realm.DB.Dialect, tok.Subject, tenantOf(c).origin); err != nil {
		a.Log.Warn("record a sign-in", "tenant", tenantOf(c).t.Slug, "err", err)
	}
}

// logChange puts a change made outside the records service (settings, functions,
// secrets, webhooks, sign-in providers) in the activity log once it is made. A failure
// to record is logged, not the change's failure: it is done.
func (a *API) logChange(c *fiber.Ctx, action, collection, item string) {
	if a.Activity == nil {
		return
	}
	tc := tenantOf(c)
	if err := a.Activity.Change(c.UserContext(), tc.db, tc.db.Dialect, action, callerID(c), collection, item, tc.origin); err != nil {
		a.Log.Warn("record a change", "tenant", tc.t.Slug, "collection", collection, "err", err)
	}
}

// logExecuted is logChange for a change that went through the migration service: only
// once it ran (one held for approval is logged by nothing here).
func (a *API) logExecuted(c *fiber.Ctx, res *migration.Result, action, collection, item string) {
	if res != nil && res.Migration != nil && res.Migration.Status == migration.StatusExecuted && !c.QueryBool("dry_run") {
		a.logChange(c, action, collection, item)
	}
}
