package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"strata/modules/database"
)

// cliEnv runs `strata migrate` in-process against the databases of a test node, with
// the environment that node was started with (the CLI never talks to the node).
type cliEnv struct {
	t    *testing.T
	vars map[string]string
}

func newCLIEnv(t *testing.T, control string) (*cliEnv, *node) {
	vars := map[string]string{"STRATA_DATA_DIR": t.TempDir(), "STRATA_DATABASE_URL": control,
		"STRATA_JWT_SECRET": "test-secret-test-secret-test-secret!!"}
	n := startNode(t, control, vars)
	return &cliEnv{t: t, vars: vars}, n
}

// run returns the exit code, stdout and stderr of one command; stdin answers questions.
func (e *cliEnv) run(stdin string, args ...string) (int, string, string) {
	e.t.Helper()
	var out, errOut bytes.Buffer
	code := runMigrate(context.Background(), args, func(k string) string { return e.vars[k] }, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// mustJSON runs a command with --json that must succeed and decodes its answer.
func (e *cliEnv) mustJSON(args ...string) reply {
	e.t.Helper()
	code, out, errOut := e.run("", append(args, "--json")...)
	if code != 0 {
		e.t.Fatalf("strata migrate %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	r := reply{}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		e.t.Fatalf("strata migrate %s: not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
	return r
}

// failedSeq makes a change over HTTP that must fail and returns its migration's seq.
func failedSeq(t *testing.T, n *node, method, path string, body any) string {
	t.Helper()
	st, r := n.call(method, path, body, nil)
	if st != 409 || r.get("errors.0.extensions.code") != "MIGRATION_FAILED" {
		t.Fatalf("%s %s: want a failed migration, got %d %s", method, path, st, r)
	}
	return fmt.Sprint(r.get("errors.0.extensions.migration.seq"))
}

// execScript runs an SQL script statement by statement (the drivers here do not all
// take several statements at once).
func execScript(t *testing.T, db *database.DB, script string) {
	t.Helper()
	for _, stmt := range strings.Split(script, ";\n") {
		stmt = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(stmt), ";"))
		if stmt == "" || strings.HasPrefix(stmt, "--") {
			continue
		}
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

func TestMigrateCLI(t *testing.T) {
	requireBackends(t)
	t.Parallel() // alone on its databases; mostly waiting for them
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			cli, n := newCLIEnv(t, b.newControlURL(t))
			p := "/api/t/acme"
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "people", "columns": []any{map[string]any{"name": "email", "type": "string"}}})
			n.mustCall(200, "POST", p+"/items/people", []any{map[string]any{"email": "a@example.com"}, map[string]any{"email": "a@example.com"}})
			uniq := failedSeq(t, n, "POST", p+"/tables/people/indexes", map[string]any{"columns": []string{"email"}, "unique": true})
			notNull := failedSeq(t, n, "POST", p+"/tables/people/columns", map[string]any{"name": "must", "type": "string", "nullable": false})
			db := n.tenantDB("acme")

			// Reading: status of every tenant and of one, list, show.
			all := cli.mustJSON("status")
			if all.get("data.0.slug") != "acme" || all.get("data.0.counts.failed") != float64(2) {
				t.Fatalf("status of all tenants: %s", all)
			}
			one := cli.mustJSON("status", "--tenant", "acme")
			if fmt.Sprint(one.get("data.unsettled.1.seq")) != notNull || one.get("data.drift") != nil {
				t.Fatalf("status of acme: %s", one)
			}
			if list := cli.mustJSON("list", "--tenant", "acme", "--status", "failed"); list.get("meta.total_count") != float64(2) {
				t.Fatalf("list of failed migrations: %s", list)
			}
			code, out, _ := cli.run("", "show", uniq, "--tenant", "acme")
			if code != 0 || !strings.Contains(out, "-- up") || !strings.Contains(out, "status:      failed") {
				t.Fatalf("show: exit %d\n%s", code, out)
			}

			// A failed step in range: replay refused before the sandbox is made.
			if code, _, errOut := cli.run("", "replay", "--tenant", "acme-sb", "--from", "acme", "--create"); code != 1 || !strings.Contains(errOut, "is failed") {
				t.Fatalf("replay of an unsettled history: exit %d %s", code, errOut)
			}
			if st, _ := n.call("GET", "/api/tenants/acme-sb", nil, nil); st != 404 {
				t.Fatalf("a refused sandbox was created: %d", st)
			}

			// Retry fails again while the data still has duplicates.
			if code, _, errOut := cli.run("", "retry", uniq, "--tenant", "acme"); code != 1 || !strings.Contains(errOut, "MIGRATION_FAILED") {
				t.Fatalf("retry: exit %d %s", code, errOut)
			}
			// resolve checks the claim against the live schema.
			if code, _, errOut := cli.run("", "resolve", uniq, "--tenant", "acme", "--as", "executed", "--reason", "fixed"); code != 1 || !strings.Contains(errOut, "does not show") {
				t.Fatalf("resolve of a change the schema lacks: exit %d %s", code, errOut)
			}
			for _, bad := range [][]string{
				{"resolve", uniq, "--tenant", "acme", "--as", "done", "--reason", "x"},
				{"resolve", uniq, "--tenant", "acme", "--as", "executed"},
				{"resolve", "--tenant", "acme", "--as", "executed", "--reason", "x"},
			} {
				if code, _, _ := cli.run("", bad...); code == 0 {
					t.Fatalf("%v: accepted", bad)
				}
			}
			// The admin fixes it by hand: removes the duplicate, runs the migration's SQL.
			var upSQL string
			if err := db.QueryRow(db.Dialect.Rebind("SELECT "+db.Dialect.Quote("up_sql")+" FROM "+db.Dialect.Quote("custom_migrations")+" WHERE "+db.Dialect.Quote("seq")+" = ?"), uniq).Scan(&upSQL); err != nil {
				t.Fatal(err)
			}
			var keep string
			if err := db.QueryRow("SELECT " + db.Dialect.Quote("id") + " FROM " + db.Dialect.Quote("people") + " ORDER BY " + db.Dialect.Quote("id") + " LIMIT 1").Scan(&keep); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(db.Dialect.Rebind("DELETE FROM "+db.Dialect.Quote("people")+" WHERE "+db.Dialect.Quote("id")+" <> ?"), keep); err != nil {
				t.Fatal(err)
			}
			execScript(t, db, upSQL)
			r := cli.mustJSON("resolve", uniq, "--tenant", "acme", "--as", "executed", "--reason", "removed the duplicate address", "--by", "ops@example.com")
			if r.get("data.migration.status") != "executed" || r.get("data.resolution.resolved_by") != "ops@example.com" {
				t.Fatalf("resolve as executed: %s", r)
			}
			// The other one is given up: nothing of it is in the schema.
			r = cli.mustJSON("resolve", notNull, "--tenant", "acme", "--as", "rolled_back", "--reason", "not needed after all")
			if r.get("data.migration.status") != "rolled_back" {
				t.Fatalf("resolve as rolled_back: %s", r)
			}
			var resolutions int
			if err := db.QueryRow("SELECT COUNT(*) FROM " + db.Dialect.Quote("migration_resolutions")).Scan(&resolutions); err != nil || resolutions != 2 {
				t.Fatalf("recorded resolutions: %d %v", resolutions, err)
			}
			if d := liveDrift(t, db); len(d) > 0 {
				t.Fatalf("drift after the resolutions: %v", d)
			}
			if code, _, _ := cli.run("", "resolve", uniq, "--tenant", "acme", "--as", "executed", "--reason", "again"); code != 1 {
				t.Fatalf("resolving a settled migration: exit %d", code)
			}

			// Replay into a new sandbox: the resolved history copies, the given-up step does not.
			r = cli.mustJSON("replay", "--tenant", "acme-sb", "--from", "acme", "--create")
			if r.get("data.complete") != true || r.get("data.applied") != float64(2) {
				t.Fatalf("replay: %s", r)
			}
			sameSchema(t, n, "acme", "acme-sb")
			n.mustCall(200, "POST", p+"/tables/people/columns", map[string]any{"name": "nick", "type": "string"})
			if r = cli.mustJSON("replay", "--tenant", "acme-sb", "--from", "acme"); r.get("data.applied") != float64(1) || r.get("data.skipped") != float64(2) {
				t.Fatalf("incremental replay: %s", r)
			}

			// Rollback: a removal needs --yes (or a yes on a terminal).
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "extra", "columns": []any{}})
			code, _, errOut := cli.run("y\n", "rollback", "--tenant", "acme", "--steps", "1")
			if code != 1 || !strings.Contains(errOut, "not confirmed") {
				t.Fatalf("rollback without --yes: exit %d %s", code, errOut)
			}
			if tables := n.mustCall(200, "GET", p+"/tables", nil).fieldNames("data"); !tables["extra"] {
				t.Fatal("an unconfirmed rollback dropped the table")
			}
			if r = cli.mustJSON("rollback", "--tenant", "acme", "--steps", "2", "--dry-run"); len(r.get("data.targets").([]any)) != 2 {
				t.Fatalf("rollback dry run: %s", r)
			}
			r = cli.mustJSON("rollback", "--tenant", "acme", "--steps", "2", "--yes")
			if ms, _ := r.get("data.migrations").([]any); len(ms) != 2 || r.get("data.migrations.0.type") != "rollback" {
				t.Fatalf("rollback --steps 2: %s", r)
			}
			if d := liveDrift(t, db); len(d) > 0 {
				t.Fatalf("drift after the rollback: %v", d)
			}
			if code, _, _ := cli.run("", "rollback", "--tenant", "acme", "--steps", "1", "--to", "3"); code != 2 {
				t.Fatalf("rollback with --steps and --to: exit %d", code)
			}

			// Export to a file, drift found by hand-made SQL.
			file := filepath.Join(t.TempDir(), "acme.sql")
			if code, _, errOut := cli.run("", "export", "--tenant", "acme", "--dialect", "sqlite", "--output", file); code != 0 {
				t.Fatalf("export: exit %d %s", code, errOut)
			}
			if script, err := os.ReadFile(file); err != nil || !strings.Contains(string(script), `CREATE TABLE "people"`) {
				t.Fatalf("exported script: %v\n%s", err, script)
			}
			if code, _, _ := cli.run("", "export", "--tenant", "acme", "--dialect", "oracle"); code != 2 {
				t.Fatalf("export with an unknown dialect: exit %d", code)
			}
			if code, out, _ := cli.run("", "drift", "--tenant", "acme"); code != 0 || !strings.Contains(out, "in sync") {
				t.Fatalf("drift: exit %d %s", code, out)
			}
			if _, err := db.Exec("ALTER TABLE " + db.Dialect.Quote("people") + " ADD COLUMN " + db.Dialect.Quote("by_hand") + " INTEGER"); err != nil {
				t.Fatal(err)
			}
			if code, out, _ := cli.run("", "drift", "--tenant", "acme"); code != 3 || !strings.Contains(out, "by_hand") {
				t.Fatalf("drift after a hand-made column: exit %d %s", code, out)
			}

			// Usage errors.
			for _, bad := range [][]string{{"frobnicate"}, {"show", "1"}, {"list", "--tenant", "acme", "--status", "sideways"}, {"show", "--tenant", "acme", "--nope"}} {
				if code, _, _ := cli.run("", bad...); code != 2 {
					t.Errorf("%v: exit %d, want 2", bad, code)
				}
			}
			if code, _, errOut := cli.run("", "show", "999", "--tenant", "acme", "--json"); code != 1 || !strings.Contains(errOut, `"code":"ROUTE_NOT_FOUND"`) {
				t.Errorf("show of a missing migration: exit %d %s", code, errOut)
			}
		})
	}
}

// TestMigrateSystem: `strata migrate system` upgrades every tenant lacking system tables,
// a tenant that fails does not stop the others, and each is reported.
func TestMigrateSystem(t *testing.T) {
	requireBackends(t)
	t.Parallel() // alone on its databases; mostly waiting for them
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			cli, n := newCLIEnv(t, b.newControlURL(t))
			for _, slug := range []string{"one", "two", "three"} {
				n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": slug})
			}
			// "one" and "two" lose a system table's metadata, as if made by an older
			// Strata; "two" keeps the table itself, so creating it fails.
			for _, slug := range []string{"one", "two"} {
				db := n.tenantDB(slug)
				q := db.Dialect.Quote
				stmts := []string{
					"DELETE FROM " + q("column_definition") + " WHERE " + q("table_id") + " IN (SELECT " + q("id") + " FROM " + q("table_definition") + " WHERE " + q("name") + " = 'migration_resolutions')",
					"DELETE FROM " + q("table_definition") + " WHERE " + q("name") + " = 'migration_resolutions'",
				}
				if slug == "one" {
					// and a column of another, as if a newer snapshot had added it
					stmts = append(stmts, "DROP TABLE "+q("migration_resolutions"),
						"DELETE FROM "+q("column_definition")+" WHERE "+q("name")+" = 'last_used_at' AND "+q("table_id")+" IN (SELECT "+q("id")+" FROM "+q("table_definition")+" WHERE "+q("name")+" = 'strata_api_keys')",
						"ALTER TABLE "+q("strata_api_keys")+" DROP COLUMN "+q("last_used_at"),
						// and a column of the metadata itself, which the upgrade reads first
						"DELETE FROM "+q("column_definition")+" WHERE "+q("name")+" = 'display_template' AND "+q("table_id")+" IN (SELECT "+q("id")+" FROM "+q("table_definition")+" WHERE "+q("name")+" = 'table_definition')",
						"ALTER TABLE "+q("table_definition")+" DROP COLUMN "+q("display_template"))
				}
				for _, s := range stmts {
					if _, err := db.Exec(s); err != nil {
						t.Fatalf("%s: %v", s, err)
					}
				}
			}
			code, out, errOut := cli.run("", "system", "--json")
			if code != 1 {
				t.Fatalf("system with a failing tenant: exit %d\n%s%s", code, out, errOut)
			}
			var r struct {
				Data []struct {
					Slug    string   `json:"slug"`
					Status  string   `json:"status"`
					Created []string `json:"created"`
					Error   string   `json:"error"`
				} `json:"data"`
			}
			if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Data) != 3 {
				t.Fatalf("system report: %v\n%s", err, out)
			}
			got := map[string]string{}
			for _, d := range r.Data {
				got[d.Slug] = d.Status + " " + strings.Join(d.Created, ",")
			}
			if got["one"] != "upgraded table_definition.display_template,strata_api_keys.last_used_at,migration_resolutions" || got["two"] != "failed " || got["three"] != "up to date " {
				t.Fatalf("system report: %s", out)
			}
			n.mustCall(200, "GET", "/api/t/one/api-keys", nil)
			if d := liveDrift(t, n.tenantDB("one")); len(d) > 0 {
				t.Fatalf("drift after the upgrade: %v", d)
			}
			// Run again: "one" is now up to date and costs no migration.
			before := len(ledger(t, n.tenantDB("one")))
			cli.run("", "system")
			if after := len(ledger(t, n.tenantDB("one"))); after != before {
				t.Fatalf("a second upgrade added %d migrations", after-before)
			}
		})
	}
}

// TestApprovalPolicyHoldsEverySurface: the migration service reads the tenant's
// require_approval itself, so a rollback the CLI asks for is held for approval exactly
// as one asked over HTTP; before, the CLI ran it at once.
func TestApprovalPolicyHoldsEverySurface(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			cli, n := newCLIEnv(t, b.newControlURL(t))
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			p := "/api/t/acme"
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "notes", "columns": []any{map[string]any{"name": "text", "type": "string"}}})
			n.mustCall(200, "POST", p+"/tables/notes/columns", map[string]any{"name": "mood", "type": "string"})
			n.mustCall(200, "PATCH", p+"/settings", map[string]any{"require_approval": "all"})

			r := cli.mustJSON("rollback", "--tenant", "acme", "--steps", "1", "--yes")
			if r.get("data.migrations.0.status") != "pending" {
				t.Fatalf("a CLI rollback under require_approval=all: %s", r)
			}
			if cols := n.mustCall(200, "GET", p+"/tables/notes", nil).fieldNames("data.columns"); !cols["mood"] {
				t.Fatal("the held rollback dropped the column")
			}
			// Approved, it runs.
			n.mustCall(200, "POST", p+"/migrations/"+r.get("data.migrations.0.id").(string)+"/approve", nil)
			if cols := n.mustCall(200, "GET", p+"/tables/notes", nil).fieldNames("data.columns"); cols["mood"] {
				t.Fatal("the approved rollback left the column")
			}
		})
	}
}
