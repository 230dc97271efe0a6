package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
)

// counterIDs returns an IDGen that counts: 00000000-0000-7000-8000-000000000001, … Every
// name derived from an id (auto indexes, foreign keys, trash names) is then the same on
// every run, which the golden plans depend on.
func counterIDs() IDGen {
	n := 0
	return func() string { n++; return fmt.Sprintf("00000000-0000-7000-8000-%012d", n) }
}

// panicIDs is the generator for replays: a resolved change must carry every id it
// needs, so being asked for a new one is a failure.
func panicIDs() string { panic("a resolved change asked for a new id") }

// blogChanges builds the fixture most tests start from: authors, and posts with a
// many_to_one author, an indexed column, an enum with a default and a user index.
func blogChanges() []Change {
	return []Change{
		{Type: CreateTable, Create: &Table{Name: "authors", Columns: []Column{
			{Name: "name", Type: TypeString},
			{Name: "email", Type: TypeEmail, Nullable: true, Unique: true},
		}}},
		{Type: CreateTable, Create: &Table{Name: "posts", Columns: []Column{
			{Name: "title", Type: TypeString, Length: 200},
			{Name: "views", Type: TypeInteger, Nullable: true, Index: true, Default: json.RawMessage(`0`)},
			{Name: "status", Type: TypeEnum, Values: []string{"draft", "live", "archived"}, Default: json.RawMessage(`"draft"`)},
			{Name: "price", Type: TypeDecimal, Precision: 10, Scale: 2, Nullable: true},
		}}},
		{Type: AddRelation, Relation: &Relation{Table: "posts", Name: "author", Type: ManyToOne, Target: "authors"}},
		{Type: AddIndex, Table: "posts", Index: &Index{Columns: []string{"status", "created_at"}}},
	}
}

// blogModel applies blogChanges with gen, so a test can keep drawing ids from gen and
// still be deterministic.
func blogModel(t testing.TB, gen IDGen) *Model {
	t.Helper()
	m := &Model{}
	for _, c := range blogChanges() {
		m, _ = mustApply(t, m, c, gen)
	}
	return m
}

func mustApply(t testing.TB, m *Model, c Change, gen IDGen) (*Model, Change) {
	t.Helper()
	next, resolved, err := Apply(m, c, gen)
	if err != nil {
		t.Fatalf("Apply %s %s: %v", c.Type, c.Table, err)
	}
	return next, resolved
}

// applySafely is Apply with a panic turned into an error, so a replay that asks for an
// id fails one test case instead of the whole run.
func applySafely(m *Model, c Change, gen IDGen) (next *Model, resolved Change, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return Apply(m, c, gen)
}

func jsonOf(t testing.TB, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestApplyCreateTable(t *testing.T) {
	gen := counterIDs()
	m := &Model{}
	in := Change{Type: CreateTable, Create: &Table{Name: "posts", Description: "Blog posts", Columns: []Column{
		{Name: "title", Type: TypeString, Unique: true},
		{Name: "views", Type: TypeInteger, Nullable: true, Index: true},
		{Name: "body", Type: TypeText, Nullable: true},
	}}}
	inBefore := jsonOf(t, in)
	next, resolved := mustApply(t, m, in, gen)

	// Apply is pure: neither the model nor the caller's change is touched.
	if len(m.Tables) != 0 {
		t.Errorf("Apply modified the input model: %s", jsonOf(t, m))
	}
	if got := jsonOf(t, in); got != inBefore {
		t.Errorf("Apply modified the input change:\n%s", got)
	}

	tbl := next.Table("posts")
	if tbl == nil {
		t.Fatal("table posts missing after create_table")
	}
	if tbl.ID == "" || tbl.Description != "Blog posts" || tbl.System || tbl.Junction {
		t.Errorf("table header = %+v", *tbl)
	}
	wantCols := []struct {
		name     string
		typ      Type
		nullable bool
		system   bool
	}{
		{"id", TypeUUID, false, true},
		{"owner_id", TypeUUID, true, true},
		{"created_at", TypeDatetime, false, true},
		{"updated_at", TypeDatetime, false, true},
		{"title", TypeString, false, false},
		{"views", TypeInteger, true, false},
		{"body", TypeText, true, false},
	}
	if len(tbl.Columns) != len(wantCols) {
		t.Fatalf("columns = %v, want %d columns", tbl.ColumnNames(), len(wantCols))
	}
	ids := map[string]bool{}
	for i, w := range wantCols {
		c := tbl.Columns[i]
		if c.Name != w.name || c.Type != w.typ || c.Nullable != w.nullable || c.System != w.system {
			t.Errorf("column %d = %+v, want %+v", i, c, w)
		}
		if c.ID == "" || ids[c.ID] {
			t.Errorf("column %s has a missing or duplicate id %q", c.Name, c.ID)
		}
		ids[c.ID] = true
	}
	// Validation fills in the type's default size.
	if l := tbl.Column("title").Length; l != 255 {
		t.Errorf("title length = %d, want the default 255", l)
	}
	// One auto index per unique/index flag, named after the column id so it survives a
	// rename; body has neither flag. A plain index ends with the row key.
	wantIdx := []Index{
		{Name: autoIndexName(tbl.Column("title").ID), Columns: []string{"title"}, Unique: true, Auto: true},
		{Name: autoIndexName(tbl.Column("views").ID), Columns: []string{"views", "id"}, Unique: false, Auto: true},
	}
	if !reflect.DeepEqual(tbl.Indexes, wantIdx) {
		t.Errorf("indexes = %+v, want %+v", tbl.Indexes, wantIdx)
	}
	// The resolved change carries everything generated, system columns included.
	if resolved.Create.ID != tbl.ID {
		t.Errorf("resolved table id = %q, want %q", resolved.Create.ID, tbl.ID)
	}
	if !reflect.DeepEqual(resolved.Create.Columns, tbl.Columns) {
		t.Errorf("resolved columns = %+v, want the table's %+v", resolved.Create.Columns, tbl.Columns)
	}
}

func TestApplyCreateTableWithRelation(t *testing.T) {
	gen := counterIDs()
	m := blogModel(t, gen)
	next, resolved := mustApply(t, m, Change{Type: CreateTable, Create: &Table{Name: "comments", Columns: []Column{
		{Name: "body", Type: TypeString, Length: 1000},
	}}, Relations: []Relation{{Name: "post", Type: ManyToOne, Target: "posts", OnDelete: "cascade"}}}, gen)
	r := next.RelationByField("comments", "post")
	if r == nil {
		t.Fatal("relation comments.post missing")
	}
	// The owner defaults to the new table, and the key column comes after the user ones.
	if r.Table != "comments" || r.ID == "" || resolved.Relations[0].ID != r.ID {
		t.Errorf("relation = %+v, resolved %+v", *r, resolved.Relations[0])
	}
	key := next.Table("comments").Column("post")
	if key == nil || !key.System || key.Relation != r.ID || key.Type != TypeUUID || !key.Nullable {
		t.Errorf("key column = %+v", key)
	}
	if ix := next.Table("comments").Index(autoIndexName(key.ID)); ix == nil || ix.Unique {
		t.Errorf("key column index = %+v, want a non-unique auto index", ix)
	}
}

func TestApplyManyToManyJunction(t *testing.T) {
	gen := counterIDs()
	m := blogModel(t, gen)
	next, _ := mustApply(t, m, Change{Type: AddRelation, Relation: &Relation{Table: "posts", Name: "editors", Type: ManyToMany, Target: "authors"}}, gen)
	r := next.RelationByField("posts", "editors")
	if r == nil || r.Junction != "posts_editors" {
		t.Fatalf("relation = %+v, want junction posts_editors", r)
	}
	j := next.Table("posts_editors")
	if j == nil || !j.Junction {
		t.Fatalf("junction table = %+v", j)
	}
	if got, want := j.ColumnNames(), []string{"id", "owner_id", "created_at", "updated_at", "posts_id", "authors_id"}; !reflect.DeepEqual(got, want) {
		t.Errorf("junction columns = %v, want %v", got, want)
	}
	// (a, b) unique serves lookups from a; b needs its own index for lookups from b, which
	// ends with the row key like every index behind a column's index flag.
	var unique, single bool
	for _, ix := range j.Indexes {
		if ix.Unique && reflect.DeepEqual(ix.Columns, []string{"posts_id", "authors_id"}) {
			unique = true
		}
		if !ix.Unique && reflect.DeepEqual(ix.Columns, []string{"authors_id", "id"}) {
			single = true
		}
	}
	if !unique || !single {
		t.Errorf("junction indexes = %+v, want unique (posts_id, authors_id) and (authors_id, id)", j.Indexes)
	}
	if fks := ForeignKeys(next, j); len(fks) != 2 || fks[0].RefTable != "posts" || fks[1].RefTable != "authors" {
		t.Errorf("junction keys = %+v", fks)
	}
}

// manyColumns returns n valid nullable integer columns.
func manyColumns(n int) []Column {
	out := make([]Column, n)
	for i := range out {
		out[i] = Column{Name: fmt.Sprintf("c%d", i), Type: TypeInteger, Nullable: true}
	}
	return out
}

func TestApplyValidation(t *testing.T) {
	long := "a" + strings.Repeat("b", 63) // 64 characters
	str := func(name string) Column { return Column{Name: name, Type: TypeString, Nullable: true} }
	create := func(name string, cols ...Column) Change {
		return Change{Type: CreateTable, Create: &Table{Name: name, Columns: cols}}
	}
	add := func(c Column) Change { return Change{Type: AddColumn, Table: "posts", Def: &c} }
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	// The auto index behind authors.email's unique flag, as the fixture names it.
	emailIndex := autoIndexName(blogModel(t, counterIDs()).Table("authors").Column("email").ID)
	tests := []struct {
		name   string
		setup  []Change // applied to the blog model first
		change Change
		field  string
	}{
		// Names.
		{name: "keyword table name", change: create("select", str("a")), field: "name"},
		{name: "keyword column name", change: create("things", str("order")), field: "columns[0].name"},
		{name: "keyword added column", change: add(str("group")), field: "column.name"},
		{name: "keyword relation name", change: Change{Type: AddRelation, Relation: &Relation{Table: "posts", Name: "from", Type: ManyToOne, Target: "authors"}}, field: "name"},
		{name: "keyword rename", change: Change{Type: RenameColumn, Table: "posts", Column: "title", NewName: "where"}, field: "name"},
		{name: "keyword index name", change: Change{Type: AddIndex, Table: "posts", Index: &Index{Name: "index", Columns: []string{"title"}}}, field: "name"},
		{name: "strata_ prefix table", change: create("strata_things", str("a")), field: "name"},
		{name: "pg_ prefix column", change: add(str("pg_thing")), field: "column.name"},
		{name: "sqlite_ prefix table", change: create("sqlite_stat9", str("a")), field: "name"},
		{name: "strata_ prefix rename table", change: Change{Type: RenameTable, Table: "posts", NewName: "strata_posts"}, field: "name"},
		// Mixed case is allowed; names differing only by case may not meet (MySQL and
		// SQLite compare names without case).
		{name: "a table differing only by case", change: create("Posts", str("a")), field: "name"},
		{name: "a rename to another table's name in another case", change: Change{Type: RenameTable, Table: "authors", NewName: "POSTS"}, field: "name"},
		{name: "a column differing only by case", change: add(str("Title")), field: "column.name"},
		{name: "two columns differing only by case", change: create("things", str("userEmail"), str("useremail")), field: "columns[1].name"},
		{name: "a system column in another case", change: add(str("Created_At")), field: "column.name"},
		{name: "a keyword in another case", change: create("Select", str("a")), field: "name"},
		{name: "a reserved prefix in another case", change: create("Strata_things", str("a")), field: "name"},
		{name: "a system table's name in another case", change: create("Table_Definition", str("a")), field: "name"},
		{name: "a relation named like a column in another case", change: Change{Type: AddRelation, Relation: &Relation{Table: "posts", Name: "TITLE", Type: ManyToOne, Target: "authors"}}, field: "name"},
		{name: "an index named like a table in another case", change: Change{Type: AddIndex, Table: "posts", Index: &Index{Name: "Authors", Columns: []string{"title"}}}, field: "name"},
		{name: "leading digit", change: add(str("1st")), field: "column.name"},
		{name: "hyphen", change: add(str("first-name")), field: "column.name"},
		{name: "too long table", change: create(long, str("a")), field: "name"},
		{name: "too long column", change: add(str(long)), field: "column.name"},
		{name: "system table name", change: create("settings", str("a")), field: "name"},
		{name: "_definition suffix", change: create("page_definition", str("a")), field: "name"},
		{name: "system column name", change: add(str("owner_id")), field: "column.name"},

		// Duplicates and collisions.
		{name: "duplicate table", change: create("authors", str("a")), field: "name"},
		{name: "duplicate column in create", change: create("things", str("a"), str("a")), field: "columns[1].name"},
		{name: "duplicate column added", change: add(str("title")), field: "column.name"},
		{name: "column named like a relation", change: add(str("author")), field: "column.name"},
		{name: "relation named like a column", change: Change{Type: AddRelation, Relation: &Relation{Table: "posts", Name: "title", Type: ManyToOne, Target: "authors"}}, field: "name"},
		{name: "relation named like a system column", change: Change{Type: AddRelation, Relation: &Relation{Table: "posts", Name: "owner_id", Type: ManyToOne, Target: "authors"}}, field: "name"},
		{name: "inverse named like a target column", change: Change{Type: AddRelation, Relation: &Relation{Table: "authors", Name: "posts", Type: OneToMany, Target: "posts", Inverse: "title"}}, field: "inverse"},
		{name: "rename column to existing", change: Change{Type: RenameColumn, Table: "posts", Column: "title", NewName: "views"}, field: "name"},
		{name: "rename column to relation field", change: Change{Type: RenameColumn, Table: "posts", Column: "title", NewName: "author"}, field: "name"},
		{name: "rename column to system column", change: Change{Type: RenameColumn, Table: "posts", Column: "title", NewName: "created_at"}, field: "name"},
		{name: "rename table to existing", change: Change{Type: RenameTable, Table: "posts", NewName: "authors"}, field: "name"},
		{name: "rename table to itself", change: Change{Type: RenameTable, Table: "posts", NewName: "posts"}, field: "name"},
		{name: "index name taken", change: Change{Type: AddIndex, Table: "authors", Index: &Index{Name: "posts_status_created_at_idx", Columns: []string{"name"}}}, field: "name"},

		// Types and defaults.
		{name: "unknown type", change: add(Column{Name: "a", Type: "varchar"}), field: "column.type"},
		{name: "unknown type in create", change: create("things", Column{Name: "a", Type: "blob"}), field: "columns[0].type"},
		{name: "string longer than the maximum length", change: add(Column{Name: "a", Type: TypeString, Length: 70000}), field: "column.length"},
		{name: "decimal scale above precision", change: add(Column{Name: "a", Type: TypeDecimal, Precision: 5, Scale: 6}), field: "column.scale"},
		{name: "enum without values", change: add(Column{Name: "a", Type: TypeEnum}), field: "column.values"},
		{name: "enum duplicate value", change: add(Column{Name: "a", Type: TypeEnum, Values: []string{"x", "x"}}), field: "column.values[1]"},
		{name: "unique text", change: add(Column{Name: "a", Type: TypeText, Unique: true}), field: "column.unique"},
		{name: "indexed json", change: add(Column{Name: "a", Type: TypeJSON, Index: true}), field: "column.index"},
		{name: "integer default abc", change: add(Column{Name: "a", Type: TypeInteger, Default: raw(`"abc"`)}), field: "column.default"},
		{name: "integer default fraction", change: add(Column{Name: "a", Type: TypeInteger, Default: raw(`1.5`)}), field: "column.default"},
		{name: "integer default out of range", change: add(Column{Name: "a", Type: TypeInteger, Default: raw(`3000000000`)}), field: "column.default"},
		{name: "enum default not a value", change: add(Column{Name: "a", Type: TypeEnum, Values: []string{"draft", "live"}, Default: raw(`"archived"`)}), field: "column.default"},
		{name: "multi_enum default not values", change: add(Column{Name: "a", Type: TypeMultiEnum, Values: []string{"x"}, Default: raw(`["x","y"]`)}), field: "column.default"},
		{name: "impossible date default", change: add(Column{Name: "a", Type: TypeDate, Default: raw(`"2024-02-30"`)}), field: "column.default"},
		{name: "malformed date default", change: add(Column{Name: "a", Type: TypeDate, Default: raw(`"2024-2-3"`)}), field: "column.default"},
		{name: "datetime default without zone", change: add(Column{Name: "a", Type: TypeDatetime, Default: raw(`"2024-02-03T10:00:00"`)}), field: "column.default"},
		{name: "datetime default past year 9999 in UTC", change: add(Column{Name: "a", Type: TypeDatetime, Default: raw(`"9999-12-31T23:00:00-02:00"`)}), field: "column.default"},
		{name: "decimal default with too many integer digits", change: add(Column{Name: "a", Type: TypeDecimal, Precision: 3, Scale: 2, Default: raw(`123.45`)}), field: "column.default"},
		{name: "decimal default with too many decimals", change: add(Column{Name: "a", Type: TypeDecimal, Precision: 5, Scale: 2, Default: raw(`1.125`)}), field: "column.default"},
		{name: "decimal default of 1 in numeric(3,3)", change: add(Column{Name: "a", Type: TypeDecimal, Precision: 3, Scale: 3, Default: raw(`1`)}), field: "column.default"},
		{name: "decimal default too small for its scale", change: add(Column{Name: "a", Type: TypeDecimal, Precision: 10, Scale: 2, Default: raw(`1e-7`)}), field: "column.default"},
		{name: "currency default with five decimals", change: add(Column{Name: "a", Type: TypeCurrency, Default: raw(`0.00001`)}), field: "column.default"},
		{name: "alter decimal below its default", change: Change{Type: AlterColumn, Table: "posts", Column: "price", Def: &Column{Type: TypeDecimal, Precision: 3, Scale: 1, Nullable: true, Default: raw(`123.5`)}}, field: "column.default"},
		{name: "string default longer than length", change: add(Column{Name: "a", Type: TypeString, Length: 3, Default: raw(`"abcd"`)}), field: "column.default"},
		{name: "boolean default string", change: add(Column{Name: "a", Type: TypeBoolean, Default: raw(`"true"`)}), field: "column.default"},
		{name: "uuid default", change: add(Column{Name: "a", Type: TypeUUID, Default: raw(`"nope"`)}), field: "column.default"},
		{name: "default in create", change: create("things", Column{Name: "a", Type: TypeInteger, Default: raw(`"abc"`)}), field: "columns[0].default"},
		{name: "alter to a default that does not fit", change: Change{Type: AlterColumn, Table: "posts", Column: "views", Def: &Column{Type: TypeInteger, Default: raw(`"many"`)}}, field: "column.default"},

		// Limits.
		{name: "501 columns in create", change: create("wide", manyColumns(MaxColumns+1)...), field: "columns"},
		{
			name:   "add a 501st column",
			setup:  []Change{create("wide", manyColumns(MaxColumns)...)},
			change: Change{Type: AddColumn, Table: "wide", Def: &Column{Name: "one_more", Type: TypeText, Nullable: true}},
			field:  "column",
		},

		// Relations and indexes.
		{name: "relation to a missing table", change: Change{Type: AddRelation, Relation: &Relation{Table: "posts", Name: "editor", Type: ManyToOne, Target: "editors"}}, field: "target"},
		{name: "relation from a missing table", change: Change{Type: AddRelation, Relation: &Relation{Table: "editors", Name: "post", Type: ManyToOne, Target: "posts"}}, field: "table"},
		{name: "relation to a system table", setup: []Change{{Type: CreateTable, System: true, Create: &Table{Name: "settings", Columns: []Column{str("key")}}}}, change: Change{Type: AddRelation, Relation: &Relation{Table: "posts", Name: "setting", Type: ManyToOne, Target: "settings"}}, field: "target"},
		{name: "relation of unknown kind", change: Change{Type: AddRelation, Relation: &Relation{Table: "posts", Name: "editor", Type: "many_to_some", Target: "authors"}}, field: "type"},
		{name: "relation with unknown on_delete", change: Change{Type: AddRelation, Relation: &Relation{Table: "posts", Name: "editor", Type: ManyToOne, Target: "authors", OnDelete: "explode"}}, field: "on_delete"},
		{name: "relation in create to a missing table", change: Change{Type: CreateTable, Create: &Table{Name: "things", Columns: []Column{str("a")}}, Relations: []Relation{{Name: "ghost", Type: ManyToOne, Target: "ghosts"}}}, field: "relations[0].target"},
		{name: "index on a missing column", change: Change{Type: AddIndex, Table: "posts", Index: &Index{Columns: []string{"title", "subtitle"}}}, field: "columns[1]"},
		{name: "index without columns", change: Change{Type: AddIndex, Table: "posts", Index: &Index{}}, field: "columns"},
		{name: "index on a duplicate column", change: Change{Type: AddIndex, Table: "posts", Index: &Index{Columns: []string{"title", "title"}}}, field: "columns[1]"},
		{name: "drop an auto index", change: Change{Type: DropIndex, Table: "authors", Column: emailIndex}, field: "name"},

		// System objects.
		{name: "drop system column id", change: Change{Type: DropColumn, Table: "posts", Column: "id"}, field: "column"},
		{name: "drop system column created_at", change: Change{Type: DropColumn, Table: "posts", Column: "created_at"}, field: "column"},
		{name: "rename system column", change: Change{Type: RenameColumn, Table: "posts", Column: "owner_id", NewName: "owner"}, field: "column"},
		{name: "alter system column", change: Change{Type: AlterColumn, Table: "posts", Column: "updated_at", Def: &Column{Type: TypeDatetime, Nullable: true}}, field: "column"},
		{name: "drop a relation's key column", change: Change{Type: DropColumn, Table: "posts", Column: "author"}, field: "column"},
		{name: "drop a junction table", setup: []Change{{Type: AddRelation, Relation: &Relation{Table: "posts", Name: "editors", Type: ManyToMany, Target: "authors"}}}, change: Change{Type: DropTable, Table: "posts_editors"}, field: "table"},
		{name: "unknown change type", change: Change{Type: "truncate", Table: "posts"}, field: "type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gen := counterIDs()
			m := blogModel(t, gen)
			for _, s := range tt.setup {
				m, _ = mustApply(t, m, s, gen)
			}
			before := jsonOf(t, m)
			next, _, err := Apply(m, tt.change, gen)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v (%T), want a *FieldError on %q", err, err, tt.field)
			}
			if fe.Field != tt.field {
				t.Errorf("field = %q (%s), want %q", fe.Field, fe.Message, tt.field)
			}
			if next != nil {
				t.Errorf("a failed Apply returned a model")
			}
			if jsonOf(t, m) != before {
				t.Errorf("a failed Apply modified the input model")
			}
		})
	}
}

// Defaults at the edge of what their column holds are accepted.
func TestApplyDefaultsThatFit(t *testing.T) {
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	for _, c := range []Column{
		{Name: "a", Type: TypeDecimal, Precision: 4, Scale: 2, Default: raw(`99.99`)},
		{Name: "a", Type: TypeDecimal, Precision: 4, Scale: 2, Default: raw(`-99.99`)},
		{Name: "a", Type: TypeDecimal, Precision: 1, Scale: 1, Default: raw(`-0.5`)},
		{Name: "a", Type: TypeDecimal, Precision: 3, Scale: 3, Default: raw(`0`)},
		{Name: "a", Type: TypeDecimal, Precision: 5, Scale: 0, Default: raw(`12345`)},
		{Name: "a", Type: TypeDecimal, Precision: 10, Scale: 2, Default: raw(`1.10`)},
		{Name: "a", Type: TypeCurrency, Default: raw(`123456789012345.5`)},
		{Name: "a", Type: TypeDatetime, Default: raw(`"0001-01-01T00:00:00Z"`)},
		{Name: "a", Type: TypeDatetime, Default: raw(`"2024-06-30T23:30:00+02:00"`)},
	} {
		gen := counterIDs()
		if _, _, err := Apply(blogModel(t, gen), Change{Type: AddColumn, Table: "posts", Def: &c}, gen); err != nil {
			t.Errorf("%s default %s: %v", c.Type, c.Default, err)
		}
	}
}

func TestApplyValidNames(t *testing.T) {
	// The boundaries of the rules above must still be accepted.
	for _, name := range []string{"a", "a" + strings.Repeat("b", 62), "posts2", "my_strata_things", "select_list", "x_pg_y"} {
		gen := counterIDs()
		m := blogModel(t, gen)
		if _, _, err := Apply(m, Change{Type: CreateTable, Create: &Table{Name: name, Columns: []Column{{Name: name, Type: TypeText, Nullable: true}}}}, gen); err != nil {
			t.Errorf("create_table %q: %v", name, err)
		}
	}
	gen := counterIDs()
	if _, _, err := Apply(blogModel(t, gen), Change{Type: CreateTable, Create: &Table{Name: "wide", Columns: manyColumns(MaxColumns)}}, gen); err != nil {
		t.Errorf("create_table with exactly %d columns: %v", MaxColumns, err)
	}
}

func TestApplyNotFound(t *testing.T) {
	tests := []struct {
		name   string
		change Change
		what   string
	}{
		{"drop missing table", Change{Type: DropTable, Table: "ghosts"}, "table"},
		{"rename missing table", Change{Type: RenameTable, Table: "ghosts", NewName: "spirits"}, "table"},
		{"alter missing table", Change{Type: AlterTable, Table: "ghosts", Description: new(string)}, "table"},
		{"add column to missing table", Change{Type: AddColumn, Table: "ghosts", Def: &Column{Name: "a", Type: TypeText}}, "table"},
		{"alter missing column", Change{Type: AlterColumn, Table: "posts", Column: "ghost", Def: &Column{Type: TypeText}}, "column"},
		{"rename missing column", Change{Type: RenameColumn, Table: "posts", Column: "ghost", NewName: "spirit"}, "column"},
		{"drop missing column", Change{Type: DropColumn, Table: "posts", Column: "ghost"}, "column"},
		{"drop column of missing table", Change{Type: DropColumn, Table: "ghosts", Column: "title"}, "table"},
		{"drop missing relation", Change{Type: DropRelation, Relation: &Relation{ID: "00000000-0000-7000-8000-999999999999"}}, "relation"},
		{"drop missing index", Change{Type: DropIndex, Table: "posts", Column: "ghost_idx"}, "index"},
		{"add index to missing table", Change{Type: AddIndex, Table: "ghosts", Index: &Index{Columns: []string{"a"}}}, "table"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gen := counterIDs()
			_, _, err := Apply(blogModel(t, gen), tt.change, gen)
			var nf *NotFoundError
			if !errors.As(err, &nf) {
				t.Fatalf("err = %v (%T), want *NotFoundError", err, err)
			}
			if nf.What != tt.what {
				t.Errorf("What = %q, want %q", nf.What, tt.what)
			}
		})
	}
}

// replaySequence is one of every change type, in an order where each applies; build
// gets the model it applies to so it can refer to generated ids.
var replaySequence = []struct {
	name  string
	build func(m *Model) Change
}{
	{"create_table with m2m", func(*Model) Change {
		return Change{Type: CreateTable, Create: &Table{Name: "tags", Columns: []Column{{Name: "label", Type: TypeString, Unique: true}}},
			Relations: []Relation{{Name: "posts", Type: ManyToMany, Target: "posts"}}}
	}},
	{"alter_table", func(*Model) Change {
		d := "Tags of posts"
		return Change{Type: AlterTable, Table: "tags", Description: &d}
	}},
	{"add_column", func(*Model) Change {
		return Change{Type: AddColumn, Table: "posts", Def: &Column{Name: "subtitle", Type: TypeString, Nullable: true, Index: true}}
	}},
	{"alter_column", func(*Model) Change {
		return Change{Type: AlterColumn, Table: "posts", Column: "title", Def: &Column{Type: TypeString, Length: 100, Unique: true}}
	}},
	{"rename_column", func(*Model) Change {
		return Change{Type: RenameColumn, Table: "posts", Column: "subtitle", NewName: "teaser"}
	}},
	{"drop_column", func(*Model) Change { return Change{Type: DropColumn, Table: "posts", Column: "teaser"} }},
	{"add_relation o2o", func(*Model) Change {
		return Change{Type: AddRelation, Relation: &Relation{Table: "posts", Name: "cover", Type: OneToOne, Target: "authors", OnDelete: "cascade"}}
	}},
	{"add_relation o2m", func(*Model) Change {
		return Change{Type: AddRelation, Relation: &Relation{Table: "authors", Name: "reviews", Type: OneToMany, Target: "posts"}}
	}},
	{"add_index", func(*Model) Change {
		return Change{Type: AddIndex, Table: "posts", Index: &Index{Columns: []string{"price", "views"}}}
	}},
	{"drop_index", func(*Model) Change { return Change{Type: DropIndex, Table: "posts", Column: "posts_price_views_idx"} }},
	{"drop_relation", func(m *Model) Change {
		return Change{Type: DropRelation, Relation: &Relation{ID: m.RelationByField("posts", "cover").ID}}
	}},
	{"rename_table", func(*Model) Change { return Change{Type: RenameTable, Table: "tags", NewName: "labels"} }},
	{"drop_table with cascade", func(*Model) Change { return Change{Type: DropTable, Table: "labels"} }},
	{"purge", func(m *Model) Change { return Change{Type: Purge, TrashID: m.Trash[0].ID} }},
}

func TestApplyResolvedIsReplayable(t *testing.T) {
	gen := counterIDs()
	m := &Model{}
	var resolvedAll []Change
	for _, c := range blogChanges() {
		var r Change
		m, r = mustApply(t, m, c, gen)
		resolvedAll = append(resolvedAll, r)
	}
	for _, step := range replaySequence {
		c := step.build(m)
		next, resolved := mustApply(t, m, c, gen)
		// Re-applying the resolved change to the same model must not need a new id and
		// must give the same model and the same resolved change.
		again, resolvedAgain, err := applySafely(m, resolved, panicIDs)
		if err != nil {
			t.Errorf("%s: replay: %v", step.name, err)
		} else {
			if got, want := jsonOf(t, again), jsonOf(t, next); got != want {
				t.Errorf("%s: replay gives a different model:\n%s\nwant:\n%s", step.name, got, want)
			}
			if got, want := jsonOf(t, resolvedAgain), jsonOf(t, resolved); got != want {
				t.Errorf("%s: replay resolves differently:\n%s\nwant:\n%s", step.name, got, want)
			}
		}
		resolvedAll = append(resolvedAll, resolved)
		m = next
	}
	// Replaying the whole history into an empty model (another tenant) gives the same
	// final model.
	other := &Model{}
	for i, c := range resolvedAll {
		next, _, err := applySafely(other, c, panicIDs)
		if err != nil {
			t.Fatalf("replay %d (%s) into a new model: %v", i, c.Type, err)
		}
		other = next
	}
	if got, want := jsonOf(t, other), jsonOf(t, m); got != want {
		t.Errorf("replayed history differs:\n%s\nwant:\n%s", got, want)
	}
}

func TestApplyEffects(t *testing.T) {
	// The model-level effect of the simple changes, beyond "it validates".
	gen := counterIDs()
	m := blogModel(t, gen)
	posts := func(m *Model) *Table { return m.Table("posts") }

	t.Run("rename_column carries indexes", func(t *testing.T) {
		next, _ := mustApply(t, m, Change{Type: RenameColumn, Table: "posts", Column: "status", NewName: "state"}, counterIDs())
		if ix := posts(next).Index("posts_status_created_at_idx"); ix == nil || ix.Columns[0] != "state" {
			t.Errorf("user index after rename = %+v", ix)
		}
		if posts(next).Column("state").ID != posts(m).Column("status").ID {
			t.Error("rename changed the column id")
		}
	})
	t.Run("drop_column trashes the column and its indexes", func(t *testing.T) {
		next, resolved := mustApply(t, m, Change{Type: DropColumn, Table: "posts", Column: "status"}, counterIDs())
		if posts(next).Column("status") != nil || posts(next).Index("posts_status_created_at_idx") != nil {
			t.Errorf("status or its index survived the drop: %s", jsonOf(t, posts(next)))
		}
		if !strings.HasPrefix(resolved.TrashName, TrashPrefix) || len(next.Trash) != 1 {
			t.Fatalf("trash name %q, trash %+v", resolved.TrashName, next.Trash)
		}
		tr := next.Trash[0]
		if tr.Kind != "column" || tr.Table != "posts" || tr.TableID != posts(m).ID || tr.Column != "status" || tr.TrashName != resolved.TrashName || tr.ColumnDef == nil {
			t.Errorf("trash entry = %+v", tr)
		}
	})
	t.Run("alter_column replaces the auto index", func(t *testing.T) {
		id := posts(m).Column("views").ID
		next, _ := mustApply(t, m, Change{Type: AlterColumn, Table: "posts", Column: "views", Def: &Column{Type: TypeBigint, Nullable: true, Unique: true}}, counterIDs())
		if ix := posts(next).Index(autoIndexName(id)); ix == nil || !ix.Unique {
			t.Errorf("auto index after alter = %+v, want unique", ix)
		}
		next, _ = mustApply(t, m, Change{Type: AlterColumn, Table: "posts", Column: "views", Def: &Column{Type: TypeBigint, Nullable: true}}, counterIDs())
		if ix := posts(next).Index(autoIndexName(id)); ix != nil {
			t.Errorf("auto index survived clearing the flag: %+v", ix)
		}
	})
	t.Run("rename_table follows relations", func(t *testing.T) {
		next, _ := mustApply(t, m, Change{Type: RenameTable, Table: "authors", NewName: "writers"}, counterIDs())
		r := next.RelationByField("posts", "author")
		if r == nil || r.Target != "writers" {
			t.Errorf("relation after rename = %+v", r)
		}
	})
	t.Run("drop_table cascades relations", func(t *testing.T) {
		next, resolved := mustApply(t, m, Change{Type: DropTable, Table: "authors"}, counterIDs())
		if len(resolved.Cascade) != 1 || resolved.Cascade[0].Type != DropRelation || resolved.Cascade[0].TrashName == "" {
			t.Fatalf("cascade = %+v", resolved.Cascade)
		}
		if next.Table("authors") != nil || len(next.Relations) != 0 || posts(next).Column("author") != nil {
			t.Errorf("drop left authors, its relation or its key column: %s", jsonOf(t, next))
		}
		kinds := []string{}
		for _, tr := range next.Trash {
			kinds = append(kinds, tr.Kind+":"+tr.Table)
		}
		sort.Strings(kinds)
		if want := []string{"column:posts", "table:authors"}; !reflect.DeepEqual(kinds, want) {
			t.Errorf("trash = %v, want %v", kinds, want)
		}
	})
}

func TestRemovals(t *testing.T) {
	alter := func(col string, def Column) Change {
		return Change{Type: AlterColumn, Table: "posts", Column: col, Def: &def}
	}
	enum := func(values ...string) Column {
		return Column{Type: TypeEnum, Values: values, Default: json.RawMessage(`"draft"`)}
	}
	tests := []struct {
		name   string
		setup  []Change
		change func(m *Model) Change
		want   Removal
	}{
		{
			name:   "drop_column",
			change: func(*Model) Change { return Change{Type: DropColumn, Table: "posts", Column: "title"} },
			want:   Removal{RemovedColumns: []string{"posts.title"}},
		},
		{
			name: "drop_relation",
			change: func(m *Model) Change {
				return Change{Type: DropRelation, Relation: &Relation{ID: m.RelationByField("posts", "author").ID}}
			},
			want: Removal{RemovedRelations: 1},
		},
		{
			name:   "drop_table owning a relation",
			change: func(*Model) Change { return Change{Type: DropTable, Table: "posts"} },
			want:   Removal{DroppedTables: []string{"posts"}, RemovedRelations: 1},
		},
		{
			name:   "drop_table targeted by a relation",
			change: func(*Model) Change { return Change{Type: DropTable, Table: "authors"} },
			want:   Removal{DroppedTables: []string{"authors"}, RemovedRelations: 1},
		},
		{
			name:   "purge a trashed column",
			setup:  []Change{{Type: DropColumn, Table: "posts", Column: "price"}},
			change: func(m *Model) Change { return Change{Type: Purge, TrashID: m.Trash[0].ID} },
			want:   Removal{RemovedColumns: []string{"posts.price"}},
		},
		{
			name:   "purge a trashed table",
			setup:  []Change{{Type: CreateTable, Create: &Table{Name: "drafts", Columns: []Column{{Name: "body", Type: TypeText, Nullable: true}}}}, {Type: DropTable, Table: "drafts"}},
			change: func(m *Model) Change { return Change{Type: Purge, TrashID: m.Trash[0].ID} },
			want:   Removal{DroppedTables: []string{"drafts"}},
		},
		// Narrowing.
		{name: "string 200 to 100", change: func(*Model) Change { return alter("title", Column{Type: TypeString, Length: 100}) }, want: Removal{Narrowing: []string{"posts.title"}}},
		{name: "integer to string", change: func(*Model) Change { return alter("views", Column{Type: TypeString, Nullable: true}) }, want: Removal{Narrowing: []string{"posts.views"}}},
		{name: "string to integer", change: func(*Model) Change { return alter("title", Column{Type: TypeInteger}) }, want: Removal{Narrowing: []string{"posts.title"}}},
		{name: "enum value removed", change: func(*Model) Change { return alter("status", enum("draft", "live")) }, want: Removal{Narrowing: []string{"posts.status"}}},
		{name: "decimal precision lowered", change: func(*Model) Change {
			return alter("price", Column{Type: TypeDecimal, Precision: 8, Scale: 2, Nullable: true})
		}, want: Removal{Narrowing: []string{"posts.price"}}},
		{name: "decimal scale lowered", change: func(*Model) Change {
			return alter("price", Column{Type: TypeDecimal, Precision: 10, Scale: 1, Nullable: true})
		}, want: Removal{Narrowing: []string{"posts.price"}}},
		{name: "decimal scale raised within the same precision", change: func(*Model) Change {
			return alter("price", Column{Type: TypeDecimal, Precision: 10, Scale: 3, Nullable: true})
		}, want: Removal{Narrowing: []string{"posts.price"}}},
		// Widening and non-destructive changes.
		{name: "integer to bigint", change: func(*Model) Change { return alter("views", Column{Type: TypeBigint, Nullable: true}) }},
		{name: "integer to float", change: func(*Model) Change { return alter("views", Column{Type: TypeFloat, Nullable: true}) }},
		{name: "string to text", change: func(*Model) Change { return alter("title", Column{Type: TypeText}) }},
		{name: "string 200 to 300", change: func(*Model) Change { return alter("title", Column{Type: TypeString, Length: 300}) }},
		{name: "enum value added", change: func(*Model) Change { return alter("status", enum("draft", "live", "archived", "deleted")) }},
		{name: "enum to string(255)", change: func(*Model) Change { return alter("status", Column{Type: TypeString, Length: 255}) }},
		{name: "decimal widened", change: func(*Model) Change {
			return alter("price", Column{Type: TypeDecimal, Precision: 12, Scale: 3, Nullable: true})
		}},
		{name: "nullable only", change: func(*Model) Change { return alter("title", Column{Type: TypeString, Length: 200, Nullable: true}) }},
		{name: "add_column", change: func(*Model) Change {
			return Change{Type: AddColumn, Table: "posts", Def: &Column{Name: "subtitle", Type: TypeText, Nullable: true}}
		}},
		{name: "rename_column", change: func(*Model) Change {
			return Change{Type: RenameColumn, Table: "posts", Column: "title", NewName: "headline"}
		}},
		{name: "rename_table", change: func(*Model) Change { return Change{Type: RenameTable, Table: "posts", NewName: "articles"} }},
		{name: "drop_index", change: func(*Model) Change {
			return Change{Type: DropIndex, Table: "posts", Column: "posts_status_created_at_idx"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gen := counterIDs()
			m := blogModel(t, gen)
			for _, s := range tt.setup {
				m, _ = mustApply(t, m, s, gen)
			}
			_, resolved := mustApply(t, m, tt.change(m), gen)
			got := Removals(m, resolved)
			want := tt.want
			// Removals always returns non-nil lists for the JSON body.
			if want.RemovedColumns == nil {
				want.RemovedColumns = []string{}
			}
			if want.DroppedTables == nil {
				want.DroppedTables = []string{}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Removals = %+v, want %+v", got, want)
			}
			if got.Empty() != tt.want.Empty() {
				t.Errorf("Empty() = %v", got.Empty())
			}
		})
	}
}

func TestRemovalNarrows(t *testing.T) {
	// Narrows on its own, for the pairs Removals reaches through alter_column.
	tests := []struct {
		name string
		a, b Column
		want bool
	}{
		{"same string", Column{Type: TypeString, Length: 100}, Column{Type: TypeString, Length: 100}, false},
		{"shorter string", Column{Type: TypeString, Length: 100}, Column{Type: TypeString, Length: 99}, true},
		{"integer to bigint", Column{Type: TypeInteger}, Column{Type: TypeBigint}, false},
		{"bigint to integer", Column{Type: TypeBigint}, Column{Type: TypeInteger}, true},
		{"bigint to float", Column{Type: TypeBigint}, Column{Type: TypeFloat}, true},
		{"float to integer", Column{Type: TypeFloat}, Column{Type: TypeInteger}, true},
		{"text to string", Column{Type: TypeText}, Column{Type: TypeString, Length: 65535}, true},
		{"string to text", Column{Type: TypeString, Length: 10}, Column{Type: TypeText}, false},
		{"email to text", Column{Type: TypeEmail}, Column{Type: TypeText}, false},
		{"json to text", Column{Type: TypeJSON}, Column{Type: TypeText}, true},
		{"multi_enum value removed", Column{Type: TypeMultiEnum, Values: []string{"a", "b"}}, Column{Type: TypeMultiEnum, Values: []string{"b"}}, true},
		{"multi_enum reordered", Column{Type: TypeMultiEnum, Values: []string{"a", "b"}}, Column{Type: TypeMultiEnum, Values: []string{"b", "a"}}, false},
	}
	for _, tt := range tests {
		if got := Narrows(&tt.a, &tt.b); got != tt.want {
			t.Errorf("%s: Narrows = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestRemovalNarrowsIgnoresTargetSize(t *testing.T) {
	tests := []struct {
		name string
		a, b Column
	}{
		{"email to string(10)", Column{Type: TypeEmail}, Column{Type: TypeString, Length: 10}},
		{"enum to string(3)", Column{Type: TypeEnum, Values: []string{"archived"}}, Column{Type: TypeString, Length: 3}},
		{"integer to decimal(3,0)", Column{Type: TypeInteger}, Column{Type: TypeDecimal, Precision: 3}},
		{"integer to decimal(10,8)", Column{Type: TypeInteger}, Column{Type: TypeDecimal, Precision: 10, Scale: 8}},
	}
	for _, tt := range tests {
		if !Narrows(&tt.a, &tt.b) {
			t.Errorf("%s: Narrows = false, want true", tt.name)
		}
	}
}

func TestApplyCreateTableReplayAtColumnLimit(t *testing.T) {
	gen := counterIDs()
	m := blogModel(t, gen)
	next, resolved := mustApply(t, m, Change{Type: CreateTable, Create: &Table{Name: "wide", Columns: manyColumns(MaxColumns)}}, gen)
	again, _, err := applySafely(m, resolved, panicIDs)
	if err != nil {
		t.Fatalf("replay of a valid create_table: %v", err)
	}
	if jsonOf(t, again) != jsonOf(t, next) {
		t.Error("replay gives a different model")
	}
	if _, err := (Postgres{}).Plan(m, resolved); err != nil {
		t.Errorf("plan of a valid create_table: %v", err)
	}
}

func TestApplyCreateTableValidatesIndexes(t *testing.T) {
	for _, ix := range []Index{
		{Name: "things_nope_idx", Columns: []string{"nope"}},
		{Name: "Bad Name", Columns: []string{"a"}},
		{Name: "posts_status_created_at_idx", Columns: []string{"a"}},
	} {
		gen := counterIDs()
		_, _, err := Apply(blogModel(t, gen), Change{Type: CreateTable, Create: &Table{Name: "things",
			Columns: []Column{{Name: "a", Type: TypeString, Nullable: true}}, Indexes: []Index{ix}}}, gen)
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("create_table with index %+v: err = %v, want a *FieldError", ix, err)
		}
	}
}

func TestApplyRenameTableKeepsJunctionColumns(t *testing.T) {
	gen := counterIDs()
	m := blogModel(t, gen)
	m, _ = mustApply(t, m, Change{Type: AddRelation, Relation: &Relation{Table: "posts", Name: "editors", Type: ManyToMany, Target: "authors"}}, gen)
	for _, rename := range []Change{
		{Type: RenameTable, Table: "posts", NewName: "articles"},
		{Type: RenameTable, Table: "authors", NewName: "writers"},
	} {
		next, _ := mustApply(t, m, rename, gen)
		r := &next.Relations[len(next.Relations)-1]
		j := next.Table(r.Junction)
		a, b := next.JunctionKeys(r)
		if j.Column(a) == nil || j.Column(b) == nil {
			t.Errorf("after renaming %s: JunctionKeys = %s, %s but the junction has %v", rename.Table, a, b, j.ColumnNames())
		}
		fks := ForeignKeys(next, j)
		if len(fks) != 2 || fks[0].RefTable != r.Table || fks[1].RefTable != r.Target || fks[0].Name == fks[1].Name {
			t.Errorf("after renaming %s: junction keys = %+v", rename.Table, fks)
		}
	}
}

func TestApplyAlterIndexedColumnToUnindexableType(t *testing.T) {
	for _, typ := range []Type{TypeText, TypeJSON} {
		gen := counterIDs()
		_, _, err := Apply(blogModel(t, gen), Change{Type: AlterColumn, Table: "posts", Column: "status", Def: &Column{Type: typ, Nullable: true}}, gen)
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("alter indexed column to %s: err = %v, want a *FieldError", typ, err)
		}
	}
}

func TestApplyRenameTableLeavesOtherTablesTrash(t *testing.T) {
	gen := counterIDs()
	m := blogModel(t, gen)
	for _, c := range []Change{
		{Type: DropColumn, Table: "posts", Column: "price"},
		{Type: DropTable, Table: "posts"},
		{Type: CreateTable, Create: &Table{Name: "posts", Columns: []Column{{Name: "body", Type: TypeText, Nullable: true}}}},
		{Type: RenameTable, Table: "posts", NewName: "articles"},
	} {
		m, _ = mustApply(t, m, c, gen)
	}
	for _, tr := range m.Trash {
		if tr.Kind == "column" && tr.Column == "price" && tr.Table != "posts" {
			t.Errorf("trashed posts.price of the dropped table is now labelled %s.price", tr.Table)
		}
	}
}

// Junction key columns are named after the tables, shortened like index names when a
// table name is too long for <table>_id, and the same on every run.
func TestApplyManyToManyLongTableNames(t *testing.T) {
	long := "a" + strings.Repeat("b", 62)
	for _, target := range []string{"tags", long} {
		gen := counterIDs()
		m := blogModel(t, gen)
		m, _ = mustApply(t, m, Change{Type: CreateTable, Create: &Table{Name: long}}, gen)
		m, _ = mustApply(t, m, Change{Type: CreateTable, Create: &Table{Name: "tags"}}, gen)
		next, _ := mustApply(t, m, Change{Type: AddRelation, Relation: &Relation{Table: long, Name: "tags", Type: ManyToMany, Target: target}}, gen)
		r := next.RelationByField(long, "tags")
		a, b := next.JunctionKeys(r)
		if a == b || len(a) > MaxIdentifierLen || len(b) > MaxIdentifierLen {
			t.Errorf("to %s: junction keys %q, %q", target, a, b)
		}
		for _, k := range []string{a, b} {
			if err := ValidateIdentifier("key", k); err != nil {
				t.Errorf("to %s: %v", target, err)
			}
		}
		if a2, b2 := JunctionColumns(r); a2 != a || b2 != b {
			t.Errorf("to %s: JunctionColumns = %q, %q; the junction has %q, %q", target, a2, b2, a, b)
		}
		if fks := ForeignKeys(next, next.Table(r.Junction)); len(fks) != 2 || fks[0].Column != a || fks[1].Column != b {
			t.Errorf("to %s: junction keys = %+v", target, fks)
		}
	}
}

// A renamed junction stays its relation's junction: the relation follows the rename, so
// dropping the relation (or restoring it) finds the table.
func TestApplyRenameJunction(t *testing.T) {
	gen := counterIDs()
	m := blogModel(t, gen)
	m, _ = mustApply(t, m, Change{Type: AddRelation, Relation: &Relation{Table: "posts", Name: "editors", Type: ManyToMany, Target: "authors"}}, gen)
	id := m.RelationByField("posts", "editors").ID
	before := m
	m, _ = mustApply(t, m, Change{Type: RenameTable, Table: "posts_editors", NewName: "post_editing"}, gen)
	if r := m.Relation(id); r.Junction != "post_editing" {
		t.Fatalf("relation junction after the rename = %q", r.Junction)
	}
	if fks := ForeignKeys(m, m.Table("post_editing")); len(fks) != 2 {
		t.Errorf("junction keys after the rename = %+v", fks)
	}
	dropped, resolved := mustApply(t, m, Change{Type: DropRelation, Relation: &Relation{ID: id}}, gen)
	if dropped.Table("post_editing") != nil || len(dropped.Trash) != 1 || dropped.Trash[0].Table != "post_editing" {
		t.Errorf("drop the relation of a renamed junction: tables %v, trash %+v", dropped.SortedTables(), dropped.Trash)
	}
	steps, err := Inverse(m, dropped, resolved)
	if err != nil {
		t.Fatalf("inverse of the drop: %v", err)
	}
	back := dropped
	for _, st := range steps {
		back, _ = mustApply(t, back, st, gen)
	}
	if !SameLive(back, m) || SameLive(back, before) {
		t.Errorf("undoing the drop does not give the renamed junction back")
	}
}

// A model carried from change to change keeps relations and the trash in id order, as
// the metadata reads them back: a restored relation goes back to its place.
func TestApplyKeepsIDOrder(t *testing.T) {
	gen := counterIDs()
	m := blogModel(t, gen)
	m, _ = mustApply(t, m, Change{Type: AddRelation, Relation: &Relation{Table: "posts", Name: "editor", Type: ManyToOne, Target: "authors"}}, gen)
	before := m
	author := m.RelationByField("posts", "author").ID
	dropped, resolved := mustApply(t, m, Change{Type: DropRelation, Relation: &Relation{ID: author}}, gen)
	m, _ = mustApply(t, dropped, Change{Type: DropColumn, Table: "posts", Column: "title"}, gen)
	steps, err := Inverse(before, dropped, resolved)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range steps {
		m, _ = mustApply(t, m, st, gen)
	}
	if !slices.IsSortedFunc(m.Relations, func(a, b Relation) int { return strings.Compare(a.ID, b.ID) }) ||
		!slices.IsSortedFunc(m.Trash, func(a, b Trashed) int { return strings.Compare(a.ID, b.ID) }) {
		t.Errorf("relations %+v and trash %+v are not in id order", m.Relations, m.Trash)
	}
}

func TestAutoIndexColumns(t *testing.T) {
	for _, tc := range []struct {
		name string
		col  Column
		want []string
	}{
		{"integer", Column{Name: "views", Type: TypeInteger, Index: true}, []string{"views", "id"}},
		{"unique needs no tie-breaker", Column{Name: "slug", Type: TypeString, Length: 100, Unique: true}, []string{"slug"}},
		{"string that fits with the key", Column{Name: "title", Type: TypeString, Length: 732, Index: true}, []string{"title", "id"}},
		// 733 characters take 2,932 bytes; with the id's 144 that is past MySQL's 3,072.
		{"string too wide for the key", Column{Name: "title", Type: TypeString, Length: 733, Index: true}, []string{"title"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := autoIndexColumns(&tc.col); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("autoIndexColumns = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestPurgeTableTakesItsTrashedColumns: purging a trashed table also drops the trash
// entries of the columns trashed from it before, as the metadata store does; the model
// a migration leaves behind must equal the one read back (a node caches the former).
func TestPurgeTableTakesItsTrashedColumns(t *testing.T) {
	gen := counterIDs()
	m := blogModel(t, gen)
	m, _ = mustApply(t, m, Change{Type: DropColumn, Table: "posts", Column: "price"}, gen)
	m, _ = mustApply(t, m, Change{Type: DropTable, Table: "posts"}, gen)
	var table Trashed
	for _, tr := range m.Trash {
		if tr.Kind == "table" && tr.Table == "posts" {
			table = tr
		}
	}
	if table.ID == "" || len(m.Trash) < 2 {
		t.Fatalf("trash after the drops: %+v", m.Trash)
	}
	m, _ = mustApply(t, m, Change{Type: Purge, TrashID: table.ID}, gen)
	for _, tr := range m.Trash {
		if tr.TableID == table.ID || tr.ID == table.ID {
			t.Errorf("still in the trash after its table was purged: %+v", tr)
		}
	}
	// Purge order: a junction's entry comes before the tables it points to, and a
	// column of a trashed table goes with its table.
	order := PurgeOrder([]Trashed{{ID: "a", Kind: "table", TableDef: &Table{}}, {ID: "j", Kind: "table", TableDef: &Table{Junction: true}},
		{ID: "c", Kind: "column", TableID: "live"}, {ID: "ac", Kind: "column", TableID: "a"}})
	var ids []string
	for _, tr := range order {
		ids = append(ids, tr.ID)
	}
	if !slices.Equal(ids, []string{"j", "a", "c"}) {
		t.Errorf("purge order %v, want [j a c]", ids)
	}
}
