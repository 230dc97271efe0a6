package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"github.com/gofiber/fiber/v2"

	"strata/modules/access"
	"strata/modules/apierr"
	"strata/modules/auth"
	"strata/modules/bus"
	"strata/modules/database"
	"strata/modules/query"
	"strata/modules/settings"
	"strata/schema"
)

// tenantRealm is where a tenant's users sign in: its strata_users and strata_sessions.
// A user without a role gets the built-in authenticated role.
func (a *API) tenantRealm(ctx context.Context, tc *tenantCtx) *auth.Realm {
	d := tc.db.Dialect
	q := d.Quote
	role := func(id any) string {
		if s := database.Text(id); s != "" {
			return s
		}
		r, _ := a.Access.RoleID(ctx, tc.db, tc.t.ID, "authenticated")
		return r
	}
	return &auth.Realm{DB: tc.db, Users: "strata_users", Sessions: "strata_sessions", TenantID: tc.t.ID,
		Lookup: func(ctx context.Context, email string) (string, string, string, bool, error) {
			var id, status string
			var hash, roleID any
			err := tc.db.QueryRowContext(ctx, d.Rebind("SELECT "+q("id")+", "+q("password_hash")+", "+q("role_id")+", "+q("status")+" FROM "+q("strata_users")+" WHERE "+q("email")+" = ?"), email).
				Scan(&id, &hash, &roleID, &status)
			return id, database.Text(hash), role(roleID), status == "active", err
		},
		Subject: func(ctx context.Context, id string) (string, string, bool, error) {
			var email, status string
			var roleID any
			err := tc.db.QueryRowContext(ctx, d.Rebind("SELECT "+q("email")+", "+q("role_id")+", "+q("status")+" FROM "+q("strata_users")+" WHERE "+q("id")+" = ?"), id).
				Scan(&email, &roleID, &status)
			return email, role(roleID), status == "active", err
		},
	}
}

func (a *API) tenantLogin(c *fiber.Ctx) error {
	var in credentials
	if err := decode(c, &in); err != nil {
		return err
	}
	if in.Email == "" || in.Password == "" {
		return apierr.InvalidPayload("email", "email and password are required")
	}
	tc := tenantOf(c)
	return a.login(c, a.tenantRealm(c.UserContext(), tc), tc.t.ID, in)
}

func (a *API) tenantRefresh(c *fiber.Ctx) error {
	var in refreshInput
	if err := decode(c, &in); err != nil {
		return err
	}
	tok, err := a.Auth.Refresh(c.UserContext(), a.tenantRealm(c.UserContext(), tenantOf(c)), in.RefreshToken)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": tok})
}

func (a *API) tenantLogout(c *fiber.Ctx) error {
	var in refreshInput
	if err := decode(c, &in); err != nil {
		return err
	}
	if err := a.Auth.Logout(c.UserContext(), a.tenantRealm(c.UserContext(), tenantOf(c)), in.RefreshToken); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// userInput is a user as admins (and sign-up) write it.
type userInput struct {
	Email     *string `json:"email,omitempty"`
	Password  *string `json:"password,omitempty"`
	Role      *string `json:"role,omitempty"`
	Status    *string `json:"status,omitempty"`
	FirstName *string `json:"first_name,omitempty"`
	LastName  *string `json:"last_name,omitempty"`
}

var userStatuses = []string{"active", "suspended", "invited"}

// userColumns turns a user body into column values, checking each.
func (a *API) userColumns(ctx context.Context, tc *tenantCtx, in userInput) (map[string]any, error) {
	cols := map[string]any{}
	if in.Email != nil {
		e := strings.ToLower(strings.TrimSpace(*in.Email))
		if addr, err := mail.ParseAddress(e); err != nil || addr.Address != e || len(e) > 255 {
			return nil, apierr.InvalidPayload("email", "email must be an email address")
		}
		cols["email"] = e
	}
	if in.Password != nil {
		h, err := auth.HashPassword(*in.Password)
		if err != nil {
			return nil, err
		}
		cols["password_hash"] = h
	}
	if in.Role != nil {
		if *in.Role == "" {
			cols["role_id"] = nil
		} else {
			if !roleExists(ctx, tc, *in.Role) {
				return nil, apierr.InvalidPayload("role", "role %q does not exist", *in.Role)
			}
			cols["role_id"] = *in.Role
		}
	}
	if in.Status != nil {
		ok := false
		for _, s := range userStatuses {
			ok = ok || s == *in.Status
		}
		if !ok {
			return nil, apierr.InvalidPayload("status", "status must be active, suspended or invited")
		}
		cols["status"] = *in.Status
	}
	for k, v := range map[string]*string{"first_name": in.FirstName, "last_name": in.LastName} {
		if v != nil {
			if len(*v) > 255 {
				return nil, apierr.InvalidPayload(k, "at most 255 characters")
			}
			cols[k] = *v
		}
	}
	return cols, nil
}

func roleExists(ctx context.Context, tc *tenantCtx, id string) bool {
	d := tc.db.Dialect
	var one int
	return tc.db.QueryRowContext(ctx, d.Rebind("SELECT 1 FROM "+d.Quote("strata_roles")+" WHERE "+d.Quote("id")+" = ?"), id).Scan(&one) == nil
}

// systemRows reads rows of a system table through the query engine, as an admin.
func (a *API) systemRows(c *fiber.Ctx, table, fields string, ids []string) ([]map[string]any, error) {
	m, err := a.model(c)
	if err != nil {
		return nil, err
	}
	t := m.Table(table)
	q, err := (&query.Resolver{Model: m, Limits: a.Limits.Query}).Parse(t, query.Params{"fields": {fields}, "limit": {"-1"}})
	if err != nil {
		return nil, err
	}
	if ids != nil {
		q.Filter = query.IDsIn(t, ids)
	}
	tc := tenantOf(c)
	res, err := (&query.Runner{DB: tc.db, D: tc.db.Dialect, Limits: a.Limits.Query}).Run(c.UserContext(), q)
	if err != nil {
		return nil, err
	}
	return res.Data, nil
}

const userFields = "id,email,role_id,status,first_name,last_name,last_login,created_at,updated_at"

// insertRow and updateRow write a system table row from column values.
func insertRow(ctx context.Context, tc *tenantCtx, table, id string, cols map[string]any, now any) error {
	d := tc.db.Dialect
	names := []string{d.Quote("id"), d.Quote("created_at"), d.Quote("updated_at")}
	args := []any{id, now, now}
	for k, v := range cols {
		names = append(names, d.Quote(k))
		args = append(args, v)
	}
	_, err := tc.db.ExecContext(ctx, d.Rebind("INSERT INTO "+d.Quote(table)+" ("+strings.Join(names, ", ")+") VALUES ("+strings.TrimSuffix(strings.Repeat("?, ", len(names)), ", ")+")"), args...)
	return err
}

func updateRow(ctx context.Context, tc *tenantCtx, table, id string, cols map[string]any, now any) (int64, error) {
	d := tc.db.Dialect
	sets := []string{d.Quote("updated_at") + " = ?"}
	args := []any{now}
	for k, v := range cols {
		sets = append(sets, d.Quote(k)+" = ?")
		args = append(args, v)
	}
	res, err := tc.db.ExecContext(ctx, d.Rebind("UPDATE "+d.Quote(table)+" SET "+strings.Join(sets, ", ")+" WHERE "+d.Quote("id")+" = ?"), append(args, id)...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func deleteRow(ctx context.Context, tc *tenantCtx, table, column, id string) (int64, error) {
	d := tc.db.Dialect
	res, err := tc.db.ExecContext(ctx, d.Rebind("DELETE FROM "+d.Quote(table)+" WHERE "+d.Quote(column)+" = ?"), id)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// uniqueErr turns a unique violation on a system table into RECORD_NOT_UNIQUE.
func uniqueErr(err error, field string) error {
	if err != nil && (strings.Contains(strings.ToLower(err.Error()), "unique") || strings.Contains(strings.ToLower(err.Error()), "duplicate")) {
		return apierr.New(400, "RECORD_NOT_UNIQUE", "%s is already taken", field).With("field", field)
	}
	return err
}

// register signs up an end user where the tenant allows it. The answer is the same
// whether or not the email was taken, so sign-up cannot tell who has an account.
func (a *API) register(c *fiber.Ctx) error {
	tc := tenantOf(c)
	ctx := c.UserContext()
	st, err := a.Settings.Get(ctx, tc.t.ID, tc.db)
	if err != nil {
		return err
	}
	if !st.AllowSignup {
		return apierr.Forbidden("this tenant does not allow sign-up")
	}
	var in struct {
		Email     string `json:"email"`
		Password  string `json:"password"`
		FirstName string `json:"first_name,omitempty"`
		LastName  string `json:"last_name,omitempty"`
	}
	if err := decode(c, &in); err != nil {
		return err
	}
	cols, err := a.userColumns(ctx, tc, userInput{Email: &in.Email, Password: &in.Password, FirstName: &in.FirstName, LastName: &in.LastName})
	if err != nil {
		return err
	}
	role, err := a.Access.RoleID(ctx, tc.db, tc.t.ID, "authenticated")
	if err != nil {
		return err
	}
	cols["role_id"], cols["status"] = role, "active"
	if err := insertRow(ctx, tc, "strata_users", a.NewID(), cols, tc.db.Dialect.TimeValue(a.Now())); err != nil && uniqueErr(err, "email") == err {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (a *API) me(c *fiber.Ctx) error {
	caller := callerOf(c)
	switch caller.Kind {
	case "anonymous":
		return apierr.Unauthorized("INVALID_CREDENTIALS", "authentication required")
	case "platform":
		return c.JSON(fiber.Map{"data": fiber.Map{"id": caller.UserID, "role": auth.RolePlatformAdmin, "admin_access": true}})
	case "api_key":
		return c.JSON(fiber.Map{"data": fiber.Map{"id": nil, "role_id": caller.RoleID, "admin_access": caller.Admin()}})
	}
	rows, err := a.systemRows(c, "strata_users", userFields, []string{caller.UserID})
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return apierr.Unauthorized("INVALID_TOKEN", "the account no longer exists")
	}
	// admin_access (as Directus names a role's admin flag) tells a client which app to
	// show: the tenant admin's, or the data app limited by /permissions/me.
	rows[0]["admin_access"] = caller.Admin()
	return c.JSON(fiber.Map{"data": rows[0]})
}

func (a *API) listUsers(c *fiber.Ctx) error {
	rows, err := a.systemRows(c, "strata_users", userFields, nil)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": rows})
}

func (a *API) getUser(c *fiber.Ctx) error {
	return a.oneSystemRow(c, "strata_users", userFields, c.Params("id"))
}

func (a *API) oneSystemRow(c *fiber.Ctx, table, fields, id string) error {
	if !schema.IsUUID(id) {
		return apierr.NotFound("%s %q not found", table, id)
	}
	rows, err := a.systemRows(c, table, fields, []string{id})
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return apierr.NotFound("%s %q not found", table, id)
	}
	return c.JSON(fiber.Map{"data": rows[0]})
}

func (a *API) createUser(c *fiber.Ctx) error {
	var in userInput
	if err := decode(c, &in); err != nil {
		return err
	}
	if in.Email == nil || in.Password == nil {
		return apierr.InvalidPayload("email", "email and password are required")
	}
	tc := tenantOf(c)
	cols, err := a.userColumns(c.UserContext(), tc, in)
	if err != nil {
		return err
	}
	id := a.NewID()
	if err := insertRow(c.UserContext(), tc, "strata_users", id, cols, tc.db.Dialect.TimeValue(a.Now())); err != nil {
		return uniqueErr(err, "email")
	}
	return a.oneSystemRow(c, "strata_users", userFields, id)
}

func (a *API) patchUser(c *fiber.Ctx) error {
	var in userInput
	if err := decode(c, &in); err != nil {
		return err
	}
	tc := tenantOf(c)
	cols, err := a.userColumns(c.UserContext(), tc, in)
	if err != nil {
		return err
	}
	n, err := updateRow(c.UserContext(), tc, "strata_users", c.Params("id"), cols, tc.db.Dialect.TimeValue(a.Now()))
	if err != nil {
		return uniqueErr(err, "email")
	}
	if n == 0 {
		return apierr.NotFound("user %q not found", c.Params("id"))
	}
	if in.Status != nil && *in.Status != "active" || in.Password != nil {
		a.revokeSessions(c.UserContext(), tc, c.Params("id"))
	} else if in.Role != nil || in.Status != nil {
		a.invalidateSessions(tc.t.ID, c.Params("id"))
	}
	return a.oneSystemRow(c, "strata_users", userFields, c.Params("id"))
}

// revokeSessions ends a user's sessions: their refresh tokens, and their access tokens
// on every node from the next request (invalidateSessions).
func (a *API) revokeSessions(ctx context.Context, tc *tenantCtx, userID string) {
	d := tc.db.Dialect
	if _, err := tc.db.ExecContext(ctx, d.Rebind("UPDATE "+d.Quote("strata_sessions")+" SET "+d.Quote("revoked_at")+" = ? WHERE "+d.Quote("subject_id")+" = ? AND "+d.Quote("revoked_at")+" IS NULL"),
		d.TimeValue(a.Now()), userID); err != nil {
		// The user's status or existence, which the check reads too, has changed already.
		a.Log.Warn("revoke sessions", "tenant", tc.t.Slug, "user", userID, "err", err)
	}
	a.invalidateSessions(tc.t.ID, userID)
}

func (a *API) deleteUser(c *fiber.Ctx) error {
	tc := tenantOf(c)
	n, err := deleteRow(c.UserContext(), tc, "strata_users", "id", c.Params("id"))
	if err != nil {
		return err
	}
	if n == 0 {
		return apierr.NotFound("user %q not found", c.Params("id"))
	}
	a.revokeSessions(c.UserContext(), tc, c.Params("id"))
	return c.SendStatus(fiber.StatusNoContent)
}

const roleFields = "id,name,description,is_admin,created_at,updated_at"

type roleInput struct {
	Name        *string `json:"name,omitempty"`
	Description *string `json:"description,omitempty"`
	IsAdmin     *bool   `json:"is_admin,omitempty"`
}

func (in roleInput) columns(d interface{ BoolValue(bool) any }) (map[string]any, error) {
	cols := map[string]any{}
	if in.Name != nil {
		if n := strings.TrimSpace(*in.Name); n == "" || len(n) > 63 {
			return nil, apierr.InvalidPayload("name", "name must be 1 to 63 characters")
		}
		cols["name"] = strings.TrimSpace(*in.Name)
	}
	if in.Description != nil {
		cols["description"] = *in.Description
	}
	if in.IsAdmin != nil {
		cols["is_admin"] = d.BoolValue(*in.IsAdmin)
	}
	return cols, nil
}

func (a *API) listRoles(c *fiber.Ctx) error {
	rows, err := a.systemRows(c, "strata_roles", roleFields, nil)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": rows})
}

func (a *API) createRole(c *fiber.Ctx) error {
	var in roleInput
	if err := decode(c, &in); err != nil {
		return err
	}
	if in.Name == nil {
		return apierr.InvalidPayload("name", "name is required")
	}
	tc := tenantOf(c)
	cols, err := in.columns(tc.db.Dialect)
	if err != nil {
		return err
	}
	id := a.NewID()
	if err := insertRow(c.UserContext(), tc, "strata_roles", id, cols, tc.db.Dialect.TimeValue(a.Now())); err != nil {
		return uniqueErr(err, "name")
	}
	a.invalidate(tc.t.ID, bus.InvalidateAccess)
	return a.oneSystemRow(c, "strata_roles", roleFields, id)
}

// builtinRole reports whether a role is one of the built-in ones, which stay.
func builtinRole(ctx context.Context, tc *tenantCtx, id string) bool {
	d := tc.db.Dialect
	var name string
	_ = tc.db.QueryRowContext(ctx, d.Rebind("SELECT "+d.Quote("name")+" FROM "+d.Quote("strata_roles")+" WHERE "+d.Quote("id")+" = ?"), id).Scan(&name)
	return name == "public" || name == "authenticated" || name == "admin"
}

func (a *API) patchRole(c *fiber.Ctx) error {
	var in roleInput
	if err := decode(c, &in); err != nil {
		return err
	}
	tc := tenantOf(c)
	if builtinRole(c.UserContext(), tc, c.Params("id")) && (in.Name != nil || in.IsAdmin != nil) {
		return apierr.InvalidPayload("name", "built-in roles keep their name and admin flag")
	}
	cols, err := in.columns(tc.db.Dialect)
	if err != nil {
		return err
	}
	n, err := updateRow(c.UserContext(), tc, "strata_roles", c.Params("id"), cols, tc.db.Dialect.TimeValue(a.Now()))
	if err != nil {
		return uniqueErr(err, "name")
	}
	if n == 0 {
		return apierr.NotFound("role %q not found", c.Params("id"))
	}
	a.invalidate(tc.t.ID, bus.InvalidateAccess)
	return a.oneSystemRow(c, "strata_roles", roleFields, c.Params("id"))
}

func (a *API) deleteRole(c *fiber.Ctx) error {
	tc := tenantOf(c)
	if builtinRole(c.UserContext(), tc, c.Params("id")) {
		return apierr.Forbidden("built-in roles cannot be deleted")
	}
	// Its users fall back to the default role rather than keep a role that is gone.
	d := tc.db.Dialect
	if _, err := tc.db.ExecContext(c.UserContext(), d.Rebind("UPDATE "+d.Quote("strata_users")+" SET "+d.Quote("role_id")+" = NULL, "+d.Quote("updated_at")+" = ? WHERE "+d.Quote("role_id")+" = ?"),
		d.TimeValue(a.Now()), c.Params("id")); err != nil {
		return fmt.Errorf("move the role's users to the default role: %w", err)
	}
	n, err := deleteRow(c.UserContext(), tc, "strata_roles", "id", c.Params("id"))
	if err != nil {
		return err
	}
	if n == 0 {
		return apierr.NotFound("role %q not found", c.Params("id"))
	}
	_, _ = deleteRow(c.UserContext(), tc, "strata_permissions", "role_id", c.Params("id"))
	a.invalidate(tc.t.ID, bus.InvalidateAccess)
	return c.SendStatus(fiber.StatusNoContent)
}

const permissionFields = "id,role_id,collection,action,permissions,fields,presets"

type permissionInput struct {
	Role        *string         `json:"role,omitempty"`
	Collection  *string         `json:"collection,omitempty"`
	Action      *string         `json:"action,omitempty"`
	Permissions json.RawMessage `json:"permissions,omitempty"`
	Fields      json.RawMessage `json:"fields,omitempty"`
	Presets     json.RawMessage `json:"presets,omitempty"`
}

// permissionColumns checks a permission before it is saved: the role and table exist,
// the fields exist, and the row rule parses against the table (a rule on a misspelled
// field would never match).
func (a *API) permissionColumns(c *fiber.Ctx, in permissionInput, current map[string]any) (map[string]any, error) {
	tc := tenantOf(c)
	m, err := a.model(c)
	if err != nil {
		return nil, err
	}
	str := func(p *string, key string) string {
		if p != nil {
			return *p
		}
		s, _ := current[key].(string)
		return s
	}
	role, table, action := str(in.Role, "role_id"), str(in.Collection, "collection"), str(in.Action, "action")
	if !roleExists(c.UserContext(), tc, role) {
		return nil, apierr.InvalidPayload("role", "role %q does not exist", role)
	}
	rule := &access.Rule{}
	if len(in.Fields) > 0 && string(in.Fields) != "null" {
		if err := json.Unmarshal(in.Fields, &rule.Fields); err != nil {
			return nil, apierr.InvalidPayload("fields", "fields must be a list of field names")
		}
	}
	if err := access.ValidateRule(m, table, action, rule.Fields); err != nil {
		return nil, err
	}
	if len(in.Permissions) > 0 && string(in.Permissions) != "null" {
		if err := json.Unmarshal(in.Permissions, &rule.Filter); err != nil {
			return nil, apierr.InvalidPayload("permissions", "permissions must be a filter object")
		}
		if _, err := (&query.Resolver{Model: m, Limits: a.Limits.Query, User: "00000000-0000-0000-0000-000000000000"}).RuleCond(m.Table(table), rule); err != nil {
			var qe *query.Error
			if errors.As(err, &qe) {
				return nil, apierr.InvalidPayload("permissions", "%s", qe.Error())
			}
			return nil, err
		}
	}
	if len(in.Presets) > 0 && string(in.Presets) != "null" {
		var presets map[string]any
		if err := json.Unmarshal(in.Presets, &presets); err != nil {
			return nil, apierr.InvalidPayload("presets", "presets must be an object")
		}
		for k := range presets {
			if m.Table(table).Column(k) == nil {
				return nil, apierr.InvalidPayload("presets", "table %q has no column %q", table, k)
			}
		}
	}
	cols := map[string]any{"role_id": role, "collection": table, "action": action}
	for k, raw := range map[string]json.RawMessage{"permissions": in.Permissions, "fields": in.Fields, "presets": in.Presets} {
		if len(raw) > 0 {
			if string(raw) == "null" {
				cols[k] = nil
			} else {
				cols[k] = string(raw)
			}
		}
	}
	return cols, nil
}

func (a *API) listPermissions(c *fiber.Ctx) error {
	rows, err := a.systemRows(c, "strata_permissions", permissionFields, nil)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": rows})
}

func (a *API) createPermission(c *fiber.Ctx) error {
	var in permissionInput
	if err := decode(c, &in); err != nil {
		return err
	}
	cols, err := a.permissionColumns(c, in, nil)
	if err != nil {
		return err
	}
	tc := tenantOf(c)
	id := a.NewID()
	if err := insertRow(c.UserContext(), tc, "strata_permissions", id, cols, tc.db.Dialect.TimeValue(a.Now())); err != nil {
		return err
	}
	a.invalidate(tc.t.ID, bus.InvalidateAccess)
	return a.oneSystemRow(c, "strata_permissions", permissionFields, id)
}

func (a *API) patchPermission(c *fiber.Ctx) error {
	var in permissionInput
	if err := decode(c, &in); err != nil {
		return err
	}
	rows, err := a.systemRows(c, "strata_permissions", permissionFields, []string{c.Params("id")})
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return apierr.NotFound("permission %q not found", c.Params("id"))
	}
	cols, err := a.permissionColumns(c, in, rows[0])
	if err != nil {
		return err
	}
	tc := tenantOf(c)
	if _, err := updateRow(c.UserContext(), tc, "strata_permissions", c.Params("id"), cols, tc.db.Dialect.TimeValue(a.Now())); err != nil {
		return err
	}
	a.invalidate(tc.t.ID, bus.InvalidateAccess)
	return a.oneSystemRow(c, "strata_permissions", permissionFields, c.Params("id"))
}

func (a *API) deletePermission(c *fiber.Ctx) error {
	tc := tenantOf(c)
	n, err := deleteRow(c.UserContext(), tc, "strata_permissions", "id", c.Params("id"))
	if err != nil {
		return err
	}
	if n == 0 {
		return apierr.NotFound("permission %q not found", c.Params("id"))
	}
	a.invalidate(tc.t.ID, bus.InvalidateAccess)
	return c.SendStatus(fiber.StatusNoContent)
}

const apiKeyFields = "id,name,role_id,last_used_at,created_at"

func (a *API) listAPIKeys(c *fiber.Ctx) error {
	rows, err := a.systemRows(c, "strata_api_keys", apiKeyFields, nil)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": rows})
}

func (a *API) createAPIKey(c *fiber.Ctx) error {
	var in struct {
		Name string `json:"name"`
		Role string `json:"role"`
	}
	if err := decode(c, &in); err != nil {
		return err
	}
	tc := tenantOf(c)
	if in.Name == "" || len(in.Name) > 255 {
		return apierr.InvalidPayload("name", "name must be 1 to 255 characters")
	}
	if !roleExists(c.UserContext(), tc, in.Role) {
		return apierr.InvalidPayload("role", "role %q does not exist", in.Role)
	}
	token, hash := auth.NewAPIKey()
	id := a.NewID()
	if err := insertRow(c.UserContext(), tc, "strata_api_keys", id, map[string]any{"name": in.Name, "role_id": in.Role, "token_hash": hash}, tc.db.Dialect.TimeValue(a.Now())); err != nil {
		return err
	}
	// The secret is shown once; only its hash is kept.
	return c.JSON(fiber.Map{"data": fiber.Map{"id": id, "name": in.Name, "role_id": in.Role, "token": token}})
}

func (a *API) deleteAPIKey(c *fiber.Ctx) error {
	n, err := deleteRow(c.UserContext(), tenantOf(c), "strata_api_keys", "id", c.Params("id"))
	if err != nil {
		return err
	}
	if n == 0 {
		return apierr.NotFound("api key %q not found", c.Params("id"))
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (a *API) getSettings(c *fiber.Ctx) error {
	tc := tenantOf(c)
	st, err := a.Settings.Get(c.UserContext(), tc.t.ID, tc.db)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": st})
}

func (a *API) patchSettings(c *fiber.Ctx) error {
	var in settings.Patch
	if err := decode(c, &in); err != nil {
		return err
	}
	tc := tenantOf(c)
	st, err := a.Settings.Update(c.UserContext(), tc.t.ID, tc.db, in)
	if err != nil {
		return err
	}
	a.invalidate(tc.t.ID, bus.InvalidateSettings)
	return c.JSON(fiber.Map{"data": st})
}
