package main

import (
	"slices"
	"testing"
)

// idsOf reads a to-many field's keys from a reply, sorted.
func idsOf(r reply, path string) []string {
	var out []string
	list, _ := r.get(path).([]any)
	for _, v := range list {
		out = append(out, v.(string))
	}
	slices.Sort(out)
	return out
}

func sorted(ids ...string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// TestToManyWrites: to-many fields (one_to_many, many_to_many, the inverse of a
// many_to_one) take arrays of keys on create and update: the row is linked with exactly
// those rows, all or nothing, within the caller's permissions on the rows it changes.
func TestToManyWrites(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			admin := startNode(t, b.newControlURL(t), nil)
			p := "/api/t/acme"
			admin.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			admin.mustCall(200, "PATCH", p+"/settings", map[string]any{"allow_signup": true})
			for _, tb := range []struct{ name, col string }{{"authors", "name"}, {"posts", "title"}, {"tags", "label"}} {
				admin.mustCall(200, "POST", p+"/tables", map[string]any{"name": tb.name, "columns": []any{map[string]any{"name": tb.col, "type": "string"}}})
			}
			admin.mustCall(200, "POST", p+"/relations", map[string]any{"table": "posts", "name": "author", "type": "many_to_one", "target": "authors", "inverse": "posts"})
			admin.mustCall(200, "POST", p+"/relations", map[string]any{"table": "posts", "name": "tags", "type": "many_to_many", "target": "tags", "inverse": "posts"})
			mk := func(table, col, v string) string {
				return admin.mustCall(200, "POST", p+"/items/"+table, map[string]any{col: v}).get("data.id").(string)
			}
			ann := mk("authors", "name", "ann")
			p1, p2, p3 := mk("posts", "title", "one"), mk("posts", "title", "two"), mk("posts", "title", "three")
			go1, db1 := mk("tags", "label", "go"), mk("tags", "label", "db")

			// many_to_many: create with links, replace, take one out, clear; keys or {id}.
			r := admin.mustCall(200, "POST", p+"/items/posts?fields=id,tags", map[string]any{"title": "four", "tags": []any{go1, map[string]any{"id": db1}}})
			p4 := r.get("data.id").(string)
			if got := idsOf(r, "data.tags"); !slices.Equal(got, sorted(go1, db1)) {
				t.Fatalf("created with tags: %s", r)
			}
			r = admin.mustCall(200, "PATCH", p+"/items/posts/"+p4+"?fields=tags", map[string]any{"tags": []any{db1}})
			if got := idsOf(r, "data.tags"); !slices.Equal(got, []string{db1}) {
				t.Fatalf("replaced tags: %s", r)
			}
			// The other side sees the same links.
			r = admin.mustCall(200, "GET", p+"/items/tags/"+db1+"?fields=posts", nil)
			if got := idsOf(r, "data.posts"); !slices.Equal(got, []string{p4}) {
				t.Fatalf("the inverse side: %s", r)
			}
			r = admin.mustCall(200, "PATCH", p+"/items/posts/"+p4+"?fields=tags", map[string]any{"tags": nil})
			if got := idsOf(r, "data.tags"); len(got) != 0 {
				t.Fatalf("cleared tags: %s", r)
			}

			// The inverse of a many_to_one: setting it sets the posts' author key.
			r = admin.mustCall(200, "PATCH", p+"/items/authors/"+ann+"?fields=posts", map[string]any{"posts": []any{p1, p2}})
			if got := idsOf(r, "data.posts"); !slices.Equal(got, sorted(p1, p2)) {
				t.Fatalf("linked posts: %s", r)
			}
			if r := admin.mustCall(200, "GET", p+"/items/posts/"+p1+"?fields=author", nil); r.get("data.author") != ann {
				t.Fatalf("the post's key: %s", r)
			}
			r = admin.mustCall(200, "PATCH", p+"/items/authors/"+ann+"?fields=posts", map[string]any{"posts": []any{p2, p3}})
			if got := idsOf(r, "data.posts"); !slices.Equal(got, sorted(p2, p3)) {
				t.Fatalf("relinked posts: %s", r)
			}
			if r := admin.mustCall(200, "GET", p+"/items/posts/"+p1+"?fields=author", nil); r.get("data.author") != nil {
				t.Fatalf("a post taken out keeps its author: %s", r)
			}

			// GraphQL's mutations take the same lists.
			gq := admin.mustCall(200, "POST", p+"/graphql", map[string]any{
				"query":     `mutation($id: ID!, $tags: [ID!]) { update_posts_item(id: $id, data: {tags: $tags}) { id tags { label } } }`,
				"variables": map[string]any{"id": p4, "tags": []string{go1, db1}},
			})
			if tags, _ := gq.get("data.update_posts_item.tags").([]any); len(tags) != 2 {
				t.Fatalf("graphql update with tags: %s", gq)
			}
			admin.mustCall(200, "PATCH", p+"/items/posts/"+p4, map[string]any{"tags": []any{}})
			// A batch's key that names no row links nothing, as it changes nothing.
			admin.mustCall(200, "PATCH", p+"/items/posts", map[string]any{"keys": []string{p4, "01a00000-0000-7000-8000-00000000000f"}, "data": map[string]any{"tags": []any{go1}}})
			if r := admin.mustCall(200, "GET", p+"/items/posts/"+p4+"?fields=tags", nil); !slices.Equal(idsOf(r, "data.tags"), []string{go1}) {
				t.Fatalf("batch link: %s", r)
			}
			admin.mustCall(200, "PATCH", p+"/items/posts/"+p4, map[string]any{"tags": []any{}})

			// Bad values, and keys that name no row: refused, naming the field, nothing
			// written.
			missing := "01a00000-0000-7000-8000-000000000000"
			for _, c := range []struct {
				name string
				body map[string]any
			}{
				{"not an array", map[string]any{"tags": "x"}},
				{"not keys", map[string]any{"tags": []any{1}}},
				{"missing row", map[string]any{"tags": []any{go1, missing}}},
			} {
				if st, r := admin.call("PATCH", p+"/items/posts/"+p4, c.body, nil); st != 400 || r.get("errors.0.extensions.field") != "tags" {
					t.Errorf("%s: %d %s", c.name, st, r)
				}
			}
			if st, _ := admin.call("POST", p+"/items/posts", map[string]any{"title": "five", "tags": []any{missing}}, nil); st != 400 {
				t.Errorf("create with a missing tag: %d", st)
			}
			if r := admin.mustCall(200, "GET", p+"/items/posts?"+qs("filter", `{"title":{"_eq":"five"}}`), nil); len(r.get("data").([]any)) != 0 {
				t.Errorf("a refused create left its row: %s", r)
			}
			if r := admin.mustCall(200, "GET", p+"/items/posts/"+p4+"?fields=tags", nil); len(idsOf(r, "data.tags")) != 0 {
				t.Errorf("a refused update linked: %s", r)
			}

			// Permissions: a user who may update only its own posts cannot take other
			// users' posts through the author's side, and cannot link tags it may not read.
			authd := roleID(t, admin, "acme", "authenticated")
			self := map[string]any{"owner_id": map[string]any{"_eq": "$CURRENT_USER"}}
			for _, rule := range []map[string]any{
				{"collection": "authors", "action": "create"},
				{"collection": "authors", "action": "read"},
				{"collection": "authors", "action": "update", "permissions": self},
				{"collection": "posts", "action": "create"},
				{"collection": "posts", "action": "read"},
				{"collection": "posts", "action": "update", "permissions": self},
			} {
				rule["role"] = authd
				admin.mustCall(200, "POST", p+"/permissions", rule)
			}
			alice := tenantUser(t, admin, "acme", "alice@example.com")
			mine := alice.mustCall(200, "POST", p+"/items/authors", map[string]any{"name": "alice"}).get("data.id").(string)
			own := alice.mustCall(200, "POST", p+"/items/posts", map[string]any{"title": "hers"}).get("data.id").(string)
			r = alice.mustCall(200, "PATCH", p+"/items/authors/"+mine+"?fields=posts", map[string]any{"posts": []any{own}})
			if got := idsOf(r, "data.posts"); !slices.Equal(got, []string{own}) {
				t.Fatalf("alice links her post: %s", r)
			}
			if st, _ := alice.call("PATCH", p+"/items/authors/"+mine, map[string]any{"posts": []any{own, p1}}, nil); st != 403 {
				t.Errorf("alice took the admin's post: %d", st)
			}
			if r := admin.mustCall(200, "GET", p+"/items/posts/"+p1+"?fields=author", nil); r.get("data.author") != nil {
				t.Errorf("a refused link changed the post: %s", r)
			}
			if st, _ := alice.call("PATCH", p+"/items/posts/"+own, map[string]any{"tags": []any{go1}}, nil); st != 403 && st != 400 {
				t.Errorf("alice linked a tag she may not read: %d", st)
			}
		})
	}
}
