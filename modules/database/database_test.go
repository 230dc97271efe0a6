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
	base := os.Getenv("STRATA_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("STRATA_TEST_POSTGRES_URL not set: skipping the PostgreSQL plan check")
	}
	db, err := Open(context.Background(), base, Pool{MaxOpen: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
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
