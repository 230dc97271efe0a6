// Package testkit is what Strata's tests share: the databases to run against (SQLite
// always; PostgreSQL and MariaDB when STRATA_TEST_POSTGRES_URL / STRATA_TEST_MYSQL_URL
// are set), a fresh uniquely named database per test dropped when it ends, and an HTTP
// client speaking the contract's JSON with a scenario table runner.
package testkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"strata/modules/database"
)

// Backend is one database server the tests run against.
type Backend struct {
	Name string
	// NewURL makes a fresh, uniquely named database for one test and registers its
	// removal (and that of every tenant database and account made beside it).
	NewURL func(t testing.TB) string
}

// Env names the variables that point the tests at real servers.
const (
	PostgresEnv = "STRATA_TEST_POSTGRES_URL"
	MySQLEnv    = "STRATA_TEST_MYSQL_URL"
	RedisEnv    = "STRATA_TEST_REDIS_URL"
)

// Suffix is a short random name part, so runs never collide.
func Suffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Backends lists SQLite always, and PostgreSQL and MariaDB/MySQL when their URLs are
// set.
func Backends(t testing.TB) []Backend {
	out := []Backend{{Name: "sqlite", NewURL: func(t testing.TB) string {
		return "sqlite://" + t.TempDir() + "/control.db"
	}}}
	if pg := os.Getenv(PostgresEnv); pg != "" {
		out = append(out, Backend{Name: "postgres", NewURL: func(t testing.TB) string { return PostgresDatabase(t, pg) }})
	}
	if my := os.Getenv(MySQLEnv); my != "" {
		out = append(out, Backend{Name: "mysql", NewURL: func(t testing.TB) string { return MySQLDatabase(t, my) }})
	}
	return out
}

// RequireBackends reports the legs that will not run; in CI (CI=true) a missing URL
// is a failure, not a skip.
func RequireBackends(t testing.TB) {
	t.Helper()
	for _, v := range []string{PostgresEnv, MySQLEnv} {
		if os.Getenv(v) == "" {
			if os.Getenv("CI") == "true" {
				t.Errorf("%s is not set: the leg of this test for that database must run in CI", v)
			} else {
				t.Logf("%s not set: skipping that database's leg (set it to run against a real server)", v)
			}
		}
	}
}

// NeedURL returns a server's test URL, skipping the test when it is unset (failing in
// CI).
func NeedURL(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: this test must run against a real server in CI", name)
		}
		t.Skipf("%s not set: skipping (set it to run against a real server)", name)
	}
	return v
}

// PostgresDatabase creates a database on the server at base for one test.
func PostgresDatabase(t testing.TB, base string) string {
	t.Helper()
	admin, err := database.Open(context.Background(), base, database.Pool{MaxOpen: 2})
	if err != nil {
		t.Fatalf("connect to %s: %v", PostgresEnv, err)
	}
	name := "strata_test_" + Suffix()
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		// Tenants placed in databases of their own (STRATA_TENANT_PLACEMENT=database)
		// are named after the control database.
		for _, d := range Names(admin, `SELECT datname FROM pg_database WHERE datname LIKE $1`, name+`\_t\_%`) {
			_, _ = admin.Exec(`DROP DATABASE IF EXISTS "` + d + `" WITH (FORCE)`)
		}
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
		// Tenant roles are cluster-wide; those that own nothing any more go. Roles still
		// owning objects (another run's, a kept benchmark's thousands) are not even
		// tried: each refusal was a round trip in every test's cleanup.
		for _, r := range Names(admin, database.OrphanTenantRoles) {
			_, _ = admin.Exec(`DROP ROLE IF EXISTS "` + r + `"`)
		}
		admin.Close()
	})
	u, _ := url.Parse(base)
	u.Path = "/" + name
	return u.String()
}

// MySQLDatabase creates a database on the server at base for one test.
func MySQLDatabase(t testing.TB, base string) string {
	t.Helper()
	admin, err := database.Open(context.Background(), base, database.Pool{MaxOpen: 2})
	if err != nil {
		t.Fatalf("connect to %s: %v", MySQLEnv, err)
	}
	name := "st_" + Suffix()
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		DropMySQLStores(t, admin, base, name)
		admin.Close()
	})
	u, _ := url.Parse(base)
	u.Path = "/" + name
	return u.String()
}

// DropMySQLStores drops every database named with prefix, and each tenant account with
// its database.
func DropMySQLStores(t testing.TB, admin *database.DB, base, prefix string) {
	for _, n := range Names(admin, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE ?", prefix+"%") {
		u, _ := url.Parse(base)
		u.Path, u.RawQuery = "/"+n, ""
		if err := database.DropTenantStore(context.Background(), admin, u.String()); err != nil {
			t.Logf("drop database %s: %v", n, err)
		}
	}
}

// Names reads one column of strings; a failing query reads as none (for cleanups).
func Names(db *database.DB, q string, args ...any) []string {
	out, _ := database.Texts(context.Background(), db, q, args...)
	return out
}
