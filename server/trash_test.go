package main

import (
	"context"
	"strings"
	"testing"
)

// TestTrashAndPurge: drops are soft (data kept under a trash name and listed in
// /trash); a purge, explicit or by retention, drops for good through the one path.
func TestTrashAndPurge(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			n.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "posts", "columns": []any{
				map[string]any{"name": "title", "type": "string", "nullable": false}, map[string]any{"name": "note", "type": "text"}}})
			n.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "drafts", "columns": []any{map[string]any{"name": "x", "type": "integer"}}})
			n.mustCall(200, "POST", "/api/t/acme/items/posts", map[string]any{"title": "t", "note": "kept in the trash"})
			db := n.tenantDB("acme")
			confirmed := func(method, path string) reply {
				_, r := n.call(method, path, nil, nil)
				st, r := n.call(method, path, nil, confirmHeaders(t, r))
				if st != 200 {
					t.Fatalf("%s %s: %d %s", method, path, st, r)
				}
				return r
			}
			confirmed("DELETE", "/api/t/acme/tables/posts/columns/title") // was NOT NULL: inserts must still work
			confirmed("DELETE", "/api/t/acme/tables/posts/columns/note")
			confirmed("DELETE", "/api/t/acme/tables/drafts")
			n.mustCall(200, "POST", "/api/t/acme/items/posts", map[string]any{})
			trash, _ := n.mustCall(200, "GET", "/api/t/acme/trash", nil).get("data").([]any)
			if len(trash) != 3 {
				t.Fatalf("trash lists %d items, want 3: %v", len(trash), trash)
			}
			var noteID string
			for _, x := range trash {
				item := x.(map[string]any)
				if item["trashed_at"] == "" || !strings.HasPrefix(item["trash_name"].(string), "strata_del_") {
					t.Errorf("trash item %v lacks trashed_at or a trash name", item)
				}
				if item["column"] == "note" {
					noteID = item["id"].(string)
					// The data is still there under the trash name.
					var note string
					d := db.Dialect
					if err := db.QueryRow("SELECT " + d.Quote(item["trash_name"].(string)) + " FROM " + d.Quote("posts") + " WHERE " + d.Quote(item["trash_name"].(string)) + " IS NOT NULL").Scan(&note); err != nil || note != "kept in the trash" {
						t.Errorf("trashed column data: %q, %v", note, err)
					}
				}
			}
			r := confirmed("DELETE", "/api/t/acme/trash/"+noteID)
			if r.get("data.migration.type") != "drop_column" {
				t.Errorf("purge recorded as %v", r.get("data.migration.type"))
			}
			if d := liveDrift(t, db); len(d) > 0 {
				t.Fatalf("after explicit purge: %s", strings.Join(d, "\n"))
			}
			n.app.Tenants.PurgeExpired(context.Background(), 0)
			if trash, _ := n.mustCall(200, "GET", "/api/t/acme/trash", nil).get("data").([]any); len(trash) != 0 {
				t.Fatalf("retention purge left %d items", len(trash))
			}
			if d := liveDrift(t, db); len(d) > 0 {
				t.Fatalf("after retention purge: %s", strings.Join(d, "\n"))
			}
			for _, m := range ledger(t, db) {
				if m.Status != "executed" {
					t.Errorf("migration %d %s is %s: %s", m.Seq, m.Type, m.Status, m.Error.String)
				}
			}
		})
	}
}
