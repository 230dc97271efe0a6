package activity

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"strata/modules/database"
)

// TestPurgeInBatches: a log longer than one batch is purged whole, entries with their
// revisions, and what is newer than the cut stays.
func TestPurgeInBatches(t *testing.T) {
	ctx := context.Background()
	db, err := database.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "t.db"), database.Pool{MaxOpen: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d := db.Dialect
	for _, q := range []string{
		`CREATE TABLE strata_activity (id TEXT PRIMARY KEY, "timestamp" TEXT NOT NULL)`,
		`CREATE INDEX activity_ts ON strata_activity ("timestamp")`,
		`CREATE TABLE strata_revisions (id TEXT PRIMARY KEY, activity TEXT NOT NULL)`,
		`CREATE INDEX revisions_activity ON strata_revisions (activity)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC()
	const old, fresh = 2*purgeBatch + 500, 10
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range old + fresh {
		at := now.Add(-48 * time.Hour).Add(time.Duration(i) * time.Millisecond)
		if i >= old {
			at = now.Add(-time.Minute)
		}
		id := fmt.Sprintf("a%05d", i)
		if _, err := tx.ExecContext(ctx, "INSERT INTO strata_activity (id, \"timestamp\") VALUES (?, ?)", id, d.TimeValue(at)); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO strata_revisions (id, activity) VALUES (?, ?)", fmt.Sprintf("r%05d", i), id); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := Purge(ctx, db, now.Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{ActivityTable, RevisionsTable} {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != fresh {
			t.Errorf("%s: %d rows left, want the %d newer than the cut", table, n, fresh)
		}
	}
}
