package main

import (
	"context"
	"slices"
	"strings"
	"testing"

	"strata/modules/database"
	"strata/schema"
)

func TestApprovalRejectRetry(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			db := n.tenantDB("acme")
			p := "/api/t/acme"
			// Every change held.
			n.mustCall(200, "PATCH", p+"/settings", map[string]any{"require_approval": "all"})
			r := n.mustCall(202, "POST", p+"/tables", map[string]any{"name": "posts", "columns": []any{map[string]any{"name": "title", "type": "string"}}})
			held := r.get("data.migration.id").(string)
			if r.get("data.migration.status") != "pending" || r.get("data.migration.up_sql") == "" {
				t.Fatalf("held change: %s", r)
			}
			if n.mustCall(200, "GET", p+"/tables", nil).fieldNames("data")["posts"] {
				t.Fatal("a held change was applied")
			}
			if rows, _ := n.mustCall(200, "GET", p+"/migrations?status=pending", nil).get("data").([]any); len(rows) != 1 {
				t.Fatalf("pending list: %v", rows)
			}
			if d := liveDrift(t, db); len(d) > 0 {
				t.Fatalf("drift while pending: %v", d)
			}
			if r := n.mustCall(200, "POST", p+"/migrations/"+held+"/approve", nil); r.get("data.status") != "executed" {
				t.Fatalf("approve: %s", r)
			}
			if !n.mustCall(200, "GET", p+"/tables", nil).fieldNames("data")["posts"] {
				t.Fatal("the approved table is missing")
			}
			if st, r := n.call("POST", p+"/migrations/"+held+"/approve", nil, nil); st != 409 {
				t.Errorf("approving an executed migration: %d %s", st, r)
			}
			// Approved out of order: the older one's seq is below the newest executed
			// one, and the schema version must still move so caches see it.
			early := n.mustCall(202, "POST", p+"/tables", map[string]any{"name": "early", "columns": []any{map[string]any{"name": "x", "type": "string"}}}).get("data.migration.id").(string)
			late := n.mustCall(202, "POST", p+"/tables", map[string]any{"name": "late", "columns": []any{map[string]any{"name": "x", "type": "string"}}}).get("data.migration.id").(string)
			n.mustCall(200, "POST", p+"/migrations/"+late+"/approve", nil)
			n.mustCall(200, "GET", p+"/tables", nil)
			n.mustCall(200, "POST", p+"/migrations/"+early+"/approve", nil)
			if tables := n.mustCall(200, "GET", p+"/tables", nil).fieldNames("data"); !tables["early"] || !tables["late"] {
				t.Fatalf("tables after approving out of order: %v", tables)
			}
			// Only destructive changes held.
			n.mustCall(200, "PATCH", p+"/settings", map[string]any{"require_approval": "destructive"})
			n.mustCall(200, "POST", p+"/tables/posts/columns", map[string]any{"name": "views", "type": "integer"})
			_, r = n.call("DELETE", p+"/tables/posts/columns/views", nil, nil)
			st, r := n.call("DELETE", p+"/tables/posts/columns/views", nil, confirmHeaders(t, r))
			if st != 202 {
				t.Fatalf("destructive change not held: %d %s", st, r)
			}
			drop := r.get("data.migration.id").(string)
			if r := n.mustCall(200, "POST", p+"/migrations/"+drop+"/reject", nil); r.get("data.status") != "rejected" {
				t.Fatalf("reject: %s", r)
			}
			if !n.mustCall(200, "GET", p+"/tables/posts", nil).fieldNames("data.columns")["views"] {
				t.Fatal("a rejected drop was applied")
			}
			for _, verb := range []string{"approve", "retry", "reject"} {
				if st, _ := n.call("POST", p+"/migrations/"+drop+"/"+verb, nil, nil); st != 409 {
					t.Errorf("%s a rejected migration: %d", verb, st)
				}
			}
			// Retry: a migration that failed on the data runs once the data is fixed.
			n.mustCall(200, "PATCH", p+"/settings", map[string]any{"require_approval": "none"})
			row := n.mustCall(200, "POST", p+"/items/posts", map[string]any{"title": "x"}).get("data.id").(string)
			st, r = n.call("POST", p+"/tables/posts/columns", map[string]any{"name": "required", "type": "string", "nullable": false}, nil)
			if st != 409 {
				t.Fatalf("expected a failed migration: %d %s", st, r)
			}
			failed := r.get("errors.0.extensions.migration.id").(string)
			n.mustCall(204, "DELETE", p+"/items/posts/"+row, nil)
			if r := n.mustCall(200, "POST", p+"/migrations/"+failed+"/retry", nil); r.get("data.status") != "executed" {
				t.Fatalf("retry: %s", r)
			}
			if st, _ := n.call("POST", p+"/migrations/"+failed+"/retry", nil, nil); st != 409 {
				t.Errorf("retrying an executed migration: %d", st)
			}
			if st, _ := n.call("POST", p+"/migrations/01a00000-0000-7000-8000-000000000000/approve", nil, nil); st != 404 {
				t.Errorf("approving a missing migration: %d", st)
			}
			if d := liveDrift(t, db); len(d) > 0 {
				t.Fatalf("drift: %v", d)
			}
			rows := ledger(t, db)
			for i, m := range rows {
				if m.Seq != int64(i+1) {
					t.Fatalf("seq gap at %d", i+1)
				}
			}
		})
	}
}

func TestDriftAndExport(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			p := "/api/t/acme"
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "authors", "columns": []any{map[string]any{"name": "name", "type": "string", "unique": true}}})
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "posts", "columns": everyType,
				"relations": []any{map[string]any{"name": "author", "type": "many_to_one", "target": "authors"}}})
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "tags", "columns": []any{map[string]any{"name": "label", "type": "string"}}})
			n.mustCall(200, "POST", p+"/relations", map[string]any{"table": "posts", "name": "tags", "type": "many_to_many", "target": "tags"})
			n.mustCall(200, "PATCH", p+"/tables/posts/columns/title", map[string]any{"name": "headline"})
			_, r := n.call("DELETE", p+"/tables/tags", nil, nil)
			n.call("DELETE", p+"/tables/tags", nil, confirmHeaders(t, r))

			if r := n.mustCall(200, "GET", p+"/schema/drift", nil); r.get("data.in_sync") != true {
				t.Fatalf("drift on a clean tenant: %s", r)
			}
			// Export, replayed onto an empty SQLite database, builds the same schema.
			script := string(getRaw(t, n, p+"/migrations/export?format=sql&dialect=sqlite"))
			if !strings.HasPrefix(script, "-- Strata schema export") || !strings.Contains(script, "-- seq 1:") {
				t.Fatalf("export header: %.200s", script)
			}
			target, err := database.Open(context.Background(), "sqlite://"+t.TempDir()+"/export.db", database.Pool{MaxOpen: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer target.Close()
			if _, err := target.Exec("PRAGMA foreign_keys = OFF"); err != nil {
				t.Fatal(err)
			}
			for _, stmt := range strings.Split(script, ";\n") {
				if s := strings.TrimSpace(stmt); s != "" && !isOnlyComments(s) {
					if _, err := target.Exec(s); err != nil {
						t.Fatalf("export statement failed: %v\n%s", err, s)
					}
				}
			}
			db := n.tenantDB("acme")
			m, _ := n.app.Tenants.Model(context.Background(), mustTenant(t, n, "acme"), db)
			live, err := target.Dialect.Inspect(context.Background(), target)
			if err != nil {
				t.Fatal(err)
			}
			// The dropped tags table is in the source's trash; the export drops it for good.
			if !strings.Contains(script, "-- trash: table tags") {
				t.Errorf("the export does not drop the trashed tags table:\n%s", script)
			}
			for _, tr := range slices.Clone(m.Trash) {
				if m, _, err = schema.Apply(m, schema.Change{Type: schema.Purge, TrashID: tr.ID}, func() string { return "" }); err != nil {
					t.Fatal(err)
				}
			}
			if d := schema.CompareLive(schema.ExpectedLive(target.Dialect, m), live); len(d) > 0 {
				t.Fatalf("the exported schema differs from the source model without its trash:\n%s", strings.Join(d, "\n"))
			}
			for name, lt := range live.Tables {
				if strings.HasPrefix(name, schema.TrashPrefix) {
					t.Errorf("the export leaves table %s behind", name)
				}
				for _, c := range lt.Columns {
					if strings.HasPrefix(c.Name, schema.TrashPrefix) {
						t.Errorf("the export leaves column %s.%s behind", name, c.Name)
					}
				}
			}
			// JSON bundle and bad formats.
			bundle := n.mustCall(200, "GET", p+"/migrations/export?format=json", nil)
			if migs, _ := bundle.get("migrations").([]any); len(migs) != len(ledger(t, db)) || bundle.get("migrations.0.change") == nil {
				t.Errorf("bundle: %d migrations", len(migs))
			}
			for _, q := range []string{"format=xml", "format=sql&dialect=oracle"} {
				if st, _ := n.call("GET", p+"/migrations/export?"+q, nil, nil); st != 400 {
					t.Errorf("export %s: %d", q, st)
				}
			}
			// A column added by hand shows up as drift.
			d := db.Dialect
			if _, err := db.Exec("ALTER TABLE " + d.Quote("authors") + " ADD COLUMN " + d.Quote("sneaky") + " " + d.ColumnType(&schema.Column{Type: schema.TypeInteger})); err != nil {
				t.Fatal(err)
			}
			r = n.mustCall(200, "GET", p+"/schema/drift", nil)
			if r.get("data.in_sync") != false || !strings.Contains(r.String(), "sneaky") {
				t.Fatalf("hand-made column not reported: %s", r)
			}
		})
	}
}

func isOnlyComments(s string) bool {
	for _, line := range strings.Split(s, "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "--") {
			return false
		}
	}
	return true
}

// TestSystemUpgradeOnFirstUse: a tenant lacking system tables of the current snapshot
// (as one made by an older Strata does) gets them, as recorded migrations, when a node
// first serves it after a restart.
func TestSystemUpgradeOnFirstUse(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			control, dir := b.newControlURL(t), t.TempDir()
			n := startNode(t, control, map[string]string{"STRATA_DATA_DIR": dir})
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			db := n.tenantDB("acme")
			d := db.Dialect
			q := d.Quote
			for _, table := range []string{"strata_api_keys", "strata_roles"} {
				for _, stmt := range []string{
					"DELETE FROM " + q("column_definition") + " WHERE " + q("table_id") + " IN (SELECT " + q("id") + " FROM " + q("table_definition") + " WHERE " + q("name") + " = '" + table + "')",
					"DELETE FROM " + q("table_definition") + " WHERE " + q("name") + " = '" + table + "'",
					"DROP TABLE " + q(table),
				} {
					if _, err := db.Exec(stmt); err != nil {
						t.Fatalf("%s: %v", stmt, err)
					}
				}
			}
			// An older Strata recorded no system version for its tenants.
			reg, err := database.Open(context.Background(), control, database.Pool{MaxOpen: 1})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := reg.Exec("UPDATE strata_tenants SET system_version = NULL"); err != nil {
				t.Fatal(err)
			}
			reg.Close()
			before := len(ledger(t, db))
			n2 := startNode(t, control, map[string]string{"STRATA_DATA_DIR": dir})
			rows := ledger(t, n2.tenantDB("acme"))
			if len(rows) != before+2 || rows[len(rows)-1].Type != "create_table" || rows[len(rows)-1].Status != "executed" {
				t.Fatalf("upgrade migrations: %d new rows, last %+v", len(rows)-before, rows[len(rows)-1])
			}
			if roles, _ := n2.mustCall(200, "GET", "/api/t/acme/roles", nil).get("data").([]any); len(roles) != 3 {
				t.Fatalf("roles after the upgrade: %v", roles)
			}
			n2.mustCall(200, "GET", "/api/t/acme/api-keys", nil)
			if d := liveDrift(t, n2.tenantDB("acme")); len(d) > 0 {
				t.Fatalf("drift after the upgrade: %v", d)
			}
			// An up-to-date tenant is left alone.
			n3 := startNode(t, control, map[string]string{"STRATA_DATA_DIR": dir})
			if got := len(ledger(t, n3.tenantDB("acme"))); got != len(rows) {
				t.Fatalf("a second boot added %d migrations", got-len(rows))
			}
		})
	}
}

func TestSnapshotApply(t *testing.T) {
	requireBackends(t)
	t.Parallel() // alone on its databases; mostly waiting for them
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			for _, slug := range []string{"acme", "copy"} {
				n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": slug})
			}
			p := "/api/t/acme"
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "authors", "columns": []any{map[string]any{"name": "name", "type": "string", "unique": true}}})
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "posts", "columns": everyType,
				"relations": []any{map[string]any{"name": "author", "type": "many_to_one", "target": "authors", "inverse": "posts"}}})
			n.mustCall(200, "POST", p+"/tables/posts/indexes", map[string]any{"columns": []string{"title", "views"}})
			snap := n.mustCall(200, "GET", p+"/schema/snapshot", nil).get("data")

			// Applying it to an empty tenant builds the same user schema.
			dry := n.mustCall(200, "POST", "/api/t/copy/schema/apply?dry_run=true", snap)
			// The index travels with its table; the file field is a relation to the files,
			// added as the author one is.
			if steps, _ := dry.get("data.changes").([]any); len(steps) != 4 {
				t.Fatalf("dry run: %s", dry)
			}
			before := len(ledger(t, n.tenantDB("copy")))
			n.mustCall(200, "POST", "/api/t/copy/schema/apply", snap)
			if got := len(ledger(t, n.tenantDB("copy"))) - before; got != 4 {
				t.Fatalf("%d migrations applied, want 4", got)
			}
			if again := n.mustCall(200, "POST", "/api/t/copy/schema/apply?dry_run=true", snap); len(again.get("data.changes").([]any)) != 0 {
				t.Fatalf("a second apply would change: %s", again)
			}
			if d := liveDrift(t, n.tenantDB("copy")); len(d) > 0 {
				t.Fatal(d)
			}
			got := n.mustCall(200, "GET", "/api/t/copy/schema/snapshot", nil).get("data")
			if mustJSONString(got) != mustJSONString(snap) {
				t.Fatalf("snapshots differ:\nsource %s\ncopy   %s", mustJSONString(snap), mustJSONString(got))
			}

			// Removing a column through a snapshot is destructive: one confirmation.
			s := snap.(map[string]any)
			for _, tb := range s["tables"].([]any) {
				tm := tb.(map[string]any)
				if tm["name"] == "posts" {
					var kept []any
					for _, c := range tm["columns"].([]any) {
						if c.(map[string]any)["name"] != "phone" {
							kept = append(kept, c)
						}
					}
					tm["columns"] = append(kept, map[string]any{"name": "subtitle", "type": "string"})
				}
			}
			st, r := n.call("POST", "/api/t/copy/schema/apply", s, nil)
			if st != 422 {
				t.Fatalf("destructive apply without confirmation: %d %s", st, r)
			}
			n.mustCall(200, "GET", "/api/t/copy/tables/posts", nil)
			if st, r := n.call("POST", "/api/t/copy/schema/apply", s, confirmHeaders(t, r)); st != 200 {
				t.Fatalf("confirmed apply: %d %s", st, r)
			}
			cols := n.mustCall(200, "GET", "/api/t/copy/tables/posts", nil).fieldNames("data.columns")
			if cols["phone"] || !cols["subtitle"] {
				t.Fatalf("columns after apply: %v", cols)
			}
			if st, _ := n.call("POST", "/api/t/copy/schema/apply", "{nope", nil); st != 400 {
				t.Errorf("bad snapshot: %d", st)
			}
			if st, _ := n.call("POST", "/api/t/copy/schema/apply", map[string]any{"tables": []any{map[string]any{"name": "x", "columns": []any{map[string]any{"name": "a", "type": "money"}}}}}, nil); st != 400 {
				t.Errorf("snapshot with an unknown type: %d", st)
			}
		})
	}
}
