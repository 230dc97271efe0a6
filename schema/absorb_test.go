package schema

import (
	"errors"
	"strings"
	"testing"
)

// TestAbsorb reads model changes back from live schemas that hand-written SQL could
// leave, starting from the blog fixture's expected live schema.
func TestAbsorb(t *testing.T) {
	sys := func(d Dialect) []LiveColumn {
		var out []LiveColumn
		for _, c := range systemColumns(func() string { return "" }) {
			out = append(out, LiveColumn{Name: c.Name, Type: d.ColumnType(&c), Nullable: c.Nullable})
		}
		return out
	}
	cases := []struct {
		name  string
		edit  func(d Dialect, l *Live)
		types []ChangeType // the changes read back, in order
		bad   string       // or the problem reported
	}{
		{"nothing", func(Dialect, *Live) {}, nil, ""},
		{"add column", func(d Dialect, l *Live) {
			l.Tables["authors"].Columns = append(l.Tables["authors"].Columns, LiveColumn{Name: "age", Type: d.ColumnType(&Column{Type: TypeBigint}), Nullable: true})
		}, []ChangeType{AddColumn}, ""},
		{"drop column", func(d Dialect, l *Live) {
			lt := l.Tables["posts"]
			lt.Columns = dropLive(lt.Columns, "price")
		}, []ChangeType{DropColumn, Purge}, ""},
		{"widen a string", func(d Dialect, l *Live) {
			for i, c := range l.Tables["posts"].Columns {
				if c.Name == "title" {
					l.Tables["posts"].Columns[i].Type = d.ColumnType(&Column{Type: TypeString, Length: 400})
				}
			}
		}, []ChangeType{AlterColumn}, ""},
		{"new table", func(d Dialect, l *Live) {
			l.Tables["notes"] = &LiveTable{Name: "notes", Columns: append(sys(d), LiveColumn{Name: "body", Type: d.ColumnType(&Column{Type: TypeText}), Nullable: true}),
				Indexes: []LiveIndex{{Name: "notes_body", Columns: []string{"created_at"}}}}
		}, []ChangeType{CreateTable, AddIndex}, ""},
		{"user index dropped", func(d Dialect, l *Live) {
			l.Tables["posts"].Indexes = nil
		}, nil, "belongs to a column flag"},
		{"new table without system columns", func(d Dialect, l *Live) {
			l.Tables["bad"] = &LiveTable{Name: "bad", Columns: []LiveColumn{{Name: "x", Type: d.ColumnType(&Column{Type: TypeInteger})}}}
		}, nil, "system columns"},
		{"unknown type", func(d Dialect, l *Live) {
			l.Tables["authors"].Columns = append(l.Tables["authors"].Columns, LiveColumn{Name: "ip", Type: "inet", Nullable: true})
		}, nil, "no column type describes"},
		{"foreign key by hand", func(d Dialect, l *Live) {
			l.Tables["authors"].FKs = append(l.Tables["authors"].FKs, LiveFK{Column: "id", RefTable: "posts", OnDelete: "cascade"})
		}, nil, "relations"},
		{"table with relations dropped", func(d Dialect, l *Live) {
			delete(l.Tables, "authors")
		}, nil, "with relations"},
	}
	for _, d := range []Dialect{Postgres{}, MySQL{}, SQLite{}} {
		for _, tc := range cases {
			t.Run(d.Name()+"/"+tc.name, func(t *testing.T) {
				m := blogModel(t, counterIDs())
				live := ExpectedLive(d, m)
				tc.edit(d, live)
				steps, err := Absorb(d, m, live)
				if tc.bad != "" {
					var ue *UndescribableError
					if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.bad) {
						t.Fatalf("want a problem with %q, got %v", tc.bad, err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				var got []ChangeType
				for _, s := range steps {
					got = append(got, s.Type)
				}
				if strings.Join(typeNames(got), ",") != strings.Join(typeNames(tc.types), ",") {
					t.Fatalf("changes %v, want %v", got, tc.types)
				}
				after, _, err := Apply(m, Change{Type: Custom, Steps: steps}, counterIDs())
				if err != nil {
					t.Fatal(err)
				}
				if diff := CompareLive(ExpectedLive(d, after), live); len(diff) > 0 {
					t.Fatalf("the model read back differs from the live schema: %v", diff)
				}
			})
		}
	}
}

func dropLive(cols []LiveColumn, name string) []LiveColumn {
	var out []LiveColumn
	for _, c := range cols {
		if c.Name != name {
			out = append(out, c)
		}
	}
	return out
}

func typeNames(ts []ChangeType) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = string(t)
	}
	return out
}
