package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"strata/modules/access"
	"strata/modules/apierr"
	"strata/modules/records"
)

// ACL is the shorthand a table's permissions may be given in:
// {"create":["user"],"read":["public"],"update":["self","admin"],"delete":["admin"]}.
// public is anonymous callers, user (or authenticated) any signed-in user, self a
// signed-in user on the rows they own, admin tenant admins (who may do everything
// anyway); any other entry names a role.
type ACL map[string][]string

// Grant is one permission row the shorthand stands for.
type Grant struct {
	role   string // role name
	action string
	self   bool
}

// ParseACL checks the shorthand before anything is changed.
func (s *Service) ParseACL(ctx context.Context, tn Tenant, raw json.RawMessage) ([]Grant, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var in ACL
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, apierr.InvalidPayload("permissions", "permissions must be an object of action: [roles]")
	}
	var out []Grant
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
				if _, err := s.Access.RoleID(ctx, tn.DB, tn.ID, e); err != nil {
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
			out = append(out, Grant{role: role, action: action, self: self})
		}
	}
	return out, nil
}

// ApplyACL replaces the table's permissions for the actions the shorthand names; the
// caller invalidates the tenant's policies.
func (s *Service) ApplyACL(ctx context.Context, tn Tenant, table string, raw json.RawMessage, grants []Grant) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var in ACL
	_ = json.Unmarshal(raw, &in)
	return s.write(ctx, tn, func(w *records.SystemWriter) error {
		for action := range in {
			if _, err := w.Delete(ctx, "strata_permissions", records.Where{"collection": table, "action": action}); err != nil {
				return fmt.Errorf("replace permissions: %w", err)
			}
		}
		for _, g := range grants {
			role, err := s.Access.RoleID(ctx, tn.DB, tn.ID, g.role)
			if err != nil {
				return err
			}
			cols := map[string]any{"role_id": role, "collection": table, "action": g.action}
			if g.self {
				cols["permissions"] = `{"owner_id":{"_eq":"$CURRENT_USER"}}`
			}
			if err := w.Insert(ctx, "strata_permissions", s.NewID(), cols); err != nil {
				return fmt.Errorf("write permission: %w", err)
			}
		}
		return nil
	})
}
