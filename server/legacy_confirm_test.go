package main

import (
	"context"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"strata/modules/database"
)

// TestConfirmChallengeAsEnfyraReadsIt: the 422 SCHEMA_CONFIRM_REQUIRED carries its
// fields under "details" (beside "code") as Enfyra's clients read them, with the values
// of errors[0].extensions, which stays as it was.
func TestConfirmChallengeAsEnfyraReadsIt(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			p := "/api/t/acme"
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "authors", "columns": []any{map[string]any{"name": "name", "type": "string"}}})
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "posts", "columns": []any{
				map[string]any{"name": "title", "type": "string"}, map[string]any{"name": "views", "type": "integer"}},
				"relations": []any{map[string]any{"name": "author", "type": "many_to_one", "target": "authors", "inverse": "posts"}}})
			for _, c := range []struct{ name, method, path string }{
				{"drop column", "DELETE", p + "/tables/posts/columns/views"},
				{"drop relation", "DELETE", p + "/relations/" + relationID(t, n, p, "posts", "author")},
				{"drop table", "DELETE", p + "/tables/authors"},
			} {
				st, r := n.call(c.method, c.path, nil, nil)
				if st != 422 || r.get("code") != "SCHEMA_CONFIRM_REQUIRED" || r.get("errors.0.extensions.code") != "SCHEMA_CONFIRM_REQUIRED" {
					t.Fatalf("%s: want 422 SCHEMA_CONFIRM_REQUIRED with code beside errors, got %d %s", c.name, st, r)
				}
				ext, _ := r.get("errors.0.extensions").(map[string]any)
				details, _ := r.get("details").(map[string]any)
				for _, k := range []string{"requiredConfirmHash", "confirmToken", "confirmTtlMs", "removedColumns", "removedRelationsCount", "droppedTables", "narrowedColumns"} {
					if _, ok := details[k]; !ok || !reflect.DeepEqual(details[k], ext[k]) {
						t.Errorf("%s: details.%s = %v, extensions.%s = %v", c.name, k, details[k], k, ext[k])
					}
				}
				if len(details) != len(ext)-1 {
					t.Errorf("%s: details and extensions differ: %v / %v", c.name, details, ext)
				}
				// The details confirm as the extensions do.
				h := map[string]string{"X-Schema-Confirm-Hash": details["requiredConfirmHash"].(string), "X-Schema-Confirm-Token": details["confirmToken"].(string)}
				n.mustCallWith(200, c.method, c.path, h)
			}
			// Other errors keep the envelope as it was.
			if st, r := n.call("GET", p+"/tables/nope", nil, nil); st != 404 || r.get("details") != nil || r.get("code") != nil {
				t.Errorf("a 404 grew Enfyra's keys: %d %s", st, r)
			}
		})
	}
}

// relationID finds a relation's id by its table and name.
func relationID(t *testing.T, n *node, p, table, name string) string {
	t.Helper()
	for _, rel := range n.mustCall(200, "GET", p+"/relations", nil).get("data").([]any) {
		m := rel.(map[string]any)
		if m["table"] == table && m["name"] == name {
			return m["id"].(string)
		}
	}
	t.Fatalf("relation %s.%s not found", table, name)
	return ""
}

// mustCallWith is mustCall with headers.
func (n *node) mustCallWith(want int, method, path string, headers map[string]string) reply {
	n.t.Helper()
	st, r := n.call(method, path, nil, headers)
	if st != want {
		n.t.Fatalf("%s %s: want %d, got %d %s", method, path, want, st, r)
	}
	return r
}

// TestLegacySchemaConfirm: Enfyra's legacy phrase (?schemaConfirm=) confirms a
// destructive change only where the tenant turned legacy_schema_confirm on, only the
// phrase of that change, and only for that tenant.
func TestLegacySchemaConfirm(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	phrase := func(key, v string) string { return "?" + key + "=" + url.QueryEscape(v) }
	type step struct {
		name   string
		tenant string
		method string
		path   string // under the tenant's base
		body   any
		status int
		has    string // in the answer
		gone   string // a column (table.column) or table that must (status 200) or must not be gone after
	}
	off := []step{
		{"off: the phrase is ignored", "acme", "DELETE", "/tables/posts/columns/a" + phrase("schemaConfirm", "APPLY SCHEMA CHANGES posts"), nil, 422, "X-Schema-Confirm-Hash", "posts.a"},
		{"off: Enfyra's other spelling is ignored", "acme", "DELETE", "/tables/posts/columns/a" + phrase("schema_confirm", "APPLY SCHEMA CHANGES posts"), nil, 422, "SCHEMA_CONFIRM_REQUIRED", "posts.a"},
		{"off: a drop table phrase is ignored", "acme", "DELETE", "/tables/tags" + phrase("schemaConfirm", "DELETE TABLE tags"), nil, 422, "SCHEMA_CONFIRM_REQUIRED", "tags"},
		{"off: a phrase in the body is refused, saying why", "acme", "PATCH", "/tables/posts/columns/a", map[string]any{"nullable": true, "schemaConfirm": "APPLY SCHEMA CHANGES posts"}, 400, "legacy_schema_confirm", "posts.a"},
		{"the setting is a boolean", "acme", "PATCH", "/settings", map[string]any{"legacy_schema_confirm": "yes"}, 400, "legacy_schema_confirm", ""},
		{"turned on for acme", "acme", "PATCH", "/settings", map[string]any{"legacy_schema_confirm": true}, 200, `"legacy_schema_confirm":true`, ""},
	}
	on := []step{
		{"on: the phrase of another change", "acme", "DELETE", "/tables/posts/columns/a" + phrase("schemaConfirm", "DELETE TABLE posts"), nil, 422, "APPLY SCHEMA CHANGES posts", "posts.a"},
		{"on: the phrase of another table", "acme", "DELETE", "/tables/posts/columns/a" + phrase("schemaConfirm", "APPLY SCHEMA CHANGES tags"), nil, 422, "SCHEMA_CONFIRM_REQUIRED", "posts.a"},
		{"on: not a phrase", "acme", "DELETE", "/tables/posts/columns/a" + phrase("schemaConfirm", "yes"), nil, 422, "SCHEMA_CONFIRM_REQUIRED", "posts.a"},
		{"on: a table drop needs its own phrase", "acme", "DELETE", "/tables/tags" + phrase("schemaConfirm", "APPLY SCHEMA CHANGES tags"), nil, 422, "DELETE TABLE tags", "tags"},
		{"on: the phrase in the body", "acme", "PATCH", "/tables/posts/columns/c", map[string]any{"length": 30, "schemaConfirm": "APPLY SCHEMA CHANGES posts"}, 200, "alter_column", ""},
		{"on: a wrong phrase in the body", "acme", "PATCH", "/tables/posts/columns/c", map[string]any{"length": 25, "schemaConfirm": "APPLY SCHEMA CHANGES tags"}, 422, "SCHEMA_CONFIRM_REQUIRED", ""},
		{"on for acme only", "beta", "DELETE", "/tables/posts/columns/a" + phrase("schemaConfirm", "APPLY SCHEMA CHANGES posts"), nil, 422, "SCHEMA_CONFIRM_REQUIRED", "posts.a"},
		{"on: a dry run applies nothing", "acme", "DELETE", "/tables/posts/columns/a" + phrase("schemaConfirm", "APPLY SCHEMA CHANGES posts") + "&dry_run=true", nil, 200, `"dry_run":true`, "posts.a"},
		{"on: the phrase drops a column (spaces and case as Enfyra compared them)", "acme", "DELETE", "/tables/posts/columns/a" + phrase("schemaConfirm", "  apply schema   changes POSTS "), nil, 200, "drop_column", "posts.a"},
		{"on: Enfyra's other spelling", "acme", "DELETE", "/tables/posts/columns/b" + phrase("schema_confirm", "APPLY SCHEMA CHANGES posts"), nil, 200, "drop_column", "posts.b"},
		{"on: a narrowing asks too", "acme", "PATCH", "/tables/posts/columns/c", map[string]any{"length": 20}, 422, "posts.c", ""},
		{"on: a narrowing", "acme", "PATCH", "/tables/posts/columns/c" + phrase("schemaConfirm", "APPLY SCHEMA CHANGES posts"), map[string]any{"length": 20}, 200, "alter_column", ""},
		{"on: a relation", "acme", "DELETE", "/relations/{tags.post}" + phrase("schemaConfirm", "APPLY SCHEMA CHANGES tags"), nil, 200, "drop_relation", ""},
		{"on: a table", "acme", "DELETE", "/tables/tags" + phrase("schemaConfirm", "DELETE TABLE tags"), nil, 200, "drop_table", "tags"},
	}
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			for _, slug := range []string{"acme", "beta"} {
				p := "/api/t/" + slug
				n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": slug})
				if r := n.mustCall(200, "GET", p+"/settings", nil); r.get("data.legacy_schema_confirm") != false {
					t.Fatalf("%s: legacy_schema_confirm is not off by default: %s", slug, r)
				}
				cols := []any{}
				for _, c := range []string{"a", "b", "c", "d"} {
					cols = append(cols, map[string]any{"name": c, "type": "string"})
				}
				n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "posts", "columns": cols})
				n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "tags", "columns": []any{map[string]any{"name": "label", "type": "string"}},
					"relations": []any{map[string]any{"name": "post", "type": "many_to_one", "target": "posts"}}})
			}
			run := func(s step) {
				t.Helper()
				p := "/api/t/" + s.tenant
				path := s.path
				if strings.Contains(path, "{tags.post}") {
					path = strings.Replace(path, "{tags.post}", relationID(t, n, p, "tags", "post"), 1)
				}
				st, r := n.call(s.method, p+path, s.body, nil)
				if st != s.status || !strings.Contains(r.String(), s.has) {
					t.Fatalf("%s: want %d with %q, got %d %s", s.name, s.status, s.has, st, r)
				}
				if s.gone == "" {
					return
				}
				table, col, isCol := strings.Cut(s.gone, ".")
				var there bool
				if isCol {
					there = n.mustCall(200, "GET", p+"/tables/"+table, nil).fieldNames("data.columns")[col]
				} else {
					there = n.mustCall(200, "GET", p+"/tables", nil).fieldNames("data")[table]
				}
				if wantGone := st == 200 && !strings.Contains(path, "dry_run"); there == wantGone {
					t.Fatalf("%s: %s there %v after %d", s.name, s.gone, there, st)
				}
			}
			for _, s := range off {
				run(s)
			}
			for _, s := range on {
				run(s)
			}
			// The hash and token confirm as before, the setting on.
			_, r := n.call("DELETE", "/api/t/acme/tables/posts/columns/d", nil, nil)
			n.mustCallWith(200, "DELETE", "/api/t/acme/tables/posts/columns/d", confirmHeaders(t, r))
			if r := n.mustCall(200, "GET", "/api/t/beta/settings", nil); r.get("data.legacy_schema_confirm") != false {
				t.Fatalf("beta's setting moved with acme's: %s", r)
			}
			for _, slug := range []string{"acme", "beta"} {
				if d := liveDrift(t, n.tenantDB(slug)); len(d) > 0 {
					t.Fatalf("%s: drift: %v", slug, d)
				}
			}
		})
	}
}

// TestLegacySchemaConfirmUpgrade: a tenant made before the setting existed gets it, off,
// from the system upgrade when a node first serves it.
func TestLegacySchemaConfirmUpgrade(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			control, dir := b.newControlURL(t), t.TempDir()
			n := startNode(t, control, map[string]string{"STRATA_DATA_DIR": dir})
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			db := n.tenantDB("acme")
			q := db.Dialect.Quote
			for _, stmt := range []string{
				"DELETE FROM " + q("column_definition") + " WHERE " + q("name") + " = 'legacy_schema_confirm' AND " + q("table_id") + " IN (SELECT " + q("id") + " FROM " + q("table_definition") + " WHERE " + q("name") + " = 'settings')",
				"ALTER TABLE " + q("settings") + " DROP COLUMN " + q("legacy_schema_confirm"),
			} {
				if _, err := db.Exec(stmt); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
			reg, err := database.Open(context.Background(), control, database.Pool{MaxOpen: 1})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := reg.Exec("UPDATE strata_tenants SET system_version = NULL"); err != nil {
				t.Fatal(err)
			}
			reg.Close()
			n2 := startNode(t, control, map[string]string{"STRATA_DATA_DIR": dir})
			p := "/api/t/acme"
			if r := n2.mustCall(200, "GET", p+"/settings", nil); r.get("data.legacy_schema_confirm") != false {
				t.Fatalf("settings after the upgrade: %s", r)
			}
			if r := n2.mustCall(200, "PATCH", p+"/settings", map[string]any{"legacy_schema_confirm": true}); r.get("data.legacy_schema_confirm") != true {
				t.Fatalf("turning the setting on after the upgrade: %s", r)
			}
			if d := liveDrift(t, n2.tenantDB("acme")); len(d) > 0 {
				t.Fatalf("drift after the upgrade: %v", d)
			}
		})
	}
}
