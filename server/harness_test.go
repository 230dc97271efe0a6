package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
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
	"strata/modules/meta"
	"strata/modules/tenant"
	"strata/schema"
)

// backend is one database server the integration tests run against.
type backend struct {
	name string
	// newControlURL makes a fresh, uniquely named control database for one test and
	// registers its removal (and that of every tenant database made beside it).
	newControlURL func(t *testing.T) string
}

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// backends lists SQLite always, and PostgreSQL and MariaDB/MySQL when their test URLs
// are set. In CI (CI=true) a missing URL is a failure, not a skip.
func backends(t *testing.T) []backend {
	out := []backend{{name: "sqlite", newControlURL: func(t *testing.T) string {
		return "sqlite://" + t.TempDir() + "/control.db"
	}}}
	pg := os.Getenv("STRATA_TEST_POSTGRES_URL")
	my := os.Getenv("STRATA_TEST_MYSQL_URL")
	if pg != "" {
		out = append(out, backend{name: "postgres", newControlURL: func(t *testing.T) string { return pgDatabase(t, pg) }})
	}
	if my != "" {
		out = append(out, backend{name: "mysql", newControlURL: func(t *testing.T) string { return mysqlDatabase(t, my) }})
	}
	return out
}

// requireBackends reports the legs that will not run, failing in CI.
func requireBackends(t *testing.T) {
	for _, v := range []string{"STRATA_TEST_POSTGRES_URL", "STRATA_TEST_MYSQL_URL"} {
		if os.Getenv(v) == "" {
			if os.Getenv("CI") == "true" {
				t.Errorf("%s is not set: the leg of this test for that database must run in CI", v)
			} else {
				t.Logf("%s not set: skipping that database's leg (set it to run against a real server)", v)
			}
		}
	}
}

func pgDatabase(t *testing.T, base string) string {
	admin, err := database.Open(context.Background(), base, database.Pool{MaxOpen: 2})
	if err != nil {
		t.Fatalf("connect to STRATA_TEST_POSTGRES_URL: %v", err)
	}
	name := "strata_test_" + randomSuffix()
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		// Tenants placed in databases of their own (STRATA_TENANT_PLACEMENT=database)
		// are named after the control database.
		for _, d := range names(admin, `SELECT datname FROM pg_database WHERE datname LIKE $1`, name+`\_t\_%`) {
			_, _ = admin.Exec(`DROP DATABASE IF EXISTS "` + d + `" WITH (FORCE)`)
		}
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
		// Tenant roles are cluster-wide; those that own nothing any more go. A role
		// still owning objects (another run's) cannot be dropped and stays.
		for _, r := range names(admin, "SELECT rolname FROM pg_roles WHERE rolname LIKE 'strata_t_%'") {
			_, _ = admin.Exec(`DROP ROLE IF EXISTS "` + r + `"`)
		}
		admin.Close()
	})
	u, _ := url.Parse(base)
	u.Path = "/" + name
	return u.String()
}

// names reads one column of strings; a failing query reads as none (for cleanups).
func names(db *database.DB, q string, args ...any) []string {
	rows, err := db.Query(q, args...)
	if err != nil {
		return nil
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if rows.Scan(&n) == nil {
			out = append(out, n)
		}
	}
	return out
}

// dropMySQLStores drops every database named with prefix, and each tenant account
// with its database.
func dropMySQLStores(t *testing.T, admin *database.DB, base, prefix string) {
	for _, n := range names(admin, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE ?", prefix+"%") {
		u, _ := url.Parse(base)
		u.Path, u.RawQuery = "/"+n, ""
		if err := database.DropTenantStore(context.Background(), admin, u.String()); err != nil {
			t.Logf("drop database %s: %v", n, err)
		}
	}
}

func mysqlDatabase(t *testing.T, base string) string {
	admin, err := database.Open(context.Background(), base, database.Pool{MaxOpen: 2})
	if err != nil {
		t.Fatalf("connect to STRATA_TEST_MYSQL_URL: %v", err)
	}
	name := "st_" + randomSuffix()
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		dropMySQLStores(t, admin, base, name)
		admin.Close()
	})
	u, _ := url.Parse(base)
	u.Path = "/" + name
	return u.String()
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

// reply is a decoded JSON answer.
type reply map[string]any

// get follows a dotted path through objects and arrays ("data.migration.seq",
// "data.0.id"); nil when absent.
func (r reply) get(path string) any {
	var cur any = map[string]any(r)
	for _, p := range strings.Split(path, ".") {
		switch x := cur.(type) {
		case map[string]any:
			cur = x[p]
		case []any:
			var i int
			if _, err := fmt.Sscan(p, &i); err != nil || i >= len(x) {
				return nil
			}
			cur = x[i]
		default:
			return nil
		}
	}
	return cur
}

func (r reply) String() string {
	b, _ := json.Marshal(map[string]any(r))
	return string(b)
}

// fieldNames lists the names of the objects in the array at path (columns, relations).
func (r reply) fieldNames(path string) map[string]bool {
	out := map[string]bool{}
	list, _ := r.get(path).([]any)
	for _, x := range list {
		if m, ok := x.(map[string]any); ok {
			if n, ok := m["name"].(string); ok {
				out[n] = true
			}
		}
	}
	return out
}

// call sends a request as the admin; body may be nil, a string or a value to encode.
func (n *node) call(method, path string, body any, headers map[string]string) (int, reply) {
	n.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, _ := json.Marshal(b)
		rd = bytes.NewReader(buf)
	}
	req, _ := http.NewRequest(method, n.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if n.token != "" {
		req.Header.Set("Authorization", "Bearer "+n.token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := reply{}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			out = reply{"raw": string(raw)}
		}
	}
	return resp.StatusCode, out
}

// mustCall is call with an expected status.
func (n *node) mustCall(want int, method, path string, body any) reply {
	n.t.Helper()
	st, r := n.call(method, path, body, nil)
	if st != want {
		n.t.Fatalf("%s %s: status %d, want %d: %s", method, path, st, want, r)
	}
	return r
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
