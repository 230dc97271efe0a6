package schema

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// update rewrites the golden plans instead of comparing against them; the diff of the
// golden files is then the review of a planner change.
var update = flag.Bool("update", false, "rewrite the golden plans under testdata/plans")

// planDialects are the dialects every plan test runs on.
var planDialects = []Dialect{Postgres{}, MySQL{}, SQLite{}}

// goldenCases are the changes whose SQL is pinned per dialect, each planned against the
// blog fixture (authors; posts with title, views, status, price, author and a user
// index) after the case's setup. build gets that model so it can name generated ids.
var goldenCases = []struct {
	name  string
	setup []Change
	build func(m *Model) Change
}{
	{name: "add_column_nullable", build: func(*Model) Change {
		return Change{Type: AddColumn, Table: "posts", Def: &Column{Name: "subtitle", Type: TypeString, Length: 120, Nullable: true}}
	}},
	// NOT NULL without a default must fail on existing rows everywhere rather than be
	// filled with '' by MySQL: MySQL adds it NULL, then requires it.
	{name: "add_column_not_null", build: func(*Model) Change {
		return Change{Type: AddColumn, Table: "posts", Def: &Column{Name: "slug", Type: TypeString, Length: 80}}
	}},
	{name: "add_column_default", build: func(*Model) Change {
		return Change{Type: AddColumn, Table: "posts", Def: &Column{Name: "published", Type: TypeBoolean, Default: json.RawMessage(`false`)}}
	}},
	{name: "add_column_unique", build: func(*Model) Change {
		return Change{Type: AddColumn, Table: "posts", Def: &Column{Name: "code", Type: TypeString, Length: 20, Nullable: true, Unique: true}}
	}},
	// SQLite cannot change a column in place: this is the table rebuild.
	{name: "alter_column", build: func(*Model) Change {
		return Change{Type: AlterColumn, Table: "posts", Column: "title", Def: &Column{Type: TypeString, Length: 100}}
	}},
	// A type change of a column with a default: PostgreSQL must drop the default around
	// the type change, since the old default may not cast.
	{name: "alter_column_type", build: func(*Model) Change {
		return Change{Type: AlterColumn, Table: "posts", Column: "views", Def: &Column{Type: TypeBigint, Nullable: true, Index: true, Default: json.RawMessage(`0`)}}
	}},
	{name: "rename_column", build: func(*Model) Change {
		return Change{Type: RenameColumn, Table: "posts", Column: "title", NewName: "headline"}
	}},
	// views is indexed: the index goes before the column is renamed into the trash.
	{name: "drop_column", build: func(*Model) Change { return Change{Type: DropColumn, Table: "posts", Column: "views"} }},
	// A trashed column no longer gets values, so a NOT NULL one must become nullable.
	{name: "drop_column_not_null", build: func(*Model) Change { return Change{Type: DropColumn, Table: "posts", Column: "title"} }},
	{name: "purge_column", setup: []Change{{Type: DropColumn, Table: "posts", Column: "price"}}, build: func(m *Model) Change {
		return Change{Type: Purge, TrashID: m.Trash[0].ID}
	}},
	{name: "add_index", build: func(*Model) Change {
		return Change{Type: AddIndex, Table: "posts", Index: &Index{Columns: []string{"author", "created_at"}}}
	}},
	{name: "drop_index", build: func(*Model) Change {
		return Change{Type: DropIndex, Table: "posts", Column: "posts_status_created_at_idx"}
	}},
	{name: "add_relation_m2m", build: func(*Model) Change {
		return Change{Type: AddRelation, Relation: &Relation{Table: "posts", Name: "editors", Type: ManyToMany, Target: "authors"}}
	}},
	// Dropping a many_to_many relation trashes its junction table.
	{name: "drop_relation_m2m", setup: []Change{{Type: AddRelation, Relation: &Relation{Table: "posts", Name: "editors", Type: ManyToMany, Target: "authors"}}},
		build: func(m *Model) Change {
			return Change{Type: DropRelation, Relation: &Relation{ID: m.RelationByField("posts", "editors").ID}}
		}},
	{name: "drop_relation", build: func(m *Model) Change {
		return Change{Type: DropRelation, Relation: &Relation{ID: m.RelationByField("posts", "author").ID}}
	}},
	{name: "rename_table", build: func(*Model) Change { return Change{Type: RenameTable, Table: "posts", NewName: "articles"} }},
	{name: "drop_table", build: func(*Model) Change { return Change{Type: DropTable, Table: "posts"} }},
	// Dropping the target of posts.author drops the key column on posts first.
	{name: "drop_table_referenced", build: func(*Model) Change { return Change{Type: DropTable, Table: "authors"} }},
	// A purged table cannot come back: its down is a comment.
	{name: "purge_table", setup: []Change{{Type: DropTable, Table: "authors"}}, build: func(m *Model) Change {
		i := slices.IndexFunc(m.Trash, func(tr Trashed) bool { return tr.Kind == "table" })
		return Change{Type: Purge, TrashID: m.Trash[i].ID}
	}},
	{name: "create_table", build: func(*Model) Change {
		return Change{Type: CreateTable, Create: &Table{Name: "comments", Columns: []Column{
			{Name: "body", Type: TypeText},
			{Name: "rating", Type: TypeInteger, Nullable: true, Index: true},
		}}, Relations: []Relation{{Name: "post", Type: ManyToOne, Target: "posts", OnDelete: "cascade"}}}
	}},
}

// planCase plans one golden case on d, from a fresh fixture so ids do not depend on the
// order the cases run in.
func planCase(t *testing.T, d Dialect, setup []Change, build func(*Model) Change) Plan {
	t.Helper()
	gen := counterIDs()
	m := blogModel(t, gen)
	for _, c := range setup {
		m, _ = mustApply(t, m, c, gen)
	}
	_, resolved := mustApply(t, m, build(m), gen)
	plan, err := d.Plan(m, resolved)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	return plan
}

func goldenText(p Plan) string { return "-- up\n" + p.UpSQL() + "-- down\n" + p.DownSQL() }

func TestPlanGolden(t *testing.T) {
	for _, d := range planDialects {
		for _, c := range goldenCases {
			t.Run(d.Name()+"/"+c.name, func(t *testing.T) {
				got := goldenText(planCase(t, d, c.setup, c.build))
				path := filepath.Join("testdata", "plans", d.Name(), c.name+".sql")
				if *update {
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run with -update to create it)", err)
				}
				if got != string(want) {
					t.Errorf("plan differs from %s (run with -update if intended)\ngot:\n%s\nwant:\n%s", path, got, want)
				}
			})
		}
	}
}

// TestPlanInvariants checks what must hold for every golden plan whatever the exact
// SQL: the dialect's own quoting only, and a down script that mirrors the up script.
func TestPlanInvariants(t *testing.T) {
	for _, d := range planDialects {
		for _, c := range goldenCases {
			t.Run(d.Name()+"/"+c.name, func(t *testing.T) {
				plan := planCase(t, d, c.setup, c.build)
				up, down := plan.UpSQL(), plan.DownSQL()
				foreign := map[string]string{"postgres": "`", "sqlite": "`", "mysql": `"`}[d.Name()]
				if strings.Contains(up+down, foreign) {
					t.Errorf("%s plan uses another dialect's quote %s:\n%s%s", d.Name(), foreign, up, down)
				}
				for i, s := range plan.Steps {
					if len(s.Up) == 0 || len(s.Down) == 0 {
						t.Errorf("step %d has no up or no down: %+v", i, s)
					}
				}
				// MySQL has no transactional DDL: a failed statement is undone by the
				// Down of the steps before it, so each step holds one statement.
				if d.Name() == "mysql" {
					for i, s := range plan.Steps {
						if len(s.Up) != 1 || len(s.Down) != 1 {
							t.Errorf("mysql step %d has %d up and %d down statements", i, len(s.Up), len(s.Down))
						}
					}
				}
			})
		}
	}
}

// TestPlanKeyOrder pins the ordering rules the golden files were checked for, so they
// also hold for changes that have no golden file.
func TestPlanKeyOrder(t *testing.T) {
	index := func(stmts []string, substr string) int {
		for i, s := range stmts {
			if strings.Contains(s, substr) {
				return i
			}
		}
		return -1
	}
	upStatements := func(p Plan) []string {
		var out []string
		for _, s := range p.Steps {
			out = append(out, s.Up...)
		}
		return out
	}
	for _, d := range []Dialect{Postgres{}, MySQL{}} {
		t.Run(d.Name(), func(t *testing.T) {
			// Dropping a relation drops the foreign key before the index it relies on.
			up := upStatements(planCase(t, d, nil, goldenCases[indexOfCase("drop_relation")].build))
			fk, ix := index(up, "strata_fk_"), index(up, "DROP INDEX")
			if fk < 0 || ix < 0 || fk > ix {
				t.Errorf("drop_relation: foreign key at %d, index at %d:\n%s", fk, ix, strings.Join(up, "\n"))
			}
			// Adding one builds the key column's index first, so MySQL uses it rather
			// than creating its own.
			up = upStatements(planCase(t, d, nil, goldenCases[indexOfCase("create_table")].build))
			ix, fk = index(up, "("+d.Quote("post")+")"), index(up, "FOREIGN KEY")
			if fk < 0 || ix < 0 || ix > fk {
				t.Errorf("create_table: index at %d, foreign key at %d:\n%s", ix, fk, strings.Join(up, "\n"))
			}
		})
	}
}

func indexOfCase(name string) int {
	for i, c := range goldenCases {
		if c.name == name {
			return i
		}
	}
	panic("no golden case " + name)
}

// allChangeTypes is every ChangeType constant; the sequence below must plan each one.
var allChangeTypes = []ChangeType{CreateTable, RenameTable, AlterTable, DropTable, AddColumn, AlterColumn,
	RenameColumn, DropColumn, AddRelation, DropRelation, AddIndex, DropIndex, Purge}

func TestPlanEveryChangeType(t *testing.T) {
	for _, d := range planDialects {
		t.Run(d.Name(), func(t *testing.T) {
			gen := counterIDs()
			m := &Model{}
			seen := map[ChangeType]bool{}
			plan := func(name string, c Change) {
				t.Helper()
				next, resolved, err := Apply(m, c, gen)
				if err != nil {
					t.Fatalf("%s: Apply: %v", name, err)
				}
				p, err := planNoPanic(d, m, resolved)
				if err != nil {
					t.Fatalf("%s: Plan: %v", name, err)
				}
				if strings.TrimSpace(p.UpSQL()) == "" || strings.TrimSpace(p.DownSQL()) == "" {
					t.Errorf("%s: empty plan:\n-- up\n%s-- down\n%s", name, p.UpSQL(), p.DownSQL())
				}
				seen[c.Type] = true
				m = next
			}
			for i, c := range blogChanges() {
				plan(fmt.Sprintf("fixture %d", i), c)
			}
			plan("add_relation o2m", Change{Type: AddRelation, Relation: &Relation{Table: "authors", Name: "pinned", Type: OneToMany, Target: "posts", Inverse: "pinned_by"}})
			for _, step := range replaySequence {
				plan(step.name, step.build(m))
			}
			// Purge what is left in the trash: a table, a junction, columns.
			for len(m.Trash) > 0 {
				tr := m.Trash[0]
				plan("purge "+tr.Kind+" "+tr.Table, Change{Type: Purge, TrashID: tr.ID})
			}
			for _, ct := range allChangeTypes {
				if !seen[ct] {
					t.Errorf("change type %s was never planned", ct)
				}
			}
		})
	}
}

// planNoPanic calls Plan with a recover, so a panic escaping Plan's own recover fails
// the test with the change type instead of crashing the run.
func planNoPanic(d Dialect, m *Model, c Change) (p Plan, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("Plan panicked: %v", r)
		}
	}()
	return d.Plan(m, c)
}

func TestPlanUnresolvedChange(t *testing.T) {
	// An unresolved change would need new ids; Plan must refuse it with an error, not
	// invent ids (which would differ from the recorded migration) or panic.
	for _, d := range planDialects {
		gen := counterIDs()
		m := blogModel(t, gen)
		_, err := planNoPanic(d, m, Change{Type: AddColumn, Table: "posts", Def: &Column{Name: "subtitle", Type: TypeText, Nullable: true}})
		if err == nil || strings.Contains(err.Error(), "Plan panicked") {
			t.Errorf("%s: Plan of an unresolved change: err = %v", d.Name(), err)
		}
		// An invalid change reports the validation error.
		_, err = planNoPanic(d, m, Change{Type: DropColumn, Table: "posts", Column: "id", TrashName: "strata_del_x"})
		if _, ok := err.(*FieldError); !ok {
			t.Errorf("%s: Plan of an invalid change: err = %v (%T), want *FieldError", d.Name(), err, err)
		}
	}
}

func TestPlanMetadataOnly(t *testing.T) {
	// alter_table changes only the description; the plan says so instead of being empty.
	d := "Posts of the blog"
	for _, dia := range planDialects {
		p := planCase(t, dia, nil, func(*Model) Change { return Change{Type: AlterTable, Table: "posts", Description: &d} })
		if got := p.UpSQL(); got != "-- alter_table: metadata only, no DDL;\n" {
			t.Errorf("%s: up = %q", dia.Name(), got)
		}
	}
}

func TestPlanRenameTableWithJunction(t *testing.T) {
	for _, d := range planDialects {
		gen := counterIDs()
		m := blogModel(t, gen)
		m, _ = mustApply(t, m, Change{Type: AddRelation, Relation: &Relation{Table: "posts", Name: "editors", Type: ManyToMany, Target: "authors"}}, gen)
		_, resolved := mustApply(t, m, Change{Type: RenameTable, Table: "posts", NewName: "articles"}, gen)
		p, err := d.Plan(m, resolved)
		if err != nil {
			t.Fatalf("%s: %v", d.Name(), err)
		}
		if len(p.Steps) != 1 {
			t.Errorf("%s: rename_table plans more than the rename:\n%s", d.Name(), p.UpSQL())
		}
	}
}

// TestPlanSQLiteGoldensExecute runs every SQLite golden plan, up then down, on a real
// (in-process) SQLite database holding a row in each table, and checks the schema
// against the model after each direction. It needs no database service, and catches
// SQL that reads right but does not run, or a down that does not restore the before.
func TestPlanSQLiteGoldensExecute(t *testing.T) {
	ctx := context.Background()
	d := SQLite{}
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "tenant.db")+"?_pragma=foreign_keys(1)")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			conn, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			run := func(stmts []string) error {
				if err := d.BeforeMigration(ctx, conn); err != nil {
					return err
				}
				defer func() { _ = d.AfterMigration(ctx, conn) }()
				for _, q := range stmts {
					if strings.HasPrefix(strings.TrimSpace(q), "--") {
						continue // the migration runner skips notes too
					}
					if _, err := conn.ExecContext(ctx, q); err != nil {
						return fmt.Errorf("%s: %w", q, err)
					}
				}
				return d.VerifyKeys(ctx, conn)
			}
			upOf := func(p Plan) (out []string) {
				for _, s := range p.Steps {
					out = append(out, s.Up...)
				}
				return out
			}
			downOf := func(p Plan) (out []string) {
				for i := len(p.Steps) - 1; i >= 0; i-- {
					out = append(out, p.Steps[i].Down...)
				}
				return out
			}
			matches := func(when string, m *Model) {
				t.Helper()
				live, err := d.Inspect(ctx, conn)
				if err != nil {
					t.Fatalf("%s: Inspect: %v", when, err)
				}
				if diff := CompareLive(ExpectedLive(d, m), live); len(diff) > 0 {
					t.Errorf("%s: live schema differs from the model:\n%s", when, strings.Join(diff, "\n"))
				}
			}
			gen := counterIDs()
			m := &Model{}
			migrate := func(c Change) {
				t.Helper()
				next, resolved := mustApply(t, m, c, gen)
				p, err := d.Plan(m, resolved)
				if err != nil {
					t.Fatalf("plan %s: %v", c.Type, err)
				}
				if err := run(upOf(p)); err != nil {
					t.Fatalf("fixture %s: %v", c.Type, err)
				}
				m = next
			}
			for _, fc := range blogChanges() {
				migrate(fc)
			}
			for _, q := range []string{
				`INSERT INTO "authors" ("id", "created_at", "updated_at", "name") VALUES ('a1', '2024-01-01', '2024-01-01', 'Ann')`,
				`INSERT INTO "posts" ("id", "created_at", "updated_at", "title", "author") VALUES ('p1', '2024-01-01', '2024-01-01', 'Hello', 'a1')`,
			} {
				if _, err := conn.ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			for _, sc := range c.setup {
				migrate(sc)
			}
			before := m
			after, resolved := mustApply(t, m, c.build(m), gen)
			p, err := d.Plan(m, resolved)
			if err != nil {
				t.Fatal(err)
			}
			err = run(upOf(p))
			if c.name == "add_column_not_null" {
				// A NOT NULL column without a default cannot be filled for the existing
				// row: the migration must fail, as it does on PostgreSQL and MySQL.
				if err == nil || !strings.Contains(err.Error(), "NOT NULL") {
					t.Errorf("up on a table with rows: err = %v, want a NOT NULL failure", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("up: %v", err)
			}
			matches("after up", after)
			if strings.HasPrefix(c.name, "purge_") {
				return // a purge cannot be undone
			}
			if err := run(downOf(p)); err != nil {
				t.Fatalf("down: %v", err)
			}
			matches("after down", before)
			var n int
			if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM "posts" WHERE "author" = 'a1' AND "title" = 'Hello'`).Scan(&n); err != nil || n != 1 {
				t.Errorf("after down the post row is %d (%v), want it back with its author and title", n, err)
			}
		})
	}
}

// MySQL and MariaDB refuse, at planning, what they cannot hold: the bounds below were
// measured on MariaDB 10.11 (a table with Strata's system columns takes one
// varchar(16307) at most; a key takes 3072 bytes). PostgreSQL and SQLite take it all.
func TestPlanMySQLLimits(t *testing.T) {
	str := func(name string, n int) Column {
		return Column{Name: name, Type: TypeString, Length: n, Nullable: true}
	}
	wide := Change{Type: CreateTable, Create: &Table{Name: "wide", Columns: []Column{str("a", 500), str("b", 500), str("c", 732), str("d", 733)}}}
	bare := Change{Type: CreateTable, Create: &Table{Name: "bare"}}
	tests := []struct {
		name   string
		change Change
		field  string // "" when MySQL takes it too
	}{
		{"varchar(16307)", Change{Type: AddColumn, Table: "bare", Def: ptr(str("big", 16307))}, ""},
		{"varchar(16308)", Change{Type: AddColumn, Table: "bare", Def: ptr(str("big", 16308))}, "column.length"},
		{"varchar(20000)", Change{Type: AddColumn, Table: "bare", Def: ptr(str("big", 20000))}, "column.length"},
		{"two varchar(10000)", Change{Type: CreateTable, Create: &Table{Name: "two", Columns: []Column{str("a", 10000), str("b", 10000)}}}, "columns"},
		{"unique varchar(768)", Change{Type: AddColumn, Table: "wide", Def: &Column{Name: "code", Type: TypeString, Length: 768, Nullable: true, Unique: true}}, ""},
		{"unique varchar(1000)", Change{Type: AddColumn, Table: "wide", Def: &Column{Name: "code", Type: TypeString, Length: 1000, Nullable: true, Unique: true}}, "column.unique"},
		{"indexed varchar(1000)", Change{Type: AddColumn, Table: "wide", Def: &Column{Name: "code", Type: TypeString, Length: 1000, Nullable: true, Index: true}}, "column.index"},
		{"made unique", Change{Type: AlterColumn, Table: "wide", Column: "d", Def: &Column{Type: TypeString, Length: 1000, Nullable: true, Unique: true}}, "column.unique"},
		{"index on two varchar(500)", Change{Type: AddIndex, Table: "wide", Index: &Index{Columns: []string{"a", "b"}}}, "columns"},
		{"index on id and varchar(732)", Change{Type: AddIndex, Table: "wide", Index: &Index{Columns: []string{"id", "c"}}}, ""},
		{"index on id and varchar(733)", Change{Type: AddIndex, Table: "wide", Index: &Index{Columns: []string{"id", "d"}}}, "columns"},
	}
	for _, tt := range tests {
		for _, d := range planDialects {
			gen := counterIDs()
			m, _ := mustApply(t, &Model{}, wide, gen)
			m, _ = mustApply(t, m, bare, gen)
			_, resolved := mustApply(t, m, tt.change, gen)
			_, err := d.Plan(m, resolved)
			want := ""
			if d.Name() == "mysql" {
				want = tt.field
			}
			var fe *FieldError
			switch {
			case want == "" && err != nil:
				t.Errorf("%s on %s: %v", tt.name, d.Name(), err)
			case want != "" && (!errors.As(err, &fe) || fe.Field != want):
				t.Errorf("%s on %s: err = %v, want a *FieldError on %s", tt.name, d.Name(), err, want)
			}
		}
	}
	// Trashed columns keep their room in the row.
	gen := counterIDs()
	m, _ := mustApply(t, &Model{}, Change{Type: CreateTable, Create: &Table{Name: "t", Columns: []Column{str("a", 10000)}}}, gen)
	m, _ = mustApply(t, m, Change{Type: DropColumn, Table: "t", Column: "a"}, gen)
	_, resolved := mustApply(t, m, Change{Type: AddColumn, Table: "t", Def: ptr(str("b", 10000))}, gen)
	if _, err := (MySQL{}).Plan(m, resolved); err == nil {
		t.Errorf("a varchar(10000) beside a trashed one: planned on MySQL")
	}
}

func ptr[T any](v T) *T { return &v }

// Datetime defaults are rendered in the form each database stores date-times in: MySQL
// and MariaDB refuse RFC 3339's T and zone, SQLite compares the fixed-width UTC text.
func TestPlanDatetimeDefault(t *testing.T) {
	want := map[string]string{
		"postgres": `DEFAULT '2024-06-30T23:30:00.5+02:00'`,
		"mysql":    `DEFAULT '2024-06-30 21:30:00.500000'`,
		"sqlite":   `DEFAULT '2024-06-30T21:30:00.500000Z'`,
	}
	for _, d := range planDialects {
		gen := counterIDs()
		m := blogModel(t, gen)
		_, resolved := mustApply(t, m, Change{Type: AddColumn, Table: "posts", Def: &Column{Name: "at", Type: TypeDatetime, Nullable: true, Default: json.RawMessage(`"2024-06-30T23:30:00.5+02:00"`)}}, gen)
		p, err := d.Plan(m, resolved)
		if err != nil {
			t.Fatalf("%s: %v", d.Name(), err)
		}
		if !strings.Contains(p.UpSQL(), want[d.Name()]) {
			t.Errorf("%s: up SQL has no %s:\n%s", d.Name(), want[d.Name()], p.UpSQL())
		}
	}
}
