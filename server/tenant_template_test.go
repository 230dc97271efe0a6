package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeTemplate writes a template folder's files (name → content; "" removes one).
func writeTemplate(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		path := filepath.Join(dir, name)
		if body == "" {
			_ = os.Remove(path)
			continue
		}
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTenantTemplate: Enfyra's boot flow with a template folder. A new tenant gets the
// snapshot and the default data; at every boot each existing tenant gets what the
// snapshot adds, the snapshot-migration and the data migration, each file once; a
// restart changes nothing; a destructive step runs without a challenge, planned first
// with `strata template plan`; everything is recorded as made by "template".
func TestTenantTemplate(t *testing.T) {
	requireBackends(t)
	t.Parallel() // alone on its databases; mostly waiting for them
	v1 := map[string]string{
		"snapshot.json": `{
		  "users": {"name": "users", "columns": [{"name": "id", "type": "int", "isPrimary": true, "isGenerated": true},
		    {"name": "email", "type": "varchar", "isNullable": false}, {"name": "status", "type": "varchar"}], "relations": []},
		  "orders": {"name": "orders", "columns": [{"name": "total", "type": "int"}],
		    "relations": [{"propertyName": "buyer", "type": "many-to-one", "targetTable": "users"}]}
		}`,
		"default-data.json":   `{"users": [{"email": "owner@example.com", "status": "active"}]}`,
		"data-migration.json": `{"users": [{"_unique": {"email": {"_eq": "ops@example.com"}}, "email": "ops@example.com", "status": "staff"}]}`,
	}
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			control := b.newControlURL(t)
			dataDir, tplDir := t.TempDir(), t.TempDir()
			plain := map[string]string{"STRATA_DATA_DIR": dataDir}
			withTemplate := map[string]string{"STRATA_DATA_DIR": dataDir, "STRATA_TEMPLATE_DIR": tplDir}

			// A tenant from before the template.
			n := startNode(t, control, plain)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "old"})
			n.mustCall(200, "POST", "/api/t/old/tables", map[string]any{"name": "notes", "columns": []any{map[string]any{"name": "body", "type": "text"}}})

			// The next boot brings it up to date; a tenant made then gets the snapshot and
			// the default data (not the data migration, written for older tenants).
			writeTemplate(t, tplDir, v1)
			n = startNode(t, control, withTemplate)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "fresh"})
			emails := func(slug string) string {
				rows := rowsOf(n, slug, "users", "email")
				var out []string
				for e := range rows {
					out = append(out, e)
				}
				slices.Sort(out)
				return strings.Join(out, ",")
			}
			if got := emails("fresh"); got != "owner@example.com" {
				t.Errorf("a new tenant's users: %s", got)
			}
			if got := emails("old"); got != "ops@example.com" {
				t.Errorf("an existing tenant's users: %s", got)
			}
			for _, slug := range []string{"old", "fresh"} {
				tables := n.mustCall(200, "GET", "/api/t/"+slug+"/tables", nil).fieldNames("data")
				if !tables["users"] || !tables["orders"] {
					t.Fatalf("%s's tables: %v", slug, tables)
				}
				var byTemplate int
				for _, m := range n.mustCall(200, "GET", "/api/t/"+slug+"/migrations?limit=1000", nil).get("data").([]any) {
					if m := m.(map[string]any); m["created_by"] == "template" {
						byTemplate++
					}
				}
				if byTemplate != 3 { // two tables and the relation
					t.Errorf("%s: %d migrations made by the template, want 3", slug, byTemplate)
				}
			}
			if !n.mustCall(200, "GET", "/api/t/old/tables", nil).fieldNames("data")["notes"] {
				t.Error("the template removed a table it does not list")
			}
			ledgerOld, ledgerFresh := len(ledger(t, n.tenantDB("old"))), len(ledger(t, n.tenantDB("fresh")))

			// A restart changes nothing.
			n = startNode(t, control, withTemplate)
			if len(ledger(t, n.tenantDB("old"))) != ledgerOld || len(ledger(t, n.tenantDB("fresh"))) != ledgerFresh {
				t.Fatal("a restart recorded migrations")
			}
			if got := emails("old"); got != "ops@example.com" {
				t.Errorf("after a restart: %s", got)
			}
			env := map[string]string{"STRATA_DATABASE_URL": control, "STRATA_DATA_DIR": dataDir, "STRATA_TEMPLATE_DIR": tplDir}
			if code, out, errOut := runCommand(env, "template", "plan"); code != 0 {
				t.Fatalf("plan of an applied template: exit %d\n%s%s", code, out, errOut)
			}

			// v2: a rename and a removal (destructive) in snapshot-migration.json, the
			// snapshot saying the new name, a new column, and a new data migration.
			v2 := map[string]string{
				"snapshot.json": strings.Replace(strings.Replace(v1["snapshot.json"], `"email"`, `"userEmail"`, 1),
					`{"name": "status", "type": "varchar"}`, `{"name": "plan", "type": "varchar"}`, 1),
				"snapshot-migration.json": `{"tables": [{"_unique": {"name": {"_eq": "users"}},
				  "columnsToModify": [{"from": {"name": "email"}, "to": {"name": "userEmail"}}], "columnsToRemove": ["status"]}]}`,
				"data-migration.json": `{"users": [{"_unique": {"userEmail": {"_eq": "ops@example.com"}}, "plan": "pro"}]}`,
			}
			writeTemplate(t, tplDir, v2)
			code, out, errOut := runCommand(env, "template", "plan", "--tenant", "old", "--json")
			if code != 3 {
				t.Fatalf("plan of v2: exit %d\n%s%s", code, out, errOut)
			}
			var plan struct {
				Data []struct {
					Steps []struct {
						Name        string `json:"name"`
						Destructive bool   `json:"destructive"`
						SQL         string `json:"up_sql"`
					} `json:"steps"`
				} `json:"data"`
			}
			if err := json.Unmarshal([]byte(out), &plan); err != nil || len(plan.Data) != 1 {
				t.Fatalf("plan --json: %v\n%s", err, out)
			}
			var names []string
			destructive := 0
			for _, st := range plan.Data[0].Steps {
				names = append(names, st.Name)
				if st.Destructive {
					destructive++
				}
			}
			if got := strings.Join(names, "; "); got != "rename column users.email to userEmail; drop column users.status; add column users.plan" || destructive != 1 {
				t.Fatalf("the plan: %s (%d destructive)", got, destructive)
			}
			if len(ledger(t, n.tenantDB("old"))) != ledgerOld {
				t.Fatal("a plan changed a tenant")
			}
			n = startNode(t, control, withTemplate)
			for _, slug := range []string{"old", "fresh"} {
				cols := n.mustCall(200, "GET", "/api/t/"+slug+"/tables/users", nil).fieldNames("data.columns")
				if !cols["userEmail"] || cols["email"] || cols["status"] || !cols["plan"] {
					t.Errorf("%s's users after v2: %v", slug, cols)
				}
			}
			if rows := rowsOf(n, "old", "users", "userEmail"); rows["ops@example.com"]["plan"] != "pro" {
				t.Errorf("old's users after v2's data migration: %v", rows)
			}
			// The tenant made from v1 gets v2's changes too: its rows stay, and v2's data
			// migration (new to it) upserts its row.
			if rows := rowsOf(n, "fresh", "users", "userEmail"); rows["owner@example.com"] == nil || rows["ops@example.com"]["plan"] != "pro" {
				t.Errorf("fresh's users after v2: %v", rows)
			}
			for _, slug := range []string{"old", "fresh"} {
				if d := liveDrift(t, n.tenantDB(slug)); len(d) > 0 {
					t.Fatalf("%s: %v", slug, d)
				}
			}
			if code, out, errOut := runCommand(env, "template", "plan"); code != 0 {
				t.Fatalf("plan after v2 applied: exit %d\n%s%s", code, out, errOut)
			}

			// A template that cannot be read stops the node.
			writeTemplate(t, tplDir, map[string]string{"snapshot-migration.json": `{"tables": [{"nope": 1}]}`})
			cfg, err := LoadConfig(func(k string) string {
				return map[string]string{"STRATA_DATABASE_URL": control, "STRATA_DATA_DIR": dataDir, "STRATA_TEMPLATE_DIR": tplDir,
					"STRATA_JWT_SECRET": "test-secret-test-secret-test-secret!!", "STRATA_ADMIN_PASSWORD": testPassword}[k]
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := NewApp(t.Context(), cfg, n.app.log); err == nil || !strings.Contains(err.Error(), "snapshot-migration.json") {
				t.Fatalf("a broken template: %v", err)
			}
		})
	}
}
