package query

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"strata/schema"
)

// fuzzModel is a small schema with every relation kind, built through schema.Apply.
func fuzzModel(t testing.TB) *schema.Model {
	n := 0
	gen := func() string { n++; return fmt.Sprintf("00000000-0000-7000-8000-%012d", n) }
	m := &schema.Model{}
	col := func(name string, typ schema.Type) schema.Column {
		c := schema.Column{Name: name, Type: typ, Nullable: true}
		if typ == schema.TypeEnum {
			c.Values = []string{"a", "b"}
		}
		return c
	}
	steps := []schema.Change{
		{Type: schema.CreateTable, Create: &schema.Table{Name: "authors", Columns: []schema.Column{col("name", schema.TypeString), col("born", schema.TypeDate)}}},
		{Type: schema.CreateTable, Create: &schema.Table{Name: "tags", Columns: []schema.Column{col("label", schema.TypeString)}}},
		{Type: schema.CreateTable, Create: &schema.Table{Name: "posts", Columns: []schema.Column{
			col("title", schema.TypeString), col("body", schema.TypeText), col("views", schema.TypeInteger), col("score", schema.TypeFloat),
			col("price", schema.TypeDecimal), col("published", schema.TypeBoolean), col("at", schema.TypeDatetime), col("t", schema.TypeTime),
			col("status", schema.TypeEnum), col("meta", schema.TypeJSON), col("ref", schema.TypeUUID),
		}}, Relations: []schema.Relation{
			{Name: "author", Type: schema.ManyToOne, Target: "authors", Inverse: "posts"},
			{Name: "tags", Type: schema.ManyToMany, Target: "tags", Inverse: "posts"},
		}},
		{Type: schema.CreateTable, Create: &schema.Table{Name: "comments", Columns: []schema.Column{col("body", schema.TypeString)}}},
		{Type: schema.AddRelation, Relation: &schema.Relation{Table: "posts", Name: "comments", Type: schema.OneToMany, Target: "comments", Inverse: "post"}},
	}
	for _, c := range steps {
		next, _, err := schema.Apply(m, c, gen)
		if err != nil {
			t.Fatalf("fixture %s: %v", c.Type, err)
		}
		m = next
	}
	return m
}

// sqlIsClean checks that rendered SQL carries no input: identifiers come from the model
// (which cannot hold quotes) and values are bound, so the only literal is ESCAPE '!'.
func sqlIsClean(s string) error {
	s = strings.ReplaceAll(s, "ESCAPE '!'", "")
	for _, bad := range []string{"'", ";", "--", "/*"} {
		if strings.Contains(s, bad) {
			return fmt.Errorf("SQL contains %q: %s", bad, s)
		}
	}
	return nil
}

func FuzzParse(f *testing.F) {
	seeds := [][6]string{
		{`{"views":{"_gt":500}}`, "title,author.name,comments.body,tags.label", "-views,author.name", "", "", ""},
		{`{"_or":[{"title":{"_contains":"%_!"}},{"author":{"name":{"_eq":"x';DROP TABLE posts;--"}}}]}`, "*", "title", "hello", "", ""},
		{`{"comments":{"_some":{"body":{"_icontains":"a"}}},"tags":{"_none":{"label":{"_in":["a","b"]}}}}`, "*,author.*", "", "", `{"count":"*","sum":["views"]}`, ""},
		{`{"at":{"_between":["$NOW(-1 day)","$NOW"]},"price":{"_gte":"1.5"}}`, "title,comments.body", "", "", "", `{"comments":{"_limit":2,"_sort":"-body","_filter":{"body":{"_nnull":true}}}}`},
		{`{"x\";DROP TABLE posts":{"_eq":1}}`, `x";DROP`, `-"x`, "'; --", `{"sum":"title"}`, `{"x":1}`},
		{`{"_and":[{"_and":[{"_and":[{"views":{"_null":true}}]}]}]}`, "title", "", "", "", ""},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2], s[3], s[4], s[5])
	}
	m := fuzzModel(f)
	dialects := []schema.Dialect{schema.Postgres{}, schema.MySQL{}, schema.SQLite{}}
	f.Fuzz(func(t *testing.T, filter, fields, sort, search, aggregate, deep string) {
		r := &Resolver{Model: m, Limits: Limits{}.WithDefaults(), User: "00000000-0000-7000-8000-000000000001"}
		p := Params{}
		for k, v := range map[string]string{"filter": filter, "fields": fields, "sort": sort, "search": search, "aggregate": aggregate, "deep": deep} {
			if v != "" {
				p[k] = []string{v}
			}
		}
		q, err := r.Parse(m.Table("posts"), p)
		if err != nil {
			var qe *Error
			if !errors.As(err, &qe) {
				t.Fatalf("refusal is not a *query.Error: %T %v", err, err)
			}
			return
		}
		for _, d := range dialects {
			b := &builder{d: d}
			var joins []string
			sql := b.where(q, "t0") + strings.Join(joins, "") + b.orderBy(q.Sort, "t0", &joins) + strings.Join(joins, "")
			if err := sqlIsClean(sql); err != nil {
				t.Fatalf("%s: %v", d.Name(), err)
			}
			for _, rs := range q.Select.Relations {
				if rs.Filter != nil {
					if err := sqlIsClean(b.cond(rs.Filter, "s")); err != nil {
						t.Fatalf("%s deep: %v", d.Name(), err)
					}
				}
			}
		}
	})
}
