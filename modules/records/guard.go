package records

import (
	"context"

	"strata/modules/access"
	"strata/modules/apierr"
	"strata/modules/query"
	"strata/schema"
)

// Rule returns the caller's rule for action on table, or the refusal: 401 for an
// anonymous caller, 403 for anyone else.
func Rule(caller *access.Caller, table, action string) (*access.Rule, error) {
	if caller == nil {
		return nil, apierr.Unauthorized("INVALID_CREDENTIALS", "authentication required")
	}
	rule := caller.Policy.Rule(table, action)
	if rule == nil {
		if caller.Kind == "anonymous" {
			return nil, apierr.Unauthorized("INVALID_CREDENTIALS", "authentication required")
		}
		return nil, apierr.Forbidden("you may not %s %s", action, table)
	}
	return rule, nil
}

// Guard is a write's permission: the rule to check rows against (no condition: any
// row), which fields may be written, and the presets to fill in.
type Guard struct {
	table *schema.Table
	rule  *access.Rule
	cond  *query.Cond
}

// Guard prepares the permission check of the caller's action on t.
func (s *Service) Guard(sc *Scope, t *schema.Table, action string) (*Guard, error) {
	rule, err := Rule(sc.Caller, t.Name, action)
	if err != nil {
		return nil, err
	}
	cond, err := s.Resolver(sc).RuleCond(t, rule)
	if err != nil {
		return nil, err
	}
	return &Guard{table: t, rule: rule, cond: cond}, nil
}

// Conditional reports whether rows must be checked against a row rule.
func (g *Guard) Conditional() bool { return g.cond != nil }

// Fields refuses a body that writes a field the caller may not, and fills presets.
func (g *Guard) Fields(body map[string]any) error {
	for k := range body {
		if k != "id" && !g.rule.AllowsField(k) {
			return apierr.Forbidden("you may not write %s.%s", g.table.Name, k).With("field", k)
		}
	}
	for k, v := range g.rule.Presets {
		if _, given := body[k]; !given {
			body[k] = v
		}
	}
	return nil
}

// Rows checks that every row in ids satisfies the rule; a row outside it is a 403,
// whether it exists or not, so a write cannot probe for hidden rows.
func (g *Guard) Rows(ctx context.Context, q schema.Querier, d schema.Dialect, ids []string) error {
	if g.cond == nil {
		return nil
	}
	n, err := query.MatchCount(ctx, q, d, g.table, ids, g.cond)
	if err != nil {
		return err
	}
	if n != int64(len(ids)) {
		return apierr.Forbidden("you may not change some of these %s rows", g.table.Name)
	}
	return nil
}
