package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"strata/modules/apierr"
	"strata/modules/records"
	"strata/schema"
)

// TestHooksSeeEverySurface: the records service's hooks are the one place server-side
// code plugs into writes. A before hook refuses the same write arriving over REST,
// GraphQL and a data migration (nothing is left written), and the after hooks hear of
// every write that committed, whichever surface made it.
func TestHooksSeeEverySurface(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			var mu sync.Mutex
			var heard []string
			n.app.Records.Hooks.Before = append(n.app.Records.Hooks.Before, func(_ context.Context, _ schema.Querier, w *records.Write) error {
				for _, d := range w.Data {
					if d["title"] == "forbidden" {
						return apierr.Forbidden("refused by a hook")
					}
				}
				return nil
			})
			n.app.Records.Hooks.After = append(n.app.Records.Hooks.After, func(_ context.Context, w *records.Write) {
				mu.Lock()
				defer mu.Unlock()
				heard = append(heard, fmt.Sprintf("%s %s %d", w.Action, w.Table.Name, len(w.IDs)))
			})
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			p := "/api/t/acme"
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "posts", "columns": []any{
				map[string]any{"name": "slug", "type": "string", "unique": true}, map[string]any{"name": "title", "type": "string"}}})

			// Refused on every surface, and nothing written.
			if st, r := n.call("POST", p+"/items/posts", map[string]any{"slug": "a", "title": "forbidden"}, nil); st != 403 {
				t.Errorf("REST create refused by the hook: %d %s", st, r)
			}
			if _, r := n.gql("acme", `mutation { create_posts_item(data: {slug: "b", title: "forbidden"}) { id } }`, nil); r.get("errors") == nil {
				t.Errorf("GraphQL create refused by the hook: %s", r)
			}
			if st, r := n.call("POST", p+"/schema/apply?format=data-migration", `{"posts": [{"_unique": ["slug"], "slug": "c", "title": "forbidden"}]}`, nil); st != 403 {
				t.Errorf("data migration refused by the hook: %d %s", st, r)
			}
			if rows := rowsOf(n, "acme", "posts", "slug"); len(rows) != 0 {
				t.Fatalf("refused writes left rows: %v", rows)
			}
			// Allowed on every surface, and heard after the commit.
			id := n.mustCall(200, "POST", p+"/items/posts", map[string]any{"slug": "a", "title": "ok"}).get("data.id").(string)
			n.mustGQL("acme", `mutation { create_posts_item(data: {slug: "b", title: "ok"}) { id } }`, nil)
			n.mustCall(200, "POST", p+"/schema/apply?format=data-migration", `{"posts": [{"_unique": ["slug"], "slug": "c", "title": "ok"}, {"_unique": ["slug"], "slug": "a", "title": "ok again"}]}`)
			n.mustCall(200, "PATCH", p+"/items/posts/"+id, map[string]any{"title": "later"})
			n.mustCall(204, "DELETE", p+"/items/posts/"+id, nil)
			// The identity tables are written through the records service too.
			role := n.mustCall(200, "POST", p+"/roles", map[string]any{"name": "editor"}).get("data.id").(string)
			n.mustCall(200, "POST", p+"/users", map[string]any{"email": "e@example.com", "password": "correct horse battery", "role": role})
			n.mustCall(204, "DELETE", p+"/roles/"+role, nil)
			mu.Lock()
			defer mu.Unlock()
			want := []string{"create posts 1", "create posts 1", "create posts 1", "update posts 1", "update posts 1", "delete posts 1",
				"create strata_roles 1", "create strata_users 1", "update strata_users 1", "delete strata_roles 1"}
			if !slices.Equal(heard, want) {
				t.Errorf("after hooks heard %q, want %q", heard, want)
			}
		})
	}
}
