// Package identity is a tenant's users, roles, permissions and API keys: the rows of
// its strata_users, strata_roles, strata_permissions and strata_api_keys, checked
// before they are written, and the realm its users sign in to. It knows nothing of
// HTTP; the caller tells caches, sessions and the other nodes about what changed
// (Changed says what).
package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"strata/modules/access"
	"strata/modules/apierr"
	"strata/modules/auth"
	"strata/modules/database"
	"strata/modules/query"
	"strata/modules/records"
	"strata/schema"
)

// Tenant is the tenant a call works on: its database and its model (the system tables
// are read through the query engine; permissions are checked against user tables).
type Tenant struct {
	ID    string
	Slug  string
	DB    *database.DB
	Model *schema.Model
}

// Service reads and writes identities.
type Service struct {
	// Records writes the rows, so hooks see identity writes as they see any other.
	Records *records.Service
	Access  *access.Store
	Limits  query.Limits
	Now     func() time.Time
	NewID   func() string
}

// The fields each list shows; hashes never leave.
const (
	UserFields       = "id,email,role_id,status,first_name,last_name,last_login,created_at,updated_at"
	RoleFields       = "id,name,description,is_admin,created_at,updated_at"
	PermissionFields = "id,role_id,collection,action,permissions,fields,presets"
	APIKeyFields     = "id,name,role_id,last_used_at,created_at"
)

// Rows reads rows of one of the identity tables (all, or those with ids) with fields,
// through the query engine, as an admin.
func (s *Service) Rows(ctx context.Context, tn Tenant, table, fields string, ids []string) ([]map[string]any, error) {
	t := tn.Model.Table(table)
	if t == nil {
		return nil, fmt.Errorf("read %s: no such system table", table)
	}
	q, err := (&query.Resolver{Model: tn.Model, Limits: s.Limits}).Parse(t, query.Params{"fields": {fields}, "limit": {"-1"}})
	if err != nil {
		return nil, err
	}
	if ids != nil {
		q.Filter = query.IDsIn(t, ids)
	}
	res, err := (&query.Runner{DB: tn.DB, D: tn.DB.Dialect, Limits: s.Limits}).Run(ctx, q)
	if err != nil {
		return nil, err
	}
	return res.Data, nil
}

// Row reads one row by id; a missing row (or a key that is not a UUID) is a 404 that
// names what: "user", "role", …
func (s *Service) Row(ctx context.Context, tn Tenant, table, fields, what, id string) (map[string]any, error) {
	if !schema.IsUUID(id) {
		return nil, apierr.NotFound("%s %q not found", what, id)
	}
	rows, err := s.Rows(ctx, tn, table, fields, []string{id})
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, apierr.NotFound("%s %q not found", what, id)
	}
	return rows[0], nil
}

// write runs fn's writes to the tenant's identity tables in one transaction of the
// records service, whose hooks hear of them as of every other write.
func (s *Service) write(ctx context.Context, tn Tenant, fn func(w *records.SystemWriter) error) error {
	return s.Records.WriteSystem(ctx, &records.Scope{TenantID: tn.ID, Slug: tn.Slug, DB: tn.DB, Model: tn.Model}, fn)
}

// insert, update and remove are one write each.
func (s *Service) insert(ctx context.Context, tn Tenant, table, id string, cols map[string]any) error {
	return s.write(ctx, tn, func(w *records.SystemWriter) error { return w.Insert(ctx, table, id, cols) })
}

func (s *Service) update(ctx context.Context, tn Tenant, table, id string, cols map[string]any) (n int64, err error) {
	err = s.write(ctx, tn, func(w *records.SystemWriter) error {
		n, err = w.Update(ctx, table, records.Where{"id": id}, cols)
		return err
	})
	return n, err
}

func (s *Service) remove(ctx context.Context, tn Tenant, table, id string) (n int64, err error) {
	err = s.write(ctx, tn, func(w *records.SystemWriter) error {
		n, err = w.Delete(ctx, table, records.Where{"id": id})
		return err
	})
	return n, err
}

// uniqueErr turns a unique violation into RECORD_NOT_UNIQUE naming the field.
func uniqueErr(err error, field string) error {
	if err != nil && (strings.Contains(strings.ToLower(err.Error()), "unique") || strings.Contains(strings.ToLower(err.Error()), "duplicate")) {
		return apierr.New(400, "RECORD_NOT_UNIQUE", "%s is already taken", field).With("field", field)
	}
	return err
}

// RoleExists reports whether id names one of the tenant's roles.
func RoleExists(ctx context.Context, tn Tenant, id string) bool {
	d := tn.DB.Dialect
	var one int
	return tn.DB.QueryRowContext(ctx, d.Rebind("SELECT 1 FROM "+d.Quote("strata_roles")+" WHERE "+d.Quote("id")+" = ?"), id).Scan(&one) == nil
}

// Realm is where a tenant's users sign in: its strata_users and strata_sessions. A user
// without a role gets the built-in authenticated role.
func (s *Service) Realm(ctx context.Context, tn Tenant) *auth.Realm {
	d := tn.DB.Dialect
	q := d.Quote
	role := func(id any) string {
		if r := database.Text(id); r != "" {
			return r
		}
		r, _ := s.Access.RoleID(ctx, tn.DB, tn.ID, "authenticated")
		return r
	}
	return &auth.Realm{DB: tn.DB, Users: "strata_users", Sessions: "strata_sessions", TenantID: tn.ID, TFA: auth.TableFactors{DB: tn.DB, Table: "strata_users"},
		Lookup: func(ctx context.Context, email string) (string, string, string, bool, error) {
			var id, status string
			var hash, roleID any
			err := tn.DB.QueryRowContext(ctx, d.Rebind("SELECT "+q("id")+", "+q("password_hash")+", "+q("role_id")+", "+q("status")+" FROM "+q("strata_users")+" WHERE "+q("email")+" = ?"), email).
				Scan(&id, &hash, &roleID, &status)
			return id, database.Text(hash), role(roleID), status == "active", err
		},
		Subject: func(ctx context.Context, id string) (string, string, bool, error) {
			var email, status string
			var roleID any
			err := tn.DB.QueryRowContext(ctx, d.Rebind("SELECT "+q("email")+", "+q("role_id")+", "+q("status")+" FROM "+q("strata_users")+" WHERE "+q("id")+" = ?"), id).
				Scan(&email, &roleID, &status)
			return email, role(roleID), status == "active", err
		},
	}
}

// APIKeyRole finds the role of a static token; keys are stored hashed.
func (s *Service) APIKeyRole(ctx context.Context, tn Tenant, token string) (string, error) {
	d := tn.DB.Dialect
	var role string
	err := tn.DB.QueryRowContext(ctx, d.Rebind("SELECT "+d.Quote("role_id")+" FROM "+d.Quote("strata_api_keys")+" WHERE "+d.Quote("token_hash")+" = ?"), auth.HashToken(token)).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", apierr.Unauthorized("INVALID_TOKEN", "invalid token")
	}
	if err != nil {
		return "", fmt.Errorf("look up api key: %w", err)
	}
	return role, nil
}
