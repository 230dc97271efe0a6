package query

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"strata/schema"
)

// Links is a to-many field's new value in a write: the keys of the related rows that
// the written row is to be linked with, all others unlinked.
type Links struct {
	Field *RelField
	Keys  []string
}

// MaxLinks bounds the keys one to-many field takes in one write.
const MaxLinks = 1000

// SplitLinks takes the to-many fields (one_to_many, many_to_many, and the inverse of a
// many_to_one) out of a write's body: the row is written first, then its links. Their
// value is an array of keys, or of objects with an "id", as Directus clients send; null
// unlinks every row.
func SplitLinks(r *Resolver, t *schema.Table, body map[string]any) ([]Links, error) {
	var out []Links
	for _, name := range slices.Sorted(maps.Keys(body)) {
		if t.Column(name) != nil {
			continue
		}
		f := r.Field(t, name)
		if f == nil || f.Kind == ToOne {
			continue // the write refuses it, naming the field
		}
		keys, err := linkKeys(name, body[name])
		if err != nil {
			return nil, err
		}
		delete(body, name)
		out = append(out, Links{Field: f, Keys: keys})
	}
	return out, nil
}

func linkKeys(field string, v any) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, &ValueError{Field: field, Message: "expected an array of the related rows' keys"}
	}
	if len(list) > MaxLinks {
		return nil, &ValueError{Field: field, Message: fmt.Sprintf("at most %d related rows per write", MaxLinks)}
	}
	seen := map[string]bool{}
	keys := make([]string, 0, len(list))
	for _, item := range list {
		if obj, ok := item.(map[string]any); ok {
			item = obj["id"]
		}
		s, ok := item.(string)
		if !ok || !schema.IsUUID(s) {
			return nil, &ValueError{Field: field, Message: "expected an array of the related rows' keys (UUIDs)"}
		}
		if s = strings.ToLower(s); !seen[s] {
			seen[s] = true
			keys = append(keys, s)
		}
	}
	return keys, nil
}

// Linked returns the keys of the rows a to-many field links row id with.
func Linked(ctx context.Context, q schema.Querier, d schema.Dialect, f *RelField, id string) ([]string, error) {
	var query string
	if f.Kind == Junction {
		query = "SELECT " + d.Quote(f.JunctionFar) + " FROM " + d.Quote(f.JunctionTable.Name) + " WHERE " + d.Quote(f.JunctionNear) + " = ?"
	} else {
		query = "SELECT " + d.Quote("id") + " FROM " + d.Quote(f.Target.Name) + " WHERE " + d.Quote(f.Key) + " = ?"
	}
	rows, err := q.QueryContext(ctx, d.Rebind(query), id)
	if err != nil {
		return nil, fmt.Errorf("read %s links: %w", f.Name, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v any
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, strings.ToLower(fmt.Sprint(Decode(&schema.Column{Type: "uuid"}, v))))
	}
	return out, rows.Err()
}

// LinkChange is what setting a to-many field changes: the related rows newly linked
// and those unlinked.
type LinkChange struct {
	Added, Removed []string
}

// Diff compares the keys linked now with the keys wanted (a row may have many linked:
// sets, not scans).
func Diff(now, want []string) LinkChange {
	var c LinkChange
	has, wanted := make(map[string]bool, len(now)), make(map[string]bool, len(want))
	for _, k := range now {
		has[k] = true
	}
	for _, k := range want {
		wanted[k] = true
		if !has[k] {
			c.Added = append(c.Added, k)
		}
	}
	for _, k := range now {
		if !wanted[k] {
			c.Removed = append(c.Removed, k)
		}
	}
	return c
}

// Relink applies a change to row id's to-many field: for a one_to_many, the related
// rows' key column is set to id or emptied (a key that may not be empty refuses the
// unlink); for a many_to_many, junction rows are added and deleted. The caller checks
// beforehand that every added key names an existing row it may see.
func Relink(ctx context.Context, q schema.Querier, d schema.Dialect, f *RelField, id string, c LinkChange, now time.Time) error {
	ts := d.TimeValue(now)
	if f.Kind == Junction {
		if len(c.Removed) > 0 {
			args := []any{id}
			for _, k := range c.Removed {
				args = append(args, k)
			}
			if _, err := q.ExecContext(ctx, d.Rebind("DELETE FROM "+d.Quote(f.JunctionTable.Name)+" WHERE "+d.Quote(f.JunctionNear)+" = ? AND "+
				d.Quote(f.JunctionFar)+" IN ("+schema.Placeholders(len(c.Removed))+")"), args...); err != nil {
				return fmt.Errorf("unlink %s: %w", f.Name, err)
			}
		}
		for _, k := range c.Added {
			cols := []string{"id", f.JunctionNear, f.JunctionFar}
			args := []any{uuid.Must(uuid.NewV7()).String(), id, k}
			for _, sys := range []string{"created_at", "updated_at"} {
				if f.JunctionTable.Column(sys) != nil {
					cols, args = append(cols, sys), append(args, ts)
				}
			}
			for i := range cols {
				cols[i] = d.Quote(cols[i])
			}
			if _, err := q.ExecContext(ctx, d.Rebind("INSERT INTO "+d.Quote(f.JunctionTable.Name)+" ("+strings.Join(cols, ", ")+") VALUES ("+schema.Placeholders(len(cols))+")"), args...); err != nil {
				return fmt.Errorf("link %s: %w", f.Name, err)
			}
		}
		return nil
	}
	set := func(keys []string, to any) error {
		if len(keys) == 0 {
			return nil
		}
		args := []any{to, ts}
		for _, k := range keys {
			args = append(args, k)
		}
		_, err := q.ExecContext(ctx, d.Rebind("UPDATE "+d.Quote(f.Target.Name)+" SET "+d.Quote(f.Key)+" = ?, "+d.Quote("updated_at")+" = ? WHERE "+
			d.Quote("id")+" IN ("+schema.Placeholders(len(keys))+")"), args...)
		return err
	}
	if len(c.Removed) > 0 {
		if key := f.Target.Column(f.Key); key != nil && !key.Nullable {
			return &ValueError{Field: f.Name, Message: fmt.Sprintf("the %s rows taken out would lose their %s, which may not be empty: delete them or link them elsewhere", f.Target.Name, f.Key)}
		}
	}
	if err := set(c.Removed, nil); err != nil {
		return fmt.Errorf("unlink %s: %w", f.Name, err)
	}
	if err := set(c.Added, id); err != nil {
		return fmt.Errorf("link %s: %w", f.Name, err)
	}
	return nil
}
