package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestSourceFieldTypes: a table written with the custom-migrations design's upper-case
// field types gets the columns its documented SQL describes on every database; url
// columns hold 2048 characters (255 where they were made with that length, until
// widened); and a snapshot of the result applies to the same tenant with no change.
func TestSourceFieldTypes(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			p := "/api/t/acme"
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "accounts", "columns": []any{map[string]any{"name": "title", "type": "TEXT"}}})
			cols := []any{}
			for _, c := range []string{
				`{"name": "name", "type": "STRING", "nullable": false}`, `{"name": "notes", "type": "LONG_TEXT"}`,
				`{"name": "amount", "type": "NUMBER"}`, `{"name": "seats", "type": "INTEGER"}`, `{"name": "active", "type": "BOOLEAN"}`,
				`{"name": "born", "type": "DATE"}`, `{"name": "seen_at", "type": "DATE_TIME"}`, `{"name": "mail", "type": "EMAIL"}`,
				`{"name": "site", "type": "URL"}`, `{"name": "phone", "type": "PHONE"}`, `{"name": "price", "type": "CURRENCY"}`,
				`{"name": "share", "type": "PERCENT"}`, `{"name": "stage", "type": "PICKLIST", "values": ["lead", "won"]}`,
				`{"name": "topics", "type": "MULTI_PICKLIST", "values": ["a", "b"]}`, `{"name": "homepage", "type": "url"}`,
				`{"name": "old_site", "type": "url", "length": 255}`,
			} {
				cols = append(cols, json.RawMessage(c))
			}
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "contacts", "columns": cols})
			n.mustCall(200, "POST", p+"/tables/contacts/columns", map[string]any{"name": "account", "type": "BELONGS_TO", "target": "accounts"})

			table := n.mustCall(200, "GET", p+"/tables/contacts", nil)
			got := map[string]string{}
			for _, c := range table.get("data.columns").([]any) {
				c := c.(map[string]any)
				got[c["name"].(string)] = fmt.Sprint(c["type"], " ", c["length"], " ", c["precision"], " ", c["scale"])
			}
			for name, want := range map[string]string{
				"name": "string 255 <nil> <nil>", "notes": "text <nil> <nil> <nil>", "amount": "decimal <nil> 18 2",
				"seats": "integer <nil> <nil> <nil>", "active": "boolean <nil> <nil> <nil>", "born": "date <nil> <nil> <nil>",
				"seen_at": "datetime <nil> <nil> <nil>", "mail": "email <nil> <nil> <nil>", "site": "url 2048 <nil> <nil>",
				"phone": "phone 20 <nil> <nil>", "price": "decimal <nil> 18 2", "share": "decimal <nil> 5 2",
				"stage": "enum <nil> <nil> <nil>", "topics": "multi_enum <nil> <nil> <nil>", "homepage": "url 2048 <nil> <nil>",
				"old_site": "url <nil> <nil> <nil>", "account": "uuid <nil> <nil> <nil>",
			} {
				if got[name] != want {
					t.Errorf("column %s: %q, want %q", name, got[name], want)
				}
			}
			if table.get("data.relations.0.name") != "account" || table.get("data.relations.0.target") != "accounts" {
				t.Errorf("BELONGS_TO is a relation: %v", table.get("data.relations"))
			}
			// BOOLEAN defaults to false, as documented.
			acct := n.mustCall(200, "POST", p+"/items/accounts", map[string]any{"title": "Acme"}).get("data.id")
			row := n.mustCall(200, "POST", p+"/items/contacts", map[string]any{"name": "Ann", "account": acct, "share": "12.5"})
			if row.get("data.active") != false || row.get("data.account") != acct {
				t.Errorf("a new contact: %s", row)
			}
			long := func(n int) string { return "https://example.com/" + strings.Repeat("a", n-len("https://example.com/")) }
			n.mustCall(200, "POST", p+"/items/contacts", map[string]any{"name": "Bob", "site": long(2048), "homepage": long(1500)})
			for _, c := range []struct {
				field string
				value string
				want  string
			}{
				{"site", long(2049), "longer than 2048 characters"},
				{"old_site", long(256), "longer than 255 characters"},
				{"phone", "+1 555 0100 0100 0100 0", "longer than 20 characters"},
				{"site", "ftp://example.com/x", "must be an http(s) URL"},
			} {
				st, r := n.call("POST", p+"/items/contacts", map[string]any{"name": "x", c.field: c.value}, nil)
				if st != 400 || !strings.Contains(r.String(), c.want) {
					t.Errorf("%s = %.30s…: %d %s, want 400 %q", c.field, c.value, st, r, c.want)
				}
			}
			// A 255-character url column widens without a confirmation and then holds more.
			n.mustCall(200, "PATCH", p+"/tables/contacts/columns/old_site", map[string]any{"length": 2048})
			n.mustCall(200, "POST", p+"/items/contacts", map[string]any{"name": "Cy", "old_site": long(1000)})

			if r := n.mustCall(200, "GET", p+"/schema/drift", nil); r.get("data.in_sync") != true {
				t.Fatalf("drift: %s", r)
			}
			snap := n.mustCall(200, "GET", p+"/schema/snapshot", nil).get("data")
			if again := n.mustCall(200, "POST", p+"/schema/apply?dry_run=true", snap); len(again.get("data.changes").([]any)) != 0 {
				t.Fatalf("the tenant's own snapshot would change it: %s", again)
			}
		})
	}
}

// TestEnfyraSnapshotFiles: Enfyra's documented snapshot.json applies as written; a
// tenant's schema exported as Enfyra's file applies to the same tenant with no change
// and makes the same schema in an empty one; and, as in Enfyra, the file only adds.
func TestEnfyraSnapshotFiles(t *testing.T) {
	requireBackends(t)
	t.Parallel() // alone on its databases; mostly waiting for them
	golden, err := os.ReadFile("../modules/formats/testdata/sources/enfyra-snapshot.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "copy"})
			p := "/api/t/acme"
			db := n.tenantDB("acme")

			// The README's example, unchanged.
			if st, r := n.send(p+"/schema/apply", "application/json", string(golden), nil); st != 200 || r.get("data.format") != "enfyra" {
				t.Fatalf("Enfyra's example: %d %s", st, r)
			}
			table := n.mustCall(200, "GET", p+"/tables/my_table", nil)
			if table.get("data.description") != "My custom table" || table.get("data.columns.4.name") != "name" ||
				table.get("data.columns.4.type") != "string" || table.get("data.columns.4.nullable") != false {
				t.Fatalf("my_table: %s", table)
			}

			// A schema with what Strata has: every kind of relation, a file, indexes.
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "authors", "display_template": "{{name}}", "columns": []any{
				map[string]any{"name": "name", "type": "string", "length": 80, "nullable": false},
				map[string]any{"name": "avatar", "type": "file"},
				map[string]any{"name": "site", "type": "url"},
			}})
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "posts", "description": "Articles", "columns": []any{
				map[string]any{"name": "title", "type": "string", "unique": true},
				map[string]any{"name": "price", "type": "decimal", "precision": 10, "scale": 2, "default": 1.5},
				map[string]any{"name": "stage", "type": "enum", "values": []string{"draft", "live"}, "index": true},
				map[string]any{"name": "topics", "type": "multi_enum", "values": []string{"a", "b"}},
				map[string]any{"name": "live", "type": "boolean", "default": false},
				map[string]any{"name": "meta", "type": "json", "description": "anything"},
				map[string]any{"name": "at", "type": "time"},
			}})
			n.mustCall(200, "POST", p+"/relations", map[string]any{"table": "posts", "name": "author", "type": "many_to_one", "target": "authors", "inverse": "posts", "on_delete": "cascade"})
			n.mustCall(200, "POST", p+"/relations", map[string]any{"table": "posts", "name": "readers", "type": "many_to_many", "target": "authors"})
			n.mustCall(200, "POST", p+"/relations", map[string]any{"table": "authors", "name": "best", "type": "one_to_one", "target": "posts"})
			n.mustCall(200, "POST", p+"/tables/posts/indexes", map[string]any{"columns": []string{"stage", "price"}})
			n.mustCall(200, "POST", p+"/tables/posts/indexes", map[string]any{"columns": []string{"author", "stage"}}) // over a relation's key

			resp, file := n.raw("GET", p+"/schema/snapshot?format=enfyra", nil)
			if resp.StatusCode != 200 || !strings.Contains(string(file), `"targetTable": "authors"`) || !strings.Contains(string(file), `"isPrimary": true`) {
				t.Fatalf("the Enfyra export: %d %s", resp.StatusCode, file)
			}
			before := len(ledger(t, db))
			if st, r := n.send(p+"/schema/apply?dry_run=true", "application/json", string(file), nil); st != 200 || len(r.get("data.changes").([]any)) != 0 || len(r.get("data.skipped").([]any)) != 0 {
				t.Fatalf("the tenant's own Enfyra file would change it: %d %s", st, r)
			}
			n.mustCall(200, "POST", p+"/schema/apply?format=enfyra", string(file))
			if len(ledger(t, db)) != before {
				t.Fatal("applying the tenant's own file recorded migrations")
			}
			// In an empty tenant, the file makes the same schema.
			n.mustCall(200, "POST", "/api/t/copy/schema/apply", string(file))
			// (Relations are listed in the order they were made, which differs.)
			schemaOf := func(slug string) string {
				r := n.mustCall(200, "GET", "/api/t/"+slug+"/schema/snapshot", nil)
				var rels []string
				for _, x := range r.get("data.relations").([]any) {
					rels = append(rels, fmt.Sprint(x))
				}
				slices.Sort(rels)
				return fmt.Sprint(r.get("data.tables"), rels)
			}
			if got, want := schemaOf("copy"), schemaOf("acme"); got != want {
				t.Fatalf("the copy's schema:\n%v\nwant\n%v", got, want)
			}
			// Strata's own snapshot makes it too (the index over a key after the relation).
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "copy2"})
			n.mustCall(200, "POST", "/api/t/copy2/schema/apply", n.mustCall(200, "GET", p+"/schema/snapshot", nil).get("data"))
			if got, want := schemaOf("copy2"), schemaOf("acme"); got != want {
				t.Fatalf("copy2's schema:\n%v\nwant\n%v", got, want)
			}
			if d := liveDrift(t, n.tenantDB("copy")); len(d) > 0 {
				t.Fatal(d)
			}

			// The file only adds: a new column is added; a changed type, a missing table
			// and a missing column are left as they are, and said so.
			var doc map[string]map[string]any
			if err := json.Unmarshal(file, &doc); err != nil {
				t.Fatal(err)
			}
			delete(doc, "my_table")
			posts := doc["posts"]
			cols := posts["columns"].([]any)
			for _, c := range cols {
				if c := c.(map[string]any); c["name"] == "price" {
					c["type"], c["precision"], c["scale"] = "int", nil, nil
					delete(c, "defaultValue")
				}
			}
			posts["columns"] = append(cols[:len(cols)-1], map[string]any{"name": "subtitle", "type": "varchar"})
			st, r := n.call("POST", p+"/schema/apply", doc, nil)
			if st != 200 || len(r.get("data.migrations").([]any)) != 1 || len(r.get("data.skipped").([]any)) != 3 {
				t.Fatalf("an additive apply: %d %s", st, r)
			}
			if cols := n.mustCall(200, "GET", p+"/tables/posts", nil).fieldNames("data.columns"); !cols["subtitle"] || !cols["at"] || !cols["price"] {
				t.Fatalf("posts after an additive apply: %v", cols)
			}
			n.mustCall(200, "GET", p+"/tables/my_table", nil)
			// A refusal names the entry in the file.
			bad := `{"posts": {"name": "posts", "columns": [{"name": "x", "type": "varchar", "isUnique": true, "defaultValue": 5}]}}`
			if st, r := n.call("POST", p+"/schema/apply", bad, nil); st != 400 || !strings.Contains(r.String(), "posts.columns[0]") {
				t.Errorf("a bad column: %d %s", st, r)
			}
		})
	}
}

// golden reads one of the source documents' examples, kept as they are written.
func golden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../modules/formats/testdata/sources/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEnfyraSnapshotMigrationExamples: the six usage examples of Enfyra's
// snapshot-migration.json, and its full example, apply as written (camelCase names
// and relationsToModify included) to a schema made from an Enfyra snapshot.json, keep
// the data they promise to keep, and change nothing when applied again, as Enfyra
// applies them at every boot.
func TestEnfyraSnapshotMigrationExamples(t *testing.T) {
	requireBackends(t)
	t.Parallel() // alone on its databases; mostly waiting for them
	fixture := `{
	  "users": {"name": "users", "columns": [{"name": "id", "type": "int", "isPrimary": true, "isGenerated": true},
	    {"name": "email", "type": "varchar"}, {"name": "status", "type": "varchar", "isNullable": true},
	    {"name": "old_legacy_field", "type": "text"}, {"name": "deprecated_field", "type": "int"}], "relations": []},
	  "orders": {"name": "orders", "columns": [{"name": "total", "type": "int"}], "relations": [
	    {"propertyName": "approvedBy", "type": "many-to-one", "targetTable": "users", "inversePropertyName": "approvedOrders"},
	    {"propertyName": "legacyRelation", "type": "many-to-one", "targetTable": "users"}]},
	  "deprecated_table": {"name": "deprecated_table", "columns": [{"name": "x", "type": "int"}], "relations": []},
	  "legacy_data": {"name": "legacy_data", "columns": [{"name": "x", "type": "int"}], "relations": []}
	}`
	full := `{
	  "users": {"name": "users", "columns": [{"name": "email", "type": "varchar"}, {"name": "deprecated_field", "type": "int"}], "relations": [
	    {"propertyName": "oldRelation", "type": "many-to-one", "targetTable": "groups"},
	    {"propertyName": "deprecated_relation", "type": "many-to-many", "targetTable": "groups"}]},
	  "groups": {"name": "groups", "columns": [], "relations": []},
	  "old_table_name": {"name": "old_table_name", "columns": [], "relations": []}
	}`
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			p := "/api/t/acme"
			apply := p + "/schema/apply?format=snapshot-migration"
			n.mustCall(200, "POST", p+"/schema/apply", fixture)
			ann := n.mustCall(200, "POST", p+"/items/users", map[string]any{"email": "ann@example.com", "status": "active"}).get("data.id")
			order := n.mustCall(200, "POST", p+"/items/orders", map[string]any{"total": 5, "approvedBy": ann, "legacyRelation": ann}).get("data.id").(string)

			for i := 1; i <= 6; i++ {
				postConfirmed(t, n, apply, golden(t, fmt.Sprintf("enfyra-snapshot-migration-%d.json", i)))
			}
			users := n.mustCall(200, "GET", p+"/tables/users", nil)
			cols := users.fieldNames("data.columns")
			if !cols["userEmail"] || cols["email"] || cols["old_legacy_field"] || !cols["status"] {
				t.Fatalf("users after the examples: %v", cols)
			}
			for _, c := range users.get("data.columns").([]any) {
				if c := c.(map[string]any); c["name"] == "status" && c["nullable"] != false {
					t.Errorf("status after example 2: %v", c)
				}
			}
			row := n.mustCall(200, "GET", p+"/items/orders/"+order, nil)
			if row.get("data.approver") != ann || row.get("data.approvedBy") != nil || row.get("data.legacyRelation") != nil {
				t.Errorf("the order after examples 4 and 5: %s", row)
			}
			if got := n.mustCall(200, "GET", p+"/items/users/"+ann.(string)+"?fields=userEmail,approvedOrders", nil); got.get("data.userEmail") != "ann@example.com" || fmt.Sprint(got.get("data.approvedOrders")) != "["+order+"]" {
				t.Errorf("Ann after the renames: %s", got)
			}
			tables := n.mustCall(200, "GET", p+"/tables", nil).fieldNames("data")
			if tables["deprecated_table"] || tables["legacy_data"] {
				t.Errorf("tables after example 6: %v", tables)
			}
			// Applied again, as at every boot: each entry is found done.
			db := n.tenantDB("acme")
			before := len(ledger(t, db))
			for i := 1; i <= 6; i++ {
				r := n.mustCall(200, "POST", apply, golden(t, fmt.Sprintf("enfyra-snapshot-migration-%d.json", i)))
				if len(r.get("data.skipped").([]any)) == 0 {
					t.Errorf("example %d again: %s", i, r)
				}
			}
			if len(ledger(t, db)) != before {
				t.Error("applying the examples again recorded migrations")
			}
			if d := liveDrift(t, db); len(d) > 0 {
				t.Fatal(d)
			}
			// Exported in both shapes and applied again: nothing to change.
			for _, format := range []string{"snapshot", "enfyra"} {
				_, file := n.raw("GET", p+"/schema/snapshot?format="+format, nil)
				body := string(file)
				if format == "snapshot" {
					var env struct{ Data json.RawMessage }
					_ = json.Unmarshal(file, &env)
					body = string(env.Data)
				}
				if r := n.mustCall(200, "POST", p+"/schema/apply?dry_run=true", body); len(r.get("data.changes").([]any)) != 0 {
					t.Errorf("the %s export applied again: %s", format, r)
				}
			}

			// The other end's field is renamed by inversePropertyName; what would make
			// another relation (its onDelete, its target) is refused by name.
			rel := func(from, to map[string]any) string {
				b, _ := json.Marshal(map[string]any{"tables": []any{map[string]any{"_unique": map[string]any{"name": map[string]any{"_eq": "orders"}},
					"relationsToModify": []any{map[string]any{"from": from, "to": to}}}}})
				return string(b)
			}
			n.mustCall(200, "POST", apply, rel(map[string]any{"propertyName": "approver", "type": "many-to-one", "targetTable": "users", "inversePropertyName": "approvedOrders"},
				map[string]any{"inversePropertyName": "ordersApproved"}))
			if got := n.mustCall(200, "GET", p+"/items/users/"+ann.(string)+"?fields=ordersApproved", nil); fmt.Sprint(got.get("data.ordersApproved")) != "["+order+"]" {
				t.Errorf("Ann's renamed inverse: %s", got)
			}
			for _, c := range []struct {
				from, to map[string]any
				field    string
			}{
				{map[string]any{"propertyName": "approver"}, map[string]any{"onDelete": "CASCADE"}, "tables[0].relationsToModify[0].to.onDelete"},
				{map[string]any{"propertyName": "approver", "targetTable": "orders"}, map[string]any{"propertyName": "x"}, "tables[0].relationsToModify[0].from.targetTable"},
				{map[string]any{"propertyName": "approver"}, map[string]any{"propertyName": "total"}, "tables[0].relationsToModify[0]"},
				{map[string]any{"propertyName": "approver"}, map[string]any{"propertyName": "Total"}, "tables[0].relationsToModify[0]"},
			} {
				if st, r := n.call("POST", apply, rel(c.from, c.to), nil); st != 400 || r.get("errors.0.extensions.field") != c.field {
					t.Errorf("%v → %v: %d %s, want 400 at %s", c.from, c.to, st, r, c.field)
				}
			}

			// The README's full example, on a schema that has what it names.
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "beta"})
			n.mustCall(200, "POST", "/api/t/beta/schema/apply", full)
			postConfirmed(t, n, "/api/t/beta/schema/apply?format=snapshot-migration", golden(t, "enfyra-snapshot-migration-full.json"))
			users = n.mustCall(200, "GET", "/api/t/beta/tables/users", nil)
			if f := users.fieldNames("data.columns"); !f["userEmail"] || f["deprecated_field"] || !f["newRelation"] || f["oldRelation"] {
				t.Errorf("beta's users after the full example: %v", f)
			}
			if r := users.get("data.relations"); !strings.Contains(fmt.Sprint(r), "newRelation") || strings.Contains(fmt.Sprint(r), "deprecated_relation") {
				t.Errorf("beta's relations: %v", r)
			}
		})
	}
}

// TestTableLabels: a table has an optional label beside its identifier, set when it is
// made or later (a recorded alter_table that rolls back), kept by both snapshot shapes.
func TestTableLabels(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			p := "/api/t/acme"
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "Account", "label": "Customer accounts", "columns": []any{map[string]any{"name": "title", "type": "TEXT"}}})
			if r := n.mustCall(200, "GET", p+"/tables/Account", nil); r.get("data.label") != "Customer accounts" {
				t.Fatalf("the label: %s", r)
			}
			set := n.mustCall(200, "PATCH", p+"/tables/Account", map[string]any{"label": "Clients — ünïcødé"})
			if set.get("data.label") != "Clients — ünïcødé" && n.mustCall(200, "GET", p+"/tables/Account", nil).get("data.label") != "Clients — ünïcødé" {
				t.Fatalf("a new label: %s", set)
			}
			for _, bad := range []string{strings.Repeat("x", 256), "two\nlines"} {
				if st, r := n.call("PATCH", p+"/tables/Account", map[string]any{"label": bad}, nil); st != 400 || r.get("errors.0.extensions.field") != "label" {
					t.Errorf("label %.20q: %d %s", bad, st, r)
				}
			}
			// Both snapshot shapes carry it, and applying them changes nothing.
			snap := n.mustCall(200, "GET", p+"/schema/snapshot", nil).get("data")
			if again := n.mustCall(200, "POST", p+"/schema/apply?dry_run=true", snap); len(again.get("data.changes").([]any)) != 0 {
				t.Fatalf("the snapshot would change the tenant: %s", again)
			}
			_, file := n.raw("GET", p+"/schema/snapshot?format=enfyra", nil)
			if !strings.Contains(string(file), `"label": "Clients — ünïcødé"`) {
				t.Fatalf("the Enfyra file: %s", file)
			}
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "copy"})
			n.mustCall(200, "POST", "/api/t/copy/schema/apply", string(file))
			if r := n.mustCall(200, "GET", "/api/t/copy/tables/Account", nil); r.get("data.label") != "Clients — ünïcødé" {
				t.Fatalf("the copy's label: %s", r)
			}
			// The label change is a migration; rolled back, the old label is back.
			hist := n.mustCall(200, "GET", p+"/migrations?type=alter_table", nil).get("data").([]any)
			last := hist[len(hist)-1].(map[string]any)["id"].(string)
			rollback(t, n, "acme", last, "")
			if r := n.mustCall(200, "GET", p+"/tables/Account", nil); r.get("data.label") != "Customer accounts" {
				t.Fatalf("the label after the rollback: %s", r)
			}
			if d := liveDrift(t, n.tenantDB("acme")); len(d) > 0 {
				t.Fatal(d)
			}
		})
	}
}
