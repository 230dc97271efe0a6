package main

import (
	"bytes"
	"mime/multipart"
	"strings"
	"testing"
)

// The other input formats of POST /schema/apply: snapshot-migration.json,
// data-migration.json and entities files (YAML).

const yamlType = "application/yaml"

// send posts body (a string) with a Content-Type, and more headers when given.
func (n *node) send(path, contentType, body string, headers map[string]string) (int, reply) {
	n.t.Helper()
	h := map[string]string{"Content-Type": contentType}
	for k, v := range headers {
		h[k] = v
	}
	return n.call("POST", path, body, h)
}

// rowsOf lists a table's rows (as the admin) keyed by the value of field key.
func rowsOf(n *node, tenant, table, key string) map[string]map[string]any {
	n.t.Helper()
	out := map[string]map[string]any{}
	list, _ := n.mustCall(200, "GET", "/api/t/"+tenant+"/items/"+table+"?limit=-1", nil).get("data").([]any)
	for _, x := range list {
		row := x.(map[string]any)
		k, _ := row[key].(string)
		out[k] = row
	}
	return out
}

func TestApplySnapshotMigration(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			p := "/api/t/acme"
			apply := p + "/schema/apply?format=snapshot-migration"
			db := n.tenantDB("acme")
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "posts", "columns": []any{
				map[string]any{"name": "title", "type": "string"}, map[string]any{"name": "legacy", "type": "string"},
				map[string]any{"name": "views", "type": "integer"}}})
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "tags", "columns": []any{map[string]any{"name": "label", "type": "string"}}})
			n.mustCall(200, "POST", p+"/items/posts", []any{map[string]any{"title": "one", "legacy": "x", "views": 1}, map[string]any{"title": "two", "views": 2}})
			n.mustCall(200, "POST", p+"/items/tags", map[string]any{"label": "go"})

			renames := map[string]any{
				"tablesToRename": []any{map[string]any{"from": "tags", "to": "labels"}},
				"tables": []any{map[string]any{
					"_unique":         map[string]any{"name": map[string]any{"_eq": "posts"}},
					"columnsToModify": []any{map[string]any{"from": map[string]any{"name": "title", "type": "string"}, "to": map[string]any{"name": "headline"}}},
				}},
			}
			before := len(ledger(t, db))
			dry := n.mustCall(200, "POST", apply+"&dry_run=true", renames)
			steps, _ := dry.get("data.changes").([]any)
			if len(steps) != 2 || dry.get("data.changes.0.type") != "rename_table" || dry.get("data.changes.1.type") != "rename_column" || dry.get("data.dry_run") != true {
				t.Fatalf("dry run: %s", dry)
			}
			if len(ledger(t, db)) != before {
				t.Fatal("a dry run recorded migrations")
			}
			r := n.mustCall(200, "POST", apply, renames)
			if ms, _ := r.get("data.migrations").([]any); len(ms) != 2 {
				t.Fatalf("apply: %s", r)
			}
			// Renames, not drops and adds: the rows keep their values.
			rows := rowsOf(n, "acme", "posts", "headline")
			if rows["one"] == nil || rows["two"] == nil || rows["one"]["legacy"] != "x" {
				t.Fatalf("posts after the rename: %v", rows)
			}
			if rowsOf(n, "acme", "labels", "label")["go"] == nil {
				t.Fatal("the renamed table lost its row")
			}
			for _, m := range ledger(t, db)[before:] {
				if m.Type != "rename_table" && m.Type != "rename_column" {
					t.Errorf("a rename recorded as %s", m.Type)
				}
			}
			// The same file again: already applied, nothing to do.
			again := n.mustCall(200, "POST", apply, renames)
			if ms, _ := again.get("data.migrations").([]any); len(ms) != 0 {
				t.Fatalf("applied twice: %s", again)
			}
			if sk, _ := again.get("data.skipped").([]any); len(sk) != 2 {
				t.Fatalf("skipped: %s", again)
			}

			// Removals are confirmed, once for the whole file.
			removals := map[string]any{
				"tables":       []any{map[string]any{"_unique": map[string]any{"name": map[string]any{"_eq": "posts"}}, "columnsToRemove": []any{"legacy"}}},
				"tablesToDrop": []any{"labels"},
			}
			before = len(ledger(t, db))
			st, ch := n.call("POST", apply, removals, nil)
			if st != 422 || ch.get("errors.0.extensions.code") != "SCHEMA_CONFIRM_REQUIRED" ||
				mustJSONString(ch.get("errors.0.extensions.removedColumns")) != `["posts.legacy"]` ||
				mustJSONString(ch.get("errors.0.extensions.droppedTables")) != `["labels"]` {
				t.Fatalf("removals without confirmation: %d %s", st, ch)
			}
			if len(ledger(t, db)) != before || !n.mustCall(200, "GET", p+"/tables/posts", nil).fieldNames("data.columns")["legacy"] {
				t.Fatal("a challenged removal changed something")
			}
			if st, r := n.call("POST", apply, removals, confirmHeaders(t, ch)); st != 200 {
				t.Fatalf("confirmed removals: %d %s", st, r)
			}
			if n.mustCall(200, "GET", p+"/tables/posts", nil).fieldNames("data.columns")["legacy"] {
				t.Fatal("legacy is still there")
			}
			if st, _ := n.call("GET", p+"/tables/labels", nil, nil); st != 404 {
				t.Fatalf("labels after the drop: %d", st)
			}
			if d := liveDrift(t, db); len(d) > 0 {
				t.Fatal(d)
			}

			// Bad entries: refused naming the entry, and nothing applied even when the
			// entries before it were good.
			good := map[string]any{"_unique": map[string]any{"name": map[string]any{"_eq": "posts"}},
				"columnsToModify": []any{map[string]any{"from": map[string]any{"name": "views"}, "to": map[string]any{"name": "hits"}}}}
			entry := func(table string, kv ...any) map[string]any {
				m := map[string]any{"_unique": map[string]any{"name": map[string]any{"_eq": table}}}
				for i := 0; i < len(kv); i += 2 {
					m[kv[i].(string)] = kv[i+1]
				}
				return m
			}
			modify := func(from, to map[string]any) []any { return []any{map[string]any{"from": from, "to": to}} }
			cases := []struct {
				name   string
				body   any
				status int
				field  string
			}{
				{"unknown table", map[string]any{"tables": []any{good, entry("nope", "columnsToRemove", []any{"x"})}}, 400, "tables[1]._unique"},
				{"unknown column", map[string]any{"tables": []any{good, entry("posts", "columnsToModify", modify(map[string]any{"name": "nope"}, map[string]any{"name": "x"}))}}, 400, "tables[1].columnsToModify[0].from.name"},
				{"unknown column to remove", map[string]any{"tables": []any{good, entry("posts", "columnsToRemove", []any{"nope"})}}, 400, "tables[1].columnsToRemove[0]"},
				{"unknown type", map[string]any{"tables": []any{good, entry("posts", "columnsToModify", modify(map[string]any{"name": "headline"}, map[string]any{"type": "varchar"}))}}, 400, "tables[1].columnsToModify[0].to.type"},
				{"from does not match", map[string]any{"tables": []any{good, entry("posts", "columnsToModify", modify(map[string]any{"name": "headline", "type": "integer"}, map[string]any{"name": "h"}))}}, 400, "tables[1].columnsToModify[0].from.type"},
				{"unknown table to drop", map[string]any{"tables": []any{good}, "tablesToDrop": []any{"nope"}}, 400, "tablesToDrop[0]"},
				{"rename onto a taken name", map[string]any{"tables": []any{good, entry("posts", "columnsToModify", modify(map[string]any{"name": "headline"}, map[string]any{"name": "hits"}))}}, 400, "tables[1].columnsToModify[0]"},
				{"a relation change without from.propertyName", map[string]any{"tables": []any{entry("posts", "relationsToModify", []any{map[string]any{"to": map[string]any{"propertyName": "x"}}})}}, 400, "tables[0].relationsToModify[0].from.propertyName"},
				{"a relation that is not there", map[string]any{"tables": []any{good, entry("posts", "relationsToModify", []any{map[string]any{"from": map[string]any{"propertyName": "nobody"}, "to": map[string]any{"propertyName": "x"}}})}}, 400, "tables[1].relationsToModify[0].from.propertyName"},
				{"unknown key", map[string]any{"tables": []any{}, "coreTablesToRename": []any{}}, 400, "coreTablesToRename"},
				{"not JSON", "{nope", 400, "body"},
			}
			before = len(ledger(t, db))
			for _, c := range cases {
				st, r := n.call("POST", apply, c.body, nil)
				if st != c.status || r.get("errors.0.extensions.code") != "INVALID_PAYLOAD" || r.get("errors.0.extensions.field") != c.field {
					t.Errorf("%s: %d %s, want %d INVALID_PAYLOAD naming %s", c.name, st, r, c.status, c.field)
				}
			}
			if len(ledger(t, db)) != before {
				t.Fatal("bad files recorded migrations")
			}
			if cols := n.mustCall(200, "GET", p+"/tables/posts", nil).fieldNames("data.columns"); !cols["views"] || cols["hits"] {
				t.Fatalf("a refused file applied its good entries: %v", cols)
			}

			// Where changes wait for approval, the file's changes wait, in order.
			n.mustCall(200, "PATCH", p+"/settings", map[string]any{"require_approval": "all"})
			held := n.mustCall(202, "POST", apply, map[string]any{"tables": []any{good, entry("posts", "columnsToModify", modify(map[string]any{"name": "headline"}, map[string]any{"name": "heading"}))}})
			ms, _ := held.get("data.migrations").([]any)
			if len(ms) != 2 || held.get("data.migrations.0.status") != "pending" || held.get("data.migrations.1.status") != "pending" {
				t.Fatalf("held: %s", held)
			}
			for _, m := range ms {
				n.mustCall(200, "POST", p+"/migrations/"+m.(map[string]any)["id"].(string)+"/approve", nil)
			}
			if cols := n.mustCall(200, "GET", p+"/tables/posts", nil).fieldNames("data.columns"); !cols["hits"] || !cols["heading"] {
				t.Fatalf("columns after approval: %v", cols)
			}
		})
	}
}

func TestApplyDataMigration(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			p := "/api/t/acme"
			apply := p + "/schema/apply?format=data-migration"
			db := n.tenantDB("acme")
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "posts", "columns": []any{
				map[string]any{"name": "slug", "type": "string", "unique": true}, map[string]any{"name": "title", "type": "string"},
				map[string]any{"name": "views", "type": "integer"}}})
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "logs", "columns": []any{map[string]any{"name": "msg", "type": "string"}}})
			n.mustCall(200, "POST", p+"/items/posts", map[string]any{"slug": "old", "title": "Old"})
			n.mustCall(200, "POST", p+"/items/logs", []any{map[string]any{"msg": "a"}, map[string]any{"msg": "b"}, map[string]any{"msg": "c"}})
			migrations := len(ledger(t, db))
			// Subscribers hear of the rows a data migration writes, as of any write. (The
			// filter keeps out the event of the row created above: it may reach the hub
			// after the subscription and be sent with these.)
			ws := n.dial("acme", n.token)
			ws.send(map[string]any{"type": "subscribe", "collection": "posts", "uid": "p", "query": map[string]any{"fields": []string{"slug"},
				"filter": map[string]any{"slug": map[string]any{"_neq": "old"}}}})
			ws.expect("subscription", "p", "init")

			upserts := `{"posts": [
				{"_unique": {"slug": {"_eq": "hello"}}, "title": "Hello", "views": 1},
				{"_unique": ["slug"], "slug": "second", "title": "Second"}]}`
			dry := n.mustCall(200, "POST", apply+"&dry_run=true", upserts)
			if dry.get("data.dry_run") != true || dry.get("data.tables.0.inserted") != 2.0 {
				t.Fatalf("dry run: %s", dry)
			}
			if rows := rowsOf(n, "acme", "posts", "slug"); len(rows) != 1 {
				t.Fatalf("a dry run wrote rows: %v", rows)
			}
			r := n.mustCall(200, "POST", apply, upserts)
			if r.get("data.tables.0.inserted") != 2.0 || r.get("data.tables.0.updated") != 0.0 {
				t.Fatalf("first apply: %s", r)
			}
			rows := rowsOf(n, "acme", "posts", "slug")
			if rows["hello"]["title"] != "Hello" || rows["second"]["title"] != "Second" {
				t.Fatalf("rows after the upsert: %v", rows)
			}
			if ev := ws.expect("subscription", "p", "create"); len(titlesOf(ev)) != 2 {
				t.Fatalf("the created rows' event: %s", ev)
			}
			id := rows["hello"]["id"]
			r = n.mustCall(200, "POST", apply, strings.Replace(upserts, `"Hello"`, `"Hello again"`, 1))
			if r.get("data.tables.0.inserted") != 0.0 || r.get("data.tables.0.updated") != 2.0 {
				t.Fatalf("second apply: %s", r)
			}
			rows = rowsOf(n, "acme", "posts", "slug")
			if len(rows) != 3 || rows["hello"]["title"] != "Hello again" || rows["hello"]["id"] != id {
				t.Fatalf("rows after the update: %v", rows)
			}

			r = n.mustCall(200, "POST", apply, `{"_deletedRecords": [{"table": "posts", "filter": {"slug": {"_eq": "second"}}}]}`)
			if r.get("data.deleted_records.0.deleted") != 1.0 || rowsOf(n, "acme", "posts", "slug")["second"] != nil {
				t.Fatalf("_deletedRecords: %s", r)
			}
			ws.expect("subscription", "p", "update") // the second apply's
			if ev := ws.expect("subscription", "p", "delete"); len(titlesOf(ev)) != 1 {
				t.Fatalf("the deleted row's event: %s", ev)
			}

			// Emptying a table is confirmed; the table stays.
			empty := `{"_deletedTables": ["logs"]}`
			st, ch := n.call("POST", apply, empty, nil)
			if st != 422 || mustJSONString(ch.get("errors.0.extensions.emptiedTables")) != `["logs"]` {
				t.Fatalf("emptying without confirmation: %d %s", st, ch)
			}
			if len(rowsOf(n, "acme", "logs", "msg")) != 3 {
				t.Fatal("a challenged emptying deleted rows")
			}
			st, r = n.call("POST", apply, empty, confirmHeaders(t, ch))
			if st != 200 || r.get("data.emptied_tables.0.deleted") != 3.0 {
				t.Fatalf("confirmed emptying: %d %s", st, r)
			}
			if len(rowsOf(n, "acme", "logs", "msg")) != 0 {
				t.Fatal("logs still has rows")
			}
			n.mustCall(200, "GET", p+"/tables/logs", nil)

			// A bad record leaves nothing written; bad files change nothing.
			n.mustCall(200, "POST", p+"/items/posts", map[string]any{"slug": "dup-a", "title": "same"})
			n.mustCall(200, "POST", p+"/items/posts", map[string]any{"slug": "dup-b", "title": "same"})
			cases := []struct {
				name, body string
				field      string
				message    string
			}{
				{"bad value", `{"posts": [{"_unique": {"slug": {"_eq": "new1"}}, "title": "ok"}, {"_unique": {"slug": {"_eq": "new2"}}, "views": "many"}]}`, "views", "posts[1]"},
				{"unknown field", `{"posts": [{"_unique": {"slug": {"_eq": "new1"}}, "colour": "red"}]}`, "colour", "posts[0]"},
				{"unknown table", `{"posts": [{"_unique": {"slug": {"_eq": "new1"}}}], "nope": [{"_unique": {"a": {"_eq": 1}}}]}`, "nope[0]._unique", "not found"},
				{"bad filter", `{"posts": [{"_unique": {"nope": {"_eq": "x"}}}]}`, "posts[0]._unique", "nope"},
				{"_unique matches two rows", `{"posts": [{"_unique": {"slug": {"_eq": "new1"}}}, {"_unique": {"title": {"_eq": "same"}}, "views": 3}]}`, "posts[1]._unique", "more than one row"},
				{"no _unique", `{"posts": [{"title": "x"}]}`, "posts[0]._unique", "required"},
				{"unknown directive", `{"_deletedRows": []}`, "_deletedRows", "unknown directive"},
				{"a system table", `{"strata_users": [{"_unique": {"email": {"_eq": "x"}}}]}`, "strata_users[0]._unique", "system table"},
				{"not JSON", `{"posts": [`, "body", "invalid JSON"},
				{"not an object", `[1, 2]`, "body", "JSON object"},
			}
			for _, c := range cases {
				st, r := n.call("POST", apply, c.body, nil)
				msg, _ := r.get("errors.0.message").(string)
				if st != 400 || r.get("errors.0.extensions.field") != c.field || !strings.Contains(msg, c.message) {
					t.Errorf("%s: %d %s, want 400 naming %s with %q", c.name, st, r, c.field, c.message)
				}
			}
			rows = rowsOf(n, "acme", "posts", "slug")
			if rows["new1"] != nil || rows["new2"] != nil || rows["dup-a"]["views"] != nil {
				t.Fatalf("a refused file wrote rows: %v", rows)
			}
			if got := len(ledger(t, db)); got != migrations {
				t.Fatalf("data migrations recorded %d schema migrations", got-migrations)
			}
		})
	}
}

const authorsYAML = `entities:
  - name: authors
    description: People who write
    fields:
      - {name: name, type: string, nullable: false, unique: true}
      - {name: bio, type: text}
`

const postsYAML = `entities:
  - name: posts
    description: Blog posts
    fields:
      - name: title
        type: string
        nullable: false
        description: The headline
      - name: views
        type: integer
        default: 0
      - name: status
        type: enum
        values: [draft, published]
        default: draft
    indexes:
      - columns: [title, views]
    relations:
      - {name: author, type: many_to_one, target: authors, inverse: posts}
    acl:
      read: [public]
      create: [user]
`

// multipartBody packs files into a multipart/form-data body.
func multipartBody(t *testing.T, files map[string]string) (string, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for name, body := range files {
		part, err := w.CreateFormFile("files", name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = part.Write([]byte(body))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String(), w.FormDataContentType()
}

func TestApplyEntities(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			p := "/api/t/acme"
			apply := p + "/schema/apply"
			db := n.tenantDB("acme")
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "notes", "columns": []any{map[string]any{"name": "body", "type": "text"}}})
			stream := authorsYAML + "---\n" + postsYAML

			// A YAML body is an entities file; dry run first.
			before := len(ledger(t, db))
			st, dry := n.send(apply+"?dry_run=true", yamlType, stream, nil)
			if st != 200 || dry.get("data.format") != "entities" || dry.get("data.dry_run") != true {
				t.Fatalf("dry run: %d %s", st, dry)
			}
			if steps, _ := dry.get("data.changes").([]any); len(steps) != 3 { // two tables, one relation
				t.Fatalf("dry run steps: %s", dry)
			}
			if len(ledger(t, db)) != before || n.mustCall(200, "GET", p+"/tables", nil).fieldNames("data")["posts"] {
				t.Fatal("a dry run applied something")
			}
			st, r := n.send(apply, yamlType, stream, nil)
			if st != 200 {
				t.Fatalf("apply: %d %s", st, r)
			}
			if tables := n.mustCall(200, "GET", p+"/tables", nil).fieldNames("data"); !tables["authors"] || !tables["posts"] || !tables["notes"] {
				t.Fatalf("tables after apply: %v", tables)
			}
			// The checksum of the file is the checksum GET /schema/snapshot gives the table.
			sums := map[string]any{}
			for _, e := range r.get("data.entities").([]any) {
				sums[e.(map[string]any)["name"].(string)] = e.(map[string]any)["checksum"]
			}
			for _, tb := range n.mustCall(200, "GET", p+"/schema/snapshot", nil).get("data.tables").([]any) {
				tm := tb.(map[string]any)
				if want, ok := sums[tm["name"].(string)]; ok && tm["checksum"] != want {
					t.Errorf("snapshot checksum of %s: %v, the file's %v", tm["name"], tm["checksum"], want)
				}
			}
			// acl: anonymous callers may read posts, not write them.
			anon := &node{t: t, base: n.base}
			anon.mustCall(200, "GET", p+"/items/posts", nil)
			if st, _ := anon.call("POST", p+"/items/posts", map[string]any{"title": "x"}, nil); st != 401 {
				t.Errorf("anonymous create: %d", st)
			}
			if d := liveDrift(t, db); len(d) > 0 {
				t.Fatal(d)
			}
			// Applied again: nothing to do.
			if _, again := n.send(apply+"?dry_run=true", yamlType, stream, nil); len(again.get("data.changes").([]any)) != 0 {
				t.Fatalf("a second apply would change: %s", again)
			}

			// Two definitions of one table: a description alone makes no difference...
			described := strings.Replace(postsYAML, "Blog posts", "Articles", 1)
			described = strings.Replace(described, "The headline", "What it is called", 1)
			st, r = n.send(apply+"?dry_run=true", yamlType, postsYAML+"---\n"+described, nil)
			if st != 200 || len(r.get("data.entities.0.sources").([]any)) != 2 {
				t.Fatalf("a description-only difference: %d %s", st, r)
			}
			// ...a structural one is a conflict naming both sources.
			wider := strings.Replace(postsYAML, "type: integer", "type: bigint", 1)
			before = len(ledger(t, db))
			st, r = n.send(apply, yamlType, postsYAML+"---\n"+wider, nil)
			msg, _ := r.get("errors.0.message").(string)
			if st != 409 || !strings.Contains(msg, "body#1 entities[0]") || !strings.Contains(msg, "body#2 entities[0]") || r.get("errors.0.extensions.table") != "posts" {
				t.Fatalf("conflicting definitions: %d %s", st, r)
			}
			body, ct := multipartBody(t, map[string]string{"a.yaml": postsYAML, "b.yaml": wider})
			st, r = n.send(apply, ct, body, nil)
			msg, _ = r.get("errors.0.message").(string)
			if st != 409 || !strings.Contains(msg, "a.yaml") || !strings.Contains(msg, "b.yaml") {
				t.Fatalf("conflicting files: %d %s", st, r)
			}
			body, ct = multipartBody(t, map[string]string{"a.yaml": postsYAML, "b.yaml": described, "authors.yaml": authorsYAML})
			if st, r := n.send(apply+"?dry_run=true", ct, body, nil); st != 200 {
				t.Fatalf("agreeing files: %d %s", st, r)
			}

			// Changing an entity's structure: a field removed is confirmed.
			fewer := strings.Replace(authorsYAML, "      - {name: bio, type: text}\n", "", 1)
			st, ch := n.send(apply, yamlType, fewer, nil)
			if st != 422 || mustJSONString(ch.get("errors.0.extensions.removedColumns")) != `["authors.bio"]` {
				t.Fatalf("a field removed: %d %s", st, ch)
			}
			if st, r := n.send(apply, yamlType, fewer, confirmHeaders(t, ch)); st != 200 {
				t.Fatalf("confirmed: %d %s", st, r)
			}

			bomb := "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
			before = len(ledger(t, db))
			cases := []struct {
				name, url, contentType, body string
				status                       int
				code, field, message         string
			}{
				{"bad YAML", apply, yamlType, "entities:\n  - name: [x\n", 400, "INVALID_PAYLOAD", "body", "invalid YAML"},
				{"unknown type", apply, yamlType, "entities:\n  - name: x1\n    fields:\n      - {name: a, type: money}\n", 400, "INVALID_PAYLOAD", "entities[0].fields[0].type", "unknown type"},
				{"unknown key", apply, yamlType, "entities:\n  - name: x1\n    colums: []\n", 400, "INVALID_PAYLOAD", "body", "colums"},
				{"aliases", apply, yamlType, bomb, 400, "INVALID_PAYLOAD", "body", "aliases"},
				{"unknown role", apply, yamlType, "entities:\n  - name: x1\n    fields: []\n    acl: {read: [editors]}\n", 400, "INVALID_PAYLOAD", "body entities[0].acl", "editors"},
				{"unknown action", apply, yamlType, "entities:\n  - name: x1\n    fields: []\n    acl: {publish: [public]}\n", 400, "INVALID_PAYLOAD", "entities[0].acl.publish", "publish"},
				{"relation to a missing table", apply, yamlType, "entities:\n  - name: x1\n    fields: []\n    relations: [{name: o, type: many_to_one, target: nope}]\n", 400, "INVALID_PAYLOAD", "body entities[0].relations[0]", "nope"},
				{"no entities", apply, yamlType, "# nothing\n", 400, "INVALID_PAYLOAD", "entities", "no entities"},
				{"a system table", apply, yamlType, "entities:\n  - name: custom_migrations\n    fields: []\n", 400, "INVALID_PAYLOAD", "body entities[0].name", "not a user table"},
				{"unknown format", apply + "?format=xml", "application/json", "{}", 400, "INVALID_QUERY", "", "unknown format"},
				{"YAML for a JSON format", apply + "?format=data-migration", yamlType, "posts: []\n", 415, "INVALID_PAYLOAD", "body", "is JSON"},
				{"JSON entities with a bad type", apply + "?format=entities", "application/json", `{"entities":[{"name":"x1","fields":[{"name":"a","type":"money"}]}]}`, 400, "INVALID_PAYLOAD", "entities[0].fields[0].type", "money"},
				{"bad JSON snapshot", apply, "application/json", `{"tables": [`, 400, "INVALID_PAYLOAD", "body", "invalid JSON"},
				{"snapshot with an unknown type", apply, "application/json", `{"tables":[{"name":"x1","columns":[{"name":"a","type":"money"}]}],"relations":[]}`, 400, "INVALID_PAYLOAD", "tables[0].columns[0].type", "unknown type"},
			}
			for _, c := range cases {
				st, r := n.send(c.url, c.contentType, c.body, nil)
				msg, _ := r.get("errors.0.message").(string)
				field, _ := r.get("errors.0.extensions.field").(string)
				if st != c.status || r.get("errors.0.extensions.code") != c.code || (c.field != "" && field != c.field) || !strings.Contains(msg, c.message) {
					t.Errorf("%s: %d %s; want %d %s naming %q with %q", c.name, st, r, c.status, c.code, c.field, c.message)
				}
			}
			if len(ledger(t, db)) != before {
				t.Fatal("bad files recorded migrations")
			}
			if tables := n.mustCall(200, "GET", p+"/tables", nil).fieldNames("data"); tables["x1"] {
				t.Fatal("a refused file created a table")
			}
		})
	}
}
