package rest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"strata/modules/access"
	"strata/modules/apierr"
	"strata/modules/bus"
)

// acl is the shorthand a table's permissions may be given in:
// {"create":["user"],"read":["public"],"update":["self","admin"],"delete":["admin"]}.
// public is anonymous callers, user (or authenticated) any signed-in user, self a
// signed-in user on the rows they own, admin tenant admins (who may do everything
// anyway); any other entry names a role.
type acl map[string][]string

// aclGrant is one permission row the shorthand stands for.
type aclGrant struct {
	role   string // role name
	action string
	self   bool
}

// parseACL checks the shorthand before anything is changed.
func (a *API) parseACL(c *fiber.Ctx, raw json.RawMessage) ([]aclGrant, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var in acl
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, apierr.InvalidPayload("permissions", "permissions must be an object of action: [roles]")
	}
	tc := tenantOf(c)
	var out []aclGrant
	for action, entries := range in {
		if !slices.Contains(access.Actions, action) {
			return nil, apierr.InvalidPayload("permissions."+action, "unknown action %q (want create, read, update or delete)", action)
		}
		granted := map[string]bool{}
		for _, e := range entries {
			switch e {
			case "admin":
				continue
			case "user", "authenticated":
				granted["authenticated"] = true
			case "self":
				if !granted["authenticated"] {
					granted["authenticated:self"] = true
				}
			default:
				if _, err := a.Access.RoleID(c.UserContext(), tc.db, tc.t.ID, e); err != nil {
					return nil, apierr.InvalidPayload("permissions."+action, "role %q does not exist", e)
				}
				granted[e] = true
			}
		}
		for g := range granted {
			role, self := strings.CutSuffix(g, ":self")
			if self && granted["authenticated"] {
				continue // any signed-in user covers their own rows
			}
			out = append(out, aclGrant{role: role, action: action, self: self})
		}
	}
	return out, nil
}

// applyACL replaces the table's permissions for the actions the shorthand names.
func (a *API) applyACL(c *fiber.Ctx, table string, raw json.RawMessage, grants []aclGrant) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var in acl
	_ = json.Unmarshal(raw, &in)
	tc := tenantOf(c)
	ctx := c.UserContext()
	d := tc.db.Dialect
	for action := range in {
		if _, err := tc.db.ExecContext(ctx, d.Rebind("DELETE FROM "+d.Quote("strata_permissions")+" WHERE "+d.Quote("collection")+" = ? AND "+d.Quote("action")+" = ?"), table, action); err != nil {
			return fmt.Errorf("replace permissions: %w", err)
		}
	}
	now := d.TimeValue(a.Now())
	for _, g := range grants {
		role, err := a.Access.RoleID(ctx, tc.db, tc.t.ID, g.role)
		if err != nil {
			return err
		}
		cols := map[string]any{"role_id": role, "collection": table, "action": g.action}
		if g.self {
			cols["permissions"] = `{"owner_id":{"_eq":"$CURRENT_USER"}}`
		}
		if err := insertRow(ctx, tc, "strata_permissions", a.NewID(), cols, now); err != nil {
			return fmt.Errorf("write permission: %w", err)
		}
	}
	a.invalidate(tc.t.ID, bus.InvalidateAccess)
	return nil
}
