package database

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
)

func TestWrites(t *testing.T) {
	for q, want := range map[string]bool{
		"SELECT 1": false, " select * from t": false, "/* v3 */ SELECT x FROM t": false, "(SELECT 1)": false,
		"EXPLAIN QUERY PLAN SELECT 1": false, "PRAGMA table_info(t)": false,
		"INSERT INTO t VALUES (1)": true, "/* v3 */ UPDATE t SET x = 1": true, "DELETE FROM t": true,
		"WITH a AS (SELECT 1) INSERT INTO t SELECT * FROM a": true, "CREATE TABLE t (x)": true, "/* unterminated": true, "": true,
	} {
		if got := writes(q); got != want {
			t.Errorf("writes(%q) = %v, want %v", q, got, want)
		}
	}
}

// TestWriteGate: writers of one SQLite file take turns through the gate, transactions
// and writes outside them alike, and every one of them gets through.
func TestWriteGate(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "g.db"), Pool{MaxOpen: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE TABLE n (v INTEGER)"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				_, err := db.ExecContext(ctx, "INSERT INTO n (v) VALUES (?)", i)
				errs <- err
				return
			}
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				errs <- err
				return
			}
			for j := range 3 {
				if _, err := tx.ExecContext(ctx, "INSERT INTO n (v) VALUES (?)", i*10+j); err != nil {
					_ = tx.Rollback()
					errs <- err
					return
				}
			}
			if i%4 == 1 {
				errs <- tx.Rollback()
				return
			}
			errs <- tx.Commit()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM n").Scan(&n); err != nil || n != 16+8*3 {
		t.Fatalf("%d rows (%v), want %d", n, err, 16+8*3)
	}
	// The gate is free again: a writer that would give up long before gateWait gets in.
	short, cancel := context.WithTimeout(ctx, gateWait/5)
	defer cancel()
	if _, err := db.ExecContext(short, "INSERT INTO n (v) VALUES (1)"); err != nil {
		t.Fatalf("a write after the others (the gate was left held?): %v", err)
	}
}
