package graphql

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"testing"

	"strata/modules/query"
	"strata/schema"
)

// rowsBackend answers every list with the same rows.
type rowsBackend struct{ rows []map[string]any }

func (b rowsBackend) List(context.Context, string, query.Params) ([]map[string]any, error) {
	return b.rows, nil
}
func (rowsBackend) Create(context.Context, string, []map[string]any) ([]string, error) {
	return nil, nil
}
func (rowsBackend) Update(context.Context, string, []string, map[string]any) error { return nil }
func (rowsBackend) Delete(context.Context, string, []string) error                 { return nil }

func benchModel() *schema.Model {
	cols := []schema.Column{
		{Name: "id", Type: schema.TypeUUID, System: true}, {Name: "owner_id", Type: schema.TypeUUID, Nullable: true, System: true},
		{Name: "created_at", Type: schema.TypeDatetime, System: true}, {Name: "updated_at", Type: schema.TypeDatetime, System: true},
		{Name: "title", Type: schema.TypeString, Length: 255}, {Name: "body", Type: schema.TypeText, Nullable: true},
		{Name: "views", Type: schema.TypeInteger, Nullable: true}, {Name: "published", Type: schema.TypeBoolean, Nullable: true},
	}
	return &schema.Model{Tables: []schema.Table{{Name: "posts", Columns: cols}}}
}

// BenchmarkExecute measures the GraphQL layer alone (parse, validate, limits, compile,
// execute, no database) for the data API benchmark's list request.
func BenchmarkExecute(b *testing.B) {
	sch, err := Build(benchModel(), nil)
	if err != nil {
		b.Fatal(err)
	}
	rows := make([]map[string]any, 20)
	for i := range rows {
		rows[i] = map[string]any{"id": fmt.Sprintf("01000000-0000-7000-8000-%012d", i), "owner_id": nil, "created_at": "2026-01-01T00:00:00Z",
			"updated_at": "2026-01-01T00:00:00Z", "title": "post", "body": "lorem ipsum", "views": int64(i), "published": true}
	}
	svc := NewService(Limits{}, 0)
	req := Request{Query: `{ posts(filter: {views: {_gt: 500}}, sort: ["-views"], limit: 20) { id owner_id created_at updated_at title body views published } }`}
	b.ReportAllocs()
	for b.Loop() {
		if r := svc.Execute(context.Background(), sch, req, rowsBackend{rows}, Options{}); len(r.Errors) > 0 {
			b.Fatal(r.Errors)
		}
	}
}

// nestedBackend answers posts with an author and comments, like the query engine does.
type nestedBackend struct{}

func (nestedBackend) List(_ context.Context, table string, p query.Params) ([]map[string]any, error) {
	if p["aggregate"] != nil {
		return []map[string]any{{"count": map[string]any{"id": int64(2)}, "sum": map[string]any{"views": int64(9)}}}, nil
	}
	return []map[string]any{
		{"id": "a", "title": "x <&> \"q\"\n", "views": int64(3), "author": map[string]any{"id": "u", "name": "ann"},
			"comments": []map[string]any{{"id": "c1", "body": "hi"}, {"id": "c2", "body": nil}}},
		{"id": "b", "title": "y", "views": nil, "author": nil, "comments": []map[string]any{}},
	}, nil
}
func (nestedBackend) Create(context.Context, string, []map[string]any) ([]string, error) {
	return nil, nil
}
func (nestedBackend) Update(context.Context, string, []string, map[string]any) error { return nil }
func (nestedBackend) Delete(context.Context, string, []string) error                 { return nil }

func nestedModel() *schema.Model {
	sys := func(name string) []schema.Column {
		return []schema.Column{{Name: "id", Type: schema.TypeUUID, System: true}, {Name: "created_at", Type: schema.TypeDatetime, System: true}}
	}
	posts := schema.Table{Name: "posts", Columns: append(sys("posts"), schema.Column{Name: "title", Type: schema.TypeString, Length: 255},
		schema.Column{Name: "views", Type: schema.TypeInteger, Nullable: true}, schema.Column{Name: "author", Type: schema.TypeUUID, Nullable: true, System: true, Relation: "r1"})}
	authors := schema.Table{Name: "authors", Columns: append(sys("authors"), schema.Column{Name: "name", Type: schema.TypeString, Length: 255})}
	comments := schema.Table{Name: "comments", Columns: append(sys("comments"), schema.Column{Name: "body", Type: schema.TypeString, Length: 255, Nullable: true},
		schema.Column{Name: "post", Type: schema.TypeUUID, Nullable: true, System: true, Relation: "r2"})}
	return &schema.Model{Tables: []schema.Table{posts, authors, comments}, Relations: []schema.Relation{
		{ID: "r1", Table: "posts", Name: "author", Type: schema.ManyToOne, Target: "authors", Inverse: "posts"},
		{ID: "r2", Table: "comments", Name: "post", Type: schema.ManyToOne, Target: "posts", Inverse: "comments"},
	}}
}

// TestFastPathAgreesWithGraphQLGo: the fast path answers what graphql-go's executor
// answers, for aliases, fragments, directives, __typename, nulls and nesting.
func TestFastPathAgreesWithGraphQLGo(t *testing.T) {
	sch, err := Build(nestedModel(), nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := NewService(Limits{}, 0)
	cases := []struct {
		query string
		vars  map[string]any
	}{
		{query: `{ posts { id title views } }`},
		{query: `{ a: posts { t: title author { name __typename } } b: posts(limit: 1) { id } __typename }`},
		{query: `query($s: Boolean!) { posts { id title @skip(if: $s) views @include(if: $s) ...F } } fragment F on posts { comments { body } author { ... on authors { id } } }`, vars: map[string]any{"s": true}},
		{query: `query($s: Boolean!) { posts { id title @skip(if: $s) views @include(if: $s) ...F } } fragment F on posts { comments { body } author { ... on authors { id } } }`, vars: map[string]any{"s": false}},
		{query: `{ posts { id title id } posts_aggregated { countAll sum { views } } }`},
		{query: `query($id: ID!) { posts_by_id(id: $id) { id } }`, vars: map[string]any{"id": "not-a-uuid"}},
	}
	for _, c := range cases {
		var answers [2]any
		for i, slow := range []bool{false, true} {
			r := svc.Execute(context.Background(), sch, Request{Query: c.query, Variables: c.vars}, nestedBackend{}, Options{slow: slow})
			raw, err := r.AppendJSON(nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &answers[i]); err != nil {
				t.Fatalf("%s: not JSON: %v\n%s", c.query, err, raw)
			}
		}
		if !reflect.DeepEqual(answers[0], answers[1]) {
			t.Errorf("%s\nfast: %v\nslow: %v", c.query, answers[0], answers[1])
		}
	}
	// Variables the operation declares are checked on the fast path too.
	r := svc.Execute(context.Background(), sch, Request{Query: `query($n: Int) { posts(limit: $n) { id } }`, Variables: map[string]any{"n": "ten"}}, nestedBackend{}, Options{})
	if !r.RequestError || len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "INVALID_QUERY" {
		t.Fatalf("bad variable: %+v", r)
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", "q\"uote", "back\\slash", "ctl\x01\x1f\n\t\r", "<html>&", "ünï😀"} {
		raw := appendString(nil, s)
		var back string
		if err := json.Unmarshal(raw, &back); err != nil || back != s {
			t.Errorf("%q: %s → %q %v", s, raw, back, err)
		}
	}
}

// BenchmarkSchemaMemory builds 1,000 tenants' schemas into the cache (each the
// nestedModel's three related tables plus seven more of ten columns) and reports the
// heap they hold per schema, and their cost (the unit of STRATA_GRAPHQL_CACHE_FIELDS).
func BenchmarkSchemaMemory(b *testing.B) {
	model := nestedModel()
	for i := range 7 {
		t := schema.Table{Name: fmt.Sprintf("extra_%d", i), Columns: []schema.Column{{Name: "id", Type: schema.TypeUUID, System: true}}}
		for j := range 10 {
			t.Columns = append(t.Columns, schema.Column{Name: fmt.Sprintf("c%d", j), Type: schema.AllTypes[j%len(schema.AllTypes)], Length: 255, Nullable: true})
		}
		model.Tables = append(model.Tables, t)
	}
	const tenants = 1000
	for b.Loop() {
		svc := NewService(Limits{}, 1<<40)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range tenants {
			if _, err := svc.Schema(fmt.Sprintf("tenant-%d", i), 1, model, nil); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		n, cost := svc.CacheStats()
		if n != tenants {
			b.Fatalf("%d schemas cached", n)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/tenants, "heap-B/schema")
		b.ReportMetric(float64(cost)/tenants, "cost/schema")
	}
}
