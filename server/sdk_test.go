package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"
)

// sdkFields flattens fields the way @directus/sdk does: strings stay, {rel: [...]}
// objects become dotted paths.
func sdkFields(prefix string, fields []any) []string {
	var out []string
	for _, f := range fields {
		switch x := f.(type) {
		case string:
			out = append(out, prefix+x)
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				out = append(out, sdkFields(prefix+k+".", x[k].([]any))...)
			}
		}
	}
	return out
}

// sdkQuery serialises a query object as @directus/sdk's queryToParams does: fields,
// sort and groupBy comma-joined, filter, deep and aggregate as JSON, numbers as text.
func sdkQuery(q map[string]any) string {
	v := url.Values{}
	for k, val := range q {
		switch k {
		case "fields":
			v.Set(k, strings.Join(sdkFields("", val.([]any)), ","))
		case "sort", "groupBy":
			parts := []string{}
			for _, s := range val.([]any) {
				parts = append(parts, s.(string))
			}
			v.Set(k, strings.Join(parts, ","))
		case "filter", "deep", "aggregate":
			b, _ := json.Marshal(val)
			v.Set(k, string(b))
		default:
			v.Set(k, fmt.Sprint(val))
		}
	}
	return v.Encode()
}

// TestDirectusSDKRequests drives the API with requests shaped like @directus/sdk's
// readItems/readItem/createItem(s)/updateItem(s)/deleteItems and checks the envelopes.
func TestDirectusSDKRequests(t *testing.T) {
	t.Parallel()
	n := startNode(t, "sqlite://"+t.TempDir()+"/control.db", nil)
	queryFixture(t, n)
	base := "/api/t/acme/items/posts"

	// readItems('posts', {fields: ['title', {author: ['name']}, {comments: ['body']}], filter, sort, limit, page})
	r := n.mustCall(200, "GET", base+"?"+sdkQuery(map[string]any{
		"fields": []any{"title", map[string]any{"author": []any{"name"}}, map[string]any{"comments": []any{"body"}}},
		"filter": map[string]any{"_and": []any{map[string]any{"views": map[string]any{"_gte": 10}}, map[string]any{"author": map[string]any{"name": map[string]any{"_in": []string{"ann", "bob"}}}}}},
		"sort":   []any{"-views", "title"},
		"limit":  2,
		"page":   1,
		"meta":   "filter_count",
	}), nil)
	rows, _ := r.get("data").([]any)
	if len(rows) != 2 || r.get("data.0.title") != "Épée" || r.get("data.0.author.name") != "bob" || r.get("meta.filter_count") != float64(4) {
		t.Fatalf("readItems: %s", r)
	}
	if c, ok := r.get("data.1.comments").([]any); !ok || c == nil {
		t.Errorf("to-many field missing as a list: %s", r)
	}

	// readItems with aggregate and groupBy
	r = n.mustCall(200, "GET", base+"?"+sdkQuery(map[string]any{
		"aggregate": map[string]any{"count": "*", "max": []any{"views"}},
		"groupBy":   []any{"published"},
	}), nil)
	if groups, _ := r.get("data").([]any); len(groups) != 3 || r.get("data.0.count") == nil || r.get("data.0.max.views") == nil {
		t.Fatalf("aggregate: %s", r)
	}

	// readItems with deep
	r = n.mustCall(200, "GET", "/api/t/acme/items/authors?"+sdkQuery(map[string]any{
		"fields": []any{"name", map[string]any{"posts": []any{"title"}}},
		"deep":   map[string]any{"posts": map[string]any{"_limit": 1, "_sort": []any{"title"}}},
		"filter": map[string]any{"name": map[string]any{"_eq": "ann"}},
	}), nil)
	if r.get("data.0.posts.0.title") != "Alpha" || len(r.get("data.0.posts").([]any)) != 1 {
		t.Fatalf("deep: %s", r)
	}

	// createItem / createItems answer with the rows, shaped by fields
	r = n.mustCall(200, "POST", base+"?"+sdkQuery(map[string]any{"fields": []any{"id", "title", "views"}}), map[string]any{"title": "sdk one", "views": 1})
	id, _ := r.get("data.id").(string)
	if id == "" || r.get("data.title") != "sdk one" || r.get("data.body") != nil {
		t.Fatalf("createItem: %s", r)
	}
	r = n.mustCall(200, "POST", base, []any{map[string]any{"title": "sdk two"}, map[string]any{"title": "sdk three"}})
	created, _ := r.get("data").([]any)
	if len(created) != 2 || r.get("data.1.title") != "sdk three" {
		t.Fatalf("createItems: %s", r)
	}
	two, three := r.get("data.0.id").(string), r.get("data.1.id").(string)

	// readItem
	if r = n.mustCall(200, "GET", base+"/"+id+"?fields=title", nil); r.get("data.title") != "sdk one" {
		t.Fatalf("readItem: %s", r)
	}
	// updateItem / updateItems({keys, data})
	if r = n.mustCall(200, "PATCH", base+"/"+id, map[string]any{"views": 2}); r.get("data.views") != float64(2) {
		t.Fatalf("updateItem: %s", r)
	}
	n.mustCall(200, "PATCH", base, map[string]any{"keys": []string{two, three}, "data": map[string]any{"views": 3}})
	// deleteItems(keys) sends a bare array; deleteItem sends the key in the path
	if st, r := n.call("DELETE", base, []string{two, three}, nil); st != 204 {
		t.Fatalf("deleteItems: %d %s", st, r)
	}
	if st, _ := n.call("DELETE", base+"/"+id, nil, nil); st != 204 {
		t.Fatalf("deleteItem: %d", st)
	}
	// Errors use Directus's envelope.
	st, r := n.call("GET", base+"?"+sdkQuery(map[string]any{"filter": map[string]any{"nope": map[string]any{"_eq": 1}}}), nil, nil)
	if st != 400 || r.get("errors.0.message") == nil || r.get("errors.0.extensions.code") != "INVALID_QUERY" {
		t.Fatalf("error envelope: %d %s", st, r)
	}
}
