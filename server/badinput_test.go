package main

import (
	"strings"
	"testing"
)

// TestBadSchemaInput: every malformed schema write is a 400 INVALID_PAYLOAD that names
// the field, and nothing is recorded.
func TestBadSchemaInput(t *testing.T) {
	t.Parallel()
	n := startNode(t, "sqlite://"+t.TempDir()+"/control.db", map[string]string{"STRATA_BODY_LIMIT": "65536"})
	n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	n.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "posts", "columns": []any{map[string]any{"name": "title", "type": "string"}}})
	db := n.tenantDB("acme")
	col := func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	table := func(name string, cols ...map[string]any) map[string]any {
		return map[string]any{"name": name, "columns": cols}
	}
	many := make([]map[string]any, 501)
	for i := range many {
		many[i] = col("name", "c"+strings.Repeat("x", i%5)+string(rune('a'+i%26))+strings.Repeat("y", i/26), "type", "integer")
	}
	cases := []struct {
		name      string
		method    string
		path      string
		body      any
		wantField string
		status    int
	}{
		{"keyword table name", "POST", "/tables", table("select", col("name", "a", "type", "string")), "name", 400},
		{"reserved prefix", "POST", "/tables", table("strata_x", col("name", "a", "type", "string")), "name", 400},
		{"system table name", "POST", "/tables", table("custom_migrations"), "name", 400},
		{"a name differing only by case", "POST", "/tables", table("Posts"), "name", 400},
		{"quote in name", "POST", "/tables", table(`po"sts`), "name", 400},
		{"space in name", "POST", "/tables", table("po sts"), "name", 400},
		{"too long", "POST", "/tables", table(strings.Repeat("a", 64)), "name", 400},
		{"duplicate table", "POST", "/tables", table("posts"), "name", 400},
		{"unknown type", "POST", "/tables", table("t1", col("name", "a", "type", "money")), "columns[0].type", 400},
		{"duplicate column", "POST", "/tables", table("t1", col("name", "a", "type", "string"), col("name", "a", "type", "text")), "columns[1].name", 400},
		{"system column", "POST", "/tables", table("t1", col("name", "id", "type", "string")), "columns[0].name", 400},
		{"keyword column", "POST", "/tables", table("t1", col("name", "from", "type", "string")), "columns[0].name", 400},
		{"default of the wrong type", "POST", "/tables", table("t1", col("name", "n", "type", "integer", "default", "abc")), "columns[0].default", 400},
		{"default not in enum", "POST", "/tables", table("t1", col("name", "e", "type", "enum", "values", []string{"a"}, "default", "b")), "columns[0].default", 400},
		{"enum without values", "POST", "/tables", table("t1", col("name", "e", "type", "enum")), "columns[0].values", 400},
		{"bad date default", "POST", "/tables", table("t1", col("name", "d", "type", "date", "default", "2026-13-40")), "columns[0].default", 400},
		{"string default too long", "POST", "/tables", table("t1", col("name", "s", "type", "string", "length", 3, "default", "abcd")), "columns[0].default", 400},
		{"more than 500 columns", "POST", "/tables", table("t1", many...), "columns", 400},
		{"unknown property", "POST", "/tables", map[string]any{"name": "t1", "colums": []any{}}, "colums", 400},
		{"relation to a missing table", "POST", "/relations", map[string]any{"table": "posts", "name": "x", "type": "many_to_one", "target": "nope"}, "target", 400},
		{"relation kind", "POST", "/relations", map[string]any{"table": "posts", "name": "x", "type": "many_to_few", "target": "posts"}, "type", 400},
		{"relation name taken", "POST", "/relations", map[string]any{"table": "posts", "name": "title", "type": "many_to_one", "target": "posts"}, "name", 400},
		{"add existing column", "POST", "/tables/posts/columns", col("name", "title", "type", "string"), "column.name", 400},
		{"index on a missing column", "POST", "/tables/posts/indexes", map[string]any{"columns": []string{"nope"}}, "columns[0]", 400},
		{"rename to a keyword", "PATCH", "/tables/posts", map[string]any{"name": "table"}, "name", 400},
		{"alter a system column", "PATCH", "/tables/posts/columns/id", map[string]any{"type": "string"}, "column", 400},
		{"not json", "POST", "/tables", "{nope", "body", 400},
		{"body over the limit", "POST", "/tables", `{"name":"t","description":"` + strings.Repeat("x", 70000) + `"}`, "body", 413},
	}
	before := len(ledger(t, db))
	for _, c := range cases {
		st, r := n.call(c.method, "/api/t/acme"+c.path, c.body, nil)
		if st != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.name, st, c.status, r)
			continue
		}
		if c.status == 400 {
			if r.get("errors.0.extensions.code") != "INVALID_PAYLOAD" || r.get("errors.0.extensions.field") != c.wantField {
				t.Errorf("%s: want INVALID_PAYLOAD naming %q, got %s", c.name, c.wantField, r)
			}
		}
	}
	if got := len(ledger(t, db)); got != before {
		t.Fatalf("bad input recorded %d migrations", got-before)
	}
}
