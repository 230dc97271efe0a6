package database

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"modernc.org/sqlite"
)

// withSQLiteCompileCount opens a one-connection SQLite pool with an indexed table of
// 2,000 rows and planner samples (ANALYZE), and returns a connection of it whose
// statement compilations are counted: SQLite asks the authorizer about every SELECT it
// compiles, a first prepare and every re-prepare alike.
func withSQLiteCompileCount(t *testing.T) (*sql.Conn, *int) {
	t.Helper()
	ctx := context.Background()
	db, err := Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "t.db"), Pool{MaxOpen: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, s := range []string{
		"CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)", "CREATE INDEX t_v ON t (v)",
		"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 2000) INSERT INTO t (v) SELECT i % 500 FROM n",
		"ANALYZE",
	} {
		if _, err := db.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	compiles := new(int)
	count := func(action sqlite.AuthorizerActionCode, arg1, arg2, dbName, trigger string) sqlite.AuthorizerReturnCode {
		if action == sqlite.AuthSelect {
			*compiles++
		}
		return sqliteBaseGuard(action, arg1, arg2, dbName, trigger)
	}
	if err := conn.Raw(func(dc any) error { return registerAuthorizer(dc, count) }); err != nil {
		t.Fatal(err)
	}
	return conn, compiles
}

func firstInt(t *testing.T, conn *sql.Conn, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := conn.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// TestSQLiteStatementsCompileOnce: a statement run again on a connection is neither
// prepared again nor re-prepared after new values are bound to it, though the planner
// has samples of the indexed column it compares with (which, without the stability
// guarantee, re-prepares it at every run).
func TestSQLiteStatementsCompileOnce(t *testing.T) {
	conn, compiles := withSQLiteCompileCount(t)
	const q = "SELECT id FROM t WHERE v > ? ORDER BY v, id LIMIT 1"
	for i := range 20 {
		v := int64(i * 20)
		if got := firstInt(t, conn, q, v); got == 0 {
			t.Fatalf("v > %d: no row", v)
		}
	}
	if *compiles != 1 {
		t.Errorf("20 runs of one statement compiled it %d times, want 1", *compiles)
	}
}

// TestSQLiteStatementCache: the cache is bounded (least recently used out), a
// statement still being read is not handed out twice, and a cached statement follows
// a change to its table.
func TestSQLiteStatementCache(t *testing.T) {
	ctx := context.Background()
	conn, compiles := withSQLiteCompileCount(t)

	t.Run("least recently used out", func(t *testing.T) {
		*compiles = 0
		query := func(i int) string { return fmt.Sprintf("SELECT count(*) /* %d */ FROM t WHERE v >= ?", i) }
		for i := range StatementCacheSize + 1 {
			firstInt(t, conn, query(i), 0)
		}
		if *compiles != StatementCacheSize+1 {
			t.Fatalf("%d distinct statements compiled %d times", StatementCacheSize+1, *compiles)
		}
		firstInt(t, conn, query(StatementCacheSize), 0) // the newest is kept
		if *compiles != StatementCacheSize+1 {
			t.Errorf("the most recent statement was compiled again")
		}
		firstInt(t, conn, query(0), 0) // the oldest left
		if *compiles != StatementCacheSize+2 {
			t.Errorf("the least recently used statement was not evicted (compiles %d)", *compiles)
		}
	})

	t.Run("busy statement", func(t *testing.T) {
		const q = "SELECT id FROM t WHERE v = ? ORDER BY id"
		outer, err := conn.QueryContext(ctx, q, 7)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for outer.Next() {
			var id int64
			if err := outer.Scan(&id); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
			// The same text while the outer rows are open: a statement of its own.
			if got := firstInt(t, conn, "SELECT count(*) FROM ("+q+")", 8); got != 4 {
				t.Fatalf("inner count = %d, want 4", got)
			}
			if len(ids) == 1 {
				if got := firstInt(t, conn, q, 9); got == 0 {
					t.Fatal("inner run of the same statement: no row")
				}
			}
		}
		if err := outer.Close(); err != nil {
			t.Fatal(err)
		}
		if len(ids) != 4 {
			t.Fatalf("outer rows = %d, want 4 (v = 7 for 4 of 2,000 rows)", len(ids))
		}
	})

	t.Run("table changes under a cached statement", func(t *testing.T) {
		const q = "SELECT * FROM t WHERE id = ?"
		cols := func() []string {
			rows, err := conn.QueryContext(ctx, q, 1)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			c, _ := rows.Columns()
			return c
		}
		if got := strings.Join(cols(), ","); got != "id,v" {
			t.Fatalf("columns = %s", got)
		}
		if _, err := conn.ExecContext(ctx, "ALTER TABLE t ADD COLUMN w INTEGER"); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(cols(), ","); got != "id,v,w" {
			t.Errorf("after ALTER TABLE the cached statement reads columns %s, want id,v,w", got)
		}
	})
}

// TestMySQLStatementsPrepareOnce: on MySQL/MariaDB a statement with arguments run again
// on a connection is prepared on the server once, not once per run.
func TestMySQLStatementsPrepareOnce(t *testing.T) {
	db := testServer(t, "STRATA_TEST_MYSQL_URL", 2)
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A temporary table is the session's own: no name to collide with another run.
	if _, err := conn.ExecContext(ctx, "CREATE TEMPORARY TABLE stmt_cache_probe (id INT PRIMARY KEY, v INT, KEY (v))"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "INSERT INTO stmt_cache_probe VALUES (1, 10), (2, 20), (3, 30)"); err != nil {
		t.Fatal(err)
	}
	prepares := func() int64 {
		var name string
		var n int64
		if err := conn.QueryRowContext(ctx, "SHOW SESSION STATUS LIKE 'Com_stmt_prepare'").Scan(&name, &n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := prepares()
	for i := range 20 {
		if got := firstInt(t, conn, "SELECT count(*) FROM stmt_cache_probe WHERE v > ?", i%10); got != 3 {
			t.Fatalf("count = %d, want 3", got)
		}
		if _, err := conn.ExecContext(ctx, "UPDATE stmt_cache_probe SET v = v WHERE id = ?", i%3+1); err != nil {
			t.Fatal(err)
		}
	}
	if got := prepares() - before; got != 2 {
		t.Errorf("40 runs of two statements prepared %d statements on the server, want 2", got)
	}
}
