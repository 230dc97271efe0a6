package main

import (
	"testing"
)

func TestItemUpdatesAndDeletes(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			queryFixture(t, n)
			find := func(title string) reply {
				return n.mustCall(200, "GET", "/api/t/acme/items/posts?"+qs("filter", `{"title":{"_eq":"`+title+`"}}`, "fields", "id,title,views,updated_at,created_at"), nil)
			}
			alpha := find("Alpha")
			id := alpha.get("data.0.id").(string)
			before := alpha.get("data.0.updated_at").(string)

			r := n.mustCall(200, "PATCH", "/api/t/acme/items/posts/"+id+"?fields=title,views,author.name", map[string]any{"views": 11, "title": "Alpha2"})
			if r.get("data.views") != float64(11) || r.get("data.title") != "Alpha2" || r.get("data.author.name") != "ann" {
				t.Fatalf("patched row: %s", r)
			}
			after := find("Alpha2")
			if after.get("data.0.updated_at") == before || after.get("data.0.created_at") == nil {
				t.Errorf("updated_at not moved: %s", after)
			}
			for _, c := range []struct {
				name string
				body any
				code string
			}{
				{"unknown field", map[string]any{"nope": 1}, "INVALID_PAYLOAD"},
				{"id", map[string]any{"id": id}, "INVALID_PAYLOAD"},
				{"null into required", map[string]any{"title": nil}, "CONTAINS_NULL_VALUES"},
				{"wrong type", map[string]any{"views": "many"}, "INVALID_PAYLOAD"},
			} {
				if st, r := n.call("PATCH", "/api/t/acme/items/posts/"+id, c.body, nil); st != 400 || r.get("errors.0.extensions.code") != c.code {
					t.Errorf("%s: %d %s", c.name, st, r)
				}
			}
			if st, _ := n.call("PATCH", "/api/t/acme/items/posts/01a00000-0000-7000-8000-000000000000", map[string]any{"views": 1}, nil); st != 404 {
				t.Errorf("patch missing row: %d", st)
			}
			// Many at once: one change to many keys, and a list of per-row changes.
			beta, gamma := find("beta").get("data.0.id").(string), find("Gamma").get("data.0.id").(string)
			r = n.mustCall(200, "PATCH", "/api/t/acme/items/posts?fields=views", map[string]any{"keys": []string{beta, gamma}, "data": map[string]any{"views": 7}})
			if rows, _ := r.get("data").([]any); len(rows) != 2 || r.get("data.0.views") != float64(7) || r.get("data.1.views") != float64(7) {
				t.Fatalf("batch update: %s", r)
			}
			n.mustCall(200, "PATCH", "/api/t/acme/items/posts", []any{map[string]any{"id": beta, "views": 1}, map[string]any{"id": gamma, "views": 2}})
			if find("Gamma").get("data.0.views") != float64(2) {
				t.Errorf("per-row batch update did not apply")
			}
			// A batch with one bad row changes nothing.
			if st, _ := n.call("PATCH", "/api/t/acme/items/posts", []any{map[string]any{"id": beta, "views": 3}, map[string]any{"id": gamma, "views": "x"}}, nil); st != 400 {
				t.Fatalf("bad batch: %d", st)
			}
			if find("beta").get("data.0.views") != float64(1) {
				t.Errorf("a failed batch half-applied")
			}
			// A key that points nowhere is refused, naming the field.
			if st, r := n.call("POST", "/api/t/acme/items/posts", map[string]any{"title": "orphan", "author": "01a00000-0000-7000-8000-000000000000"}, nil); st != 400 || r.get("errors.0.extensions.field") != "author" {
				t.Errorf("dangling key: %d %s", st, r)
			}
			// The ledger reads like items, with the same query language.
			led := n.mustCall(200, "GET", "/api/t/acme/items/custom_migrations?"+qs("filter", `{"_and":[{"status":{"_eq":"executed"}},{"type":{"_eq":"add_relation"}}]}`, "sort", "-seq", "fields", "seq,type", "meta", "filter_count"), nil)
			if led.get("meta.filter_count") != float64(1) || led.get("data.0.type") != "add_relation" {
				t.Errorf("custom_migrations through items: %s", led)
			}
			// Deletes.
			if st, _ := n.call("DELETE", "/api/t/acme/items/posts/"+id, nil, nil); st != 204 {
				t.Fatalf("delete one: %d", st)
			}
			if st, _ := n.call("GET", "/api/t/acme/items/posts/"+id, nil, nil); st != 404 {
				t.Errorf("deleted row still readable: %d", st)
			}
			if st, _ := n.call("DELETE", "/api/t/acme/items/posts/"+id, nil, nil); st != 404 {
				t.Errorf("second delete: %d", st)
			}
			if st, _ := n.call("DELETE", "/api/t/acme/items/posts", map[string]any{"keys": []string{beta, gamma}}, nil); st != 204 {
				t.Fatalf("delete many: %d", st)
			}
			left := n.mustCall(200, "GET", "/api/t/acme/items/posts?fields=title&sort=title", nil)
			if rows, _ := left.get("data").([]any); len(rows) != 3 {
				t.Errorf("%d rows left, want 3: %s", len(rows), left)
			}
			// Deleting an author sets the posts' key to null (on_delete set_null), on every dialect.
			authors := n.mustCall(200, "GET", "/api/t/acme/items/authors?"+qs("filter", `{"name":{"_eq":"bob"}}`, "fields", "id"), nil)
			n.mustCall(204, "DELETE", "/api/t/acme/items/authors/"+authors.get("data.0.id").(string), nil)
			if v := n.mustCall(200, "GET", "/api/t/acme/items/posts?"+qs("filter", `{"title":{"_eq":"Épée"}}`, "fields", "author"), nil).get("data.0"); v.(map[string]any)["author"] != nil {
				t.Errorf("author key after delete: %v", v)
			}
		})
	}
}
