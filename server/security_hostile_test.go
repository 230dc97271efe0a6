package main

import (
	"strings"
	"testing"
	"time"
)

// TestSecurityHostileTenantAdmin is the authorization matrix's hostile-admin column:
// everything a tenant admin can submit — custom SQL, schema writes, GraphQL documents,
// websocket messages — is aimed at another tenant's data and at the platform. Every
// attempt must be refused, and afterwards the other tenant, the control database and
// the platform admin are as they were.
func TestSecurityHostileTenantAdmin(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			platform := startNode(t, b.newControlURL(t), nil)
			for _, slug := range []string{"acme", "beta"} {
				platform.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": slug})
			}
			platform.mustCall(200, "POST", "/api/t/beta/tables", map[string]any{"name": "secrets", "columns": []any{map[string]any{"name": "v", "type": "string"}}})
			platform.mustCall(200, "POST", "/api/t/beta/items/secrets", map[string]any{"v": "s3cret"})
			platform.mustCall(200, "POST", "/api/t/acme/users", map[string]any{"email": "mallory@example.com", "password": "mallory-pass-1", "role": roleID(t, platform, "acme", "admin")})
			anon := &node{t: t, base: platform.base}
			tok := anon.mustCall(200, "POST", "/api/t/acme/auth/login", map[string]any{"email": "mallory@example.com", "password": "mallory-pass-1"}).get("data.access_token").(string)
			mallory := &node{t: t, base: platform.base, token: tok, app: platform.app}
			p := "/api/t/acme"
			beta := platform.tenantDB("beta").Name

			// Custom SQL aimed beyond the tenant: each must be refused (400 before it
			// runs, or 409 when the database refuses it) and leave nothing behind.
			attacks := map[string][]string{
				"postgres": {
					`SELECT * FROM "` + beta + `".secrets`,
					`CREATE TABLE loot AS SELECT * FROM "` + beta + `".secrets`,
					`CREATE TABLE loot AS SELECT * FROM public.strata_admins`,
					`CREATE TABLE loot AS SELECT * FROM public.strata_tenants`,
					`ALTER ROLE CURRENT_USER SUPERUSER`,
					`CREATE ROLE evil SUPERUSER LOGIN PASSWORD 'x'`,
					`GRANT USAGE ON SCHEMA "` + beta + `" TO PUBLIC`,
					`DROP SCHEMA "` + beta + `" CASCADE`,
					`CREATE SCHEMA t_gamma`,
					`CREATE EXTENSION dblink`,
					`COPY (SELECT 1) TO PROGRAM 'id'`,
					`CREATE TABLE loot AS SELECT pg_read_file('/etc/passwd') AS f`,
					`DO $$ BEGIN PERFORM pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid(); END $$`,
					`DO $$ BEGIN EXECUTE 'SET ROLE postgres'; END $$`,
					`DO $$ BEGIN PERFORM set_config('role', 'postgres', false); END $$`,
				},
				"mysql": {
					"CREATE TABLE loot AS SELECT * FROM `" + beta + "`.secrets",
					"CREATE TABLE loot AS SELECT * FROM mysql.user",
					"CREATE TABLE loot AS SELECT LOAD_FILE('/etc/passwd') AS f",
					"SELECT 1 INTO OUTFILE '/tmp/strata-loot'",
					"DROP DATABASE `" + beta + "`",
					"CREATE USER evil IDENTIFIED BY 'x'",
					"GRANT ALL ON *.* TO CURRENT_USER",
					"CREATE EVENT e ON SCHEDULE EVERY 1 SECOND DO DELETE FROM `" + beta + "`.secrets",
					"CREATE PROCEDURE p() BEGIN DROP DATABASE `" + beta + "`; END; CALL p()",
				},
				"sqlite": {
					`ATTACH DATABASE '` + beta + `' AS b`,
					`SELECT load_extension('/tmp/evil')`,
					`PRAGMA writable_schema = ON`,
					`VACUUM INTO '/tmp/strata-loot.db'`,
				},
			}[b.name]
			for _, q := range attacks {
				st, r := mallory.call("POST", p+"/migrations", map[string]any{"name": "attack", "up_sql": q}, nil)
				if st != 400 && st != 409 {
					t.Errorf("custom SQL %q: %d %s, want 400 or 409", q, st, r)
				}
			}

			// Schema writes naming another tenant's objects.
			for _, body := range []map[string]any{
				{"name": beta + ".secrets", "columns": []any{}},
				{"name": "secrets", "columns": []any{}, "relations": []any{map[string]any{"name": "leak", "type": "many_to_one", "target": beta + ".secrets"}}},
				{"name": "strata_tenants", "columns": []any{}},
			} {
				if st, r := mallory.call("POST", p+"/tables", body, nil); st != 400 {
					t.Errorf("table %v: %d %s, want 400", body["name"], st, r)
				}
			}
			if st, r := mallory.call("POST", p+"/relations", map[string]any{"table": "strata_users", "name": "x", "type": "many_to_one", "target": "../beta/secrets"}, nil); st != 400 && st != 404 {
				t.Errorf("relation into another tenant: %d %s", st, r)
			}

			// GraphQL documents: another tenant's table is not in this schema, and the
			// platform's tables are nobody's.
			for _, q := range []string{`{ secrets { v } }`, `{ strata_tenants { slug } }`, `{ strata_admins { email } }`} {
				st, r := mallory.gql("acme", q, nil)
				if st == 200 && r.get("errors") == nil {
					t.Errorf("graphql %s answered: %s", q, r)
				}
				if strings.Contains(r.String(), "s3cret") {
					t.Errorf("graphql %s leaked another tenant's row", q)
				}
			}
			if sdl := mallory.sdl("acme"); strings.Contains(sdl, "secrets") {
				t.Error("acme's SDL names beta's table")
			}

			// Websocket messages: subscriptions to another tenant's or the platform's
			// tables are refused; acme's socket never carries beta's rows.
			ws := mallory.dial("acme", tok)
			for i, coll := range []string{"secrets", beta + ".secrets", "strata_tenants", "strata_admins", "../beta/secrets"} {
				uid := "u" + string(rune('a'+i))
				ws.send(map[string]any{"type": "subscribe", "collection": coll, "uid": uid})
				m := ws.expect("subscribe", uid, "")
				if m.get("status") != "error" {
					t.Errorf("subscribe to %q: %s", coll, m)
				}
			}
			platform.mustCall(200, "POST", "/api/t/beta/items/secrets", map[string]any{"v": "another s3cret"})
			deadline := time.Now().Add(300 * time.Millisecond)
			for time.Now().Before(deadline) {
				if m, err := ws.next(100 * time.Millisecond); err == nil && strings.Contains(m.String(), "s3cret") {
					t.Errorf("acme's socket carried beta's row: %s", m)
				}
			}

			// The other tenant and the platform are as they were.
			if r := platform.mustCall(200, "GET", "/api/t/beta/items/secrets?sort=v", nil); len(r["data"].([]any)) != 2 || r.get("data.0.v") != "another s3cret" {
				t.Fatalf("beta's rows changed: %s", r)
			}
			if tables := platform.mustCall(200, "GET", p+"/tables", nil).fieldNames("data"); tables["loot"] || tables["secrets"] {
				t.Fatalf("acme holds another tenant's data: %v", tables)
			}
			if r := platform.mustCall(200, "GET", "/api/tenants", nil); len(r["data"].([]any)) != 2 {
				t.Fatalf("tenants: %s", r)
			}
			anon.mustCall(200, "POST", "/api/auth/login", map[string]any{"email": "admin@example.com", "password": testPassword})
		})
	}
}
