package schema

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestInverseRestoresEveryChange applies each kind of change to the blog fixture,
// then its inverse, and expects the live schema before the change back. The inverse
// is also planned on every dialect, so a rollback can always be rendered.
func TestInverseRestoresEveryChange(t *testing.T) {
	title := "Posts of the blog"
	cases := []struct {
		name   string
		change Change
	}{
		{"create table with relation", Change{Type: CreateTable, Create: &Table{Name: "tags", Columns: []Column{{Name: "label", Type: TypeString, Unique: true}}},
			Relations: []Relation{{Table: "tags", Name: "post", Type: ManyToOne, Target: "posts"}}}},
		{"rename table", Change{Type: RenameTable, Table: "posts", NewName: "articles"}},
		{"describe table", Change{Type: AlterTable, Table: "posts", Description: &title}},
		{"drop table with relations", Change{Type: DropTable, Table: "posts"}},
		{"drop referenced table", Change{Type: DropTable, Table: "authors"}},
		{"add column", Change{Type: AddColumn, Table: "posts", Def: &Column{Name: "body", Type: TypeText, Nullable: true}}},
		{"alter column", Change{Type: AlterColumn, Table: "posts", Column: "views", Def: &Column{Type: TypeBigint, Nullable: false, Unique: true}}},
		{"rename column in an index", Change{Type: RenameColumn, Table: "posts", Column: "status", NewName: "state"}},
		{"drop column in a user index", Change{Type: DropColumn, Table: "posts", Column: "status"}},
		{"drop unique column", Change{Type: DropColumn, Table: "authors", Column: "email"}},
		{"add many_to_many", Change{Type: AddRelation, Relation: &Relation{Table: "posts", Name: "readers", Type: ManyToMany, Target: "authors"}}},
		{"add one_to_many", Change{Type: AddRelation, Relation: &Relation{Table: "authors", Name: "drafts", Type: OneToMany, Target: "posts", Inverse: "draft_author"}}},
		{"add index", Change{Type: AddIndex, Table: "authors", Index: &Index{Columns: []string{"name"}, Unique: true}}},
		{"drop index", Change{Type: DropIndex, Table: "posts", Column: "posts_status_created_at_idx"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gen := counterIDs()
			before := blogModel(t, gen)
			after, resolved := mustApply(t, before, tc.change, gen)
			steps, err := Inverse(before, after, resolved)
			if err != nil {
				t.Fatalf("Inverse: %v", err)
			}
			undo := Change{Type: Rollback, Of: "m1", OfSeq: 1, Steps: steps}
			back, resolvedUndo := mustApply(t, after, undo, gen)
			if !SameLive(before, back) {
				t.Fatalf("rollback did not restore the schema:\nbefore %s\nback %s", liveShape(before), liveShape(back))
			}
			// A resolved rollback replays without new ids, and plans on every dialect.
			if _, _, err := applySafely(after, resolvedUndo, panicIDs); err != nil {
				t.Fatalf("replay resolved rollback: %v", err)
			}
			for _, d := range []Dialect{Postgres{}, MySQL{}, SQLite{}} {
				if _, err := d.Plan(after, resolvedUndo); err != nil {
					t.Fatalf("%s plan: %v", d.Name(), err)
				}
			}
		})
	}
}

// TestInverseOfDropRelation undoes dropping each kind of relation.
func TestInverseOfDropRelation(t *testing.T) {
	for _, kind := range []RelationType{ManyToOne, OneToOne, OneToMany, ManyToMany} {
		t.Run(string(kind), func(t *testing.T) {
			gen := counterIDs()
			m := blogModel(t, gen)
			m, added := mustApply(t, m, Change{Type: AddRelation, Relation: &Relation{Table: "authors", Name: "pick", Type: kind, Target: "posts", Inverse: "picked_by"}}, gen)
			after, resolved := mustApply(t, m, Change{Type: DropRelation, Relation: &Relation{ID: added.Relation.ID}}, gen)
			steps, err := Inverse(m, after, resolved)
			if err != nil {
				t.Fatalf("Inverse: %v", err)
			}
			back, _ := mustApply(t, after, Change{Type: Rollback, Of: "x", Steps: steps}, gen)
			if !SameLive(m, back) {
				t.Fatalf("relation not restored:\nwant %s\ngot  %s", liveShape(m), liveShape(back))
			}
		})
	}
}

func TestInverseRefusals(t *testing.T) {
	gen := counterIDs()
	m := blogModel(t, gen)
	dropped, resolved := mustApply(t, m, Change{Type: DropColumn, Table: "posts", Column: "views"}, gen)
	purged, purge := mustApply(t, dropped, Change{Type: Purge, TrashID: m.Table("posts").Column("views").ID}, gen)
	var nu *NoUndoError
	if _, err := Inverse(dropped, purged, purge); !errors.As(err, &nu) {
		t.Fatalf("purge inverse: want NoUndoError, got %v", err)
	}
	// Undoing the drop after its trash was purged cannot bring the rows back.
	steps, err := Inverse(m, dropped, resolved)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Apply(purged, Change{Type: Rollback, Of: "x", Steps: steps}, gen); !errors.As(err, &nu) || !strings.Contains(err.Error(), "purged") {
		t.Fatalf("restore of a purged column: want NoUndoError naming the purge, got %v", err)
	}
	// A name taken again blocks the restore with a field error.
	taken, _ := mustApply(t, dropped, Change{Type: AddColumn, Table: "posts", Def: &Column{Name: "views", Type: TypeText, Nullable: true}}, gen)
	var fe *FieldError
	if _, _, err := Apply(taken, Change{Type: Rollback, Of: "x", Steps: steps}, gen); !errors.As(err, &fe) {
		t.Fatalf("restore over a reused name: want FieldError, got %v", err)
	}
	if _, err := Inverse(m, m, Change{Type: Rollback, Of: "x"}); !errors.As(err, &nu) {
		t.Fatalf("rollback of a rollback: want NoUndoError, got %v", err)
	}
}

func TestTouched(t *testing.T) {
	gen := counterIDs()
	m := blogModel(t, gen)
	posts, authors := m.Table("posts").ID, m.Table("authors").ID
	cases := []struct {
		name   string
		change Change
		want   []string
		not    []string
	}{
		{"add column", Change{Type: AddColumn, Table: "posts", Def: &Column{Name: "body", Type: TypeText, Nullable: true}}, []string{"table:" + posts}, []string{"name:posts", "table:" + authors}},
		{"rename table", Change{Type: RenameTable, Table: "posts", NewName: "articles"}, []string{"table:" + posts, "name:posts", "name:articles"}, []string{"table:" + authors}},
		{"create table", Change{Type: CreateTable, Create: &Table{Name: "tags", Columns: []Column{{Name: "x", Type: TypeInteger}}}}, []string{"name:tags"}, []string{"table:" + posts}},
		{"relation", Change{Type: AddRelation, Relation: &Relation{Table: "authors", Name: "fav", Type: ManyToOne, Target: "posts"}}, []string{"table:" + authors, "name:posts", "name:authors"}, []string{"table:" + posts}},
		{"drop column", Change{Type: DropColumn, Table: "authors", Column: "name"}, []string{"table:" + authors}, []string{"name:authors"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			after, _ := mustApply(t, m, tc.change, gen)
			got := Touched(m, after)
			for _, k := range tc.want {
				if !got[k] {
					t.Errorf("missing %s in %v", k, got)
				}
			}
			for _, k := range tc.not {
				if got[k] {
					t.Errorf("unexpected %s in %v", k, got)
				}
			}
		})
	}
}

// TestRollbackChangeJSON keeps the stored shape of a rollback stable: replays and the
// dependents check read it back.
func TestRollbackChangeJSON(t *testing.T) {
	c := Change{Type: Rollback, Of: "id-1", OfSeq: 7, Steps: []Change{{Type: Restore, TrashID: "t", Position: 2}}}
	b, _ := json.Marshal(c)
	want := `{"type":"rollback","of":"id-1","of_seq":7,"steps":[{"type":"restore","trash_id":"t","position":2}]}`
	if string(b) != want {
		t.Fatalf("got %s\nwant %s", b, want)
	}
}
