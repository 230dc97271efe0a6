package database

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
)

// TestPingBeforeReuse: a connection idle for over a second is pinged before its next
// use, as pgx does by default; one never used since it was made (Open just logged it
// in) is not.
func TestPingBeforeReuse(t *testing.T) {
	for _, c := range []struct {
		name string
		idle time.Duration
		want bool
	}{
		{"never reset", time.Since(time.Time{}), false},
		{"just used", 10 * time.Millisecond, false},
		{"idle a second", time.Second, false},
		{"idle longer", 1500 * time.Millisecond, true},
		{"idle an hour", time.Hour, true},
	} {
		if got := pingBeforeReuse(context.Background(), stdlib.ShouldPingParams{IdleDuration: c.idle}); got != c.want {
			t.Errorf("%s (%v): ping %v, want %v", c.name, c.idle, got, c.want)
		}
	}
}

// TestAdoptableRelationsUseIndexes (PostgreSQL): provisioning a tenant's account finds
// the relations of its schema by index, never by scanning the server's whole catalog
// (which made each tenant's creation slower the more tenants there were).
func TestAdoptableRelationsUseIndexes(t *testing.T) {
	db := testServer(t, "STRATA_TEST_POSTGRES_URL", 1)
	rows, err := db.QueryContext(context.Background(), "EXPLAIN "+adoptableRelations, "public", "strata_nobody")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	for _, line := range plan {
		if strings.Contains(line, "Seq Scan on pg_class") || strings.Contains(line, "Seq Scan on pg_depend") {
			t.Fatalf("the adoption query scans a whole catalog:\n%s", strings.Join(plan, "\n"))
		}
	}
}

// testServer opens a pool of maxOpen connections on the server whose test URL is in
// the environment variable name, closed when the test ends; without the URL the test
// is skipped (and fails in CI). testkit.NeedURL does the same for other packages, but
// testkit imports this one.
func testServer(t *testing.T, name string, maxOpen int) *DB {
	t.Helper()
	u := os.Getenv(name)
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: this test must run against a real server in CI", name)
		}
		t.Skipf("%s not set: skipping (set it to run against a real server)", name)
	}
	db, err := Open(context.Background(), u, Pool{MaxOpen: maxOpen})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
