package main

import (
	"fmt"
	"strings"
	"testing"
)

// customSQL holds what each dialect spells differently in the custom SQL tests.
type customSQL struct {
	createNotes, addColumn, dropColumn, badTable string
	escapes                                      []string // each must fail: they reach for the other tenant
}

func customSQLFor(dialect, other string) customSQL {
	switch dialect {
	case "postgres":
		return customSQL{
			createNotes: `CREATE TABLE notes (id uuid PRIMARY KEY, owner_id uuid NULL, created_at timestamp with time zone NOT NULL DEFAULT now(),
  updated_at timestamp with time zone NOT NULL DEFAULT now(), body text NULL, score integer NOT NULL DEFAULT 0);
CREATE INDEX notes_score_idx ON notes (score);`,
			addColumn:  `ALTER TABLE notes ADD COLUMN extra bigint NULL`,
			dropColumn: `ALTER TABLE notes DROP COLUMN extra`,
			badTable:   `CREATE TABLE bad (x integer)`,
			escapes: []string{
				`DROP SCHEMA "` + other + `" CASCADE`,
				`CREATE TABLE stolen AS SELECT * FROM "` + other + `".secrets`,
				`RESET ROLE; DROP SCHEMA "` + other + `" CASCADE`,
				`SET ROLE postgres; DROP SCHEMA "` + other + `" CASCADE`,
				`DO $$ BEGIN EXECUTE 'DROP TABLE "` + other + `".secrets'; END $$`,
			},
		}
	case "mysql":
		return customSQL{
			createNotes: "CREATE TABLE notes (id char(36) NOT NULL PRIMARY KEY, owner_id char(36) NULL, created_at datetime(6) NOT NULL, updated_at datetime(6) NOT NULL, body longtext NULL, score int NOT NULL DEFAULT 0);\nCREATE INDEX notes_score_idx ON notes (score);",
			addColumn:   "ALTER TABLE notes ADD COLUMN extra bigint NULL",
			dropColumn:  "ALTER TABLE notes DROP COLUMN extra",
			badTable:    "CREATE TABLE bad (x int)",
			escapes: []string{
				"DROP DATABASE `" + other + "`",
				"CREATE TABLE stolen AS SELECT * FROM `" + other + "`.secrets",
				"DROP TABLE `" + other + "`.secrets",
			},
		}
	}
	return customSQL{
		createNotes: `CREATE TABLE notes (id UUID NOT NULL PRIMARY KEY, owner_id UUID, created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, body TEXT, score INTEGER NOT NULL DEFAULT 0);
CREATE INDEX notes_score_idx ON notes (score);`,
		addColumn:  `ALTER TABLE notes ADD COLUMN extra BIGINT`,
		dropColumn: `ALTER TABLE notes DROP COLUMN extra`,
		badTable:   `CREATE TABLE bad (x INTEGER)`,
		escapes: []string{
			`ATTACH DATABASE '` + other + `' AS o; DROP TABLE o.secrets`,
			`ATTACH DATABASE '` + other + `' AS o`,
		},
	}
}

func TestCustomSQL(t *testing.T) {
	requireBackends(t)
	t.Parallel() // alone on its databases; mostly waiting for DDL
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "other"})
			n.mustCall(200, "POST", "/api/t/other/tables", map[string]any{"name": "secrets", "columns": []any{map[string]any{"name": "v", "type": "string"}}})
			n.mustCall(200, "POST", "/api/t/other/items/secrets", map[string]any{"v": "s3cret"})
			db := n.tenantDB("acme")
			sqls := customSQLFor(db.Dialect.Name(), n.tenantDB("other").Name)
			p := "/api/t/acme"

			// A table created by SQL becomes a model table the API serves.
			r := n.mustCall(200, "POST", p+"/migrations", map[string]any{"name": "notes by hand", "up_sql": sqls.createNotes})
			if r.get("data.migration.type") != "custom" || r.get("data.migration.status") != "executed" || r.get("data.changes.0.type") != "create_table" {
				t.Fatalf("custom create: %s", r)
			}
			cols := n.mustCall(200, "GET", p+"/tables/notes", nil).fieldNames("data.columns")
			if !cols["body"] || !cols["score"] || !cols["id"] {
				t.Fatalf("notes columns: %v", cols)
			}
			n.mustCall(200, "POST", p+"/items/notes", map[string]any{"body": "hello", "score": 3})
			if d := liveDrift(t, db); len(d) > 0 {
				t.Fatalf("drift after custom SQL: %v", d)
			}

			// Reaching for the other tenant fails and changes nothing.
			for _, q := range sqls.escapes {
				// Refused before it runs (400: ATTACH and the like are never allowed) or
				// refused by the database as it runs (409).
				st, r := n.call("POST", p+"/migrations", map[string]any{"up_sql": q}, nil)
				if (st != 409 || r.get("errors.0.extensions.code") != "MIGRATION_FAILED") && (st != 400 || r.get("errors.0.extensions.code") != "INVALID_PAYLOAD") {
					t.Fatalf("escape %q: %d %s", q, st, r)
				}
			}
			if r := n.mustCall(200, "GET", "/api/t/other/items/secrets", nil); r.get("data.0.v") != "s3cret" {
				t.Fatalf("the other tenant changed: %s", r)
			}
			if tables := n.mustCall(200, "GET", p+"/tables", nil).fieldNames("data"); tables["stolen"] {
				t.Fatal("a table was made from the other tenant's rows")
			}

			// A schema the model cannot describe is refused; nothing stays behind.
			body := map[string]any{"up_sql": sqls.badTable, "down_sql": "DROP TABLE bad"}
			if st, r := n.call("POST", p+"/migrations", body, nil); st != 409 || !strings.Contains(fmt.Sprint(r.get("errors.0.message")), "system columns") {
				t.Fatalf("undescribable: %d %s", st, r)
			}
			if d := liveDrift(t, db); len(d) > 0 {
				t.Fatalf("drift after a refused custom SQL: %v", d)
			}

			// A dry run shows the model changes and leaves the schema alone.
			if db.Dialect.TransactionalDDL() {
				r := n.mustCall(200, "POST", p+"/migrations?dry_run=true", map[string]any{"up_sql": sqls.addColumn})
				if r.get("data.dry_run") != true || r.get("data.changes.0.type") != "add_column" {
					t.Fatalf("dry run: %s", r)
				}
				if cols := n.mustCall(200, "GET", p+"/tables/notes", nil).fieldNames("data.columns"); cols["extra"] {
					t.Fatal("the dry run added the column")
				}
			}

			// With down_sql it rolls back; without, the rollback is refused.
			r = n.mustCall(200, "POST", p+"/migrations", map[string]any{"up_sql": sqls.addColumn, "down_sql": sqls.dropColumn})
			id := r.get("data.migration.id").(string)
			if cols := n.mustCall(200, "GET", p+"/tables/notes", nil).fieldNames("data.columns"); !cols["extra"] {
				t.Fatalf("extra column not in the model: %v", cols)
			}
			rollback(t, n, "acme", id, "")
			if cols := n.mustCall(200, "GET", p+"/tables/notes", nil).fieldNames("data.columns"); cols["extra"] {
				t.Fatalf("extra column still there after rollback: %v", cols)
			}
			if migrationStatus(t, n, "acme", id) != "rolled_back" {
				t.Fatal("custom migration not marked rolled_back")
			}
			r = n.mustCall(200, "GET", p+"/migrations?type=custom&status=executed", nil)
			create := r.get("data.0.id").(string)
			if st, r := n.call("POST", p+"/migrations/"+create+"/rollback", nil, nil); st != 409 || !strings.Contains(fmt.Sprint(r.get("errors.0.message")), "without down_sql") {
				t.Fatalf("rollback without down_sql: %d %s", st, r)
			}
			if d := liveDrift(t, db); len(d) > 0 {
				t.Fatalf("drift at the end: %v", d)
			}

			// Bad input.
			for _, bad := range []any{map[string]any{"up_sql": ""}, map[string]any{"up_sql": 5}, "x"} {
				if st, r := n.call("POST", p+"/migrations", bad, nil); st != 400 {
					t.Fatalf("bad body %v: %d %s", bad, st, r)
				}
			}

			// A history with custom SQL and its rollback replays into a sandbox (a
			// failed step would block it, so a tenant without any).
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "solo"})
			n.mustCall(200, "POST", "/api/t/solo/migrations", map[string]any{"up_sql": sqls.createNotes})
			n.mustCall(200, "POST", "/api/t/solo/migrations", map[string]any{"up_sql": "CREATE INDEX notes_body_score ON notes (score, id)"})
			id = n.mustCall(200, "POST", "/api/t/solo/migrations", map[string]any{"up_sql": sqls.addColumn, "down_sql": sqls.dropColumn}).get("data.migration.id").(string)
			rollback(t, n, "solo", id, "")
			n.mustCall(201, "POST", "/api/tenants/solo/sandboxes", map[string]any{"slug": "solo-sb"})
			sameSchema(t, n, "solo", "solo-sb")
			if got, want := userLive(t, n.tenantDB("solo-sb")), userLive(t, n.tenantDB("solo")); got != want {
				t.Fatalf("sandbox differs:\n%s\nwant\n%s", got, want)
			}
		})
	}
}
