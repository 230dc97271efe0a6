package main

import (
	"testing"

	"strata/internal/testkit"
)

// TestHotPathStatements bounds the statements the common requests run on the tenant's
// database once its caches are warm (STRATA_CACHE_TTL long, so no entry expires in the
// middle): a change that adds a round trip to the hot path fails here instead of
// showing up as a slower benchmark later.
func TestHotPathStatements(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), map[string]string{"STRATA_CACHE_TTL": "1h"})
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			p := "/api/t/acme"
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "posts", "columns": []any{
				map[string]any{"name": "title", "type": "string"}, map[string]any{"name": "views", "type": "integer"}},
				"permissions": map[string]any{"read": []string{"public"}}})
			id := n.mustCall(200, "POST", p+"/items/posts", map[string]any{"title": "a", "views": 1}).get("data.id").(string)
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "logs", "accountability": "none", "columns": []any{map[string]any{"name": "msg", "type": "string"}}})
			logID := n.mustCall(200, "POST", p+"/items/logs", map[string]any{"msg": "a"}).get("data.id").(string)
			db := n.tenantDB("acme")
			c := n.client()
			c.Statements = db.Statements
			anon := &testkit.Client{T: t, Base: n.base, Statements: db.Statements}
			// Warm every cache the scenarios use (model, policies, settings, sessions).
			for _, cl := range []*testkit.Client{c, anon} {
				cl.Call("GET", p+"/items/posts/"+id, nil, nil)
				cl.Call("GET", p+"/items/posts?limit=5", nil, nil)
				cl.Call("GET", p+"/tables", nil, nil)
				cl.Call("GET", p+"/items/logs/"+logID, nil, nil)
			}
			c.Run(t, []testkit.Scenario{
				{Name: "get by id", Method: "GET", Path: p + "/items/posts/" + id, Status: 200, MaxStatements: testkit.AtMost(1)},
				{Name: "list", Method: "GET", Path: p + "/items/posts?sort=-views&limit=20", Status: 200, MaxStatements: testkit.AtMost(1)},
				{Name: "list with counts", Method: "GET", Path: p + "/items/posts?limit=20&meta=*", Status: 200, MaxStatements: testkit.AtMost(3)},
				// The audit trail adds its rows to a write: an activity entry and a
				// revision, and for an update the row read back for its revision.
				{Name: "create", Method: "POST", Path: p + "/items/posts", Body: map[string]any{"title": "b"}, Status: 200, MaxStatements: testkit.AtMost(4)},
				{Name: "update", Method: "PATCH", Path: p + "/items/posts/" + id, Body: map[string]any{"views": 2}, Status: 200, MaxStatements: testkit.AtMost(5)},
				{Name: "create, no trail", Method: "POST", Path: p + "/items/logs", Body: map[string]any{"msg": "b"}, Status: 200, MaxStatements: testkit.AtMost(2)},
				{Name: "update, no trail", Method: "PATCH", Path: p + "/items/logs/" + logID, Body: map[string]any{"msg": "c"}, Status: 200, MaxStatements: testkit.AtMost(2)},
				{Name: "schema", Method: "GET", Path: p + "/tables", Status: 200, MaxStatements: testkit.AtMost(0)},
			})
			anon.Run(t, []testkit.Scenario{
				{Name: "anonymous get by id", Method: "GET", Path: p + "/items/posts/" + id, Status: 200, MaxStatements: testkit.AtMost(1)},
			})
		})
	}
}
