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
