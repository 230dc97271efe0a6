package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"strata/schema"
)

// tenantCLI runs `strata tenant` in-process with the CLI environment.
func (e *cliEnv) tenantCLI(args ...string) (int, string, string) {
	e.t.Helper()
	var out, errOut bytes.Buffer
	code := runTenant(context.Background(), args, func(k string) string { return e.vars[k] }, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// tableSoon waits until the node sees table in slug (want) or not: a change the CLI
// made reaches the node's model cache within its TTL.
func tableSoon(t *testing.T, n *node, slug, table string, want bool) {
	t.Helper()
	for range 100 {
		if hasTable(n, slug, table) == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s.%s: want present=%v", slug, table, want)
}

// TestChangesetCLI: tenants made and tagged from the command line; a changeset folder
// with a skeleton made by `migrate create`, planned, run on the tagged tenants, shown
// by `migrate status --dir`; a changed file refused; a development tenant reset and run
// again; exit codes a script can rely on.
func TestChangesetCLI(t *testing.T) {
	requireBackends(t)
	t.Parallel() // alone on its databases; mostly waiting for DDL
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			e, n := newCLIEnv(t, b.newControlURL(t))
			for _, slug := range []string{"cli-a", "cli-b"} {
				if code, out, errOut := e.tenantCLI("create", slug); code != 0 {
					t.Fatalf("tenant create %s: %d %s%s", slug, code, out, errOut)
				}
			}
			if code, _, errOut := e.tenantCLI("tag", "cli-b", "wave=1"); code != 0 {
				t.Fatalf("tenant tag: %d %s", code, errOut)
			}
			code, out, _ := e.tenantCLI("list", "--json")
			listed := reply{}
			if err := json.Unmarshal([]byte(out), &listed); code != 0 || err != nil || listed.get("data.1.tags.wave") != "1" {
				t.Fatalf("tenant list: %d %s", code, out)
			}

			dir := t.TempDir()
			base := "name: 00_base\nchanges:\n  - op: create_table\n    name: accounts\n    columns: [{name: email, type: string}]\n"
			if err := os.WriteFile(filepath.Join(dir, "00_base.yaml"), []byte(base), 0o644); err != nil {
				t.Fatal(err)
			}
			// The skeleton adds accounts.plan and depends on the newest changeset there.
			made := e.mustJSON("create", "add_plan", "--dir", dir)
			body, err := os.ReadFile(made.get("data.path").(string))
			if err != nil || !strings.Contains(string(body), "depends_on: [00_base]") {
				t.Fatalf("the skeleton: %v\n%s", err, body)
			}
			plan := e.mustJSON("run", "--dir", dir, "--tags", "wave=1", "--dry-run")
			if plan.get("data.results.0.status") != "planned" || plan.get("data.results.1.status") != "planned" || plan.get("data.results.2") != nil {
				t.Fatalf("dry run: %s", plan)
			}
			if hasTable(n, "cli-b", "accounts") {
				t.Fatal("the dry run changed a tenant")
			}
			run := e.mustJSON("run", "--dir", dir, "--tags", "wave=1")
			if run.get("data.status") != "completed" || run.get("data.counts.applied") != 2.0 {
				t.Fatalf("run: %s", run)
			}
			tableSoon(t, n, "cli-b", "accounts", true)
			if got := n.mustCall(200, "GET", "/api/t/cli-b/tables/accounts", nil).String(); !strings.Contains(got, `"plan"`) || hasTable(n, "cli-a", "accounts") {
				t.Fatalf("after the run: cli-b %s", got)
			}
			status := e.mustJSON("status", "--dir", dir)
			if status.get("data.0.slug") != "cli-a" || len(status.get("data.0.pending").([]any)) != 2 || len(status.get("data.1.applied").([]any)) != 2 {
				t.Fatalf("status: %s", status)
			}

			// A registered file changed is refused, naming both checksums.
			if err := os.WriteFile(filepath.Join(dir, "00_base.yaml"), []byte(strings.Replace(base, "email", "mail", 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			if code, _, errOut := e.run("", "run", "--dir", dir); code != 1 || !strings.Contains(errOut, "CHECKSUM_MISMATCH") {
				t.Fatalf("a changed file: %d %s", code, errOut)
			}
			if err := os.WriteFile(filepath.Join(dir, "00_base.yaml"), []byte(base), 0o644); err != nil {
				t.Fatal(err)
			}

			// Reset: refused without --yes and in production; then the schema goes and the
			// changesets run again.
			if code, _, _ := e.run("", "reset", "--tenant", "cli-b"); code != 2 {
				t.Fatalf("reset without --yes: %d", code)
			}
			e.vars["STRATA_ENV"] = "production"
			if code, _, errOut := e.run("", "reset", "--tenant", "cli-b", "--yes"); code != 1 || !strings.Contains(errOut, "production") {
				t.Fatalf("reset in production: %d %s", code, errOut)
			}
			delete(e.vars, "STRATA_ENV")
			e.mustJSON("reset", "--tenant", "cli-b", "--yes")
			tableSoon(t, n, "cli-b", "accounts", false)
			if run := e.mustJSON("run", "--dir", dir, "--tenant", "cli-b"); run.get("data.counts.applied") != 2.0 {
				t.Fatalf("run after reset: %s", run)
			}

			if code, _, _ := e.tenantCLI("delete", "cli-a"); code != 2 {
				t.Fatalf("delete without --yes: %d", code)
			}
			if code, _, errOut := e.tenantCLI("delete", "cli-a", "--yes"); code != 0 {
				t.Fatalf("delete: %d %s", code, errOut)
			}
			if st, _ := n.call("GET", "/api/tenants/cli-a", nil, nil); st != 404 {
				t.Fatalf("the deleted tenant: %d", st)
			}
		})
	}
}

// schemaCLI runs `strata schema` in-process with the CLI environment.
func (e *cliEnv) schemaCLI(args ...string) (int, string, string) {
	e.t.Helper()
	var out, errOut bytes.Buffer
	code := runSchema(context.Background(), args, func(k string) string { return e.vars[k] }, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestSchemaDiff: the changeset `schema diff` writes, run on the --from tenant, gives
// it the --to tenant's schema (tables, columns, indexes, relations, descriptions; what
// it lacked added, what it had extra dropped), after which a diff finds nothing, from a
// tenant or from a snapshot file, and the live schema has no drift; drift made by hand
// is repaired by the SQL a diff from the live schema writes.
func TestSchemaDiff(t *testing.T) {
	requireBackends(t)
	t.Parallel() // alone on its databases; mostly waiting for them
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			e, n := newCLIEnv(t, b.newControlURL(t))
			for _, slug := range []string{"src", "dst"} {
				n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": slug})
			}
			n.mustCall(200, "POST", "/api/t/src/tables", map[string]any{"name": "authors", "description": "who writes", "columns": []any{map[string]any{"name": "name", "type": "string"}}})
			n.mustCall(200, "POST", "/api/t/src/tables", map[string]any{"name": "posts", "columns": []any{
				map[string]any{"name": "title", "type": "string", "length": 200}, map[string]any{"name": "views", "type": "integer"}},
				"relations": []any{map[string]any{"name": "author", "type": "many_to_one", "target": "authors"}}})
			n.mustCall(200, "POST", "/api/t/src/tables/posts/indexes", map[string]any{"columns": []string{"views"}})
			n.mustCall(200, "POST", "/api/t/dst/tables", map[string]any{"name": "posts", "columns": []any{map[string]any{"name": "title", "type": "string", "length": 100},
				map[string]any{"name": "old", "type": "boolean"}}})
			n.mustCall(200, "POST", "/api/t/dst/tables", map[string]any{"name": "legacy", "columns": []any{map[string]any{"name": "x", "type": "integer"}}})

			dir := t.TempDir()
			file := filepath.Join(dir, "diff.yaml")
			if code, out, errOut := e.schemaCLI("diff", "--from", "tenant:dst", "--to", "tenant:src", "--name", "to_src", "--output", file); code != 0 {
				t.Fatalf("diff: %d %s%s", code, out, errOut)
			}
			run := e.mustJSON("run", "--dir", dir, "--tenant", "dst")
			if run.get("data.status") != "completed" {
				t.Fatalf("running the diff: %s", run)
			}
			if code, out, errOut := e.schemaCLI("diff", "--from", "tenant:dst", "--to", "tenant:src"); code != 0 || strings.TrimSpace(out) != "no differences" {
				body, _ := os.ReadFile(file)
				t.Fatalf("after the diff ran: %d %s%s\nthe diff was:\n%s", code, out, errOut, body)
			}
			snap := n.mustCall(200, "GET", "/api/t/src/schema/snapshot", nil)
			raw, _ := json.Marshal(snap["data"])
			if snap["data"] == nil {
				raw, _ = json.Marshal(snap)
			}
			snapFile := filepath.Join(t.TempDir(), "snapshot.json")
			if err := os.WriteFile(snapFile, raw, 0o644); err != nil {
				t.Fatal(err)
			}
			if code, out, errOut := e.schemaCLI("diff", "--from", "tenant:dst", "--to", "file:"+snapFile); code != 0 || strings.TrimSpace(out) != "no differences" {
				t.Fatalf("against the snapshot file: %d %s%s", code, out, errOut)
			}
			if code, out, errOut := e.run("", "drift", "--tenant", "dst"); code != 0 {
				t.Fatalf("drift after the diff ran: %d %s%s", code, out, errOut)
			}

			// Drift made by hand: a column added, a column dropped, an index dropped.
			db := n.tenantDB("dst")
			q := db.Dialect.Quote
			dropIndex := "DROP INDEX " + q("posts_views_idx")
			if db.Dialect.Name() == "mysql" {
				dropIndex += " ON " + q("posts")
			}
			for _, stmt := range []string{"ALTER TABLE " + q("posts") + " ADD COLUMN " + q("by_hand") + " INTEGER",
				"ALTER TABLE " + q("authors") + " DROP COLUMN " + q("name"), dropIndex} {
				if _, err := db.Exec(stmt); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
			if code, out, _ := e.run("", "drift", "--tenant", "dst"); code != 3 {
				t.Fatalf("drift by hand not found: %d %s", code, out)
			}
			repairDir := t.TempDir()
			repair := filepath.Join(repairDir, "repair.yaml")
			if code, out, errOut := e.schemaCLI("diff", "--from", "live:dst", "--to", "tenant:dst", "--name", "repair", "--output", repair); code != 0 {
				t.Fatalf("diff from live: %d %s%s", code, out, errOut)
			}
			body, _ := os.ReadFile(repair)
			if !strings.Contains(string(body), "up_sql") || strings.Contains(string(body), "down_sql") {
				t.Fatalf("a repair drops by_hand for good, so it has SQL and no down_sql:\n%s", body)
			}
			if code, out, errOut := e.run("", "run", "--dir", repairDir, "--tenant", "dst", "--json"); code != 0 || !strings.Contains(out, `"status": "completed"`) {
				t.Fatalf("running the repair: %d %s%s\nthe repair was:\n%s", code, out, errOut, body)
			}
			if code, out, errOut := e.run("", "drift", "--tenant", "dst"); code != 0 {
				t.Fatalf("drift after the repair: %d %s%s\nthe repair was:\n%s", code, out, errOut, body)
			}
			for _, pair := range [][2]string{{"live:dst", "tenant:dst"}, {"tenant:dst", "tenant:src"}, {"live:dst", "tenant:src"}} {
				if code, out, errOut := e.schemaCLI("diff", "--from", pair[0], "--to", pair[1]); code != 0 || strings.TrimSpace(out) != "no differences" {
					t.Fatalf("after the repair, %s against %s: %d %s%s", pair[0], pair[1], code, out, errOut)
				}
			}
			if code, _, _ := e.schemaCLI("diff", "--from", "live:nobody", "--to", "tenant:src"); code != 1 {
				t.Fatalf("a live source that names no tenant: %d", code)
			}
		})
	}
}

// TestSchemaSyncAndDrop: `schema sync` gives a tenant another's schema now, recorded;
// removals need --yes and, refused, change nothing; a dry run changes nothing; `schema
// drop` leaves no user table; both are refused in production.
func TestSchemaSyncAndDrop(t *testing.T) {
	requireBackends(t)
	t.Parallel() // alone on its databases; mostly waiting for them
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			e, n := newCLIEnv(t, b.newControlURL(t))
			for _, slug := range []string{"src", "dev"} {
				n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": slug})
			}
			n.mustCall(200, "POST", "/api/t/src/tables", map[string]any{"name": "authors", "columns": []any{map[string]any{"name": "name", "type": "string"}}})
			n.mustCall(200, "POST", "/api/t/src/tables", map[string]any{"name": "posts", "columns": []any{map[string]any{"name": "title", "type": "string"}},
				"relations": []any{map[string]any{"name": "author", "type": "many_to_one", "target": "authors"}}})
			n.mustCall(200, "POST", "/api/t/dev/tables", map[string]any{"name": "scratch", "columns": []any{map[string]any{"name": "x", "type": "integer"}}})
			// The tables the database holds (the node's cached model may lag the CLI).
			tables := func() string {
				db := n.tenantDB("dev")
				live, err := db.Dialect.Inspect(context.Background(), db)
				if err != nil {
					t.Fatal(err)
				}
				var names []string
				for name := range live.Tables {
					if !schema.IsSystemTable(name) && !strings.HasPrefix(name, schema.TrashPrefix) {
						names = append(names, name)
					}
				}
				sort.Strings(names)
				return strings.Join(names, " ")
			}
			history := func() int { return len(ledger(t, n.tenantDB("dev"))) }

			before := history()
			if code, out, errOut := e.schemaCLI("sync", "--tenant", "dev", "--from", "tenant:src", "--dry-run"); code != 0 || !strings.Contains(out, "CREATE TABLE") {
				t.Fatalf("dry run: %d %s%s", code, out, errOut)
			}
			if code, _, errOut := e.schemaCLI("sync", "--tenant", "dev", "--from", "tenant:src"); code != 1 || !strings.Contains(errOut, "scratch") {
				t.Fatalf("a sync that drops scratch, unconfirmed: %d %s", code, errOut)
			}
			if got := tables(); got != "scratch" || history() != before {
				t.Fatalf("a dry run or a refused sync changed the tenant: %s, %d migrations (was %d)", got, history(), before)
			}
			if code, out, errOut := e.schemaCLI("sync", "--tenant", "dev", "--from", "tenant:src", "--yes"); code != 0 {
				t.Fatalf("sync: %d %s%s", code, out, errOut)
			}
			if got := tables(); got != "authors posts" || history() <= before {
				t.Fatalf("after the sync: %s, %d migrations", got, history())
			}
			if code, out, _ := e.schemaCLI("diff", "--from", "tenant:dev", "--to", "tenant:src"); code != 0 || strings.TrimSpace(out) != "no differences" {
				t.Fatalf("after the sync, a diff: %d %s", code, out)
			}
			if code, out, _ := e.schemaCLI("sync", "--tenant", "dev", "--from", "tenant:src"); code != 0 || !strings.Contains(out, "in sync") {
				t.Fatalf("a second sync: %d %s", code, out)
			}

			e.vars["STRATA_ENV"] = "production"
			for _, cmd := range []string{"sync", "drop"} {
				if code, _, errOut := e.schemaCLI(cmd, "--tenant", "dev", "--from", "tenant:src", "--yes"); code != 1 || !strings.Contains(errOut, "production") {
					t.Fatalf("%s in production: %d %s", cmd, code, errOut)
				}
			}
			delete(e.vars, "STRATA_ENV")
			if code, out, errOut := e.schemaCLI("drop", "--tenant", "dev", "--yes", "--json"); code != 0 || !strings.Contains(out, `"migrations"`) {
				t.Fatalf("drop: %d %s%s", code, out, errOut)
			}
			if got := tables(); got != "" {
				t.Fatalf("after the drop: %q", got)
			}
			if d := liveDrift(t, n.tenantDB("dev")); len(d) > 0 {
				t.Fatalf("drift after the drop: %v", d)
			}
		})
	}
}

// TestCLIAgainstAServer: with --server (or STRATA_SERVER) and a platform key in
// STRATA_TOKEN, the tenant, changeset and schema commands ask a running server over
// its API, with the answers and exit codes they give on the databases; commands that
// need the databases say so; a bad key is the server's 401.
func TestCLIAgainstAServer(t *testing.T) {
	requireBackends(t)
	t.Parallel() // alone on its databases; mostly waiting for them
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			key := n.mustCall(201, "POST", "/api/api-keys", map[string]any{"name": "ci"}).get("data.token").(string)
			// No database URL: everything goes through the server.
			e := &cliEnv{t: t, vars: map[string]string{"STRATA_SERVER": n.base, "STRATA_TOKEN": key, "STRATA_DATA_DIR": t.TempDir()}}

			for _, slug := range []string{"r1", "r2"} {
				if code, out, errOut := e.tenantCLI("create", slug); code != 0 {
					t.Fatalf("tenant create %s: %d %s%s", slug, code, out, errOut)
				}
			}
			if code, _, errOut := e.tenantCLI("tag", "r2", "wave=1"); code != 0 {
				t.Fatalf("tenant tag: %d %s", code, errOut)
			}
			if got := n.mustCall(200, "GET", "/api/tenants/r2", nil); got.get("data.tags.wave") != "1" {
				t.Fatalf("the server does not have what the CLI made: %s", got)
			}
			code, out, _ := e.tenantCLI("list", "--json")
			listed := reply{}
			if err := json.Unmarshal([]byte(out), &listed); code != 0 || err != nil || listed.get("data.1.tags.wave") != "1" {
				t.Fatalf("tenant list: %d %s", code, out)
			}
			if code, _, errOut := e.tenantCLI("create", "r1"); code != 1 || !strings.Contains(errOut, "r1") {
				t.Fatalf("a slug taken: %d %s", code, errOut)
			}

			dir := t.TempDir()
			base := "name: 00_base\nchanges:\n  - op: create_table\n    name: accounts\n    columns: [{name: email, type: string}]\n"
			if err := os.WriteFile(filepath.Join(dir, "00_base.yaml"), []byte(base), 0o644); err != nil {
				t.Fatal(err)
			}
			if plan := e.mustJSON("run", "--dir", dir, "--tags", "wave=1", "--dry-run"); plan.get("data.results.0.status") != "planned" || plan.get("data.results.1") != nil {
				t.Fatalf("dry run: %s", plan)
			}
			if run := e.mustJSON("run", "--dir", dir, "--tags", "wave=1"); run.get("data.status") != "completed" || run.get("data.counts.applied") != 1.0 {
				t.Fatalf("run: %s", run)
			}
			tableSoon(t, n, "r2", "accounts", true)
			status := e.mustJSON("status", "--dir", dir)
			if status.get("data.0.slug") != "r1" || status.get("data.0.pending.0") != "00_base" || status.get("data.1.applied.0") != "00_base" {
				t.Fatalf("status: %s", status)
			}
			if run := e.mustJSON("run", "--dir", dir, "--tenant", "r2"); run.get("data.counts.skipped") != 1.0 {
				t.Fatalf("a second run: %s", run)
			}
			changed := strings.Replace(base, "email", "mail", 1)
			if err := os.WriteFile(filepath.Join(dir, "00_base.yaml"), []byte(changed), 0o644); err != nil {
				t.Fatal(err)
			}
			if code, _, errOut := e.run("", "run", "--dir", dir); code != 1 || !strings.Contains(errOut, "CHECKSUM_MISMATCH") {
				t.Fatalf("a changed file: %d %s", code, errOut)
			}

			// The schema commands.
			if code, out, errOut := e.schemaCLI("diff", "--from", "tenant:r1", "--to", "tenant:r2", "--output", filepath.Join(t.TempDir(), "d.yaml")); code != 0 {
				t.Fatalf("diff: %d %s%s", code, out, errOut)
			}
			if code, out, errOut := e.schemaCLI("sync", "--tenant", "r1", "--from", "tenant:r2", "--yes"); code != 0 || !strings.Contains(out, "accounts") {
				t.Fatalf("sync: %d %s%s", code, out, errOut)
			}
			if code, out, _ := e.schemaCLI("diff", "--from", "tenant:r1", "--to", "tenant:r2"); code != 0 || strings.TrimSpace(out) != "no differences" {
				t.Fatalf("after the sync: %d %s", code, out)
			}
			if code, _, errOut := e.schemaCLI("drop", "--tenant", "r1"); code != 1 || !strings.Contains(errOut, "accounts") {
				t.Fatalf("an unconfirmed drop: %d %s", code, errOut)
			}
			if code, out, errOut := e.schemaCLI("drop", "--tenant", "r1", "--yes"); code != 0 {
				t.Fatalf("drop: %d %s%s", code, out, errOut)
			}
			if hasTable(n, "r1", "accounts") {
				t.Fatal("accounts is there after the drop")
			}
			if code, _, errOut := e.schemaCLI("diff", "--from", "live:r1", "--to", "tenant:r1"); code != 2 || !strings.Contains(errOut, "databases") {
				t.Fatalf("a live source through a server: %d %s", code, errOut)
			}
			if code, _, errOut := e.run("", "list", "--tenant", "r1"); code != 2 || !strings.Contains(errOut, "databases directly") {
				t.Fatalf("a command that needs the databases: %d %s", code, errOut)
			}
			if code, _, errOut := e.run("", "status", "--tenant", "r1"); code != 2 || !strings.Contains(errOut, "--dir") {
				t.Fatalf("status without --dir through a server: %d %s", code, errOut)
			}
			// Reset through the server: r2's changeset rolled back, so it runs again.
			if code, out, errOut := e.run("", "reset", "--tenant", "r2", "--yes"); code != 0 {
				t.Fatalf("reset: %d %s%s", code, out, errOut)
			}
			tableSoon(t, n, "r2", "accounts", false)
			if err := os.WriteFile(filepath.Join(dir, "00_base.yaml"), []byte(base), 0o644); err != nil {
				t.Fatal(err)
			}
			if run := e.mustJSON("run", "--dir", dir, "--tenant", "r2"); run.get("data.counts.applied") != 1.0 {
				t.Fatalf("after the reset: %s", run)
			}
			if code, _, errOut := e.tenantCLI("delete", "r1", "--yes"); code != 0 {
				t.Fatalf("tenant delete: %d %s", code, errOut)
			}
			n.mustCall(404, "GET", "/api/tenants/r1", nil)

			e.vars["STRATA_TOKEN"] = "spk_not-a-key"
			if code, _, errOut := e.tenantCLI("list", "--json"); code != 1 || !strings.Contains(errOut, "INVALID_TOKEN") {
				t.Fatalf("a bad key: %d %s", code, errOut)
			}
			delete(e.vars, "STRATA_TOKEN")
			if code, _, errOut := e.tenantCLI("list"); code != 2 || !strings.Contains(errOut, "STRATA_TOKEN") {
				t.Fatalf("no key: %d %s", code, errOut)
			}
		})
	}
}
