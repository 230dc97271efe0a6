package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"strata/modules/access"
	"strata/modules/apierr"
	"strata/modules/auth"
	"strata/modules/query"
	"strata/modules/records"
)

// RoleInput is a role as admins write it; nil fields stay as they are.
type RoleInput struct {
	Name        *string `json:"name,omitempty"`
	Description *string `json:"description,omitempty"`
	IsAdmin     *bool   `json:"is_admin,omitempty"`
}

func (in RoleInput) columns(d interface{ BoolValue(bool) any }) (map[string]any, error) {
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

// CreateRole adds a role and returns its id.
func (s *Service) CreateRole(ctx context.Context, tn Tenant, in RoleInput) (string, error) {
	if in.Name == nil {
		return "", apierr.InvalidPayload("name", "name is required")
	}
	cols, err := in.columns(tn.DB.Dialect)
	if err != nil {
		return "", err
	}
	id := s.NewID()
	if err := s.insert(ctx, tn, "strata_roles", id, cols); err != nil {
		return "", uniqueErr(err, "name")
	}
	return id, nil
}

// builtinRole reports whether a role is one of the built-in ones, which stay.
func builtinRole(ctx context.Context, tn Tenant, id string) bool {
	d := tn.DB.Dialect
	var name string
	_ = tn.DB.QueryRowContext(ctx, d.Rebind("SELECT "+d.Quote("name")+" FROM "+d.Quote("strata_roles")+" WHERE "+d.Quote("id")+" = ?"), id).Scan(&name)
	return name == "public" || name == "authenticated" || name == "admin"
}

// UpdateRole changes a role; built-in roles keep their name and admin flag.
func (s *Service) UpdateRole(ctx context.Context, tn Tenant, id string, in RoleInput) error {
	if builtinRole(ctx, tn, id) && (in.Name != nil || in.IsAdmin != nil) {
		return apierr.InvalidPayload("name", "built-in roles keep their name and admin flag")
	}
	cols, err := in.columns(tn.DB.Dialect)
	if err != nil {
		return err
	}
	n, err := s.update(ctx, tn, "strata_roles", id, cols)
	if err != nil {
		return uniqueErr(err, "name")
	}
	if n == 0 {
		return apierr.NotFound("role %q not found", id)
	}
	return nil
}

// DeleteRole removes a role and its permissions; its users fall back to the default
// role rather than keep a role that is gone.
func (s *Service) DeleteRole(ctx context.Context, tn Tenant, id string) error {
	if builtinRole(ctx, tn, id) {
		return apierr.Forbidden("built-in roles cannot be deleted")
	}
	var n int64
	err := s.write(ctx, tn, func(w *records.SystemWriter) error {
		if _, err := w.Update(ctx, "strata_users", records.Where{"role_id": id}, map[string]any{"role_id": nil}); err != nil {
			return fmt.Errorf("move the role's users to the default role: %w", err)
		}
		var err error
		if n, err = w.Delete(ctx, "strata_roles", records.Where{"id": id}); err != nil || n == 0 {
			return err
		}
		_, err = w.Delete(ctx, "strata_permissions", records.Where{"role_id": id})
		return err
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return apierr.NotFound("role %q not found", id)
	}
	return nil
}

// PermissionInput is a permission as admins write it; nil fields stay as they are.
type PermissionInput struct {
	Role        *string         `json:"role,omitempty"`
	Collection  *string         `json:"collection,omitempty"`
	Action      *string         `json:"action,omitempty"`
	Permissions json.RawMessage `json:"permissions,omitempty"`
	Fields      json.RawMessage `json:"fields,omitempty"`
	Presets     json.RawMessage `json:"presets,omitempty"`
}

// permissionColumns checks a permission before it is saved: the role and table exist,
// the fields exist, and the row rule parses against the table (a rule on a misspelled
// field would never match). current is the row being changed, for a patch.
func (s *Service) permissionColumns(ctx context.Context, tn Tenant, in PermissionInput, current map[string]any) (map[string]any, error) {
	m := tn.Model
	str := func(p *string, key string) string {
		if p != nil {
			return *p
		}
		v, _ := current[key].(string)
		return v
	}
	role, table, action := str(in.Role, "role_id"), str(in.Collection, "collection"), str(in.Action, "action")
	if !RoleExists(ctx, tn, role) {
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
		if _, err := (&query.Resolver{Model: m, Limits: s.Limits, User: "00000000-0000-0000-0000-000000000000"}).RuleCond(m.Table(table), rule); err != nil {
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

// CreatePermission adds a permission and returns its id.
func (s *Service) CreatePermission(ctx context.Context, tn Tenant, in PermissionInput) (string, error) {
	cols, err := s.permissionColumns(ctx, tn, in, nil)
	if err != nil {
		return "", err
	}
	id := s.NewID()
	if err := s.insert(ctx, tn, "strata_permissions", id, cols); err != nil {
		return "", err
	}
	return id, nil
}

// UpdatePermission changes a permission.
func (s *Service) UpdatePermission(ctx context.Context, tn Tenant, id string, in PermissionInput) error {
	rows, err := s.Rows(ctx, tn, "strata_permissions", PermissionFields, []string{id})
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return apierr.NotFound("permission %q not found", id)
	}
	cols, err := s.permissionColumns(ctx, tn, in, rows[0])
	if err != nil {
		return err
	}
	_, err = s.update(ctx, tn, "strata_permissions", id, cols)
	return err
}

// DeletePermission removes a permission.
func (s *Service) DeletePermission(ctx context.Context, tn Tenant, id string) error {
	n, err := s.remove(ctx, tn, "strata_permissions", id)
	if err != nil {
		return err
	}
	if n == 0 {
		return apierr.NotFound("permission %q not found", id)
	}
	return nil
}

// NewAPIKey is a created key: its secret is shown once; only its hash is kept.
type NewAPIKey struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Role  string `json:"role_id"`
	Token string `json:"token"`
}

// CreateAPIKey adds a static token with a role.
func (s *Service) CreateAPIKey(ctx context.Context, tn Tenant, name, role string) (*NewAPIKey, error) {
	if name == "" || len(name) > 255 {
		return nil, apierr.InvalidPayload("name", "name must be 1 to 255 characters")
	}
	if !RoleExists(ctx, tn, role) {
		return nil, apierr.InvalidPayload("role", "role %q does not exist", role)
	}
	token, hash := auth.NewAPIKey()
	id := s.NewID()
	if err := s.insert(ctx, tn, "strata_api_keys", id, map[string]any{"name": name, "role_id": role, "token_hash": hash}); err != nil {
		return nil, err
	}
	return &NewAPIKey{ID: id, Name: name, Role: role, Token: token}, nil
}

// DeleteAPIKey removes a key.
func (s *Service) DeleteAPIKey(ctx context.Context, tn Tenant, id string) error {
	n, err := s.remove(ctx, tn, "strata_api_keys", id)
	if err != nil {
		return err
	}
	if n == 0 {
		return apierr.NotFound("api key %q not found", id)
	}
	return nil
}
