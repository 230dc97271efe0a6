package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"strata/modules/database"
)

// The security regression suite for the tenant boundary (issue 13): each test plays a
// hostile tenant admin and fails on the build that had the hole.

// TestSecurityTenantCodeRunsAsTenant (finding 1): a trigger a tenant admin writes runs
// on the next ordinary insert. It must run as the tenant's own account, which reaches
// neither another tenant nor superuser, even after RESET ROLE.
func TestSecurityTenantCodeRunsAsTenant(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	// SQLite aside: no accounts: TestSecuritySQLiteTriggersCannotTamper covers SQLite.
	for _, b := range serverBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "other"})
			n.mustCall(200, "POST", "/api/t/other/tables", map[string]any{"name": "secrets", "columns": []any{map[string]any{"name": "v", "type": "string"}}})
			n.mustCall(200, "POST", "/api/t/other/items/secrets", map[string]any{"v": "s3cret"})
			n.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "notes", "columns": []any{map[string]any{"name": "body", "type": "text"}}})
			other := n.tenantDB("other").Name
			var trigger string
			if b.name == "postgres" {
				trigger = `CREATE FUNCTION spy() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE leaked text; super boolean;
BEGIN
  RESET ROLE;
  SELECT rolsuper INTO super FROM pg_roles WHERE rolname = current_user;
  BEGIN
    SELECT v INTO leaked FROM "` + other + `".secrets LIMIT 1;
  EXCEPTION WHEN insufficient_privilege THEN leaked := 'denied';
  END;
  NEW.body := current_user || '|' || super::text || '|' || coalesce(leaked, 'none');
  RETURN NEW;
END $$;
CREATE TRIGGER spy BEFORE INSERT ON notes FOR EACH ROW EXECUTE FUNCTION spy();`
			} else {
				// USER() is the login of the session the insert runs in (a trigger's
				// privileges are its definer's; the session is what the node logs in as).
				trigger = "CREATE TRIGGER spy BEFORE INSERT ON notes FOR EACH ROW SET NEW.body = CONCAT(USER(), '|', (SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '" + other + "'))"
			}
			n.mustCall(200, "POST", "/api/t/acme/migrations", map[string]any{"name": "spy", "up_sql": trigger})
			r := n.mustCall(200, "POST", "/api/t/acme/items/notes", map[string]any{"body": "hello"})
			got, _ := r.get("data.body").(string)
			parts := strings.Split(got, "|")
			if !strings.HasPrefix(parts[0], "strata_t_") {
				t.Fatalf("an ordinary insert ran tenant code as %q, not as the tenant's own account", got)
			}
			if b.name == "postgres" && (len(parts) != 3 || parts[1] != "false" || parts[2] != "denied") {
				t.Fatalf("tenant code reached beyond its tenant: %q", got)
			}
			if b.name == "mysql" && (len(parts) != 2 || parts[1] != "0") {
				t.Fatalf("tenant code sees the other tenant's tables: %q", got)
			}
		})
	}
}

// TestSecuritySQLiteTriggersCannotTamper (finding 4, SQLite): a trigger that writes
// Strata's own tables, fired by an ordinary insert, is refused, and so are ATTACH and
// PRAGMA writable_schema in custom SQL.
func TestSecuritySQLiteTriggersCannotTamper(t *testing.T) {
	t.Parallel()
	n := startNode(t, "sqlite://"+t.TempDir()+"/control.db", nil)
	n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	n.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "notes", "columns": []any{map[string]any{"name": "body", "type": "text"}}})
	// Suppose a trigger got past the custom SQL check: plant it directly in the file.
	tn, err := n.app.Tenants.Get(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	raw := openStore(t, n.app.cfg.DatabaseURL, n.app.cfg.DataDir, tn.Slug, 1)
	if _, err := raw.Exec(`CREATE TRIGGER tamper AFTER INSERT ON notes BEGIN UPDATE custom_migrations SET name = 'rewritten'; END`); err != nil {
		t.Fatal(err)
	}
	st, _ := n.call("POST", "/api/t/acme/items/notes", map[string]any{"body": "x"}, nil)
	if st < 400 {
		t.Fatalf("an insert whose trigger rewrites the history succeeded (%d)", st)
	}
	var rewritten int
	if err := raw.QueryRow(`SELECT COUNT(*) FROM custom_migrations WHERE name = 'rewritten'`).Scan(&rewritten); err != nil {
		t.Fatal(err)
	}
	if rewritten != 0 {
		t.Fatalf("%d history rows were rewritten by a trigger", rewritten)
	}
	for _, q := range []string{
		`PRAGMA writable_schema = ON`,
		`pragma WRITABLE_SCHEMA=1; UPDATE sqlite_master SET sql = 'x'`,
		`ATTACH DATABASE 'x.db' AS x`,
	} {
		if st, r := n.call("POST", "/api/t/acme/migrations", map[string]any{"up_sql": q}, nil); st != 400 && st != 409 {
			t.Fatalf("%q: %d %s", q, st, r)
		}
	}
}

// TestSecurityCustomSQLAtomic (finding 4): transaction control and session changes are
// refused before anything runs, however they are spelled, and a script that writes
// Strata's own tables is refused; nothing is left half-applied.
func TestSecurityCustomSQLAtomic(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			p := "/api/t/acme"
			seqs := func() int {
				return len(n.mustCall(200, "GET", p+"/migrations?limit=1000", nil)["data"].([]any))
			}
			before := seqs()
			refused := []string{
				"CREATE TABLE half1 (id int); COMMIT; CREATE TABLE half2 (",
				"create table half1 (id int);\n  commit  ;",
				"CREATE TABLE half1 (id int); /* note */ ROLLBACK",
				"BEGIN; CREATE TABLE half1 (id int)",
				"SAVEPOINT s1",
				"SET ROLE postgres",
				"SET SESSION AUTHORIZATION postgres",
				"RESET ROLE",
				"UPDATE custom_migrations SET status = 'executed'",
				"DELETE FROM column_definition",
				"INSERT INTO strata_users (id) VALUES ('x')",
				"DROP TABLE table_definition",
				"ALTER TABLE custom_migrations ADD COLUMN x int",
				"CREATE TRIGGER t AFTER INSERT ON custom_migrations FOR EACH ROW BEGIN END",
			}
			switch b.name {
			case "postgres":
				// A backslash does not escape a quote in PostgreSQL: this COMMIT runs.
				refused = append(refused, `CREATE TABLE half1 (id int); SELECT 'a\'; COMMIT; --'`, "CREATE TABLE half1 (id int); END", "LISTEN strata_bus", `DELETE FROM "column_definition"`)
			case "mysql":
				refused = append(refused, "CREATE TABLE half1 (id int); /*!40101 COMMIT */", "CREATE EVENT e ON SCHEDULE EVERY 1 SECOND DO DELETE FROM notes", "XA START 'x'", "DELETE FROM `column_definition`")
			case "sqlite":
				refused = append(refused, "PRAGMA writable_schema = 1", "ATTACH 'x' AS y")
			}
			for _, q := range refused {
				st, r := n.call("POST", p+"/migrations", map[string]any{"up_sql": q}, nil)
				if st != 400 || r.get("errors.0.extensions.code") != "INVALID_PAYLOAD" {
					t.Fatalf("%q: %d %s, want 400 INVALID_PAYLOAD", q, st, r)
				}
			}
			if after := seqs(); after != before {
				t.Fatalf("refused SQL was recorded: %d migrations, want %d", after, before)
			}
			if tables := n.mustCall(200, "GET", p+"/tables", nil).fieldNames("data"); tables["half1"] {
				t.Fatal("half of a refused script was applied")
			}
			if b.name == "postgres" {
				// Names built at run time escape any reading of the text: the database
				// refuses the COMMIT, and the statistics show the write.
				for _, q := range []string{
					"CREATE TABLE half1 (id int); DO $$ BEGIN COMMIT; END $$",
					"CREATE TABLE half1 (id int); DO $$ BEGIN EXECUTE 'UPDATE custom_' || 'migrations SET name = name'; END $$",
				} {
					st, r := n.call("POST", p+"/migrations", map[string]any{"up_sql": q}, nil)
					if st != 409 || r.get("errors.0.extensions.code") != "MIGRATION_FAILED" {
						t.Fatalf("%q: %d %s, want 409", q, st, r)
					}
				}
				if tables := n.mustCall(200, "GET", p+"/tables", nil).fieldNames("data"); tables["half1"] {
					t.Fatal("half of a failed script was applied")
				}
			}
			if d := liveDrift(t, n.tenantDB("acme")); len(d) > 0 {
				t.Fatalf("drift after refused SQL: %v", d)
			}
		})
	}
}

// TestSecurityCustomSQLTimeout (finding 4): custom SQL is cancelled on the server
// after STRATA_CUSTOM_SQL_TIMEOUT, on every dialect.
func TestSecurityCustomSQLTimeout(t *testing.T) {
	t.Parallel() // mostly waits for the statement timeout
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), map[string]string{"STRATA_CUSTOM_SQL_TIMEOUT": "1s"})
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			slow := map[string]string{
				"postgres": "SELECT pg_sleep(20)",
				"mysql":    "SELECT SLEEP(20)",
				"sqlite":   "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c",
			}[b.name]
			start := time.Now()
			st, r := n.call("POST", "/api/t/acme/migrations", map[string]any{"up_sql": slow}, nil)
			took := time.Since(start)
			if st != 409 || !strings.Contains(fmt.Sprint(r.get("errors.0.message")), "STRATA_CUSTOM_SQL_TIMEOUT") {
				t.Fatalf("slow SQL: %d %s", st, r)
			}
			// A functional bound, not a benchmark: without the timeout this waits 20 s.
			if took > 15*time.Second {
				t.Fatalf("slow SQL ran %s", took)
			}
			// The tenant still works: the next migration gets the lock.
			n.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "after", "columns": []any{map[string]any{"name": "v", "type": "string"}}})
		})
	}
}

// TestSecurityMySQLAccountHasNoEvent (finding 4): a MariaDB tenant account cannot
// schedule events, which would run SQL outside every request and timeout.
func TestSecurityMySQLAccountHasNoEvent(t *testing.T) {
	t.Parallel()
	base := needURL(t, "STRATA_TEST_MYSQL_URL")
	n := startNode(t, mysqlDatabase(t, base), nil)
	n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	db := n.tenantDB("acme")
	var grants []string
	rows, err := db.Query("SHOW GRANTS")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			t.Fatal(err)
		}
		grants = append(grants, g)
	}
	rows.Close()
	all := strings.Join(grants, "\n")
	if strings.Contains(all, "ALL PRIVILEGES") || strings.Contains(all, "EVENT") {
		t.Fatalf("the tenant account may schedule events:\n%s", all)
	}
	if _, err := db.Exec("CREATE EVENT e ON SCHEDULE EVERY 1 HOUR DO SELECT 1"); err == nil {
		t.Fatal("the tenant account created an event")
	}
}

func pgTestURL() string    { return os.Getenv("STRATA_TEST_POSTGRES_URL") }
func mysqlTestURL() string { return os.Getenv("STRATA_TEST_MYSQL_URL") }

// serverBackends are the backends that are database servers (not SQLite).
func serverBackends(t *testing.T) []backend {
	var out []backend
	for _, b := range backends(t) {
		if b.name != "sqlite" {
			out = append(out, b)
		}
	}
	return out
}

// TestSecurityConnectionCap (finding 1): tenant pools log in per tenant, yet a node
// holds at most STRATA_MAX_DB_CONNECTIONS connections however many tenants it serves.
func TestSecurityConnectionCap(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	// SQLite aside: the boundary is database accounts and servers.
	for _, b := range serverBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			control := b.newControlURL(t)
			const limit = 8
			n := startNode(t, control, map[string]string{"STRATA_MAX_DB_CONNECTIONS": fmt.Sprint(limit), "STRATA_CONTROL_POOL_MAX": "3"})
			const tenants = 12
			for i := range tenants {
				slug := fmt.Sprintf("t%02d", i)
				n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": slug})
				n.mustCall(200, "POST", "/api/t/"+slug+"/tables", map[string]any{"name": "posts", "columns": []any{map[string]any{"name": "title", "type": "string"}}})
			}
			// One connection counts them all: a counting connection opened and closed for
			// each count could still be listed, closing, when the next count runs.
			admin, err := database.Open(context.Background(), control, database.Pool{MaxOpen: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer admin.Close()
			peak := 0
			for round := range 2 {
				for i := range tenants {
					slug := fmt.Sprintf("t%02d", i)
					n.mustCall(200, "POST", "/api/t/"+slug+"/items/posts", map[string]any{"title": fmt.Sprint(round)})
					n.mustCall(200, "GET", "/api/t/"+slug+"/items/posts", nil)
					peak = max(peak, serverConnections(t, b.name, admin))
				}
			}
			// The node's pools, plus on PostgreSQL the NOTIFY bus's own connections (a
			// listener and at most four publishers), which the cap does not cover.
			bus := 0
			if b.name == "postgres" {
				bus = 5
			}
			if peak > limit+bus {
				t.Fatalf("the node held %d connections, cap %d", peak, limit)
			}
			t.Logf("peak connections %d for %d tenants, cap %d", peak, tenants, limit)
		})
	}
}

// serverConnections counts the connections on the database server that belong to
// the node under test (to its control database, or by tenant accounts of it), through
// admin, whose own connection is not counted.
func serverConnections(t *testing.T, dialect string, admin *database.DB) int {
	t.Helper()
	var n int
	var err error
	if dialect == "postgres" {
		err = admin.QueryRow("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()").Scan(&n)
	} else {
		err = admin.QueryRow("SELECT COUNT(*) FROM information_schema.processlist WHERE (db = DATABASE() OR db LIKE CONCAT(DATABASE(), '\\_%')) AND id <> CONNECTION_ID()").Scan(&n)
	}
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSecurityControlAccountNeedsNoSuperuser (finding 1): the control account works
// with the least privileges docs/security.md lists: CREATEDB and CREATEROLE on
// PostgreSQL; CREATE USER and the tenant privileges WITH GRANT OPTION on MySQL.
func TestSecurityControlAccountNeedsNoSuperuser(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	// SQLite aside: the boundary is database accounts and servers.
	for _, b := range serverBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			control := leastPrivilegeControl(t, b.name)
			n := startNode(t, control, nil)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			p := "/api/t/acme"
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "posts", "columns": []any{map[string]any{"name": "title", "type": "string"}}})
			n.mustCall(200, "POST", p+"/items/posts", map[string]any{"title": "hello"})
			create := "CREATE TABLE notes (id char(36) NOT NULL PRIMARY KEY, owner_id char(36) NULL, created_at datetime(6) NOT NULL, updated_at datetime(6) NOT NULL, body longtext NULL)"
			if b.name == "postgres" {
				create = "CREATE TABLE notes (id uuid PRIMARY KEY, owner_id uuid NULL, created_at timestamp with time zone NOT NULL DEFAULT now(), updated_at timestamp with time zone NOT NULL DEFAULT now(), body text NULL)"
			}
			n.mustCall(200, "POST", p+"/migrations", map[string]any{"up_sql": create})
			n.mustCall(200, "POST", p+"/items/notes", map[string]any{"body": "x"})
			_, r := n.call("DELETE", "/api/tenants/acme", nil, nil)
			if st, r := n.call("DELETE", "/api/tenants/acme", nil, confirmHeaders(t, r)); st != 204 && st != 200 {
				t.Fatalf("delete tenant: %d %s", st, r)
			}
		})
	}
}

// leastPrivilegeControl makes a control database owned by a fresh account with only
// the privileges docs/security.md lists, and returns its URL.
func leastPrivilegeControl(t *testing.T, dialect string) string {
	t.Helper()
	suffix := randomSuffix()
	if dialect == "postgres" {
		base := pgTestURL()
		admin, err := database.Open(context.Background(), base, database.Pool{MaxOpen: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		role, db := "strata_ctl_"+suffix, "strata_lp_"+suffix
		for _, q := range []string{
			"CREATE ROLE " + role + " LOGIN CREATEDB CREATEROLE PASSWORD 'ctl-" + suffix + "'",
			// A test account that is itself no superuser may give a database only to a
			// role it is a member of.
			"GRANT " + role + " TO CURRENT_USER",
			"CREATE DATABASE " + db + " OWNER " + role,
		} {
			if _, err := admin.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() {
			a, err := database.Open(context.Background(), base, database.Pool{MaxOpen: 1})
			if err != nil {
				return
			}
			defer a.Close()
			_, _ = a.Exec("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)")
			// The tenant roles this account made, then the account itself.
			for _, n := range names(a, "SELECT r.rolname FROM pg_roles r JOIN pg_auth_members m ON m.roleid = r.oid JOIN pg_roles c ON c.oid = m.member WHERE c.rolname = $1", role) {
				_, _ = a.Exec(`DROP ROLE IF EXISTS "` + n + `"`)
			}
			_, _ = a.Exec("DROP ROLE IF EXISTS " + role)
		})
		u, _ := url.Parse(base)
		u.User = url.UserPassword(role, "ctl-"+suffix)
		u.Path = "/" + db
		return u.String()
	}
	base := mysqlTestURL()
	admin, err := database.Open(context.Background(), base, database.Pool{MaxOpen: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	// Named under st_ like every test database, so a least-privilege test account
	// (CI's) holds the privileges it hands on.
	user, db := "sctl_"+suffix, "st_lp_"+suffix
	account := "'" + user + "'@'%'"
	var grantable bool
	_ = admin.QueryRow("SELECT COUNT(*) > 0 FROM information_schema.user_privileges WHERE privilege_type = 'CREATE USER' AND is_grantable = 'YES'").Scan(&grantable)
	if !grantable {
		// The test account cannot hand out CREATE USER: it is itself such a
		// least-privilege account (CI's), and the harness's database serves.
		return mysqlDatabase(t, base)
	}
	for _, q := range []string{
		"CREATE USER " + account + " IDENTIFIED BY 'ctl-" + suffix + "'",
		"GRANT CREATE USER ON *.* TO " + account,
		"GRANT ALL PRIVILEGES ON `" + db + "%`.* TO " + account + " WITH GRANT OPTION",
	} {
		if _, err := admin.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		a, err := database.Open(context.Background(), base, database.Pool{MaxOpen: 1})
		if err != nil {
			return
		}
		defer a.Close()
		dropMySQLStores(t, a, base, db)
		_, _ = a.Exec("DROP USER IF EXISTS " + account)
	})
	if _, err := admin.Exec("CREATE DATABASE " + db); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(base)
	u.User = url.UserPassword(user, "ctl-"+suffix)
	u.Path = "/" + db
	return u.String()
}

// TestSecurityBadInputIsNot500 (finding 7): keys that are not UUIDs, pages past any
// table and oversized bodies get a 4xx in the contract's envelope on every dialect.
func TestSecurityBadInputIsNot500(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			p := "/api/t/acme"
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "posts", "columns": []any{map[string]any{"name": "title", "type": "string"}}})
			for _, c := range []struct{ method, path string }{
				{"GET", "/migrations/undefined"}, {"POST", "/migrations/undefined/rollback"},
				{"POST", "/migrations/undefined/retry"}, {"POST", "/migrations/undefined/approve"},
				{"POST", "/migrations/undefined/reject"}, {"POST", "/migrations/undefined/resolve"},
				{"GET", "/users/undefined"}, {"PATCH", "/users/undefined"}, {"DELETE", "/users/undefined"},
				{"PATCH", "/roles/undefined"}, {"DELETE", "/roles/undefined"},
				{"PATCH", "/permissions/undefined"}, {"DELETE", "/permissions/undefined"},
				{"DELETE", "/api-keys/undefined"}, {"DELETE", "/relations/undefined"}, {"DELETE", "/trash/undefined"},
				{"GET", "/items/posts/undefined"}, {"PATCH", "/items/posts/undefined"}, {"DELETE", "/items/posts/undefined"},
			} {
				st, r := n.call(c.method, p+c.path, map[string]any{}, nil)
				if st != 404 || r.get("errors.0.extensions.code") == nil {
					t.Errorf("%s %s: %d %s, want 404", c.method, c.path, st, r)
				}
			}
			for _, path := range []string{
				"/items/posts?page=9223372036854775807", "/items/posts?page=4294967296&limit=1000",
				"/items/posts?offset=9223372036854775807", "/migrations?page=9223372036854775807",
			} {
				if st, r := n.call("GET", p+path, nil, nil); st != 400 {
					t.Errorf("GET %s: %d %s, want 400", path, st, r)
				}
			}
			// The server answers a 10 MB body from its headers and its first bytes (it
			// streams large bodies, for uploads, after reading their first 8 KB) and
			// closes, so a client that goes on writing sees a reset: read the answer
			// having sent 16 KB of it.
			conn, err := net.Dial("tcp", strings.TrimPrefix(n.base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "POST %s/items/posts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", p, n.token, 10<<20)
			_, _ = conn.Write(bytes.Repeat([]byte(" "), 16<<10))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			conn.Close()
			if resp.StatusCode != 413 || !strings.Contains(string(body), "CONTENT_TOO_LARGE") {
				t.Errorf("10 MB body: %d %s, want 413", resp.StatusCode, body)
			}
		})
	}
}

// TestSecurityNodesBootTogether (finding 9): several nodes booting at once on an empty
// control database all come up (they raced each other's CREATE TABLE on PostgreSQL).
func TestSecurityNodesBootTogether(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	// SQLite aside: one process per SQLite file.
	for _, b := range serverBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			control := b.newControlURL(t)
			const nodes = 6
			errs := make(chan error, nodes)
			for range nodes {
				go func() {
					vars := map[string]string{
						"STRATA_DATA_DIR": t.TempDir(), "STRATA_DATABASE_URL": control, "STRATA_ADMIN_PASSWORD": testPassword,
						"STRATA_JWT_SECRET": "test-secret-test-secret-test-secret!!",
					}
					cfg, err := LoadConfig(func(k string) string { return vars[k] })
					if err != nil {
						errs <- err
						return
					}
					app, err := NewApp(context.Background(), cfg, discardLog())
					if err == nil {
						app.Close()
					}
					errs <- err
				}()
			}
			for range nodes {
				if err := <-errs; err != nil {
					t.Errorf("a node failed to boot beside the others: %v", err)
				}
			}
		})
	}
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestSecurityWritesDuringSchemaChange (finding 8): writers and readers racing column
// renames never get a 5xx: a statement built on the old model is built again on the
// new one.
func TestSecurityWritesDuringSchemaChange(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			p := "/api/t/acme"
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "posts", "columns": []any{
				map[string]any{"name": "title", "type": "string"}, map[string]any{"name": "views", "type": "integer"}}})
			n.mustCall(200, "POST", p+"/items/posts", map[string]any{"views": 1})
			stop := make(chan struct{})
			type tally struct{ ok, fourxx, fivexx int }
			results := make(chan tally)
			const workers = 16
			for w := range workers {
				go func() {
					var tl tally
					for i := 0; ; i++ {
						select {
						case <-stop:
							results <- tl
							return
						default:
						}
						var st int
						var r reply
						if w%4 == 0 {
							st, r = n.call("GET", p+"/items/posts?limit=5&sort=-views", nil, nil)
						} else {
							st, r = n.call("POST", p+"/items/posts", map[string]any{"views": i}, nil)
						}
						switch {
						case st >= 500:
							tl.fivexx++
							t.Logf("%d %s", st, r)
						case st >= 400:
							tl.fourxx++
						default:
							tl.ok++
						}
					}
				}()
			}
			names := []string{"title", "headline"}
			for i := range 6 {
				from, to := names[i%2], names[(i+1)%2]
				n.mustCall(200, "PATCH", p+"/tables/posts/columns/"+from, map[string]any{"name": to})
				time.Sleep(100 * time.Millisecond)
			}
			close(stop)
			var total tally
			for range workers {
				tl := <-results
				total.ok += tl.ok
				total.fourxx += tl.fourxx
				total.fivexx += tl.fivexx
			}
			t.Logf("%d ok, %d 4xx, %d 5xx during 6 renames", total.ok, total.fourxx, total.fivexx)
			if total.fivexx > 0 {
				t.Fatalf("%d requests got a 5xx while the table changed shape", total.fivexx)
			}
			if total.ok == 0 {
				t.Fatal("no request succeeded")
			}
		})
	}
}

// TestSecurityDatabasePlacement (finding 5): with STRATA_TENANT_PLACEMENT=database a
// PostgreSQL tenant lives in a database of its own, so what its code reads of the
// catalogs names none of another tenant's schemas, tables or slug; with the default
// (a schema each) they show, which docs/security.md says.
func TestSecurityDatabasePlacement(t *testing.T) {
	t.Parallel()
	pg := needURL(t, "STRATA_TEST_POSTGRES_URL")
	for _, placement := range []string{"schema", "database"} {
		t.Run(placement, func(t *testing.T) {
			n := startNode(t, pgDatabase(t, pg), map[string]string{"STRATA_TENANT_PLACEMENT": placement})
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "betacorp"})
			n.mustCall(200, "POST", "/api/t/betacorp/tables", map[string]any{"name": "zz_payroll", "columns": []any{map[string]any{"name": "v", "type": "string"}}})
			n.mustCall(200, "POST", "/api/t/betacorp/items/zz_payroll", map[string]any{"v": "s3cret"})
			n.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "notes", "columns": []any{map[string]any{"name": "body", "type": "text"}}})
			n.mustCall(200, "POST", "/api/t/acme/migrations", map[string]any{"up_sql": `CREATE FUNCTION look() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.body := (SELECT string_agg(relname, ',') FROM pg_class) || '|' || (SELECT string_agg(nspname, ',') FROM pg_namespace)
    || '|' || (SELECT string_agg(datname, ',') FROM pg_database);
  RETURN NEW;
END $$;
CREATE TRIGGER look BEFORE INSERT ON notes FOR EACH ROW EXECUTE FUNCTION look();`})
			seen := n.mustCall(200, "POST", "/api/t/acme/items/notes", map[string]any{"body": "x"}).get("data.body").(string)
			leaks := strings.Contains(seen, "zz_payroll") || strings.Contains(seen, "betacorp")
			if placement == "database" && leaks {
				t.Fatalf("a tenant in a database of its own sees another tenant's names: %s", seen)
			}
			if placement == "schema" && !leaks {
				t.Fatalf("schema placement shows other tenants' names, as documented; the test no longer sees them: %.300s", seen)
			}
			// Its own database is closed to the other tenant's account.
			if placement == "database" {
				acme := n.tenantDB("acme")
				other := n.tenantDB("betacorp")
				u, _ := url.Parse(other.URL())
				u.Path = "/" + acme.Name
				if db, err := database.Open(context.Background(), u.String(), database.Pool{MaxOpen: 1}); err == nil {
					db.Close()
					t.Fatal("a tenant's account connected to another tenant's database")
				}
			}
			if r := n.mustCall(200, "GET", "/api/t/betacorp/items/zz_payroll", nil); r.get("data.0.v") != "s3cret" {
				t.Fatalf("beta: %s", r)
			}
			_, r := n.call("DELETE", "/api/tenants/betacorp", nil, nil)
			if st, r := n.call("DELETE", "/api/tenants/betacorp", nil, confirmHeaders(t, r)); st != 204 && st != 200 {
				t.Fatalf("delete tenant: %d %s", st, r)
			}
		})
	}
}

// TestSecurityBusyNodeAnswers503: when every connection the node may hold is busy for
// the whole wait, the request is told to come back (503, Retry-After), not a 500.
func TestSecurityBusyNodeAnswers503(t *testing.T) {
	t.Parallel() // mostly waits for its own node's connection wait to time out
	n := startNode(t, "sqlite://"+t.TempDir()+"/control.db", map[string]string{"STRATA_MAX_DB_CONNECTIONS": "3", "STRATA_CONTROL_POOL_MAX": "2"})
	n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	n.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "posts", "columns": []any{map[string]any{"name": "title", "type": "string"}}})
	// Hold every slot: the control pool's connections and the tenant's.
	ctx := context.Background()
	db := n.tenantDB("acme")
	var held []interface{ Close() error }
	for {
		c, err := db.Conn(ctx)
		if err != nil {
			break
		}
		held = append(held, c)
		if len(held) > 10 {
			t.Fatal("the cap did not hold")
		}
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		c2, err := n.app.Control.Conn(cctx)
		cancel()
		if err == nil {
			held = append(held, c2)
		}
		pctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		err = db.PingContext(pctx)
		cancel()
		if err != nil {
			break
		}
	}
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	req, _ := http.NewRequest("GET", n.base+"/api/t/acme/items/posts", nil)
	req.Header.Set("Authorization", "Bearer "+n.token)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "SERVICE_UNAVAILABLE") {
		t.Fatalf("a request with every connection busy: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
}

// TestSecurityOlderTenantsAdopted (finding 1): a tenant made by an older Strata, whose
// tables belong to the control account, is brought to its own account once at boot:
// its tables change owner, so its own account can use them.
func TestSecurityOlderTenantsAdopted(t *testing.T) {
	t.Parallel()
	pg := needURL(t, "STRATA_TEST_POSTGRES_URL")
	control, dir := pgDatabase(t, pg), t.TempDir()
	n := startNode(t, control, map[string]string{"STRATA_DATA_DIR": dir})
	n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	schemaName := n.tenantDB("acme").Name
	admin, err := database.Open(context.Background(), control, database.Pool{MaxOpen: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	// What an older Strata left: the control account owns the tables, and the registry
	// has no account version.
	for _, q := range []string{
		`ALTER TABLE "` + schemaName + `".settings OWNER TO CURRENT_USER`,
		`REVOKE ALL ON "` + schemaName + `".settings FROM PUBLIC`,
		`CREATE SEQUENCE "` + schemaName + `".older_sequence`,
		`CREATE VIEW "` + schemaName + `".older_view AS SELECT 1 AS x`,
		`UPDATE strata_tenants SET account_version = NULL`,
	} {
		if _, err := admin.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	n2 := startNode(t, control, map[string]string{"STRATA_DATA_DIR": dir})
	n2.mustCall(200, "GET", "/api/t/acme/settings", nil)
	var owner string
	if err := admin.QueryRow(`SELECT tableowner FROM pg_tables WHERE schemaname = $1 AND tablename = 'settings'`, schemaName).Scan(&owner); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(owner, "strata_t_") {
		t.Fatalf("settings still belongs to %s", owner)
	}
	for _, rel := range []string{"older_sequence", "older_view"} {
		if err := admin.QueryRow(`SELECT pg_get_userbyid(c.relowner) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`, schemaName, rel).Scan(&owner); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(owner, "strata_t_") {
			t.Fatalf("%s still belongs to %s", rel, owner)
		}
	}
}
