// Package access decides what a caller may do in a tenant. A caller's role becomes a
// Policy once per request: per table and action, whether it is allowed, the row rule
// (a filter in the query language, e.g. {"owner_id":{"_eq":"$CURRENT_USER"}}), the
// fields it may touch and the presets applied on writes. The query engine applies the
// policy on every surface; this package only loads and caches it.
package access

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"strata/modules/cache"
	"strata/modules/database"
	"strata/schema"
)

// Actions a permission governs.
const (
	Create = "create"
	Read   = "read"
	Update = "update"
	Delete = "delete"
)

// Actions lists every action.
var Actions = []string{Create, Read, Update, Delete}

// Caller is who is asking.
type Caller struct {
	Kind   string // "anonymous", "user", "api_key" or "platform"
	UserID string
	RoleID string
	Policy *Policy
	// Session is the session (refresh-token family) a user's token belongs to.
	Session string
	// TFASetupRequired: an admin of a tenant that requires two-factor of its admins,
	// who has none yet; such a token serves only to set it up.
	TFASetupRequired bool
}

// Admin reports whether the caller may do everything in the tenant.
func (c *Caller) Admin() bool { return c.Policy != nil && c.Policy.Admin }

// Rule is one role's permission for one table and action.
type Rule struct {
	Filter  map[string]any // nil: every row
	Fields  []string       // nil or ["*"]: every field
	Presets map[string]any // values applied on create and update
}

// Policy is a role's permissions in one tenant.
type Policy struct {
	RoleID string
	Admin  bool
	rules  map[string]map[string]*Rule // table -> action -> rule
}

// Rule returns the permission for action on table, or nil when it is not allowed.
// Admins have every permission, unrestricted.
func (p *Policy) Rule(table, action string) *Rule {
	if p.Admin {
		return &Rule{}
	}
	return p.rules[table][action]
}

// Grants reports whether the policy allows some action on table.
func (p *Policy) Grants(table string) bool { return p.Admin || len(p.rules[table]) > 0 }

// Access is how much of action on a table a rule grants, as Directus names it: "none"
// (no rule), "partial" (a row rule limits it) or "full".
func Access(r *Rule) string {
	switch {
	case r == nil:
		return "none"
	case len(r.Filter) > 0:
		return "partial"
	}
	return "full"
}

// AllowsField reports whether a rule lets the caller touch field.
func (r *Rule) AllowsField(field string) bool {
	if r.Fields == nil {
		return true
	}
	for _, f := range r.Fields {
		if f == "*" || f == field {
			return true
		}
	}
	return false
}

// Store loads policies from a tenant's strata_roles and strata_permissions and keeps
// them for TTL (default 1s); changes are seen at once where Invalidate is called: on
// the node that made them, and on the others when the bus brings word.
type Store struct {
	TTL time.Duration
	// c is keyed by tenant id + "\x00" + role id (or "name:" + role name).
	c    cache.TTL[cached]
	once sync.Once
}

type cached struct {
	p  *Policy
	id string
}

func (s *Store) cache() *cache.TTL[cached] {
	s.once.Do(func() { s.c.TTL, s.c.Max = s.TTL, 10000 })
	return &s.c
}

// Invalidate forgets a tenant's policies (after its roles or permissions changed).
func (s *Store) Invalidate(tenantID string) { s.cache().DropPrefix(tenantID + "\x00") }

// InvalidateAll forgets every policy (after the bus may have missed invalidations).
func (s *Store) InvalidateAll() { s.cache().DropAll() }

// RoleID finds a role's id by name (the built-in public and authenticated roles).
func (s *Store) RoleID(ctx context.Context, db *database.DB, tenantID, name string) (string, error) {
	key := tenantID + "\x00name:" + name
	c, gen, ok := s.cache().Get(key)
	if ok {
		return c.id, nil
	}
	d := db.Dialect
	var id string
	if err := db.QueryRowContext(ctx, d.Rebind("SELECT "+d.Quote("id")+" FROM "+d.Quote("strata_roles")+" WHERE "+d.Quote("name")+" = ?"), name).Scan(&id); err != nil {
		return "", fmt.Errorf("role %s: %w", name, err)
	}
	s.cache().Put(key, cached{id: id}, gen)
	return id, nil
}

// Policy returns the policy of a role; an unknown role has no permissions.
func (s *Store) Policy(ctx context.Context, db *database.DB, tenantID, roleID string) (*Policy, error) {
	return s.PolicyIn(ctx, db, db.Dialect, tenantID, roleID)
}

// PolicyIn is Policy read through q: inside a transaction that holds a connection (a
// before hook's), asking the pool for another could wait on itself.
func (s *Store) PolicyIn(ctx context.Context, q schema.Querier, d schema.Dialect, tenantID, roleID string) (*Policy, error) {
	key := tenantID + "\x00" + roleID
	c, gen, ok := s.cache().Get(key)
	if ok {
		return c.p, nil
	}
	p, err := load(ctx, q, d, roleID)
	if err != nil {
		return nil, err
	}
	s.cache().Put(key, cached{p: p}, gen)
	return p, nil
}

func load(ctx context.Context, db schema.Querier, d schema.Dialect, roleID string) (*Policy, error) {
	q := d.Quote
	p := &Policy{RoleID: roleID, rules: map[string]map[string]*Rule{}}
	var admin any
	err := db.QueryRowContext(ctx, d.Rebind("SELECT "+q("is_admin")+" FROM "+q("strata_roles")+" WHERE "+q("id")+" = ?"), roleID).Scan(&admin)
	if err == nil {
		p.Admin = database.Bool(admin)
	}
	if p.Admin {
		return p, nil
	}
	// What the public role may do, everyone may do: a role's own permission wins where
	// it has one, the public one applies where it has none.
	rows, err := db.QueryContext(ctx, d.Rebind("SELECT "+q("collection")+", "+q("action")+", "+q("permissions")+", "+q("fields")+", "+q("presets")+", "+
		q("role_id")+" = ? FROM "+q("strata_permissions")+" WHERE "+q("role_id")+" = ? OR "+q("role_id")+" IN (SELECT "+q("id")+" FROM "+q("strata_roles")+
		" WHERE "+q("name")+" = 'public') ORDER BY 6"), roleID, roleID)
	if err != nil {
		return nil, fmt.Errorf("load permissions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var table, action string
		var filter, fields, presets, own any
		if err := rows.Scan(&table, &action, &filter, &fields, &presets, &own); err != nil {
			return nil, fmt.Errorf("load permissions: %w", err)
		}
		r := &Rule{}
		for _, x := range []struct {
			raw any
			dst any
		}{{filter, &r.Filter}, {fields, &r.Fields}, {presets, &r.Presets}} {
			if s := database.Text(x.raw); s != "" && s != "null" {
				if err := json.Unmarshal([]byte(s), x.dst); err != nil {
					return nil, fmt.Errorf("permission %s/%s: %w", table, action, err)
				}
			}
		}
		if p.rules[table] == nil {
			p.rules[table] = map[string]*Rule{}
		}
		p.rules[table][action] = r
	}
	return p, rows.Err()
}

// ValidateRule checks a permission before it is saved: the table exists, the action is
// known, and every field it names exists (a rule on a typo would never match).
func ValidateRule(m *schema.Model, table, action string, fields []string) error {
	t := m.Table(table)
	if t == nil {
		return &schema.FieldError{Field: "collection", Message: fmt.Sprintf("table %q does not exist", table)}
	}
	known := false
	for _, a := range Actions {
		known = known || a == action
	}
	if !known {
		return &schema.FieldError{Field: "action", Message: "action must be create, read, update or delete"}
	}
	for i, f := range fields {
		if f != "*" && t.Column(f) == nil && m.RelationByField(table, f) == nil {
			return &schema.FieldError{Field: fmt.Sprintf("fields[%d]", i), Message: fmt.Sprintf("table %q has no field %q", table, f)}
		}
	}
	return nil
}
