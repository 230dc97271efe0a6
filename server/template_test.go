package main

import (
	"testing"
)

// TestDisplayTemplate: a table's display template is a recorded schema change like a
// description: checked against the table's columns, kept through a column rename,
// rolled back, exported and applied with the snapshot, and shown to non-admins.
func TestDisplayTemplate(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			p := "/api/t/acme"
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "authors", "display_template": "{{name}}",
				"columns": []any{map[string]any{"name": "name", "type": "string"}, map[string]any{"name": "born", "type": "integer"}}})
			if got := n.mustCall(200, "GET", p+"/tables/authors", nil).get("data.display_template"); got != "{{name}}" {
				t.Fatalf("template given with the table: %v", got)
			}
			for _, bad := range []string{"{{nmae}}", "no field", "{{name}} {{"} {
				if st, r := n.call("PATCH", p+"/tables/authors", map[string]any{"display_template": bad}, nil); st != 400 || r.get("errors.0.extensions.field") != "display_template" {
					t.Errorf("template %q: %d %s", bad, st, r)
				}
			}
			n.mustCall(200, "PATCH", p+"/tables/authors", map[string]any{"display_template": "{{name}} ({{born}})"})
			alter := migrationID(t, n, "acme", "alter_table")
			n.mustCall(200, "PATCH", p+"/tables/authors/columns/name", map[string]any{"name": "full_name"})
			if got := n.mustCall(200, "GET", p+"/tables/authors", nil).get("data.display_template"); got != "{{full_name}} ({{born}})" {
				t.Fatalf("template after the column's rename: %v", got)
			}
			if got := n.mustCall(200, "GET", p+"/schema/snapshot", nil).get("data.tables.0.display_template"); got != "{{full_name}} ({{born}})" {
				t.Errorf("snapshot's template: %v", got)
			}
			// Rolling the rename back follows it in the template; rolling the change back
			// restores the template the table was created with.
			rollback(t, n, "acme", migrationID(t, n, "acme", "rename_column"), "")
			rollback(t, n, "acme", alter, "")
			if got := n.mustCall(200, "GET", p+"/tables/authors", nil).get("data.display_template"); got != "{{name}}" {
				t.Fatalf("template after the rollbacks: %v", got)
			}
			// The snapshot carries it: applying one with another template changes it.
			snap := n.mustCall(200, "GET", p+"/schema/snapshot", nil).get("data").(map[string]any)
			snap["tables"].([]any)[0].(map[string]any)["display_template"] = "{{born}}: {{name}}"
			delete(snap["tables"].([]any)[0].(map[string]any), "checksum")
			n.mustCall(200, "POST", p+"/schema/apply", snap)
			if got := n.mustCall(200, "GET", p+"/tables/authors", nil).get("data.display_template"); got != "{{born}}: {{name}}" {
				t.Fatalf("template after applying a snapshot: %v", got)
			}
			if d := liveDrift(t, n.tenantDB("acme")); len(d) > 0 {
				t.Fatalf("drift: %v", d)
			}
		})
	}
}
