package query

import (
	"context"
	"strings"

	"strata/modules/access"
	"strata/modules/database"
	"strata/schema"
)

// Permissions says what the caller may do; a nil Permissions allows everything
// (tenant and platform admins). access.Policy implements it.
type Permissions interface {
	Rule(table, action string) *access.Rule
}

// forbidden is the refusal for a table or field the caller may not use. It names the
// parameter and path like any query error, and answers 403.
func forbidden(param, path, format string, args ...any) *Error {
	e := qerr(param, path, format, args...)
	e.Forbidden = true
	return e
}

// readRule returns the caller's read rule for t, or a 403.
func (r *Resolver) readRule(t *schema.Table, param, path string) (*access.Rule, error) {
	if r.Perms == nil {
		return &access.Rule{}, nil
	}
	rule := r.Perms.Rule(t.Name, access.Read)
	if rule == nil {
		return nil, forbidden(param, path, "you may not read %s", t.Name)
	}
	return rule, nil
}

// fieldAllowed reports whether the caller may read field of t (true for admins).
func (r *Resolver) fieldAllowed(t *schema.Table, field string) bool {
	if r.Perms == nil {
		return true
	}
	rule := r.Perms.Rule(t.Name, access.Read)
	return rule != nil && rule.AllowsField(field)
}

// RuleCond parses a permission's row rule for table t into a condition. Rules are
// written by admins, so they may use any field, whatever the caller may read.
func (r *Resolver) RuleCond(t *schema.Table, rule *access.Rule) (*Cond, error) {
	if rule == nil || len(rule.Filter) == 0 {
		return nil, nil
	}
	trusted := *r
	trusted.Perms = nil
	return trusted.parseFilterValue(t, "permissions", "", rule.Filter)
}

// readCond is t's read rule as a condition (nil: every row), or a 403.
func (r *Resolver) readCond(t *schema.Table, param, path string) (*Cond, error) {
	rule, err := r.readRule(t, param, path)
	if err != nil {
		return nil, err
	}
	return r.RuleCond(t, rule)
}

// IDsIn is the condition "id is one of ids" on t.
func IDsIn(t *schema.Table, ids []string) *Cond {
	vals := make([]any, len(ids))
	for i, id := range ids {
		vals[i] = id
	}
	return &Cond{Kind: CondLeaf, Column: t.Column("id"), Op: "_in", Value: vals}
}

// And combines conditions, skipping nil ones (nil: none left).
func And(cs ...*Cond) *Cond { return and(cs...) }

// and combines conditions, skipping nil ones.
func and(cs ...*Cond) *Cond {
	var kids []*Cond
	for _, c := range cs {
		if c != nil {
			kids = append(kids, c)
		}
	}
	switch len(kids) {
	case 0:
		return nil
	case 1:
		return kids[0]
	}
	return &Cond{Kind: CondAnd, Children: kids}
}

// MatchCount counts the rows among ids that satisfy c (all of them when c is nil); a
// write checks a permission's row rule with it, before and after changing rows.
func MatchCount(ctx context.Context, q schema.Querier, d schema.Dialect, t *schema.Table, ids []string, c *Cond) (int64, error) {
	b := &builder{d: d}
	ph := make([]string, len(ids))
	for i, id := range ids {
		ph[i] = b.param(strings.ToLower(id))
	}
	b.w("SELECT COUNT(*) FROM ", d.Quote(t.Name), " t0 WHERE ", b.col("t0", "id"), " IN (", strings.Join(ph, ", "), ")")
	if c != nil {
		b.w(" AND ", b.cond(c, "t0"))
	}
	var n any
	if err := q.QueryRowContext(ctx, b.sql(), b.args...).Scan(&n); err != nil {
		return 0, err
	}
	return database.Int64(n), nil
}
