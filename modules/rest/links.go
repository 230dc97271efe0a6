package rest

import (
	"github.com/gofiber/fiber/v2"

	"strata/modules/access"
	"strata/modules/apierr"
	"strata/modules/query"
	"strata/schema"
)

// touched is rows a write changed besides its own: the related rows it linked or
// unlinked (a one_to_many's key, a many_to_many's inverse list), published after the
// commit.
type touched map[string][]string

func (t touched) publish(a *API, c *fiber.Ctx, action string) {
	for table, ids := range t {
		a.publish(c, table, action, ids)
	}
}

// writeLinks sets row id's to-many fields, within the write's transaction q. Every key
// added must name a row the caller may read. A one_to_many changes the related rows'
// key column: the caller must be allowed to update those rows and that column, before
// and after, as if it had written them itself. A many_to_many changes only junction
// rows, which belong to the row written (its own write permission covers them).
func (a *API) writeLinks(c *fiber.Ctx, m *schema.Model, t *schema.Table, q schema.Querier, id string, links []query.Links, out touched) error {
	if len(links) == 0 {
		return nil
	}
	ctx := c.UserContext()
	d := tenantOf(c).db.Dialect
	// A batch update's key that names no row changes nothing, its links included.
	if n, err := query.MatchCount(ctx, q, d, t, []string{id}, nil); err != nil || n == 0 {
		return err
	}
	for _, l := range links {
		f := l.Field
		now, err := query.Linked(ctx, q, d, f, id)
		if err != nil {
			return err
		}
		ch := query.Diff(now, l.Keys)
		if len(ch.Added) == 0 && len(ch.Removed) == 0 {
			continue
		}
		if err := a.mayRead(c, m, f.Target, f.Name, ch.Added); err != nil {
			return err
		}
		var g *guard
		changed := append(append([]string{}, ch.Added...), ch.Removed...)
		if f.Kind == query.ToMany {
			if g, err = a.writeGuard(c, m, f.Target, access.Update); err != nil {
				return err
			}
			if err := g.fields(map[string]any{f.Key: id}); err != nil {
				return err
			}
			if err := g.rows(ctx, q, d, changed); err != nil {
				return err
			}
		}
		if err := query.Relink(ctx, q, d, f, id, ch, a.Now()); err != nil {
			return err
		}
		if g != nil {
			if err := g.rows(ctx, q, d, changed); err != nil {
				return err
			}
		}
		// Their side of the relation changed too (a key, or the inverse list).
		out[f.Target.Name] = append(out[f.Target.Name], changed...)
	}
	return nil
}

// mayRead refuses keys that do not name rows of t the caller may read (missing and
// hidden alike, so a write cannot probe for hidden rows).
func (a *API) mayRead(c *fiber.Ctx, m *schema.Model, t *schema.Table, field string, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	q, err := a.resolver(c, m).Parse(t, query.Params{"fields": {"id"}})
	if err != nil {
		return err
	}
	q.Filter = query.IDsIn(t, keys)
	q.Limit = len(keys)
	res, err := a.runner(c).Run(c.UserContext(), q)
	if err != nil {
		return err
	}
	if len(res.Data) < len(keys) {
		return apierr.InvalidPayload(field, "%s: some keys do not name a %s row you may read", field, t.Name)
	}
	return nil
}
