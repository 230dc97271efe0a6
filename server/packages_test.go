package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// goldenPackageEntities is the package schema workflow's documented entities.yaml.
func goldenPackageEntities(t *testing.T) string {
	t.Helper()
	body, err := os.ReadFile("../modules/formats/testdata/sources/entities.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// scanBody is a POST /packages/scan body: one package per id, each with its
// entities.yaml at the default path.
func scanBody(files map[string]string) map[string]any {
	var pkgs []any
	for id, body := range files {
		entities := []string{}
		for _, line := range strings.Split(body, "\n") {
			if name, ok := strings.CutPrefix(line, "  - name: "); ok {
				entities = append(entities, name)
			}
		}
		pkgs = append(pkgs, map[string]any{"package_id": id,
			"metadata": map[string]any{"packageId": id, "name": id, "schema": map[string]any{"entities": entities, "path": "schema/entities.yaml"}},
			"files":    map[string]any{"schema/entities.yaml": body}})
	}
	return map[string]any{"packages": pkgs}
}

// snapshotTable is one table of GET /schema/snapshot, and the relations it owns.
func snapshotTable(t *testing.T, n *node, slug, name string) (map[string]any, []map[string]any) {
	t.Helper()
	snap := n.mustCall(200, "GET", "/api/t/"+slug+"/schema/snapshot", nil)
	var table map[string]any
	for _, x := range snap.get("data.tables").([]any) {
		if tm := x.(map[string]any); tm["name"] == name {
			table = tm
		}
	}
	var rels []map[string]any
	for _, x := range snap.get("data.relations").([]any) {
		if rm := x.(map[string]any); rm["table"] == name {
			rels = append(rels, rm)
		}
	}
	return table, rels
}

// TestPackages: the package schema workflow over HTTP. The documented entities.yaml,
// scanned for a tenant with a Tenant table, queues pending migrations (whatever the
// tenant's require_approval) and applies nothing; approving all makes the table as the
// file says, with its acl; a rescan queues nothing; two packages that define one
// entity differently are a 409 naming both, also across requests; a changed package
// replaces what was queued; another tenant sees none of it.
func TestPackages(t *testing.T) {
	requireBackends(t)
	t.Parallel() // alone on its databases; mostly waiting for them
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			golden := goldenPackageEntities(t)
			for _, slug := range []string{"acme", "beta"} {
				n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": slug})
				n.mustCall(200, "POST", "/api/t/"+slug+"/tables", map[string]any{"name": "Tenant", "columns": []any{map[string]any{"name": "title", "type": "string"}}})
			}
			p := "/api/t/acme/packages"
			db := n.tenantDB("acme")

			// Scanned: three migrations wait for approval; nothing is applied.
			before := len(ledger(t, db))
			scan := n.mustCall(202, "POST", p+"/scan", scanBody(map[string]string{"my_package": golden}))
			queued, _ := scan.get("data.queued").([]any)
			if len(queued) != 3 || scan.get("data.already_queued") != false || !strings.HasPrefix(scan.get("data.changeset").(string), "packages:") {
				t.Fatalf("scan: %s", scan)
			}
			for i, want := range []string{"create_table", "add_relation", "add_index"} {
				q := queued[i].(map[string]any)
				if q["type"] != want || q["status"] != "pending" || q["entity"] != "MyEntity" || q["packages"].([]any)[0] != "my_package" {
					t.Errorf("queued %d: %v", i, q)
				}
			}
			checksum := scan.get("data.packages.0.entities.0.checksum").(string)
			rows := ledger(t, db)
			if len(rows) != before+3 || rows[len(rows)-1].Status != "pending" {
				t.Fatalf("ledger after the scan: %+v", rows[before:])
			}
			if table, _ := snapshotTable(t, n, "acme", "MyEntity"); table != nil {
				t.Fatal("the scan applied the table")
			}
			if list := n.mustCall(200, "GET", p+"/pending", nil).get("data").([]any); len(list) != 3 {
				t.Fatalf("pending: %v", list)
			}
			st := n.mustCall(200, "GET", p, nil)
			if st.get("data.pending") != 3.0 || st.get("data.packages.0.package_id") != "my_package" || st.get("data.packages.0.entities.0.state") != "pending" ||
				st.get("data.packages.0.entities.0.version") != "1.0" || st.get("data.packages.0.entities.0.acl") != "pending" {
				t.Fatalf("status: %s", st)
			}
			// A preview is the SQL, in the dialect asked for.
			pv := n.mustCall(200, "GET", p+"/my_package/preview?dialect=postgres", nil)
			if sql, _ := pv.get("data.sql").(string); !strings.Contains(sql, `CREATE TABLE "MyEntity"`) || !strings.Contains(sql, `"tenantId"`) || pv.get("data.dialect") != "postgres" {
				t.Fatalf("preview: %s", pv)
			}
			n.mustCall(400, "GET", p+"/my_package/preview?dialect=oracle", nil)
			n.mustCall(404, "GET", p+"/nobody/preview", nil)

			// The same packages again: nothing new.
			again := n.mustCall(200, "POST", p+"/scan", scanBody(map[string]string{"my_package": golden}))
			if again.get("data.already_queued") != true || len(ledger(t, db)) != before+3 {
				t.Fatalf("a second scan: %s", again)
			}

			// Approved: the table is as the file says.
			ok := n.mustCall(200, "POST", p+"/approve", map[string]any{"all": true})
			if ms := ok.get("data.migrations").([]any); len(ms) != 3 || ok.get("data.migrations.2.status") != "executed" || ok.get("data.acl.0") != "MyEntity" {
				t.Fatalf("approve: %s", ok)
			}
			table, rels := snapshotTable(t, n, "acme", "MyEntity")
			if table == nil || table["checksum"] != checksum {
				t.Fatalf("the table's checksum is not the file's %s: %v", checksum, table)
			}
			if got := mustJSONString(table["columns"]); got != `[{"length":100,"name":"name","nullable":false,"type":"string"},{"description":"JSON: additional data","length":255,"name":"data","nullable":true,"type":"string"},{"name":"createdAt","nullable":false,"type":"bigint"}]` {
				t.Errorf("columns: %s", got)
			}
			if ix := table["indexes"].([]any); len(ix) != 1 || mustJSONString(ix[0].(map[string]any)["columns"]) != `["tenantId","name"]` || ix[0].(map[string]any)["unique"] != true {
				t.Errorf("indexes: %v", ix)
			}
			if len(rels) != 1 || rels[0]["name"] != "tenantId" || rels[0]["type"] != "many_to_one" || rels[0]["target"] != "Tenant" || rels[0]["on_delete"] != "cascade" {
				t.Errorf("relations: %v", rels)
			}
			if d := liveDrift(t, db); len(d) > 0 {
				t.Fatal(d)
			}
			// Exported in both snapshot shapes, and the golden file itself, applied again:
			// nothing to change.
			for _, format := range []string{"snapshot", "enfyra"} {
				_, file := n.raw("GET", "/api/t/acme/schema/snapshot?format="+format, nil)
				body := string(file)
				if format == "snapshot" {
					var env struct{ Data json.RawMessage }
					_ = json.Unmarshal(file, &env)
					body = string(env.Data)
				}
				if r := n.mustCall(200, "POST", "/api/t/acme/schema/apply?dry_run=true", body); len(r.get("data.changes").([]any)) != 0 {
					t.Errorf("the %s export applied again: %s", format, r)
				}
			}
			if st, r := n.send("/api/t/acme/schema/apply?dry_run=true", "application/yaml", string(goldenPackageEntities(t)), nil); st != 200 || len(r.get("data.changes").([]any)) != 0 {
				t.Errorf("the golden entities.yaml applied again: %d %s", st, r)
			}
			// acl: read is public, create is for signed-in users.
			anon := &node{t: t, base: n.base}
			anon.mustCall(200, "GET", "/api/t/acme/items/MyEntity", nil)
			if st, _ := anon.call("POST", "/api/t/acme/items/MyEntity", map[string]any{"name": "x", "createdAt": 1}, nil); st != 401 {
				t.Errorf("anonymous create: %d", st)
			}
			// The unique index over the key holds.
			ten := n.mustCall(200, "POST", "/api/t/acme/items/Tenant", map[string]any{"title": "t"}).get("data.id")
			row := map[string]any{"name": "a", "createdAt": 1, "tenantId": ten}
			n.mustCall(200, "POST", "/api/t/acme/items/MyEntity", row)
			if st, r := n.call("POST", "/api/t/acme/items/MyEntity", row, nil); st != 400 || !strings.Contains(r.String(), "RECORD_NOT_UNIQUE") {
				t.Errorf("a second row with the same tenantId and name: %d %s", st, r)
			}
			st = n.mustCall(200, "GET", p, nil)
			if st.get("data.pending") != 0.0 || st.get("data.packages.0.entities.0.state") != "applied" || st.get("data.packages.0.entities.0.acl") != "applied" {
				t.Fatalf("status after approval: %s", st)
			}
			before = len(ledger(t, db))
			if r := n.mustCall(200, "POST", p+"/scan", scanBody(map[string]string{"my_package": golden})); len(r.get("data.queued").([]any)) != 0 || len(ledger(t, db)) != before {
				t.Fatalf("a scan after approval: %s", r)
			}

			// Another package, in a later request: alike is compatible (descriptions do
			// not count), different is a 409 naming both packages and checksums.
			described := strings.Replace(golden, "Description of entity", "Described otherwise", 1)
			n.mustCall(200, "POST", p+"/scan", scanBody(map[string]string{"other_pkg": described}))
			wider := strings.Replace(golden, "maxLength: 100", "maxLength: 120", 1)
			st2, r := n.call("POST", p+"/scan", scanBody(map[string]string{"third_pkg": wider}), nil)
			msg, _ := r.get("errors.0.message").(string)
			if st2 != 409 || !strings.Contains(msg, "my_package") || !strings.Contains(msg, "third_pkg") || !strings.Contains(msg, checksum) || r.get("errors.0.extensions.entity") != "MyEntity" {
				t.Fatalf("a conflicting package: %d %s", st2, r)
			}
			// In one request, too.
			st2, r = n.call("POST", "/api/t/beta/packages/scan", scanBody(map[string]string{"a_pkg": golden, "b_pkg": wider}), nil)
			if msg, _ := r.get("errors.0.message").(string); st2 != 409 || !strings.Contains(msg, "a_pkg") || !strings.Contains(msg, "b_pkg") {
				t.Fatalf("conflicting packages in one scan: %d %s", st2, r)
			}
			if got := n.mustCall(200, "GET", p, nil).get("data.packages").([]any); len(got) != 2 {
				t.Fatalf("a refused scan recorded something: %v", got)
			}

			// A changed package: its new field is queued; changed again before approval,
			// the first queue is replaced, not added to.
			n.mustCall(200, "POST", p+"/scan", scanBody(map[string]string{"other_pkg": golden + "---\n"}))
			grown := strings.Replace(golden, "    indexes:", "      note:\n        type: string\n        nullable: true\n\n    indexes:", 1)
			// Both packages declare MyEntity: they change together.
			first := n.mustCall(202, "POST", p+"/scan", scanBody(map[string]string{"my_package": grown, "other_pkg": grown}))
			firstID := first.get("data.queued.0.id")
			if len(first.get("data.queued").([]any)) != 1 || first.get("data.queued.0.type") != "add_column" {
				t.Fatalf("a changed package: %s", first)
			}
			grown2 := strings.Replace(grown, "type: string\n        nullable: true\n\n", "type: string\n        nullable: true\n      extra:\n        type: int\n        nullable: true\n\n", 1)
			second := n.mustCall(202, "POST", p+"/scan", scanBody(map[string]string{"my_package": grown2, "other_pkg": grown2}))
			if second.get("data.superseded.0") != firstID || len(second.get("data.queued").([]any)) != 2 {
				t.Fatalf("changed again: %s", second)
			}
			pending := n.mustCall(200, "GET", p+"/pending", nil).get("data").([]any)
			if len(pending) != 2 {
				t.Fatalf("pending after a change: %v", pending)
			}
			// Approved one by one, by seq and by id.
			seq := mustJSONString(pending[0].(map[string]any)["seq"])
			n.mustCall(200, "POST", p+"/approve", map[string]any{"ids": []any{seq}})
			n.mustCall(404, "POST", p+"/approve", map[string]any{"ids": []any{seq}})
			n.mustCall(200, "POST", p+"/approve", map[string]any{"ids": []any{pending[1].(map[string]any)["id"]}})
			n.mustCall(400, "POST", p+"/approve", map[string]any{})
			if table, _ := snapshotTable(t, n, "acme", "MyEntity"); len(table["columns"].([]any)) != 5 {
				t.Fatalf("after approving the change: %v", table)
			}
			// A column dropped by hand is queued again by the next scan, each time (the
			// same plan of the same packages, made against another schema).
			for range 2 {
				_, ch := n.call("DELETE", "/api/t/acme/tables/MyEntity/columns/extra", nil, nil)
				if st, r := n.call("DELETE", "/api/t/acme/tables/MyEntity/columns/extra", nil, confirmHeaders(t, ch)); st != 200 {
					t.Fatalf("drop by hand: %d %s", st, r)
				}
				again := n.mustCall(202, "POST", p+"/scan", scanBody(map[string]string{"my_package": grown2, "other_pkg": grown2}))
				if len(again.get("data.queued").([]any)) != 1 || again.get("data.queued.0.type") != "add_column" {
					t.Fatalf("a scan after a change by hand: %s", again)
				}
				n.mustCall(200, "POST", p+"/approve", map[string]any{"all": true})
			}

			// Refusals name the package and the place.
			st2, r = n.call("POST", p+"/scan", scanBody(map[string]string{"my_package": strings.Replace(golden, "        index: true\n", "        index: true\n        surprise: 1\n", 1)}), nil)
			if msg, _ := r.get("errors.0.message").(string); st2 != 400 || !strings.Contains(msg, "my_package:schema/entities.yaml") || !strings.Contains(msg, "entities[0].fields.tenantId.surprise") {
				t.Fatalf("an unknown key: %d %s", st2, r)
			}
			body := scanBody(map[string]string{"x_pkg": golden})
			body["packages"].([]any)[0].(map[string]any)["metadata"].(map[string]any)["schema"].(map[string]any)["entities"] = []any{"MyEntity", "Other"}
			if st2, r = n.call("POST", p+"/scan", body, nil); st2 != 400 || !strings.Contains(r.String(), "Other") {
				t.Fatalf("metadata listing another entity: %d %s", st2, r)
			}
			body["packages"].([]any)[0].(map[string]any)["metadata"].(map[string]any)["schema"].(map[string]any)["path"] = "../secrets.yaml"
			if st2, r = n.call("POST", p+"/scan", body, nil); st2 != 400 || !strings.Contains(r.String(), "seed folder") {
				t.Fatalf("a path out of seed: %d %s", st2, r)
			}

			// Tenant isolation: beta has none of acme's packages or queue, and its own
			// MyEntity may differ from acme's.
			bp := "/api/t/beta/packages"
			if got := n.mustCall(200, "GET", bp, nil); len(got.get("data.packages").([]any)) != 0 || got.get("data.pending") != 0.0 {
				t.Fatalf("beta's status: %s", got)
			}
			n.mustCall(404, "GET", bp+"/my_package/preview", nil)
			n.mustCall(202, "POST", bp+"/scan", scanBody(map[string]string{"my_package": wider}))
			if got := n.mustCall(200, "GET", bp+"/pending", nil).get("data").([]any); len(got) != 3 {
				t.Fatalf("beta's pending: %v", got)
			}
			n.mustCall(404, "POST", p+"/approve", map[string]any{"ids": []any{n.mustCall(200, "GET", bp+"/pending", nil).get("data.0.id")}})
			if got := n.mustCall(200, "GET", p+"/pending", nil).get("data").([]any); len(got) != 0 {
				t.Fatalf("acme sees beta's queue: %v", got)
			}
			// Only admins.
			if st, _ := anon.call("GET", p, nil, nil); st != 401 {
				t.Errorf("anonymous status: %d", st)
			}
		})
	}
}

// TestPackagesCLI: strata schema scan, list, preview, approve and status on the
// databases and through a running server, with their exit codes.
func TestPackagesCLI(t *testing.T) {
	requireBackends(t)
	t.Parallel() // alone on its databases; mostly waiting for them
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			control := b.newControlURL(t)
			e, n := newCLIEnv(t, control)
			golden := goldenPackageEntities(t)
			dir := t.TempDir()
			writePackage(t, dir, "my_package", golden)
			for _, slug := range []string{"local", "remote"} {
				n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": slug})
				n.mustCall(200, "POST", "/api/t/"+slug+"/tables", map[string]any{"name": "Tenant", "columns": []any{map[string]any{"name": "title", "type": "string"}}})
			}
			key := n.mustCall(201, "POST", "/api/api-keys", map[string]any{"name": "ci"}).get("data.token").(string)
			remote := &cliEnv{t: t, vars: map[string]string{"STRATA_SERVER": n.base, "STRATA_TOKEN": key, "STRATA_DATA_DIR": t.TempDir()}}

			for _, c := range []struct {
				env  *cliEnv
				slug string
			}{{e, "local"}, {remote, "remote"}} {
				tenant := []string{"--tenant", c.slug}
				scan := c.env.schemaJSON(append([]string{"scan", dir}, tenant...)...)
				if len(scan.get("data.queued").([]any)) != 3 {
					t.Fatalf("%s: scan: %s", c.slug, scan)
				}
				if code, out, errOut := c.env.schemaCLI(append([]string{"scan", dir}, tenant...)...); code != 0 || !strings.Contains(out, "already wait") {
					t.Fatalf("%s: a second scan: %d %s%s", c.slug, code, out, errOut)
				}
				if list := c.env.schemaJSON(append([]string{"list"}, tenant...)...); len(list.get("data").([]any)) != 3 {
					t.Fatalf("%s: list: %s", c.slug, list)
				}
				if code, out, errOut := c.env.schemaCLI(append([]string{"preview", "my_package", "--dialect", "mysql"}, tenant...)...); code != 0 || !strings.Contains(out, "CREATE TABLE `MyEntity`") {
					t.Fatalf("%s: preview: %d %s%s", c.slug, code, out, errOut)
				}
				if code, _, errOut := c.env.schemaCLI(append([]string{"preview", "my_package", "--dialect", "oracle"}, tenant...)...); code != 2 {
					t.Fatalf("%s: preview in an unknown dialect: %d %s", c.slug, code, errOut)
				}
				if code, _, errOut := c.env.schemaCLI(append([]string{"approve", "12345"}, tenant...)...); code != 1 || !strings.Contains(errOut, "12345") {
					t.Fatalf("%s: approving what is not queued: %d %s", c.slug, code, errOut)
				}
				if ok := c.env.schemaJSON(append([]string{"approve", "all"}, tenant...)...); len(ok.get("data.migrations").([]any)) != 3 || ok.get("data.acl.0") != "MyEntity" {
					t.Fatalf("%s: approve: %s", c.slug, ok)
				}
				tableSoon(t, n, c.slug, "MyEntity", true)
				st := c.env.schemaJSON(append([]string{"status"}, tenant...)...)
				if st.get("data.packages.0.entities.0.state") != "applied" || st.get("data.packages.0.entities.0.acl") != "applied" {
					t.Fatalf("%s: status: %s", c.slug, st)
				}
				if code, out, _ := c.env.schemaCLI(append([]string{"status"}, tenant...)...); code != 0 || !strings.Contains(out, "applied") {
					t.Fatalf("%s: status: %d %s", c.slug, code, out)
				}
				if code, _, errOut := c.env.schemaCLI("list"); code != 2 || !strings.Contains(errOut, "--tenant") {
					t.Fatalf("%s: no tenant: %d %s", c.slug, code, errOut)
				}
				if d := liveDrift(t, n.tenantDB(c.slug)); len(d) > 0 {
					t.Fatal(d)
				}
			}

			// A second folder whose package defines MyEntity otherwise: exit 1, naming both.
			other := t.TempDir()
			writePackage(t, other, "third_pkg", strings.Replace(golden, "maxLength: 100", "maxLength: 50", 1))
			for _, env := range []*cliEnv{e, remote} {
				slug := map[*cliEnv]string{e: "local", remote: "remote"}[env]
				if code, _, errOut := env.schemaCLI("scan", other, "--tenant", slug); code != 1 || !strings.Contains(errOut, "my_package") || !strings.Contains(errOut, "third_pkg") {
					t.Fatalf("%s: a conflicting package: %d %s", slug, code, errOut)
				}
			}
			if code, _, errOut := e.schemaCLI("scan", t.TempDir(), "--tenant", "local"); code != 2 || !strings.Contains(errOut, "packages") {
				t.Fatalf("a folder without packages: %d %s", code, errOut)
			}
		})
	}
}

// schemaJSON runs a strata schema command with --json that must succeed and decodes
// its answer.
func (e *cliEnv) schemaJSON(args ...string) reply {
	e.t.Helper()
	code, out, errOut := e.schemaCLI(append(args, "--json")...)
	if code != 0 {
		e.t.Fatalf("strata schema %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	r := reply{}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		e.t.Fatalf("strata schema %s: not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
	return r
}

// writePackage writes DIR/packages/ID/seed/ with a metadata.json and the entities.yaml.
func writePackage(t *testing.T, dir, id, entities string) {
	t.Helper()
	seed := filepath.Join(dir, "packages", id, "seed")
	if err := os.MkdirAll(filepath.Join(seed, "schema"), 0o755); err != nil {
		t.Fatal(err)
	}
	md := `{"packageId": "` + id + `", "name": "A package", "version": "1.0.0", "schema": {"entities": ["MyEntity"], "path": "schema/entities.yaml"}}`
	if err := os.WriteFile(filepath.Join(seed, "metadata.json"), []byte(md), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(seed, "schema", "entities.yaml"), []byte(entities), 0o644); err != nil {
		t.Fatal(err)
	}
}
