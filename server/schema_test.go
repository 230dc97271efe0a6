package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"strata/schema"
)

// everyType is a column of each type of the contract.
var everyType = []map[string]any{
	{"name": "title", "type": "string", "nullable": false},
	{"name": "body", "type": "text"},
	{"name": "views", "type": "integer", "default": 0, "index": true},
	{"name": "big", "type": "bigint"},
	{"name": "score", "type": "float"},
	{"name": "price", "type": "decimal", "precision": 8, "scale": 2},
	{"name": "published", "type": "boolean", "default": false},
	{"name": "day", "type": "date"},
	{"name": "at", "type": "datetime"},
	{"name": "clock", "type": "time"},
	{"name": "ref", "type": "uuid"},
	{"name": "meta", "type": "json"},
	{"name": "status", "type": "enum", "values": []string{"draft", "live"}, "default": "draft"},
	{"name": "labels", "type": "multi_enum", "values": []string{"a", "b"}},
	{"name": "email", "type": "email", "unique": true},
	{"name": "site", "type": "url"},
	{"name": "phone", "type": "phone"},
	{"name": "cost", "type": "currency"},
	{"name": "pct", "type": "percent"},
	{"name": "file", "type": "file"},
}

// schemaStep is one schema write of the lifecycle scenario.
type schemaStep struct {
	name     string
	method   string
	path     string // below /api/t/acme; {rel:NAME} is replaced by a remembered relation id
	body     any
	confirm  bool   // destructive: must answer 422 first, then pass with the headers
	wantType string // the migration type recorded
	remember string // remember data.relation.id under this name
}

var lifecycle = []schemaStep{
	{name: "create authors", method: "POST", path: "/tables", wantType: "create_table",
		body: map[string]any{"name": "authors", "columns": []any{map[string]any{"name": "name", "type": "string", "nullable": false}}}},
	{name: "create posts with every type", method: "POST", path: "/tables", wantType: "create_table",
		body: map[string]any{"name": "posts", "columns": everyType}},
	{name: "add column", method: "POST", path: "/tables/posts/columns", wantType: "add_column",
		body: map[string]any{"name": "subtitle", "type": "string", "length": 100}},
	{name: "alter column length and default", method: "PATCH", path: "/tables/posts/columns/subtitle", wantType: "alter_column",
		body: map[string]any{"length": 200, "default": "none"}},
	{name: "rename column", method: "PATCH", path: "/tables/posts/columns/subtitle", wantType: "rename_column",
		body: map[string]any{"name": "sub"}},
	{name: "widen integer to bigint", method: "PATCH", path: "/tables/posts/columns/views", wantType: "alter_column",
		body: map[string]any{"type": "bigint"}},
	{name: "make a column required", method: "PATCH", path: "/tables/posts/columns/score", wantType: "alter_column",
		body: map[string]any{"nullable": false, "default": 1.5}},
	{name: "add unique flag", method: "PATCH", path: "/tables/posts/columns/phone", wantType: "alter_column",
		body: map[string]any{"unique": true}},
	{name: "drop column", method: "DELETE", path: "/tables/posts/columns/sub", confirm: true, wantType: "drop_column"},
	{name: "create tags", method: "POST", path: "/tables", wantType: "create_table",
		body: map[string]any{"name": "tags", "columns": []any{map[string]any{"name": "label", "type": "string"}}}},
	{name: "many to one", method: "POST", path: "/relations", wantType: "add_relation", remember: "author",
		body: map[string]any{"table": "posts", "name": "author", "type": "many_to_one", "target": "authors", "inverse": "posts"}},
	{name: "many to many", method: "POST", path: "/relations", wantType: "add_relation", remember: "tagged",
		body: map[string]any{"table": "posts", "name": "tagged", "type": "many_to_many", "target": "tags", "inverse": "posts"}},
	{name: "one to one", method: "POST", path: "/relations", wantType: "add_relation",
		body: map[string]any{"table": "authors", "name": "profile", "type": "one_to_one", "target": "tags", "on_delete": "cascade"}},
	{name: "one to many", method: "POST", path: "/relations", wantType: "add_relation",
		body: map[string]any{"table": "authors", "name": "notes", "type": "one_to_many", "target": "tags", "inverse": "noted_by"}},
	{name: "add index", method: "POST", path: "/tables/posts/indexes", wantType: "add_index",
		body: map[string]any{"columns": []string{"title", "views"}}},
	{name: "add unique index", method: "POST", path: "/tables/tags/indexes", wantType: "add_index",
		body: map[string]any{"name": "tags_label_uq", "columns": []string{"label"}, "unique": true}},
	{name: "drop index", method: "DELETE", path: "/tables/posts/indexes/posts_title_views_idx", wantType: "drop_index"},
	{name: "drop many to many", method: "DELETE", path: "/relations/{rel:tagged}", confirm: true, wantType: "drop_relation"},
	{name: "drop many to one", method: "DELETE", path: "/relations/{rel:author}", confirm: true, wantType: "drop_relation"},
	{name: "rename table", method: "PATCH", path: "/tables/tags", wantType: "rename_table", body: map[string]any{"name": "labels"}},
	{name: "describe table", method: "PATCH", path: "/tables/labels", wantType: "alter_table", body: map[string]any{"description": "things"}},
	{name: "drop table with relations to it", method: "DELETE", path: "/tables/labels", confirm: true, wantType: "drop_table"},
	{name: "re-create a dropped table's name", method: "POST", path: "/tables", wantType: "create_table",
		body: map[string]any{"name": "labels", "columns": []any{map[string]any{"name": "label", "type": "string", "unique": true}}}},
}

// confirmHeaders answers a 422 challenge with its hash and token.
func confirmHeaders(t *testing.T, r reply) map[string]string {
	t.Helper()
	hash, _ := r.get("errors.0.extensions.requiredConfirmHash").(string)
	token, _ := r.get("errors.0.extensions.confirmToken").(string)
	if hash == "" || token == "" {
		t.Fatalf("422 without requiredConfirmHash/confirmToken: %s", r)
	}
	return map[string]string{"X-Schema-Confirm-Hash": hash, "X-Schema-Confirm-Token": token}
}

func TestSchemaLifecycle(t *testing.T) {
	requireBackends(t)
	t.Parallel() // alone on its databases; mostly waiting for them
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme", "name": "Acme"})
			db := n.tenantDB("acme")
			if d := liveDrift(t, db); len(d) > 0 {
				t.Fatalf("fresh tenant: live schema differs from metadata:\n%s", strings.Join(d, "\n"))
			}
			rels := map[string]string{}
			var postID string
			for _, s := range lifecycle {
				before := ledger(t, db)
				path := s.path
				for k, v := range rels {
					path = strings.ReplaceAll(path, "{rel:"+k+"}", v)
				}
				path = "/api/t/acme" + path
				st, r := n.call(s.method, path, s.body, nil)
				if s.confirm {
					if st != 422 || r.get("errors.0.extensions.code") != "SCHEMA_CONFIRM_REQUIRED" {
						t.Fatalf("%s: want 422 SCHEMA_CONFIRM_REQUIRED, got %d %s", s.name, st, r)
					}
					if got := ledger(t, db); len(got) != len(before) {
						t.Fatalf("%s: the unconfirmed request recorded a migration", s.name)
					}
					st, r = n.call(s.method, path, s.body, confirmHeaders(t, r))
				}
				if st != 200 {
					t.Fatalf("%s: status %d: %s", s.name, st, r)
				}
				if s.remember != "" {
					rels[s.remember], _ = r.get("data.relation.id").(string)
				}
				after := ledger(t, db)
				if len(after) != len(before)+1 {
					t.Fatalf("%s: %d new migration rows, want exactly 1", s.name, len(after)-len(before))
				}
				m := after[len(after)-1]
				if m.Seq != int64(len(after)) || m.Status != "executed" || m.Type != s.wantType || m.UpSQL == "" || m.DownSQL == "" {
					t.Fatalf("%s: migration row %+v; want seq %d executed %s with up and down SQL", s.name, m, len(after), s.wantType)
				}
				if d := liveDrift(t, db); len(d) > 0 {
					t.Fatalf("%s: live schema differs from metadata:\n%s\nup:\n%s", s.name, strings.Join(d, "\n"), m.UpSQL)
				}
				if s.name == "create posts with every type" {
					row := n.mustCall(200, "POST", "/api/t/acme/items/posts", map[string]any{"title": "kept", "views": 7, "price": "3.25", "score": 1.5,
						"published": true, "meta": map[string]any{"k": []int{1}}, "labels": []string{"b"}, "day": "2026-01-02",
						"at": "2026-01-02T03:04:05Z", "clock": "10:11:12", "email": "a@example.com"})
					postID, _ = row.get("data.id").(string)
				}
			}
			// The row written before all those changes is still there, reshaped.
			r := n.mustCall(200, "GET", "/api/t/acme/items/posts/"+postID, nil)
			want := map[string]any{"title": "kept", "views": float64(7), "price": "3.25", "published": true, "score": 1.5, "day": "2026-01-02", "clock": "10:11:12", "status": "draft"}
			for k, v := range want {
				if got := r.get("data." + k); got != v {
					t.Errorf("row field %s = %#v, want %#v", k, got, v)
				}
			}
			if r.get("data.sub") != nil || r.get("data.author") != nil {
				t.Errorf("dropped fields still visible: %s", r)
			}
			seqs := ledger(t, db)
			for i, m := range seqs {
				if m.Seq != int64(i+1) {
					t.Fatalf("seq %d at position %d: the ledger has a gap", m.Seq, i+1)
				}
			}
		})
	}
}

func TestMigrationFailureLeavesMetadataUnchanged(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			n.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "posts", "columns": []any{map[string]any{"name": "title", "type": "string"}}})
			n.mustCall(200, "POST", "/api/t/acme/items/posts", map[string]any{"title": "same"})
			n.mustCall(200, "POST", "/api/t/acme/items/posts", map[string]any{"title": "same"})
			db := n.tenantDB("acme")
			cases := []struct {
				name   string
				method string
				path   string
				body   any
			}{
				{"not null without default on a table with rows", "POST", "/tables/posts/columns", map[string]any{"name": "required", "type": "string", "nullable": false}},
				{"unique on duplicate data", "PATCH", "/tables/posts/columns/title", map[string]any{"unique": true}},
				{"unique index on duplicate data", "POST", "/tables/posts/indexes", map[string]any{"columns": []string{"title"}, "unique": true}},
			}
			for _, c := range cases {
				beforeTable := n.mustCall(200, "GET", "/api/t/acme/tables/posts", nil).String()
				before := ledger(t, db)
				st, r := n.call(c.method, "/api/t/acme"+c.path, c.body, nil)
				if st < 400 || r.get("errors.0.extensions.code") != "MIGRATION_FAILED" {
					t.Fatalf("%s: want MIGRATION_FAILED, got %d %s", c.name, st, r)
				}
				if r.get("errors.0.extensions.migration.id") == nil {
					t.Errorf("%s: the error does not carry the migration id: %s", c.name, r)
				}
				after := ledger(t, db)
				if len(after) != len(before)+1 {
					t.Fatalf("%s: %d new rows, want 1 failed row", c.name, len(after)-len(before))
				}
				if m := after[len(after)-1]; m.Status != "failed" || !m.Error.Valid || m.Error.String == "" {
					t.Fatalf("%s: row %+v, want failed with the database's error", c.name, m)
				}
				if got := n.mustCall(200, "GET", "/api/t/acme/tables/posts", nil).String(); got != beforeTable {
					t.Fatalf("%s: metadata changed:\nbefore %s\nafter  %s", c.name, beforeTable, got)
				}
				if d := liveDrift(t, db); len(d) > 0 {
					t.Fatalf("%s: live schema differs from metadata:\n%s", c.name, strings.Join(d, "\n"))
				}
			}
			// Shortening a string column below its data fails on every dialect (it must
			// not truncate), after the narrowing is confirmed.
			n.mustCall(200, "POST", "/api/t/acme/items/posts", map[string]any{"title": strings.Repeat("x", 50)})
			_, r := n.call("PATCH", "/api/t/acme/tables/posts/columns/title", map[string]any{"length": 10}, nil)
			st, r := n.call("PATCH", "/api/t/acme/tables/posts/columns/title", map[string]any{"length": 10}, confirmHeaders(t, r))
			if st < 400 || r.get("errors.0.extensions.code") != "MIGRATION_FAILED" {
				t.Fatalf("shortening below the data: %d %s", st, r)
			}
			// The tenant still migrates after failures, with the next seq.
			n.mustCall(200, "POST", "/api/t/acme/tables/posts/columns", map[string]any{"name": "fine", "type": "integer"})
		})
	}
}

func TestConfirmHash(t *testing.T) {
	t.Parallel()
	n := startNode(t, "sqlite://"+t.TempDir()+"/control.db", nil)
	n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	n.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "posts", "columns": []any{
		map[string]any{"name": "a", "type": "string"}, map[string]any{"name": "b", "type": "string"}}})

	st, r := n.call("DELETE", "/api/t/acme/tables/posts/columns/a", nil, nil)
	if st != 422 {
		t.Fatalf("drop without confirmation: %d %s", st, r)
	}
	for _, k := range []string{"requiredConfirmHash", "confirmToken", "confirmTtlMs", "removedColumns", "removedRelationsCount", "droppedTables"} {
		if r.get("errors.0.extensions."+k) == nil {
			t.Errorf("422 lacks %s: %s", k, r)
		}
	}
	if cols := fmt.Sprint(r.get("errors.0.extensions.removedColumns")); cols != "[posts.a]" {
		t.Errorf("removedColumns = %s", cols)
	}
	forA := confirmHeaders(t, r)
	// A confirmation for one change never confirms another.
	if st, r := n.call("DELETE", "/api/t/acme/tables/posts/columns/b", nil, forA); st != 422 {
		t.Fatalf("token for column a dropped column b: %d %s", st, r)
	}
	tampered := map[string]string{"X-Schema-Confirm-Hash": forA["X-Schema-Confirm-Hash"], "X-Schema-Confirm-Token": forA["X-Schema-Confirm-Token"] + "x"}
	if st, _ := n.call("DELETE", "/api/t/acme/tables/posts/columns/a", nil, tampered); st != 422 {
		t.Fatalf("a tampered token was accepted: %d", st)
	}
	if st, r := n.call("DELETE", "/api/t/acme/tables/posts/columns/a", nil, forA); st != 200 {
		t.Fatalf("confirmed drop: %d %s", st, r)
	}

	short := startNode(t, "sqlite://"+t.TempDir()+"/control.db", map[string]string{"STRATA_CONFIRM_TTL": "300ms"})
	short.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	short.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "posts", "columns": []any{map[string]any{"name": "a", "type": "string"}}})
	_, r = short.call("DELETE", "/api/t/acme/tables/posts", nil, nil)
	h := confirmHeaders(t, r)
	time.Sleep(400 * time.Millisecond)
	st, r = short.call("DELETE", "/api/t/acme/tables/posts", nil, h)
	if st != 422 || !strings.Contains(fmt.Sprint(r.get("errors.0.message")), "expired") {
		t.Fatalf("expired token: %d %s", st, r)
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			n.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "posts", "columns": []any{map[string]any{"name": "a", "type": "string"}}})
			db := n.tenantDB("acme")
			before := len(ledger(t, db))
			live, _ := db.Dialect.Inspect(t.Context(), db)
			writes := []struct {
				method, path string
				body         any
			}{
				{"POST", "/tables", map[string]any{"name": "other", "columns": []any{map[string]any{"name": "x", "type": "integer"}}}},
				{"POST", "/tables/posts/columns", map[string]any{"name": "b", "type": "integer"}},
				{"PATCH", "/tables/posts/columns/a", map[string]any{"length": 10}},
				{"DELETE", "/tables/posts/columns/a", nil},
				{"DELETE", "/tables/posts", nil},
				{"POST", "/tables/posts/indexes", map[string]any{"columns": []string{"a"}}},
				{"PATCH", "/tables/posts", map[string]any{"name": "renamed"}},
			}
			for _, w := range writes {
				r := n.mustCall(200, w.method, "/api/t/acme"+w.path+"?dry_run=true", w.body)
				if r.get("data.migration.up_sql") == "" || r.get("data.migration.status") != "planned" {
					t.Errorf("%s %s dry run: %s", w.method, w.path, r)
				}
			}
			if got := len(ledger(t, db)); got != before {
				t.Fatalf("dry runs recorded %d migrations", got-before)
			}
			after, _ := db.Dialect.Inspect(t.Context(), db)
			if d := schema.CompareLive(live, after); len(d) > 0 {
				t.Fatalf("dry runs changed the live schema:\n%s", strings.Join(d, "\n"))
			}
		})
	}
}
