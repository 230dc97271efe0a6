package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"strata/modules/database"
	"strata/modules/meta"
)

// TestTenantsOpenLazilyAndAreLetGo: a node opens no tenant pool at boot (each tenant is
// readied by its first request), caches at most STRATA_MODEL_CACHE_SIZE models (least
// recently used out), and lets go of a tenant's pool and model once it has been idle
// for STRATA_TENANT_IDLE_TIMEOUT; the tenant then answers again as if cold.
func TestTenantsOpenLazilyAndAreLetGo(t *testing.T) {
	t.Parallel() // mostly waits for the idle sweep; its deadline is generous
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			control := b.newControlURL(t)
			dataDir := t.TempDir() // where SQLite tenants live: the same for both nodes
			first := startNode(t, control, map[string]string{"STRATA_DATA_DIR": dataDir})
			const tenants = 4
			for i := range tenants {
				slug := fmt.Sprintf("lazy%d", i)
				first.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": slug})
				first.mustCall(200, "POST", "/api/t/"+slug+"/tables", map[string]any{"name": "posts", "columns": []any{map[string]any{"name": "title", "type": "string"}}})
				first.mustCall(200, "POST", "/api/t/"+slug+"/items/posts", map[string]any{"title": slug})
			}

			n := startNode(t, control, map[string]string{"STRATA_DATA_DIR": dataDir, "STRATA_TENANT_IDLE_TIMEOUT": "1s", "STRATA_MODEL_CACHE_SIZE": "2"})
			if s := n.app.Tenants.Stats(); s.Pools != 0 || s.Models != 0 {
				t.Fatalf("after boot the node holds %d tenant pools and %d models, want none", s.Pools, s.Models)
			}
			for i := range 3 {
				r := n.mustCall(200, "GET", fmt.Sprintf("/api/t/lazy%d/items/posts", i), nil)
				if got := r.get("data.0.title"); got != fmt.Sprintf("lazy%d", i) {
					t.Fatalf("lazy%d answered %v", i, got)
				}
			}
			if s := n.app.Tenants.Stats(); s.Pools != 3 || s.Models > 2 {
				t.Fatalf("after 3 tenants' requests: %d pools (want 3) and %d models (want at most 2)", s.Pools, s.Models)
			}
			deadline := time.Now().Add(15 * time.Second)
			for {
				s := n.app.Tenants.Stats()
				if s.Pools == 0 && s.Models == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("idle tenants were not let go: %d pools and %d models remain", s.Pools, s.Models)
				}
				time.Sleep(100 * time.Millisecond)
			}
			r := n.mustCall(200, "GET", "/api/t/lazy0/items/posts", nil)
			if got := r.get("data.0.title"); got != "lazy0" {
				t.Fatalf("lazy0 after being let go answered %v", got)
			}
		})
	}
}

// TestColdTenantReadsSharedModel: a node that never served a tenant reads its model
// from the cache the nodes share in the control database instead of the tenant's four
// metadata tables, and only while that entry is the tenant's schema now: after a schema
// change the next cold node reads the tables again (and sees the change), then leaves
// the new model for the one after.
func TestColdTenantReadsSharedModel(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			control := b.newControlURL(t)
			env := map[string]string{"STRATA_DATA_DIR": t.TempDir()} // SQLite tenants: the same files for every node
			first := startNode(t, control, env)
			first.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "shared"})
			first.mustCall(200, "POST", "/api/t/shared/tables", map[string]any{"name": "posts", "columns": []any{map[string]any{"name": "title", "type": "string"}}})
			first.mustCall(200, "POST", "/api/t/shared/items/posts", map[string]any{"title": "a"})
			stamp := func() string {
				var s string
				err := first.app.Control.QueryRowContext(context.Background(), "SELECT stamp FROM strata_tenant_models").Scan(&s)
				if err != nil && !errors.Is(err, sql.ErrNoRows) {
					t.Fatal(err)
				}
				return s
			}
			waitStamp := func(not string) string {
				t.Helper()
				for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
					if s := stamp(); s != "" && s != not {
						return s
					}
				}
				t.Fatalf("the shared model cache holds %q, want a new entry", stamp())
				return ""
			}
			// coldRead is a new node's first request for the tenant: the row it reads, the
			// statements the tenant's pool ran to answer it (readying included), and the
			// tables as that node then shows them. warm is what the same request ran on
			// that node next.
			var warm int64
			coldRead := func() (reply, int64, string) {
				n := startNode(t, control, env)
				r := n.mustCall(200, "GET", "/api/t/shared/items/posts", nil)
				statements := n.tenantDB("shared").Statements()
				n.mustCall(200, "GET", "/api/t/shared/items/posts", nil)
				warm = n.tenantDB("shared").Statements() - statements
				return r, statements, n.mustCall(200, "GET", "/api/t/shared/tables", nil).String()
			}

			_, missed, loaded := coldRead()
			// The node that made the table shows it as the tables hold it too.
			if made := first.mustCall(200, "GET", "/api/t/shared/tables", nil).String(); made != loaded {
				t.Fatalf("the node that made the table shows the tables as\n%s\nread from the tables\n%s", made, loaded)
			}
			s1 := waitStamp("")
			r, hit, shown := coldRead()
			if r.get("data.0.title") != "a" {
				t.Fatalf("read through the shared model: %v", r.get("data"))
			}
			// The model's tables are table, column, relation and function definitions.
			if hit > missed-4 {
				t.Fatalf("a cold node ran %d statements with the shared model and %d without: it still read the model's tables", hit, missed)
			}
			// The shared model is the one the tables hold, to the byte.
			if shown != loaded {
				t.Fatalf("through the shared model the tables show as\n%s\nread from the tables\n%s", shown, loaded)
			}
			// On PostgreSQL the login carries the schema state (meta.TagState): readying
			// runs no statement at all, nor a ping after the login. Elsewhere it reads the
			// state in one.
			readying := int64(1)
			if b.name == "postgres" {
				readying = 0
			}
			if hit != warm+readying {
				t.Fatalf("a cold node with the shared model ran %d statements, a warm one %d: readying took %d, want %d", hit, warm, hit-warm, readying)
			}

			first.mustCall(200, "POST", "/api/t/shared/tables/posts/columns", map[string]any{"name": "views", "type": "integer"})
			first.mustCall(200, "PATCH", "/api/t/shared/items/posts/"+r.get("data.0.id").(string), map[string]any{"views": 7})
			r, stale, loaded := coldRead()
			if r.get("data.0.views") != float64(7) {
				t.Fatalf("after a schema change a cold node read %v, want views 7", r.get("data.0"))
			}
			if stale < missed {
				t.Fatalf("after a schema change a cold node ran %d statements, fewer than the %d of reading the tables: it served the stale entry", stale, missed)
			}
			waitStamp(s1)
			r, hit, shown = coldRead()
			if r.get("data.0.views") != float64(7) || hit > missed-4 || shown != loaded {
				t.Fatalf("the entry written after the change: views %v in %d statements (reading the tables: %d); the same tables: %v", r.get("data.0.views"), hit, missed, shown == loaded)
			}

			_, challenge := first.call("DELETE", "/api/tenants/shared", nil, nil)
			if st, r := first.call("DELETE", "/api/tenants/shared", nil, confirmHeaders(t, challenge)); st != 204 {
				t.Fatalf("delete tenant: %d %v", st, r)
			}
			if s := stamp(); s != "" {
				t.Fatalf("a deleted tenant's shared model remains (%q)", s)
			}
		})
	}
}

// TestLoginCarriesSchemaState (PostgreSQL): a tenant account's login reports the state
// of the tenant's migration history (meta.TagState), exactly what reading the history
// says, after every kind of change to it; a login that says a migration is running is
// not trusted (the node reads the history and settles it); and a tenant made before
// the tag gets it on its first request to a node.
func TestLoginCarriesSchemaState(t *testing.T) {
	t.Parallel()
	pg := needURL(t, "STRATA_TEST_POSTGRES_URL")
	ctx := context.Background()
	control := pgDatabase(t, pg)
	n := startNode(t, control, nil)
	n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "tagged"})
	tenantDB := n.tenantDB("tagged")
	// login is a new login as the tenant's account: the state it reports, and the state
	// its history holds.
	login := func() (tagged meta.State, ok bool, held meta.State) {
		t.Helper()
		db, err := database.Open(ctx, tenantDB.URL(), database.Pool{MaxOpen: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		tagged, ok = meta.StateFromTag(db.LoginTag())
		if held, err = meta.ReadState(ctx, db, db.Dialect); err != nil {
			t.Fatal(err)
		}
		return tagged, ok, held
	}
	same := func(step string) meta.State {
		t.Helper()
		tagged, ok, held := login()
		if !ok || tagged != held {
			t.Fatalf("after %s the login reports %+v (a tag: %v), the history holds %+v", step, tagged, ok, held)
		}
		return held
	}
	created := same("the tenant was created")
	n.mustCall(200, "POST", "/api/t/tagged/tables", map[string]any{"name": "posts", "columns": []any{map[string]any{"name": "title", "type": "string"}}})
	n.mustCall(200, "POST", "/api/t/tagged/tables/posts/columns", map[string]any{"name": "views", "type": "integer"})
	added := same("a table and a column were added")
	if added.Version <= created.Version || added.Head == created.Head {
		t.Fatalf("the schema changed but the state did not: %+v, then %+v", created, added)
	}
	// The newest executed migration (the column added), in seq order.
	history := n.mustCall(200, "GET", "/api/t/tagged/migrations?status=executed&limit=500", nil).get("data").([]any)
	newest := history[len(history)-1].(map[string]any)["id"].(string)
	_, challenge := n.call("POST", "/api/t/tagged/migrations/"+newest+"/rollback", nil, nil)
	if st, r := n.call("POST", "/api/t/tagged/migrations/"+newest+"/rollback", nil, confirmHeaders(t, challenge)); st != 200 {
		t.Fatalf("rollback: %d %v", st, r)
	}
	rolled := same("a rollback")
	if rolled == added {
		t.Fatalf("a rollback left the state as it was: %+v", rolled)
	}

	// A node died with a migration running: the login says so, and a cold node settles
	// it before answering.
	if _, err := tenantDB.ExecContext(ctx, "UPDATE custom_migrations SET status = 'running' WHERE seq = (SELECT MAX(seq) FROM custom_migrations)"); err != nil {
		t.Fatal(err)
	}
	if tagged, ok, _ := login(); !ok || tagged.Running != 1 {
		t.Fatalf("a running migration: the login reports %+v (a tag: %v)", tagged, ok)
	}
	cold := startNode(t, control, nil)
	cold.mustCall(200, "GET", "/api/t/tagged/items/posts", nil)
	if settled := same("the cold node settled the running migration"); settled.Running != 0 {
		t.Fatalf("the running migration was not settled: %+v", settled)
	}

	// A tenant made before the tag: no trigger, no setting, an older account version.
	for _, stmt := range []string{"DROP TRIGGER strata_tag_state ON custom_migrations", "DROP FUNCTION strata_tag_state()", "ALTER ROLE CURRENT_USER RESET application_name"} {
		if _, err := tenantDB.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := n.app.Control.ExecContext(ctx, "UPDATE strata_tenants SET account_version = 1 WHERE slug = 'tagged'"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := login(); ok {
		t.Fatal("the login still reports a state with the tag taken away")
	}
	startNode(t, control, nil).mustCall(200, "GET", "/api/t/tagged/items/posts", nil)
	same("an older tenant's first request on a node")
	n.mustCall(200, "POST", "/api/t/tagged/tables/posts/columns", map[string]any{"name": "score", "type": "integer"})
	same("a change after the upgrade")
}

// TestTenantAccountSecretIsCheapToLogIn: PostgreSQL holds a tenant account's password as
// a SCRAM secret Strata made with few iterations, not PostgreSQL's 4,096, which the node
// would repeat at every login of a cold tenant (where the server asks for SCRAM). The
// login still works with it (under this server's own authentication rules).
func TestTenantAccountSecretIsCheapToLogIn(t *testing.T) {
	t.Parallel()
	pg := needURL(t, "STRATA_TEST_POSTGRES_URL")
	control := pgDatabase(t, pg)
	n := startNode(t, control, map[string]string{"STRATA_DATA_DIR": t.TempDir()})
	n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	n.mustCall(200, "GET", "/api/t/acme/settings", nil)
	admin, err := database.Open(context.Background(), control, database.Pool{MaxOpen: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	schemaName := n.tenantDB("acme").Name
	cheap := func() string {
		t.Helper()
		var secret string
		err := admin.QueryRow(`SELECT a.rolpassword FROM pg_tables t JOIN pg_authid a ON a.rolname = t.tableowner WHERE t.schemaname = $1 AND t.tablename = 'settings'`, schemaName).Scan(&secret)
		if err != nil {
			t.Skipf("reading pg_authid needs a superuser: %v", err)
		}
		var iterations int
		if _, err := fmt.Sscanf(secret, "SCRAM-SHA-256$%d:", &iterations); err != nil || iterations > 64 {
			t.Fatalf("the tenant account's password is stored as %.24s…: want a SCRAM secret of at most 64 iterations", secret)
		}
		return secret
	}
	made := cheap()
	// A tenant an older Strata made (account version 2) has its secret set again
	// by the first node that readies it, once.
	if _, err := admin.Exec(`UPDATE strata_tenants SET account_version = 2`); err != nil {
		t.Fatal(err)
	}
	startNode(t, control, map[string]string{"STRATA_DATA_DIR": t.TempDir()}).mustCall(200, "GET", "/api/t/acme/settings", nil)
	if cheap() == made {
		t.Fatal("readying a tenant of account version 2 left its secret as it was")
	}
	var version int
	if err := admin.QueryRow(`SELECT account_version FROM strata_tenants`).Scan(&version); err != nil || version != 3 {
		t.Fatalf("account version %d (%v), want 3", version, err)
	}
}
