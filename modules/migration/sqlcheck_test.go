package migration

import (
	"strings"
	"testing"
)

func TestCheckCustomSQL(t *testing.T) {
	cases := []struct {
		dialect, sql string
		ok           bool
		stmts        int
	}{
		{"postgres", "CREATE TABLE a (id int); CREATE INDEX ai ON a (id);", true, 2},
		{"postgres", "CREATE TABLE a (id int); COMMIT;", false, 0},
		{"postgres", "create table a (id int);\n\tcommit", false, 0},
		{"postgres", "-- COMMIT\nCREATE TABLE a (id int)", true, 1},
		{"postgres", "/* COMMIT; */ CREATE TABLE a (id int)", true, 1},
		{"postgres", "SELECT 'COMMIT; ROLLBACK'", true, 1},
		// PostgreSQL takes a backslash literally: the quote closes the string.
		{"postgres", `SELECT 'a\'; COMMIT; --'`, false, 0},
		// E'' strings do escape.
		{"postgres", `SELECT E'a\'; COMMIT; --'`, true, 1},
		{"postgres", "DO $$ BEGIN PERFORM 1; COMMIT; END $$", true, 1},
		{"postgres", "DO $body$ BEGIN RAISE NOTICE '$$'; END $body$; SELECT 1", true, 2},
		// An identifier may hold "$": it is no dollar quote.
		{"postgres", "SELECT 1 AS a$b$; COMMIT; SELECT $b$ x $b$", false, 0},
		{"postgres", "END", false, 0},
		{"postgres", "SET search_path = public", false, 0},
		{"postgres", "RESET ALL", false, 0},
		{"postgres", "LISTEN strata_bus", false, 0},
		{"postgres", "UPDATE custom_migrations SET status = 'x'", false, 0},
		{"postgres", `UPDATE "t_acme"."custom_migrations" SET status = 'x'`, false, 0},
		{"postgres", "UPDATE t_acme.custom_migrations SET status = 'x'", false, 0},
		{"postgres", "DELETE FROM ONLY column_definition", false, 0},
		{"postgres", "TRUNCATE strata_users", false, 0},
		{"postgres", "CREATE TRIGGER t BEFORE INSERT OR UPDATE ON custom_migrations FOR EACH ROW EXECUTE FUNCTION f()", false, 0},
		{"postgres", "CREATE TABLE strata_mine (id int)", false, 0},
		{"postgres", "SELECT * FROM custom_migrations JOIN table_definition ON true", true, 1},
		{"postgres", "INSERT INTO notes SELECT 1 ON CONFLICT DO UPDATE SET x = 1", true, 1},
		{"postgres", "CREATE TABLE a (id int); DO $$ BEGIN EXECUTE 'UPDATE custom_' || 'migrations SET x = 1'; END $$", true, 2},
		{"mysql", "CREATE TABLE a (id int); COMMIT", false, 0},
		{"mysql", `SELECT 'a\'; COMMIT; --'`, true, 1},
		{"mysql", "SELECT 1 --1; COMMIT;", false, 0},
		{"mysql", "SELECT 1 # ; COMMIT\n; SELECT 2", true, 2},
		{"mysql", "CREATE TABLE a (id int) /*!40101 ; COMMIT */", false, 0},
		{"mysql", "CREATE TABLE a (id int); /*!40101 COMMIT */", false, 0},
		{"mysql", "CREATE TABLE a (id int); /*M!100100 COMMIT */", false, 0},
		{"mysql", "CREATE EVENT e ON SCHEDULE EVERY 1 SECOND DO SELECT 1", false, 0},
		{"mysql", "CREATE PROCEDURE p() BEGIN IF 1 THEN SELECT 1; END IF; SELECT 2; END; CALL p()", true, 2},
		{"mysql", "CREATE TRIGGER t BEFORE INSERT ON notes FOR EACH ROW INSERT INTO custom_migrations (id) VALUES (1)", false, 0},
		{"mysql", "REPLACE INTO `strata_roles` (id) VALUES (1)", false, 0},
		{"mysql", "USE other", false, 0},
		{"mysql", "SELECT 'UPDATE custom_migrations SET name = 1' INTO @s; PREPARE st FROM @s; EXECUTE st", false, 0},
		{"mysql", "CREATE PROCEDURE p() BEGIN PREPARE st FROM @s; EXECUTE st; END", false, 0},
		{"sqlite", "PRAGMA writable_schema = 1", false, 0},
		{"sqlite", "ATTACH 'x.db' AS x", false, 0},
		{"sqlite", "UPDATE [custom_migrations] SET name = 'x'", false, 0},
		{"sqlite", "CREATE TRIGGER t AFTER INSERT ON notes BEGIN UPDATE main.custom_migrations SET name = 'x'; END", false, 0},
		{"sqlite", "CREATE TRIGGER t AFTER INSERT ON notes BEGIN UPDATE notes SET body = 'x'; END; SELECT 1", true, 2},
	}
	for _, c := range cases {
		stmts, err := CheckCustomSQL(c.dialect, "up_sql", c.sql)
		if (err == nil) != c.ok {
			t.Errorf("%s %q: err = %v, want ok = %v", c.dialect, c.sql, err, c.ok)
			continue
		}
		if c.ok && len(stmts) != c.stmts {
			t.Errorf("%s %q: %d statements %q, want %d", c.dialect, c.sql, len(stmts), stmts, c.stmts)
		}
	}
}

// FuzzCheckCustomSQL: the reader never panics or loops, and every statement it hands
// on is a piece of the input.
func FuzzCheckCustomSQL(f *testing.F) {
	for _, s := range []string{"CREATE TABLE a (id int); COMMIT", "DO $$ BEGIN END $$", "SELECT 'a\\'; x", "/*! COMMIT */", "CREATE PROCEDURE p() BEGIN END", "$a$", "'", "\"", "`", "[", "/*", "$$"} {
		f.Add("postgres", s)
		f.Add("mysql", s)
		f.Add("sqlite", s)
	}
	f.Fuzz(func(t *testing.T, dialect, s string) {
		stmts, err := CheckCustomSQL(dialect, "up_sql", s)
		if err != nil {
			return
		}
		for _, st := range stmts {
			if !strings.Contains(s, st) {
				t.Fatalf("statement %q is not part of %q", st, s)
			}
		}
	})
}
