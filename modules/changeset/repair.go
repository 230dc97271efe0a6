package changeset

import (
	"fmt"
	"slices"
	"strings"

	"strata/modules/formats"
	"strata/schema"
)

// Repair is the changeset of SQL that turns a tenant's live schema, described by live
// (schema.LiveModel), into want, in the tenant's dialect d. It is what repairs drift:
// run as a custom migration, the SQL changes the database and the read-back of custom
// SQL records what it did, so metadata and live schema agree afterwards. The SQL is
// what the dialect's planner renders for the same operations Diff would write, with
// drops made final (dropped, not trashed: what the live schema holds outside the
// metadata has no history to restore, and custom SQL may not touch the trash). It
// carries down_sql only when nothing is dropped.
func Repair(name string, d schema.Dialect, live *schema.Model, want formats.Snapshot) (*Changeset, error) {
	steps, err := formats.Plan(live, want)
	if err != nil {
		return nil, err
	}
	cs := &Changeset{Name: name, Tags: []string{}, DependsOn: []string{}}
	var up, down []string
	reversible := true
	gen := placeholderIDs()
	m := live
	for _, st := range steps {
		next, resolved, err := schema.Apply(m, st.Change, gen)
		if err != nil {
			return nil, fmt.Errorf("repair: %s: %w", st.At, err)
		}
		if len(next.Trash) > len(m.Trash) {
			reversible = false // a drop: what it held cannot come back
		}
		plan, after, err := schema.PlanFinal(d, m, resolved)
		if err != nil {
			return nil, fmt.Errorf("repair: %s: %w", st.At, err)
		}
		if sql := plan.UpSQL(); sql != "" { // descriptions and the like are metadata only
			up = append(up, sql)
			down = append(down, plan.DownSQL())
		}
		m = after
	}
	if len(up) == 0 {
		return cs, nil // the database holds nothing else: no SQL to run (not a valid changeset to register)
	}
	cs.Description = fmt.Sprintf("%s SQL written by strata schema diff", d.Name())
	cs.UpSQL = strings.Join(up, "")
	if reversible {
		slices.Reverse(down)
		cs.DownSQL = strings.Join(down, "")
	}
	if err := cs.Validate(); err != nil {
		return nil, fmt.Errorf("repair: %w", err)
	}
	cs.Checksum = cs.Sum()
	return cs, nil
}
