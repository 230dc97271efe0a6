package migration

import (
	"testing"

	"strata/schema"
)

func TestLegacyPhrase(t *testing.T) {
	drop := func(table, column string) schema.Change {
		return schema.Change{Type: schema.DropColumn, Table: table, Column: column}
	}
	rel := &schema.Relation{Table: "posts", Name: "author", Target: "authors"}
	for _, c := range []struct {
		name    string
		changes []schema.Change
		want    string
	}{
		{"a column", []schema.Change{drop("posts", "a")}, "APPLY SCHEMA CHANGES posts"},
		{"a rename and a narrowing of one column", []schema.Change{
			{Type: schema.RenameColumn, Table: "posts", Column: "a", NewName: "b"}, {Type: schema.AlterColumn, Table: "posts", Column: "b"}}, "APPLY SCHEMA CHANGES posts"},
		{"a relation names its table", []schema.Change{{Type: schema.DropRelation, Relation: rel}}, "APPLY SCHEMA CHANGES posts"},
		{"a table", []schema.Change{{Type: schema.DropTable, Table: "posts"}}, "DELETE TABLE posts"},
		{"two tables", []schema.Change{drop("posts", "a"), drop("tags", "b")}, ""},
		{"a table and a column of another", []schema.Change{{Type: schema.DropTable, Table: "tags"}, drop("posts", "a")}, ""},
		{"a table and a column of it", []schema.Change{drop("posts", "a"), {Type: schema.DropTable, Table: "posts"}}, ""},
		{"a purge", []schema.Change{{Type: schema.Purge, Table: "posts", TrashID: "x"}}, ""},
		{"a rollback", []schema.Change{{Type: schema.Rollback, Steps: []schema.Change{drop("posts", "a")}}}, ""},
		{"hand-written SQL", []schema.Change{{Type: schema.Custom, SQL: "DROP TABLE posts"}}, ""},
		{"nothing", nil, ""},
	} {
		if got := legacyPhrase(c.changes); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	if normalPhrase("  apply schema\tchanges   Posts ") != normalPhrase("APPLY SCHEMA CHANGES posts") {
		t.Error("phrases differing in spaces and case do not compare equal")
	}
}
