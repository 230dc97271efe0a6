package changeset

import (
	"strings"
	"testing"

	"strata/modules/formats"
	"strata/schema"
)

// TestRepair: the SQL of a repair drops for good (no trash table or column, which custom
// SQL may not touch), adds what the live schema lacks, and carries down_sql only when
// nothing is dropped.
func TestRepair(t *testing.T) {
	live, err := ModelOf(formats.Snapshot{Tables: []formats.SnapshotTable{
		{Name: "posts", Columns: []formats.Column{{Name: "title", Type: schema.TypeString}, {Name: "by_hand", Type: schema.TypeInteger}}},
		{Name: "scratch", Columns: []formats.Column{{Name: "x", Type: schema.TypeInteger}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	addOnly := formats.Snapshot{Tables: []formats.SnapshotTable{
		{Name: "posts", Columns: []formats.Column{{Name: "title", Type: schema.TypeString}, {Name: "by_hand", Type: schema.TypeInteger}, {Name: "views", Type: schema.TypeInteger}}},
		{Name: "scratch", Columns: []formats.Column{{Name: "x", Type: schema.TypeInteger}}},
	}}
	drops := formats.Snapshot{Tables: []formats.SnapshotTable{
		{Name: "posts", Columns: []formats.Column{{Name: "title", Type: schema.TypeString}, {Name: "views", Type: schema.TypeInteger}}},
	}}
	for _, d := range []schema.Dialect{schema.Postgres{}, schema.MySQL{}, schema.SQLite{}} {
		t.Run(d.Name(), func(t *testing.T) {
			cs, err := Repair("fix", d, live, drops)
			if err != nil {
				t.Fatal(err)
			}
			q := d.Quote
			for _, want := range []string{"DROP TABLE " + q("scratch"), q("views")} {
				if !strings.Contains(cs.UpSQL, want) {
					t.Errorf("up_sql lacks %s:\n%s", want, cs.UpSQL)
				}
			}
			if strings.Contains(cs.UpSQL, schema.TrashPrefix) || cs.DownSQL != "" || cs.Checksum != cs.Sum() {
				t.Errorf("a repair that drops uses the trash or carries down_sql:\n%s\n--\n%s", cs.UpSQL, cs.DownSQL)
			}
			cs, err = Repair("fix", d, live, addOnly)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(cs.UpSQL, q("views")) || !strings.Contains(cs.DownSQL, q("views")) {
				t.Errorf("an added column and its undoing:\n%s\n--\n%s", cs.UpSQL, cs.DownSQL)
			}
			if cs, err := Repair("fix", d, live, formats.Take(live)); err != nil || cs.UpSQL != "" {
				t.Errorf("in sync: %v %q", err, cs.UpSQL)
			}
		})
	}
}

// TestRepairOfMetadataOnly: differences the database does not hold (a description)
// give no SQL, rather than an empty changeset.
func TestRepairOfMetadataOnly(t *testing.T) {
	live, err := ModelOf(formats.Snapshot{Tables: []formats.SnapshotTable{{Name: "posts", Columns: []formats.Column{{Name: "title", Type: schema.TypeString}}}}})
	if err != nil {
		t.Fatal(err)
	}
	want := formats.Snapshot{Tables: []formats.SnapshotTable{{Name: "posts", Description: "what we write", Columns: []formats.Column{{Name: "title", Type: schema.TypeString}}}}}
	cs, err := Repair("fix", schema.Postgres{}, live, want)
	if err != nil || cs.UpSQL != "" {
		t.Fatalf("%v %q", err, cs.UpSQL)
	}
}
