package histgen

import (
	"fmt"
	"net/url"
	"slices"
)

// recentSteps is how far back a cascading rollback reaches: the last steps in effect.
const recentSteps = 8

// makeRollback undoes an earlier step's migration (POST /migrations/{id}/rollback): now
// and then the newest step still in effect, which nothing depends on, and otherwise a
// recent one with cascade=true, which rolls back with it the later migrations that
// depend on it, newest first. A step that made two migrations (a rename sent with an
// alteration) is rolled back by its first, with cascade: the second depends on it.
func makeRollback(g *Gen) (Step, bool) {
	var live []int // steps still in effect that made migrations
	for i, c := range g.history {
		if !c.undone && !c.rollback && c.step.Expect == 0 && len(c.migrations) > 0 {
			live = append(live, i)
		}
	}
	if len(live) == 0 {
		return Step{}, false
	}
	at := live[len(live)-1]
	cascade := len(g.history[at].migrations) > 1
	if g.chance(0.5) {
		at, cascade = pick(g, live[max(0, len(live)-recentSteps):]), true
	}
	id := g.Migrations[g.history[at].migrations[0]].ID
	path := "/migrations/" + url.PathEscape(id) + "/rollback"
	if cascade {
		path += "?cascade=true"
	}
	return Step{Kind: "rollback", Method: "POST", Path: path, Apply: g.rolledBack}, true
}

// rolledBack puts the model back after a rollback the server answered: the steps whose
// migrations it undid are marked undone, and the model is rebuilt from the copy kept
// before the first step that is undone or a rollback, by applying again the steps after
// it that are still in effect. The server rolls back only what is independent of the
// rest, so the rest applies as it did.
func (g *Gen) rolledBack(m *Model, reply Reply) error {
	list, _ := reply.Get("data.migrations").([]any)
	undone := map[string]bool{}
	for _, x := range list {
		of := Reply{"m": x}.Text("m.change.of")
		if of == "" {
			return fmt.Errorf("a migration of the answer names none it undid: %v", x)
		}
		undone[of] = true
	}
	if len(undone) == 0 {
		return fmt.Errorf("the answer lists no rollback: %v", reply)
	}
	for i, c := range g.history {
		n := 0
		for _, k := range c.migrations {
			if undone[g.Migrations[k].ID] {
				n++
			}
		}
		switch {
		case n == 0:
			continue
		case c.undone || c.rollback:
			return fmt.Errorf("step %d (%s) is rolled back again", i+1, c.step)
		case n < len(c.migrations):
			return fmt.Errorf("step %d (%s) is rolled back in part: %d of its %d migrations", i+1, c.step, n, len(c.migrations))
		}
		c.undone = true
		for _, k := range c.migrations {
			g.Migrations[k].RolledBack = true
			delete(undone, g.Migrations[k].ID)
		}
	}
	if len(undone) > 0 {
		return fmt.Errorf("the answer rolls back migrations this history did not make: %v", undone)
	}
	from := slices.IndexFunc(g.history, func(c *committed) bool { return c.undone || c.rollback })
	model := g.history[from].before.Clone()
	for i, c := range g.history[from:] {
		if c.undone || c.rollback || c.step.Expect != 0 || c.step.Apply == nil {
			continue
		}
		if err := c.step.Apply(model, c.reply); err != nil {
			return fmt.Errorf("step %d (%s) again after the rollback: %w", from+i+1, c.step, err)
		}
	}
	*m = *model
	return nil
}
