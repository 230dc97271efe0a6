package query

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"strata/modules/access"
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
			sql := b.where(q, "t0") + strings.Join(joins, "") + b.orderBy(q.Sort, "t0", &joins, and(q.Rule, q.Filter)) + strings.Join(joins, "")
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

// parseOnly runs Resolver.Parse on posts with the given parameters, for a caller with
// every permission and for one who may read only some fields, and checks that a
// refusal is a *query.Error (a 400 or 403), never a panic or another error.
func parseOnly(t *testing.T, m *schema.Model, p Params) {
	for _, perms := range []Permissions{nil, limitedPolicy{}} {
		r := &Resolver{Model: m, Limits: Limits{}.WithDefaults(), User: "00000000-0000-7000-8000-000000000001", Perms: perms}
		if _, err := r.Parse(m.Table("posts"), p); err != nil {
			var qe *Error
			if !errors.As(err, &qe) {
				t.Fatalf("refusal is not a *query.Error: %T %v", err, err)
			}
		}
	}
}

// limitedPolicy may read posts' title and author, and authors' names.
type limitedPolicy struct{}

func (limitedPolicy) Rule(table, action string) *access.Rule {
	switch {
	case action != access.Read:
		return nil
	case table == "posts":
		return &access.Rule{Fields: []string{"id", "title", "author", "comments"}}
	case table == "authors":
		return &access.Rule{Fields: []string{"name"}, Filter: map[string]any{"name": map[string]any{"_neq": "x"}}}
	}
	return nil
}

// deepJSON nests n levels of open and close around inner.
func deepJSON(open, inner, close string, n int) string {
	return strings.Repeat(open, n) + inner + strings.Repeat(close, n)
}

// FuzzFilter: the filter parser recurses through _and/_or, relations and _some/_none,
// in JSON and in bracket form (filter[a][b]=v, key given apart).
func FuzzFilter(f *testing.F) {
	for _, s := range [][3]string{
		{`{"views":{"_gt":500}}`, "", ""},
		{deepJSON(`{"_and":[`, `{"views":{"_null":true}}`, `]}`, 5000), "", ""},
		{deepJSON(`{"author":{"posts":{"_some":`, `{"title":{"_eq":"x"}}`, `}}}`, 3000), "", ""},
		{deepJSON(`[`, "", `]`, 20000), "", ""},
		{`{"title":{"_in":` + deepJSON("[", "1", "]", 5000) + `}}`, "", ""},
		{"", "filter" + strings.Repeat("[_and][0]", 3000) + "[views][_eq]", "1"},
		{"", "filter[author][name][_eq]", "ann"},
		{"", "filter[_or][1][title][_eq]", "a"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	m := fuzzModel(f)
	f.Fuzz(func(t *testing.T, filter, key, value string) {
		p := Params{}
		if filter != "" {
			p["filter"] = []string{filter}
		}
		if key != "" {
			p[key] = []string{value}
		}
		parseOnly(t, m, p)
	})
}

// FuzzFields: the fields parser recurses through relations (a.b.c).
func FuzzFields(f *testing.F) {
	for _, s := range []string{
		"title,author.name,comments.body,tags.label",
		"*,author.*,comments.post.author.posts.*",
		strings.Repeat("author.posts.", 5000) + "title",
		strings.Repeat("comments.post.", 3000) + "*",
		strings.Repeat("title,", 5000),
		"*.*", ".,..", "author..name",
	} {
		f.Add(s)
	}
	m := fuzzModel(f)
	f.Fuzz(func(t *testing.T, fields string) {
		parseOnly(t, m, Params{"fields": {fields}})
	})
}

// FuzzDeep: deep recurses through the relations fields expanded, with a filter and a
// sort at every level.
func FuzzDeep(f *testing.F) {
	for _, s := range [][2]string{
		{"title,comments.body", `{"comments":{"_limit":2,"_sort":"-body","_filter":{"body":{"_nnull":true}}}}`},
		{"author.posts.comments.body", `{"author":{"posts":{"_limit":1,"comments":{"_sort":["body"]}}}}`},
		{"author.posts.title", deepJSON(`{"author":{"posts":`, `{}`, `}}`, 3000)},
		{"comments.body", `{"comments":{"_filter":` + deepJSON(`{"_or":[`, `{}`, `]}`, 3000) + `}}`},
		{"comments.body", deepJSON(`{"comments":`, `1`, `}`, 20000)},
	} {
		f.Add(s[0], s[1])
	}
	m := fuzzModel(f)
	f.Fuzz(func(t *testing.T, fields, deep string) {
		parseOnly(t, m, Params{"fields": {fields}, "deep": {deep}})
	})
}
