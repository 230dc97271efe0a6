package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"strata/internal/testkit"
	"strata/modules/database"
	"strata/modules/meta"
	"strata/modules/tenant"
	"strata/schema"
)

// Tests here are alone on their databases (each makes its own), so a test that holds no
// timing window and kills no process may call t.Parallel: the slow CPU-bound property
// tests and the ones that mostly wait (idle sweeps, timeouts) run beside each other.

// backend is one database server the integration tests run against (testkit).
type backend struct {
	name string
	// newControlURL makes a fresh, uniquely named control database for one test and
	// registers its removal (and that of every tenant database made beside it).
	newControlURL func(t *testing.T) string
}

// backends lists SQLite always, and PostgreSQL and MariaDB/MySQL when their test URLs
// are set.
func backends(t *testing.T) []backend {
	var out []backend
	for _, b := range testkit.Backends(t) {
		out = append(out, backend{name: b.Name, newControlURL: func(t *testing.T) string { return b.NewURL(t) }})
	}
	return out
}

// requireBackends reports the legs that will not run, failing in CI.
func requireBackends(t *testing.T) { testkit.RequireBackends(t) }

func pgDatabase(t *testing.T, base string) string    { return testkit.PostgresDatabase(t, base) }
func mysqlDatabase(t *testing.T, base string) string { return testkit.MySQLDatabase(t, base) }
func randomSuffix() string                           { return testkit.Suffix() }

// names reads one column of strings; a failing query reads as none (for cleanups).
func names(db *database.DB, q string, args ...any) []string { return testkit.Names(db, q, args...) }

func dropMySQLStores(t *testing.T, admin *database.DB, base, prefix string) {
	testkit.DropMySQLStores(t, admin, base, prefix)
}

// node is one in-process Strata server reached over HTTP.
type node struct {
	t     *testing.T
	app   *App
	base  string
	token string
}

const testPassword = "Test-pass-123!"

// startNode boots a server on controlURL with a random port and logs in as admin.
func startNode(t *testing.T, controlURL string, env map[string]string) *node {
	t.Helper()
	vars := map[string]string{
		"STRATA_DATA_DIR": t.TempDir(), "STRATA_DATABASE_URL": controlURL, "STRATA_ADMIN_EMAIL": "admin@example.com",
		"STRATA_ADMIN_PASSWORD": testPassword, "STRATA_JWT_SECRET": "test-secret-test-secret-test-secret!!",
	}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := LoadConfig(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("STRATA_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	app, err := NewApp(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("start app: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Fiber.Listener(ln) }()
	n := &node{t: t, app: app, base: "http://" + ln.Addr().String()}
	t.Cleanup(func() {
		_ = app.Fiber.ShutdownWithTimeout(5 * time.Second)
		app.Close()
	})
	st, body := n.call("POST", "/api/auth/login", map[string]any{"email": "admin@example.com", "password": testPassword}, nil)
	if st != 200 {
		t.Fatalf("login: %d %s", st, body)
	}
	n.token = body.get("data.access_token").(string)
	return n
}

// reply is a decoded JSON answer (testkit.Reply).
type reply testkit.Reply

// get follows a dotted path through objects and arrays ("data.migration.seq",
// "data.0.id"); nil when absent.
func (r reply) get(path string) any { return testkit.Reply(r).Get(path) }

func (r reply) String() string { return testkit.Reply(r).String() }

// fieldNames lists the names of the objects in the array at path (columns, relations).
func (r reply) fieldNames(path string) map[string]bool { return testkit.Reply(r).FieldNames(path) }

// client is the testkit client acting as this node's token holder.
func (n *node) client() *testkit.Client {
	return &testkit.Client{T: n.t, Base: n.base, Token: n.token}
}

// call sends a request as the node's token holder; body may be nil, a string or a value
// to encode.
func (n *node) call(method, path string, body any, headers map[string]string) (int, reply) {
	n.t.Helper()
	st, r := n.client().Call(method, path, body, headers)
	return st, reply(r)
}

// mustCall is call with an expected status.
func (n *node) mustCall(want int, method, path string, body any) reply {
	n.t.Helper()
	return reply(n.client().MustCall(want, method, path, body))
}

// tenantDB opens the tenant's own database the way the server does.
func (n *node) tenantDB(slug string) *database.DB {
	n.t.Helper()
	tn, err := n.app.Tenants.Get(context.Background(), slug)
	if err != nil {
		n.t.Fatalf("tenant %s: %v", slug, err)
	}
	db, err := n.app.Tenants.DB(context.Background(), tn)
	if err != nil {
		n.t.Fatalf("tenant db: %v", err)
	}
	return db
}

// openStore opens a tenant's database directly, beside the nodes (one that was killed,
// say), with at most maxOpen connections; it is closed when the test ends.
func openStore(t *testing.T, controlURL, dataDir, slug string, maxOpen int) *database.DB {
	t.Helper()
	u, err := database.TenantURL(controlURL, dataDir, slug)
	if err != nil {
		t.Fatal(err)
	}
	db, err := database.Open(context.Background(), u, database.Pool{MaxOpen: maxOpen})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// migrationRow is what the tests check of the ledger.
type migrationRow struct {
	Seq     int64
	Type    string
	Status  string
	UpSQL   string
	DownSQL string
	Error   sql.NullString
}

func ledger(t *testing.T, db *database.DB) []migrationRow {
	t.Helper()
	d := db.Dialect
	rows, err := db.Query("SELECT " + d.Quote("seq") + ", " + d.Quote("type") + ", " + d.Quote("status") + ", " + d.Quote("up_sql") + ", " + d.Quote("down_sql") + ", " + d.Quote("error") + " FROM " + d.Quote("custom_migrations") + " ORDER BY " + d.Quote("seq"))
	if err != nil {
		t.Fatalf("read ledger: %v", err)
	}
	defer rows.Close()
	var out []migrationRow
	for rows.Next() {
		var m migrationRow
		var up, down sql.NullString
		if err := rows.Scan(&m.Seq, &m.Type, &m.Status, &up, &down, &m.Error); err != nil {
			t.Fatalf("scan ledger: %v", err)
		}
		m.UpSQL, m.DownSQL = up.String, down.String
		out = append(out, m)
	}
	return out
}

// liveDrift compares the introspected database with the metadata model.
func liveDrift(t *testing.T, db *database.DB) []string {
	t.Helper()
	ctx := context.Background()
	m, err := meta.Load(ctx, db, db.Dialect)
	if err != nil {
		t.Fatalf("load model: %v", err)
	}
	live, err := db.Dialect.Inspect(ctx, db)
	if err != nil {
		t.Fatalf("inspect: %v", err)
	}
	return schema.CompareLive(schema.ExpectedLive(db.Dialect, m), live)
}

func mustJSONString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func mustTenant(t *testing.T, n *node, slug string) *tenant.Tenant {
	t.Helper()
	tn, err := n.app.Tenants.Get(context.Background(), slug)
	if err != nil {
		t.Fatal(err)
	}
	return tn
}
