package records

import (
	"context"

	"strata/modules/access"
	"strata/modules/apierr"
	"strata/modules/query"
	"strata/schema"
)

// Touched is rows a write changed besides its own: the related rows it linked or
// unlinked (a one_to_many's key, a many_to_many's inverse list), announced after the
// commit.
type Touched map[string][]string

// Announce publishes the touched rows as action.
func (t Touched) Announce(ctx context.Context, s *Service, sc *Scope, action string) {
	for table, ids := range t {
		s.Announce(ctx, sc, table, action, ids)
	}
}

// WriteLinks sets row id's to-many fields, within the write's transaction q. Every key
// added must name a row the caller may read. A one_to_many changes the related rows'
// key column: the caller must be allowed to update those rows and that column, before
// and after, as if it had written them itself. A many_to_many changes only junction
// rows, which belong to the row written (its own write permission covers them).
func (s *Service) WriteLinks(ctx context.Context, sc *Scope, q schema.Querier, t *schema.Table, id string, links []query.Links, out Touched) error {
	if len(links) == 0 {
		return nil
	}
	d := sc.DB.Dialect
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
		if err := s.mayRead(ctx, sc, f.Target, f.Name, ch.Added); err != nil {
			return err
		}
		var g *Guard
		changed := append(append([]string{}, ch.Added...), ch.Removed...)
		if f.Kind == query.ToMany {
			if g, err = s.Guard(sc, f.Target, access.Update); err != nil {
				return err
			}
			if err := g.Fields(map[string]any{f.Key: id}); err != nil {
				return err
			}
			if err := g.Rows(ctx, q, d, changed); err != nil {
				return err
			}
		}
		if err := query.Relink(ctx, q, d, f, id, ch, s.Now()); err != nil {
			return err
		}
		if g != nil {
			if err := g.Rows(ctx, q, d, changed); err != nil {
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
func (s *Service) mayRead(ctx context.Context, sc *Scope, t *schema.Table, field string, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	q, err := s.Resolver(sc).Parse(t, query.Params{"fields": {"id"}})
	if err != nil {
		return err
	}
	q.Filter = query.IDsIn(t, keys)
	q.Limit = len(keys)
	res, err := s.Runner(sc).Run(ctx, q)
	if err != nil {
		return err
	}
	if len(res.Data) < len(keys) {
		return apierr.InvalidPayload(field, "%s: some keys do not name a %s row you may read", field, t.Name)
	}
	return nil
}
