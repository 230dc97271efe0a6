package main

import (
	"encoding/json"
	"fmt"
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
