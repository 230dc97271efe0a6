package schema

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strings"
)

// Inspect implements Dialect for the connection's current database. Each
// information_schema view is read once for the whole database rather than once per
// table, because on MySQL/MariaDB those views are slow to open.
//
// Columns are scanned by position into strings and sql.NullString: MariaDB returns
// information_schema values as []byte and names its columns in upper case, and some of
// them (COLUMN_NAME of a functional index) can be NULL.
func (MySQL) Inspect(ctx context.Context, q Querier) (*Live, error) {
	live := &Live{Tables: map[string]*LiveTable{}}

	if err := inspectTables(ctx, q, live, `
SELECT TABLE_NAME FROM information_schema.TABLES
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'`); err != nil {
		return nil, err
	}

	// COLUMNS and STATISTICS also describe views and temporary tables; only rows of the
	// base tables found above are kept.
	rows, err := q.QueryContext(ctx, `
SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = DATABASE()
ORDER BY TABLE_NAME, ORDINAL_POSITION`)
	if err != nil {
		return nil, fmt.Errorf("inspect columns: %w", err)
	}
	for rows.Next() {
		var table, name, typ, nullable string
		if err := rows.Scan(&table, &name, &typ, &nullable); err != nil {
			rows.Close()
			return nil, fmt.Errorf("inspect columns: %w", err)
		}
		if t := live.Tables[table]; t != nil {
			t.Columns = append(t.Columns, LiveColumn{Name: name, Type: normalizeMySQLType(typ), Nullable: strings.EqualFold(nullable, "YES")})
		}
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("inspect columns: %w", err)
	}

	rows, err = q.QueryContext(ctx, `
SELECT rc.TABLE_NAME, rc.CONSTRAINT_NAME, k.COLUMN_NAME, rc.REFERENCED_TABLE_NAME, rc.DELETE_RULE
FROM information_schema.REFERENTIAL_CONSTRAINTS rc
JOIN information_schema.KEY_COLUMN_USAGE k
  ON k.CONSTRAINT_SCHEMA = rc.CONSTRAINT_SCHEMA AND k.CONSTRAINT_NAME = rc.CONSTRAINT_NAME
 AND k.TABLE_NAME = rc.TABLE_NAME
WHERE rc.CONSTRAINT_SCHEMA = DATABASE()
ORDER BY rc.TABLE_NAME, rc.CONSTRAINT_NAME, k.ORDINAL_POSITION`)
	if err != nil {
		return nil, fmt.Errorf("inspect foreign keys: %w", err)
	}
	for rows.Next() {
		var table, name, column, ref, rule string
		if err := rows.Scan(&table, &name, &column, &ref, &rule); err != nil {
			rows.Close()
			return nil, fmt.Errorf("inspect foreign keys: %w", err)
		}
		if t := live.Tables[table]; t != nil {
			t.addFKColumn(LiveFK{Name: name, Column: column, RefTable: ref, OnDelete: ruleOnDelete(rule)})
		}
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("inspect foreign keys: %w", err)
	}

	rows, err = q.QueryContext(ctx, `
SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = DATABASE() AND INDEX_NAME <> 'PRIMARY'
ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX`)
	if err != nil {
		return nil, fmt.Errorf("inspect indexes: %w", err)
	}
	for rows.Next() {
		var table, index string
		var nonUnique int64
		var column sql.NullString
		if err := rows.Scan(&table, &index, &nonUnique, &column); err != nil {
			rows.Close()
			return nil, fmt.Errorf("inspect indexes: %w", err)
		}
		t := live.Tables[table]
		// A foreign key added where no index covers its column makes MySQL create one
		// under the key's own name. It cannot be dropped while the key exists and the
		// model never names one of its indexes like a key, so it is not reported.
		if t == nil || !column.Valid || t.hasFKNamed(index) {
			continue
		}
		t.addIndexColumn(index, nonUnique == 0, column.String)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("inspect indexes: %w", err)
	}
	live.sortKeys()
	return live, nil
}

// mysqlIntWidth matches the display width MariaDB and MySQL before 8.0.19 append to
// integer types; it carries no meaning for storage, so it is dropped to make both
// servers report alike.
var mysqlIntWidth = regexp.MustCompile(`^(tinyint|smallint|mediumint|int|integer|bigint)\(\d+\)`)

// normalizeMySQLType lower-cases a COLUMN_TYPE and strips integer display widths,
// except tinyint(1), which is how a boolean is declared and reported.
func normalizeMySQLType(t string) string {
	t = strings.ToLower(strings.TrimSpace(t))
	if strings.HasPrefix(t, "tinyint(1)") {
		return t
	}
	return mysqlIntWidth.ReplaceAllString(t, "$1")
}
