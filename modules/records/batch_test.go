package records

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"strata/modules/apierr"
	"strata/schema"
)

// TestBatchIsAllOrNothing: a batch upserts by its filter, counts what it did, and a dry
// run or a refused entry leaves nothing written and nothing announced.
func TestBatchIsAllOrNothing(t *testing.T) {
	s, sc, notes, pub := fixture(t)
	ctx := context.Background()
	if _, err := s.Create(ctx, sc, notes, []map[string]any{{"text": "old"}, {"text": "keep"}}); err != nil {
		t.Fatal(err)
	}
	*pub = nil
	eq := func(v string) map[string]any { return map[string]any{"text": map[string]any{"_eq": v}} }
	upsert := func(at, find string, fields map[string]any) Upsert {
		return Upsert{Entry: Entry{At: at, Table: "notes", Filter: eq(find)}, Fields: fields, Presets: map[string]any{"text": find}}
	}
	b := Batch{
		Deletes: []Entry{{At: "_deletedRecords[0]", Table: "notes", Filter: eq("old")}},
		Upserts: []Upsert{upsert("notes[0]", "new", map[string]any{}), upsert("notes[1]", "keep", map[string]any{"text": "kept"})},
	}
	run := func(b Batch, dry bool) (*BatchReport, error) {
		p, err := s.PlanBatch(sc, b, 10)
		if err != nil {
			return nil, err
		}
		return s.RunBatch(ctx, p, dry)
	}

	rep, err := run(b, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Deleted) != 1 || rep.Deleted[0].Deleted != 1 || len(rep.Tables) != 1 || rep.Tables[0] != (Upserted{Inserted: 1, Table: "notes", Updated: 1}) {
		t.Fatalf("dry run report: %+v", rep)
	}
	if got := texts(t, s, sc, notes); !slices.Equal(got, []string{"keep", "old"}) || len(*pub) != 0 {
		t.Fatalf("a dry run wrote %v or announced %v", got, *pub)
	}

	// The second upsert's filter now matches two rows: the whole batch is refused.
	bad := b
	bad.Upserts = append(slices.Clone(b.Upserts), Upsert{Entry: Entry{At: "notes[2]", Table: "notes", Filter: map[string]any{"text": map[string]any{"_neq": "x"}}}, Fields: map[string]any{"text": "y"}})
	_, err = run(bad, false)
	var ae *apierr.Error
	if !errors.As(err, &ae) || !strings.HasPrefix(ae.Message, "notes[2]._unique matches more than one row") {
		t.Fatalf("an ambiguous filter: %v", err)
	}
	if got := texts(t, s, sc, notes); !slices.Equal(got, []string{"keep", "old"}) || len(*pub) != 0 {
		t.Fatalf("a refused batch wrote %v or announced %v", got, *pub)
	}

	// A value the column refuses names its entry.
	_, err = run(Batch{Upserts: []Upsert{upsert("notes[0]", "z", map[string]any{"text": map[string]any{"not": "text"}})}}, false)
	var ee *EntryError
	if !errors.As(err, &ee) || ee.At != "notes[0]" {
		t.Fatalf("a refused value is not named after its entry: %v", err)
	}

	if _, err := run(b, false); err != nil {
		t.Fatal(err)
	}
	if got := texts(t, s, sc, notes); !slices.Equal(got, []string{"kept", "new"}) {
		t.Fatalf("after the batch: %v", got)
	}
	if len(*pub) != 3 || !strings.Contains((*pub)[0], "notes delete") {
		t.Fatalf("announced: %v", *pub)
	}

	// System tables are written through their own routes, never a batch.
	sc.Model.Tables = append(sc.Model.Tables, schema.Table{Name: "strata_users"})
	if _, err := s.PlanBatch(sc, Batch{Empty: []Entry{{At: "_deletedTables[0]", Table: "strata_users"}}}, 10); err == nil {
		t.Fatal("a batch may empty a system table")
	}
}

// TestSystemWritesAreOneTransactionHooksSee: the identity tables' writes go through
// the hooks (never showing a hash), and a refusal undoes every write of the
// transaction.
func TestSystemWritesAreOneTransactionHooksSee(t *testing.T) {
	s, sc, _, pub := fixture(t)
	ctx := context.Background()
	if _, err := sc.DB.ExecContext(ctx, `CREATE TABLE "strata_keys" ("id" TEXT PRIMARY KEY, "name" TEXT, "token_hash" TEXT, "created_at" TEXT, "updated_at" TEXT)`); err != nil {
		t.Fatal(err)
	}
	var seen []string
	refuse := false
	s.Hooks.Before = append(s.Hooks.Before, func(_ context.Context, _ schema.Querier, w *Write) error {
		for _, d := range w.Data {
			if _, ok := d["token_hash"]; ok {
				t.Errorf("a hook saw the hash of %s", w.Table.Name)
			}
		}
		if refuse && w.Action == "delete" {
			return apierr.Forbidden("no")
		}
		return nil
	})
	s.Hooks.After = append(s.Hooks.After, func(_ context.Context, w *Write) {
		seen = append(seen, w.Table.Name+" "+w.Action+" "+strings.Join(w.IDs, ","))
	})
	count := func() (n int) {
		_ = sc.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM "strata_keys"`).Scan(&n)
		return n
	}
	err := s.WriteSystem(ctx, sc, func(w *SystemWriter) error {
		if err := w.Insert(ctx, "strata_keys", "k1", map[string]any{"name": "a", "token_hash": "secret"}); err != nil {
			return err
		}
		if err := w.Insert(ctx, "strata_keys", "k2", map[string]any{"name": "b", "token_hash": "secret"}); err != nil {
			return err
		}
		n, err := w.Update(ctx, "strata_keys", Where{"name": "b"}, map[string]any{"name": "c"})
		if n != 1 {
			t.Errorf("updated %d rows", n)
		}
		return err
	})
	if err != nil || count() != 2 {
		t.Fatalf("write: %v, %d rows", err, count())
	}
	if want := []string{"strata_keys create k1", "strata_keys create k2", "strata_keys update k2"}; !slices.Equal(seen, want) {
		t.Fatalf("after hooks saw %v, want %v", seen, want)
	}
	refuse, seen = true, nil
	err = s.WriteSystem(ctx, sc, func(w *SystemWriter) error {
		if err := w.Insert(ctx, "strata_keys", "k3", map[string]any{"name": "d"}); err != nil {
			return err
		}
		_, err := w.Delete(ctx, "strata_keys", Where{"id": "k1"})
		return err
	})
	if err == nil || count() != 2 || len(seen) != 0 {
		t.Fatalf("a refused delete: %v, %d rows, after hooks saw %v", err, count(), seen)
	}
	if len(*pub) != 0 {
		t.Fatalf("system rows were announced: %v", *pub)
	}
}
