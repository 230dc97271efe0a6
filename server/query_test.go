package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"strata/modules/query"
)

// queryFixture creates authors, posts, comments and tags with relations of every kind
// and a set of rows chosen to exercise nulls, empty strings, case, code-point order,
// LIKE wildcards and ties.
func queryFixture(t *testing.T, n *node) {
	t.Helper()
	col := func(name, typ string, extra ...any) map[string]any {
		m := map[string]any{"name": name, "type": typ}
		for i := 0; i < len(extra); i += 2 {
			m[extra[i].(string)] = extra[i+1]
		}
		return m
	}
	n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	n.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "authors", "columns": []any{col("name", "string"), col("born", "date")}})
	n.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "tags", "columns": []any{col("label", "string")}})
	n.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "posts", "columns": []any{
		col("title", "string", "nullable", false), col("body", "text"), col("views", "integer", "index", true), col("score", "float"),
		col("price", "decimal", "precision", 8, "scale", 2), col("published", "boolean"), col("at", "datetime"),
		col("status", "enum", "values", []string{"draft", "live"}), col("meta", "json"),
	}, "relations": []any{
		map[string]any{"name": "author", "type": "many_to_one", "target": "authors", "inverse": "posts"},
		map[string]any{"name": "tags", "type": "many_to_many", "target": "tags", "inverse": "posts"},
	}})
	n.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "comments", "columns": []any{col("body", "string")}})
	n.mustCall(200, "POST", "/api/t/acme/relations", map[string]any{"table": "posts", "name": "comments", "type": "one_to_many", "target": "comments", "inverse": "post"})

	ids := map[string]string{}
	add := func(table, key string, body map[string]any) {
		r := n.mustCall(200, "POST", "/api/t/acme/items/"+table, body)
		ids[key] = r.get("data.id").(string)
	}
	add("authors", "ann", map[string]any{"name": "ann", "born": "1990-05-01"})
	add("authors", "bob", map[string]any{"name": "bob", "born": "1985-01-01"})
	add("authors", "cy", map[string]any{"name": "cy"})
	add("tags", "go", map[string]any{"label": "go"})
	add("tags", "db", map[string]any{"label": "db"})
	posts := []struct {
		key  string
		body map[string]any
		tags []string
	}{
		{"Alpha", map[string]any{"body": "hello world", "views": 10, "score": 1.5, "price": "10.00", "published": true, "at": "2026-01-01T00:00:00Z", "status": "draft", "author": ids["ann"], "meta": map[string]any{"k": 1}}, []string{"go", "db"}},
		{"beta", map[string]any{"body": "Hello World", "views": 600, "price": "5.50", "published": false, "at": "2026-02-01T12:00:00Z", "status": "live", "author": ids["bob"]}, []string{"go"}},
		{"Gamma", map[string]any{"body": "", "views": 600, "score": 2.5, "published": true, "status": "live", "author": ids["ann"]}, nil},
		{"delta", map[string]any{"score": -1, "price": "100.25", "at": "2025-12-31T23:59:59Z", "status": "draft"}, []string{"db"}},
		{"50%_off", map[string]any{"body": "a!b_c%d", "views": 0, "score": 0, "price": "0.00", "published": false, "at": "2026-03-01T00:00:00Z", "author": ids["cy"]}, nil},
		{"Épée", map[string]any{"body": "ÉPÉE unicode", "views": 1000, "score": 3, "price": "1.10", "published": true, "at": "2026-01-15T08:30:00.5Z", "status": "live", "author": ids["bob"]}, []string{"db"}},
	}
	for _, p := range posts {
		p.body["title"] = p.key
		add("posts", p.key, p.body)
		for _, tag := range p.tags {
			n.mustCall(200, "POST", "/api/t/acme/items/posts_tags", map[string]any{"posts_id": ids[p.key], "tags_id": ids[tag]})
		}
	}
	add("comments", "c1", map[string]any{"body": "first", "post": ids["Alpha"]})
	add("comments", "c2", map[string]any{"body": "second", "post": ids["Alpha"]})
	add("comments", "c3", map[string]any{"body": "third", "post": ids["beta"]})
}

// queryCase is one request and the exact answer every dialect must give.
type queryCase struct {
	name  string
	table string
	query string // raw query string, values URL-encoded by the case helper
	// key picks the field whose values, in order, are compared with want.
	key  string
	want []string
	// check, when set, inspects the reply instead.
	check func(t *testing.T, r reply)
}

func qs(kv ...string) string {
	v := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v.Encode()
}

func titles(filter string, extra ...string) string {
	return qs(append([]string{"filter", filter, "sort", "title", "fields", "title"}, extra...)...)
}

var allTitles = []string{"50%_off", "Alpha", "Gamma", "beta", "delta", "Épée"}

// groupedByStatus is count and sum of views per status of the posts other than Gamma.
var groupedByStatus = []any{
	map[string]any{"status": "draft", "count": float64(2), "sum": map[string]any{"views": float64(10)}},
	map[string]any{"status": "live", "count": float64(2), "sum": map[string]any{"views": float64(1600)}},
	map[string]any{"status": nil, "count": float64(1), "sum": map[string]any{"views": float64(0)}},
}

var queryCases = []queryCase{
	{name: "no filter, code-point order", query: titles(`{}`), want: allTitles},
	{name: "_eq", query: titles(`{"title":{"_eq":"beta"}}`), want: []string{"beta"}},
	{name: "_eq is case-sensitive", query: titles(`{"title":{"_eq":"Beta"}}`), want: []string{}},
	{name: "_neq leaves out nulls", query: titles(`{"views":{"_neq":600}}`), want: []string{"50%_off", "Alpha", "Épée"}},
	{name: "_gt", query: titles(`{"views":{"_gt":500}}`), want: []string{"Gamma", "beta", "Épée"}},
	{name: "_gte", query: titles(`{"views":{"_gte":600}}`), want: []string{"Gamma", "beta", "Épée"}},
	{name: "_lt", query: titles(`{"views":{"_lt":10}}`), want: []string{"50%_off"}},
	{name: "_lte", query: titles(`{"views":{"_lte":10}}`), want: []string{"50%_off", "Alpha"}},
	{name: "numeric string value", query: titles(`{"views":{"_gt":"500"}}`), want: []string{"Gamma", "beta", "Épée"}},
	{name: "_in", query: titles(`{"views":{"_in":[10,1000]}}`), want: []string{"Alpha", "Épée"}},
	{name: "_in empty", query: titles(`{"views":{"_in":[]}}`), want: []string{}},
	{name: "_nin leaves out nulls", query: titles(`{"views":{"_nin":[600]}}`), want: []string{"50%_off", "Alpha", "Épée"}},
	{name: "_null", query: titles(`{"views":{"_null":true}}`), want: []string{"delta"}},
	{name: "_nnull", query: titles(`{"views":{"_nnull":true}}`), want: []string{"50%_off", "Alpha", "Gamma", "beta", "Épée"}},
	{name: "_eq null", query: titles(`{"views":{"_eq":null}}`), want: []string{"delta"}},
	{name: "_contains is case-sensitive", query: titles(`{"body":{"_contains":"World"}}`), want: []string{"beta"}},
	{name: "_icontains", query: titles(`{"body":{"_icontains":"WORLD"}}`), want: []string{"Alpha", "beta"}},
	{name: "_ncontains leaves out nulls", query: titles(`{"body":{"_ncontains":"World"}}`), want: []string{"50%_off", "Alpha", "Gamma", "Épée"}},
	{name: "_contains with LIKE wildcards is literal", query: titles(`{"body":{"_contains":"_c%"}}`), want: []string{"50%_off"}},
	{name: "_contains percent", query: titles(`{"title":{"_contains":"%"}}`), want: []string{"50%_off"}},
	{name: "_contains the escape character", query: titles(`{"body":{"_contains":"!b"}}`), want: []string{"50%_off"}},
	{name: "underscore is not a wildcard", query: titles(`{"title":{"_contains":"0_o"}}`), want: []string{}},
	{name: "_starts_with", query: titles(`{"title":{"_starts_with":"G"}}`), want: []string{"Gamma"}},
	{name: "_starts_with is case-sensitive", query: titles(`{"title":{"_starts_with":"g"}}`), want: []string{}},
	{name: "_istarts_with", query: titles(`{"title":{"_istarts_with":"g"}}`), want: []string{"Gamma"}},
	{name: "_nstarts_with", query: titles(`{"title":{"_nstarts_with":"G"}}`), want: []string{"50%_off", "Alpha", "beta", "delta", "Épée"}},
	{name: "_ends_with", query: titles(`{"title":{"_ends_with":"a"}}`), want: []string{"Alpha", "Gamma", "beta", "delta"}},
	{name: "_nends_with", query: titles(`{"title":{"_nends_with":"a"}}`), want: []string{"50%_off", "Épée"}},
	{name: "_between", query: titles(`{"views":{"_between":[10,600]}}`), want: []string{"Alpha", "Gamma", "beta"}},
	{name: "_nbetween", query: titles(`{"views":{"_nbetween":[10,600]}}`), want: []string{"50%_off", "Épée"}},
	{name: "_empty: null or empty string", query: titles(`{"body":{"_empty":true}}`), want: []string{"Gamma", "delta"}},
	{name: "_nempty", query: titles(`{"body":{"_nempty":true}}`), want: []string{"50%_off", "Alpha", "beta", "Épée"}},
	{name: "boolean true", query: titles(`{"published":{"_eq":true}}`), want: []string{"Alpha", "Gamma", "Épée"}},
	{name: "boolean false", query: titles(`{"published":{"_eq":false}}`), want: []string{"50%_off", "beta"}},
	{name: "boolean null", query: titles(`{"published":{"_null":true}}`), want: []string{"delta"}},
	{name: "float", query: titles(`{"score":{"_gt":0}}`), want: []string{"Alpha", "Gamma", "Épée"}},
	{name: "negative float", query: titles(`{"score":{"_lt":0}}`), want: []string{"delta"}},
	{name: "decimal", query: titles(`{"price":{"_gte":10}}`), want: []string{"Alpha", "delta"}},
	{name: "decimal between", query: titles(`{"price":{"_between":[1,6]}}`), want: []string{"beta", "Épée"}},
	{name: "datetime _gt is strict", query: titles(`{"at":{"_gt":"2026-01-01T00:00:00Z"}}`), want: []string{"50%_off", "beta", "Épée"}},
	{name: "datetime against a date", query: titles(`{"at":{"_lt":"2026-01-01"}}`), want: []string{"delta"}},
	{name: "datetime between with fractions", query: titles(`{"at":{"_between":["2026-01-01T00:00:00Z","2026-01-15T08:30:00.5Z"]}}`), want: []string{"Alpha", "Épée"}},
	{name: "$NOW", query: titles(`{"at":{"_lt":"$NOW"}}`), want: []string{"50%_off", "Alpha", "beta", "delta", "Épée"}},
	{name: "$NOW with an offset", query: titles(`{"at":{"_gt":"$NOW(-100 year)"}}`), want: []string{"50%_off", "Alpha", "beta", "delta", "Épée"}},
	{name: "enum", query: titles(`{"status":{"_eq":"live"}}`), want: []string{"Gamma", "beta", "Épée"}},
	{name: "json _null", query: titles(`{"meta":{"_nnull":true}}`), want: []string{"Alpha"}},
	{name: "_or", query: titles(`{"_or":[{"views":{"_gt":900}},{"title":{"_eq":"Alpha"}}]}`), want: []string{"Alpha", "Épée"}},
	{name: "_and", query: titles(`{"_and":[{"published":{"_eq":true}},{"views":{"_gte":600}}]}`), want: []string{"Gamma", "Épée"}},
	{name: "nested _and inside _or", query: titles(`{"_or":[{"_and":[{"views":{"_eq":600}},{"published":{"_eq":false}}]},{"title":{"_eq":"delta"}}]}`), want: []string{"beta", "delta"}},
	{name: "two operators on one field", query: titles(`{"views":{"_gt":5,"_lt":700}}`), want: []string{"Alpha", "Gamma", "beta"}},
	{name: "bracket form", query: qs("filter[views][_gt]", "500", "sort", "title", "fields", "title"), want: []string{"Gamma", "beta", "Épée"}},
	{name: "bracket form _or", query: qs("filter[_or][0][title][_eq]", "Alpha", "filter[_or][1][title][_eq]", "delta", "sort", "title", "fields", "title"), want: []string{"Alpha", "delta"}},
	{name: "bracket form _in list", query: qs("filter[views][_in]", "10,1000", "sort", "title", "fields", "title"), want: []string{"Alpha", "Épée"}},
	{name: "many-to-one filter", query: titles(`{"author":{"name":{"_eq":"ann"}}}`), want: []string{"Alpha", "Gamma"}},
	{name: "many-to-one filter on a date", query: titles(`{"author":{"born":{"_lt":"1989-01-01"}}}`), want: []string{"beta", "Épée"}},
	{name: "many-to-one key is null", query: titles(`{"author":{"_null":true}}`), want: []string{"delta"}},
	{name: "one-to-many _some", query: titles(`{"comments":{"_some":{"body":{"_eq":"third"}}}}`), want: []string{"beta"}},
	{name: "one-to-many implicit _some", query: titles(`{"comments":{"body":{"_contains":"s"}}}`), want: []string{"Alpha"}},
	{name: "one-to-many _none", query: titles(`{"comments":{"_none":{"body":{"_nnull":true}}}}`), want: []string{"50%_off", "Gamma", "delta", "Épée"}},
	{name: "many-to-many _some", query: titles(`{"tags":{"_some":{"label":{"_eq":"db"}}}}`), want: []string{"Alpha", "delta", "Épée"}},
	{name: "many-to-many _none", query: titles(`{"tags":{"_none":{"label":{"_eq":"go"}}}}`), want: []string{"50%_off", "Gamma", "delta", "Épée"}},
	{name: "inverse one-to-many from authors", table: "authors", query: qs("filter", `{"posts":{"_some":{"title":{"_eq":"beta"}}}}`, "fields", "name"), key: "name", want: []string{"bob"}},
	{name: "inverse _none from authors", table: "authors", query: qs("filter", `{"posts":{"_none":{"published":{"_eq":true}}}}`, "fields", "name", "sort", "name"), key: "name", want: []string{"cy"}},
	{name: "sort desc puts nulls first, ties by id in the sort's direction", query: qs("sort", "-views", "fields", "title"), want: []string{"delta", "Épée", "Gamma", "beta", "Alpha", "50%_off"}},
	{name: "sort asc puts nulls last", query: qs("sort", "views", "fields", "title"), want: []string{"50%_off", "Alpha", "beta", "Gamma", "Épée", "delta"}},
	{name: "sort by two fields", query: qs("sort", "-published,title", "fields", "title"), want: []string{"delta", "Alpha", "Gamma", "Épée", "50%_off", "beta"}},
	{name: "sort by a related field", query: qs("sort", "author.name,title", "fields", "title"), want: []string{"Alpha", "Gamma", "beta", "Épée", "50%_off", "delta"}},
	{name: "sort by a related field desc", query: qs("sort", "-author.name,title", "fields", "title"), want: []string{"delta", "50%_off", "beta", "Épée", "Alpha", "Gamma"}},
	{name: "limit and page", query: qs("sort", "title", "fields", "title", "limit", "2", "page", "2"), want: []string{"Gamma", "beta"}},
	{name: "offset", query: qs("sort", "title", "fields", "title", "limit", "10", "offset", "4"), want: []string{"delta", "Épée"}},
	{name: "limit -1", query: qs("sort", "title", "fields", "title", "limit", "-1"), want: allTitles},
	{name: "limit 0", query: qs("sort", "title", "fields", "title", "limit", "0"), want: []string{}},
	{name: "search", query: qs("search", "hello", "sort", "title", "fields", "title"), want: []string{"Alpha", "beta"}},
	{name: "search with a wildcard", query: qs("search", "%", "sort", "title", "fields", "title"), want: []string{"50%_off"}},
	{name: "search with a filter", query: qs("search", "hello", "filter", `{"published":{"_eq":true}}`, "fields", "title"), want: []string{"Alpha"}},
	{name: "meta counts", query: qs("filter", `{"views":{"_gt":500}}`, "meta", "total_count,filter_count"), check: func(t *testing.T, r reply) {
		if r.get("meta.total_count") != float64(6) || r.get("meta.filter_count") != float64(3) {
			t.Errorf("meta = %v", r.get("meta"))
		}
	}},
	{name: "fields through many-to-one", query: qs("filter", `{"title":{"_eq":"Alpha"}}`, "fields", "title,author.name"), check: func(t *testing.T, r reply) {
		want := map[string]any{"title": "Alpha", "author": map[string]any{"name": "ann"}}
		if got := r.get("data.0"); !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	}},
	{name: "fields through one-to-many keep id order", query: qs("filter", `{"title":{"_eq":"Alpha"}}`, "fields", "title,comments.body"), check: func(t *testing.T, r reply) {
		want := map[string]any{"title": "Alpha", "comments": []any{map[string]any{"body": "first"}, map[string]any{"body": "second"}}}
		if got := r.get("data.0"); !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	}},
	{name: "fields through many-to-many keep link order", query: qs("filter", `{"title":{"_eq":"Alpha"}}`, "fields", "title,tags.label"), check: func(t *testing.T, r reply) {
		want := map[string]any{"title": "Alpha", "tags": []any{map[string]any{"label": "go"}, map[string]any{"label": "db"}}}
		if got := r.get("data.0"); !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	}},
	{name: "two levels: comments' post's author", table: "comments", query: qs("sort", "body", "fields", "body,post.author.name", "limit", "1"), check: func(t *testing.T, r reply) {
		want := map[string]any{"body": "first", "post": map[string]any{"author": map[string]any{"name": "ann"}}}
		if got := r.get("data.0"); !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	}},
	{name: "star includes to-many keys", table: "authors", query: qs("filter", `{"name":{"_eq":"cy"}}`), check: func(t *testing.T, r reply) {
		if posts, _ := r.get("data.0.posts").([]any); len(posts) != 1 {
			t.Errorf("posts = %v", r.get("data.0.posts"))
		}
	}},
	{name: "null many-to-one expands to null", query: qs("filter", `{"title":{"_eq":"delta"}}`, "fields", "title,author.name"), check: func(t *testing.T, r reply) {
		if v, ok := r.get("data.0").(map[string]any)["author"]; !ok || v != nil {
			t.Errorf("author = %v", v)
		}
	}},
	{name: "deep sort and limit per parent", table: "authors", query: qs("sort", "name", "fields", "name,posts.title", "deep", `{"posts":{"_sort":"-title","_limit":1}}`), check: func(t *testing.T, r reply) {
		got := []string{}
		for i := 0; i < 3; i++ {
			ps, _ := r.get(fmt.Sprintf("data.%d.posts", i)).([]any)
			for _, p := range ps {
				got = append(got, p.(map[string]any)["title"].(string))
			}
		}
		if want := []string{"Gamma", "Épée", "50%_off"}; !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	}},
	{name: "deep filter", table: "authors", query: qs("filter", `{"name":{"_eq":"ann"}}`, "fields", "name,posts.title", "deep", `{"posts":{"_filter":{"views":{"_gt":100}}}}`), check: func(t *testing.T, r reply) {
		if ps, _ := r.get("data.0.posts").([]any); len(ps) != 1 || ps[0].(map[string]any)["title"] != "Gamma" {
			t.Errorf("posts = %v", r.get("data.0.posts"))
		}
	}},
	{name: "aggregate count", query: qs("aggregate", `{"count":"*"}`), check: func(t *testing.T, r reply) {
		if r.get("data.0.count") != float64(6) {
			t.Errorf("got %s", r)
		}
	}},
	{name: "aggregate functions", query: qs("aggregate", `{"sum":["views"],"avg":["views"],"min":["views"],"max":["views"],"countDistinct":["views"],"count":["views"]}`), check: func(t *testing.T, r reply) {
		want := map[string]any{"sum": map[string]any{"views": float64(2210)}, "avg": map[string]any{"views": float64(442)}, "min": map[string]any{"views": float64(0)},
			"max": map[string]any{"views": float64(1000)}, "countDistinct": map[string]any{"views": float64(4)}, "count": map[string]any{"views": float64(5)}}
		if got := r.get("data.0"); !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	}},
	{name: "aggregate with groupBy and filter", query: qs("aggregate", `{"count":"*","sum":"views"}`, "groupBy", "status", "filter", `{"title":{"_neq":"Gamma"}}`), check: func(t *testing.T, r reply) {
		if got := r.get("data"); !reflect.DeepEqual(got, groupedByStatus) {
			t.Errorf("got %v, want %v", got, groupedByStatus)
		}
	}},
	// Directus clients send lists and objects in bracket form (qs syntax); each must
	// mean what its plain form means, never be dropped.
	{name: "bracket aggregate, groupBy and filter", query: qs("aggregate[count]", "*", "aggregate[sum][]", "views", "groupBy[]", "status", "filter[title][_neq]", "Gamma"), check: func(t *testing.T, r reply) {
		if got := r.get("data"); !reflect.DeepEqual(got, groupedByStatus) {
			t.Errorf("got %v, want %v", got, groupedByStatus)
		}
	}},
	{name: "fields[] and sort[]", query: qs("fields[]", "title", "fields[]", "views", "sort[]", "-views", "sort[]", "title", "limit", "3"), check: func(t *testing.T, r reply) {
		want := []any{ // NULLs first descending
			map[string]any{"title": "delta", "views": nil},
			map[string]any{"title": "Épée", "views": float64(1000)},
			map[string]any{"title": "Gamma", "views": float64(600)},
		}
		if got := r.get("data"); !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	}},
	{name: "indexed fields and repeated sort", query: "fields%5B1%5D=views&fields%5B0%5D=title&sort=views&sort=title&limit=2", check: func(t *testing.T, r reply) {
		want := []any{map[string]any{"title": "50%_off", "views": float64(0)}, map[string]any{"title": "Alpha", "views": float64(10)}}
		if got := r.get("data"); !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	}},
	{name: "deep in bracket form", query: qs("fields", "title,comments.body", "filter[title][_eq]", "Alpha", "deep[comments][_limit]", "1", "deep[comments][_sort][]", "-body"), check: func(t *testing.T, r reply) {
		want := []any{map[string]any{"title": "Alpha", "comments": []any{map[string]any{"body": "second"}}}}
		if got := r.get("data"); !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	}},
	{name: "fields *.* expands every relation one level", query: qs("fields", "*.*", "filter", `{"title":{"_eq":"Alpha"}}`), check: func(t *testing.T, r reply) {
		if r.get("data.0.title") != "Alpha" || r.get("data.0.views") != float64(10) {
			t.Errorf("own fields missing: %s", r)
		}
		if r.get("data.0.author.name") != "ann" {
			t.Errorf("author not expanded: %v", r.get("data.0.author"))
		}
		comments, _ := r.get("data.0.comments").([]any)
		if len(comments) != 2 {
			t.Fatalf("comments = %v", r.get("data.0.comments"))
		}
		for _, c := range comments {
			if m, ok := c.(map[string]any); !ok || m["body"] == nil {
				t.Errorf("comment not expanded: %v", c)
			}
		}
		tags, _ := r.get("data.0.tags").([]any)
		if len(tags) != 2 {
			t.Fatalf("tags = %v", r.get("data.0.tags"))
		}
		if _, ok := tags[0].(map[string]any); !ok {
			t.Errorf("tags not expanded: %v", tags)
		}
	}},
	{name: "decimal and datetime come back exact", query: qs("filter", `{"title":{"_eq":"Épée"}}`, "fields", "price,at,published,score"), check: func(t *testing.T, r reply) {
		want := map[string]any{"price": "1.10", "at": "2026-01-15T08:30:00.5Z", "published": true, "score": float64(3)}
		if got := r.get("data.0"); !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	}},
}

func TestQueryConformance(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			queryFixture(t, n)
			for _, c := range queryCases {
				t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
					table := c.table
					if table == "" {
						table = "posts"
					}
					st, r := n.call("GET", "/api/t/acme/items/"+table+"?"+c.query, nil, nil)
					if st != 200 {
						t.Fatalf("status %d: %s", st, r)
					}
					if c.check != nil {
						c.check(t, r)
						return
					}
					key := c.key
					if key == "" {
						key = "title"
					}
					got := []string{}
					rows, _ := r.get("data").([]any)
					for _, row := range rows {
						got = append(got, fmt.Sprint(row.(map[string]any)[key]))
					}
					if !reflect.DeepEqual(got, c.want) {
						t.Errorf("got %q, want %q", got, c.want)
					}
				})
			}
		})
	}
}

// TestRelationsLoadWithoutNPlusOne: the statements a request runs depend on the
// relation levels it asks for, never on the number of rows.
func TestRelationsLoadWithoutNPlusOne(t *testing.T) {
	t.Parallel()
	n := startNode(t, "sqlite://"+t.TempDir()+"/control.db", nil)
	queryFixture(t, n)
	tn, _ := n.app.Tenants.Get(context.Background(), "acme")
	db, _ := n.app.Tenants.DB(context.Background(), tn)
	m, err := n.app.Tenants.Model(context.Background(), tn, db)
	if err != nil {
		t.Fatal(err)
	}
	res := &query.Resolver{Model: m, Limits: query.Limits{}.WithDefaults()}
	count := func(table, fields string, limit string) int {
		q, err := res.Parse(m.Table(table), query.Params{"fields": {fields}, "limit": {limit}})
		if err != nil {
			t.Fatal(err)
		}
		r := &query.Runner{DB: db, D: db.Dialect, Limits: res.Limits}
		if _, err := r.Run(context.Background(), q); err != nil {
			t.Fatal(err)
		}
		return r.Statements
	}
	fields := "title,author.name,comments.body,tags.label,comments.post.author.name"
	one, all := count("posts", fields, "1"), count("posts", fields, "100")
	// 1 base + author + comments + tags + comments.post + comments.post.author = 6.
	if all != 6 || one > all {
		t.Fatalf("statements: %d for 1 row, %d for all rows; want 6 for all, independent of rows", one, all)
	}
}

// TestBadQueries: malformed or unknown query input is a 400 INVALID_QUERY naming the
// parameter and the path inside it; nothing reaches SQL text.
func TestBadQueries(t *testing.T) {
	t.Parallel()
	n := startNode(t, "sqlite://"+t.TempDir()+"/control.db", map[string]string{"STRATA_MAX_LIMIT": "5", "STRATA_DEFAULT_LIMIT": "5"})
	queryFixture(t, n)
	deep := `{"title":{"_eq":"x"}}`
	for i := 0; i < 11; i++ {
		deep = `{"_and":[` + deep + `]}`
	}
	cases := []struct {
		name, query, param, path string
	}{
		{"filter is not JSON", qs("filter", "{not-json"), "filter", ""},
		{"filter is not an object", qs("filter", "[1]"), "filter", ""},
		{"unknown field", qs("filter", `{"nope":{"_eq":1}}`), "filter", "nope"},
		{"unknown operator", qs("filter", `{"views":{"_eqq":1}}`), "filter", "views._eqq"},
		{"wrong value type", qs("filter", `{"views":{"_gt":"abc"}}`), "filter", "views._gt"},
		{"operator for another type", qs("filter", `{"published":{"_contains":"x"}}`), "filter", "published._contains"},
		{"_in needs an array", qs("filter", `{"views":{"_in":5}}`), "filter", "views._in"},
		{"_between needs two", qs("filter", `{"views":{"_between":[1]}}`), "filter", "views._between"},
		{"bad date", qs("filter", `{"at":{"_gt":"yesterday"}}`), "filter", "at._gt"},
		{"bad $NOW", qs("filter", `{"at":{"_gt":"$NOW(soon)"}}`), "filter", "at._gt"},
		{"relation field unknown inside", qs("filter", `{"author":{"nope":{"_eq":1}}}`), "filter", "author.nope"},
		{"_some on a to-one", qs("filter", `{"author":{"_some":{"name":{"_eq":"x"}}}}`), "filter", "author"},
		{"too deep", qs("filter", deep), "filter", ""},
		{"injection as a field name", qs("filter", `{"x\";DROP TABLE posts;--":{"_eq":1}}`), "filter", "x\";DROP TABLE posts;--"},
		{"unknown sort field", qs("sort", "nope"), "sort", "nope"},
		{"sort through to-many", qs("sort", "comments.body"), "sort", "comments.body"},
		{"unknown fields", qs("fields", "title,nope"), "fields", "nope"},
		{"fields through a non-relation", qs("fields", "title.x"), "fields", "title.x"},
		{"limit over the cap", qs("limit", "6"), "limit", ""},
		{"limit -1 over the cap", qs("limit", "-1"), "limit", ""},
		{"limit not a number", qs("limit", "ten"), "limit", ""},
		{"negative offset", qs("offset", "-1"), "offset", ""},
		{"page zero", qs("page", "0"), "page", ""},
		{"unknown meta", qs("meta", "everything"), "meta", "everything"},
		{"aggregate not JSON", qs("aggregate", "{"), "aggregate", ""},
		{"unknown aggregate", qs("aggregate", `{"median":"views"}`), "aggregate", "median"},
		{"sum of text", qs("aggregate", `{"sum":"title"}`), "aggregate", "sum.title"},
		{"groupBy unknown", qs("aggregate", `{"count":"*"}`, "groupBy", "nope"), "groupBy", "nope"},
		{"deep on a relation not in fields", qs("deep", `{"comments":{"_limit":1}}`), "deep", "comments"},
		{"deep unknown option", qs("fields", "title,comments.body", "deep", `{"comments":{"_limt":1}}`), "deep", "comments._limt"},
		{"fields as an object", qs("fields[a]", "title"), "fields", ""},
		{"sort both forms", qs("sort", "title", "sort[]", "views"), "sort", ""},
		{"limit twice", qs("limit", "1", "limit", "2"), "limit", ""},
		{"limit in brackets", qs("limit[x]", "1"), "limit", ""},
		{"malformed bracket", qs("deep[comments", "1"), "deep", "deep[comments"},
		{"alias", qs("alias[t]", "title"), "alias", ""},
		{"export", qs("export", "csv"), "export", ""},
		{"backlink false", qs("backlink", "false"), "backlink", ""},
		{"bracket deep option unknown", qs("fields", "title,comments.body", "deep[comments][_limt]", "1"), "deep", "comments._limt"},
		{"bracket deep limit not a number", qs("fields", "title,comments.body", "deep[comments][_limit]", "x"), "deep", "comments._limit"},
		{"*.* too deep", qs("fields", "*.*.*.*.*.*.*.*.*.*.*.*"), "fields", ""},
	}
	for _, c := range cases {
		st, r := n.call("GET", "/api/t/acme/items/posts?"+c.query, nil, nil)
		if st != 400 || r.get("errors.0.extensions.code") != "INVALID_QUERY" || r.get("errors.0.extensions.parameter") != c.param {
			t.Errorf("%s: %d %s; want 400 INVALID_QUERY naming %s", c.name, st, r, c.param)
			continue
		}
		if c.path != "" && r.get("errors.0.extensions.path") != c.path {
			t.Errorf("%s: path %v, want %q", c.name, r.get("errors.0.extensions.path"), c.path)
		}
	}
	if st, _ := n.call("GET", "/api/t/acme/items/nope", nil, nil); st != 404 {
		t.Errorf("unknown table: %d", st)
	}
}

// TestInjectionCorpus: hostile values and names never cause a 500, an SQL error or a
// change of data, on any dialect.
func TestInjectionCorpus(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	corpus := []string{`'; DROP TABLE posts; --`, `" OR 1=1 --`, `x";DROP TABLE posts`, `\'; DELETE FROM posts; --`, "Robert'); DROP TABLE posts;--",
		`%' OR '1'='1`, "\u0000", "ünï€ødé 🎉", `\\`, `$NOW`, `{"_or":[]}`, `') UNION SELECT * FROM custom_migrations --`, "`; DROP TABLE posts; --"}
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			queryFixture(t, n)
			for _, s := range corpus {
				enc, _ := json.Marshal(s)
				queries := []string{
					qs("filter", `{"title":{"_eq":`+string(enc)+`}}`),
					qs("filter", `{"title":{"_contains":`+string(enc)+`}}`),
					qs("filter", `{"title":{"_in":[`+string(enc)+`]}}`),
					qs("filter", `{"author":{"name":{"_icontains":`+string(enc)+`}}}`),
					qs("filter", `{`+string(enc)+`:{"_eq":1}}`),
					qs("search", s),
					qs("sort", s),
					qs("fields", s),
					qs("filter["+s+"][_eq]", "1"),
					qs("filter[title][_eq]", s),
					qs("aggregate", `{"count":`+string(enc)+`}`),
					qs("groupBy", s, "aggregate", `{"count":"*"}`),
				}
				for _, q := range queries {
					st, r := n.call("GET", "/api/t/acme/items/posts?"+q, nil, nil)
					if st != 200 && st != 400 {
						t.Errorf("%q: status %d %s", q, st, r)
					}
				}
			}
			all := n.mustCall(200, "GET", "/api/t/acme/items/posts?fields=title&limit=-1", nil)
			if rows, _ := all.get("data").([]any); len(rows) != 6 {
				t.Fatalf("data changed: %d posts", len(rows))
			}
		})
	}
}
