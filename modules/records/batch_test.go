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
