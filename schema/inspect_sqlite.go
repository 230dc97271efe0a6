package schema

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// sqliteTables restricts the pragma joins below to user tables; SQLite's own tables
// (sqlite_sequence, sqlite_stat1, …) are not part of any model. "_" is a LIKE wildcard,
// hence the escape.
const sqliteTables = `m.type = 'table' AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'`

// Inspect implements Dialect. The pragmas are used through their table-valued forms
// joined to sqlite_master, so table names never have to be quoted into SQL and each
// pragma is one query for the whole database.
func (SQLite) Inspect(ctx context.Context, q Querier) (*Live, error) {
	live := &Live{Tables: map[string]*LiveTable{}}

	if err := inspectTables(ctx, q, live, `SELECT m.name FROM sqlite_master m WHERE `+sqliteTables); err != nil {
		return nil, err
	}

	// A primary-key column counts as NOT NULL: the model's id always is, and SQLite only
	// omits the flag because the key is declared apart from the column.
	rows, err := q.QueryContext(ctx, `
SELECT m.name, p.name, p.type, p."notnull", p.pk
FROM sqlite_master m JOIN pragma_table_info(m.name) p
WHERE `+sqliteTables+`
ORDER BY m.name, p.cid`)
	if err != nil {
		return nil, fmt.Errorf("inspect columns: %w", err)
	}
	for rows.Next() {
		var table, name, typ string
		var notNull, pk int64
		if err := rows.Scan(&table, &name, &typ, &notNull, &pk); err != nil {
			rows.Close()
			return nil, fmt.Errorf("inspect columns: %w", err)
		}
		t := live.table(table)
		t.Columns = append(t.Columns, LiveColumn{Name: name, Type: strings.ToUpper(typ), Nullable: notNull == 0 && pk == 0})
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("inspect columns: %w", err)
	}

	// Indexes SQLite makes by itself for PRIMARY KEY and UNIQUE constraints are left
	// out: the model declares its indexes with CREATE INDEX. Expression entries have no
	// column name and are skipped.
	rows, err = q.QueryContext(ctx, `
SELECT m.name, il.name, il."unique", ii.name
FROM sqlite_master m
JOIN pragma_index_list(m.name) il
JOIN pragma_index_info(il.name) ii
WHERE `+sqliteTables+` AND il.origin <> 'pk' AND il.name NOT LIKE 'sqlite\_autoindex\_%' ESCAPE '\'
ORDER BY m.name, il.name, ii.seqno`)
	if err != nil {
		return nil, fmt.Errorf("inspect indexes: %w", err)
	}
	for rows.Next() {
		var table, index string
		var unique int64
		var column sql.NullString
		if err := rows.Scan(&table, &index, &unique, &column); err != nil {
			rows.Close()
			return nil, fmt.Errorf("inspect indexes: %w", err)
		}
		if column.Valid {
			live.table(table).addIndexColumn(index, unique != 0, column.String)
		}
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("inspect indexes: %w", err)
	}

	// SQLite does not keep constraint names, so the key's id within its table is what
	// groups the rows of a composite key.
	rows, err = q.QueryContext(ctx, `
SELECT m.name, fk.id, fk."from", fk."table", fk.on_delete
FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) fk
WHERE `+sqliteTables+`
ORDER BY m.name, fk.id, fk.seq`)
	if err != nil {
		return nil, fmt.Errorf("inspect foreign keys: %w", err)
	}
	lastTable, lastID := "", int64(-1)
	for rows.Next() {
		var table, column, ref, action string
		var id int64
		if err := rows.Scan(&table, &id, &column, &ref, &action); err != nil {
			rows.Close()
			return nil, fmt.Errorf("inspect foreign keys: %w", err)
		}
		t := live.table(table)
		if table == lastTable && id == lastID && len(t.FKs) > 0 {
			t.FKs[len(t.FKs)-1].Column += "," + column
			continue
		}
		lastTable, lastID = table, id
		t.FKs = append(t.FKs, LiveFK{Column: column, RefTable: ref, OnDelete: ruleOnDelete(action)})
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("inspect foreign keys: %w", err)
	}
	live.sortKeys()
	return live, nil
}
