package schema

import (
	"context"
	"fmt"
)

// Inspect implements Dialect. The tenant's connection selects its schema through
// search_path, so everything is read from current_schema(). Each catalog is read in one
// query for the whole schema rather than one per table: a tenant may have hundreds of
// tables and every round trip counts.
func (Postgres) Inspect(ctx context.Context, q Querier) (*Live, error) {
	live := &Live{Tables: map[string]*LiveTable{}}

	// Partitions are left out: they are storage of a partitioned table, not tables of
	// the model.
	if err := inspectTables(ctx, q, live, `
SELECT c.relname
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition`); err != nil {
		return nil, err
	}

	rows, err := q.QueryContext(ctx, `
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY c.relname, a.attnum`)
	if err != nil {
		return nil, fmt.Errorf("inspect columns: %w", err)
	}
	for rows.Next() {
		var table string
		var col LiveColumn
		if err := rows.Scan(&table, &col.Name, &col.Type, &col.Nullable); err != nil {
			rows.Close()
			return nil, fmt.Errorf("inspect columns: %w", err)
		}
		t := live.table(table)
		t.Columns = append(t.Columns, col)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("inspect columns: %w", err)
	}

	// Only key columns count (INCLUDE columns come after indnkeyatts); expression
	// entries have attnum 0 and no attribute, so they drop out of the join.
	rows, err = q.QueryContext(ctx, `
SELECT t.relname, i.relname, ix.indisunique, a.attname
FROM pg_catalog.pg_index ix
JOIN pg_catalog.pg_class t ON t.oid = ix.indrelid
JOIN pg_catalog.pg_class i ON i.oid = ix.indexrelid
JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
CROSS JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
WHERE n.nspname = current_schema() AND t.relkind IN ('r', 'p') AND NOT t.relispartition
  AND NOT ix.indisprimary AND k.ord <= ix.indnkeyatts
ORDER BY t.relname, i.relname, k.ord`)
	if err != nil {
		return nil, fmt.Errorf("inspect indexes: %w", err)
	}
	for rows.Next() {
		var table, index, column string
		var unique bool
		if err := rows.Scan(&table, &index, &unique, &column); err != nil {
			rows.Close()
			return nil, fmt.Errorf("inspect indexes: %w", err)
		}
		live.table(table).addIndexColumn(index, unique, column)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("inspect indexes: %w", err)
	}

	rows, err = q.QueryContext(ctx, `
SELECT t.relname, con.conname, a.attname, r.relname, con.confdeltype::text
FROM pg_catalog.pg_constraint con
JOIN pg_catalog.pg_class t ON t.oid = con.conrelid
JOIN pg_catalog.pg_class r ON r.oid = con.confrelid
JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
WHERE n.nspname = current_schema() AND con.contype = 'f' AND t.relkind IN ('r', 'p') AND NOT t.relispartition
ORDER BY t.relname, con.conname, k.ord`)
	if err != nil {
		return nil, fmt.Errorf("inspect foreign keys: %w", err)
	}
	for rows.Next() {
		var table, name, column, ref, action string
		if err := rows.Scan(&table, &name, &column, &ref, &action); err != nil {
			rows.Close()
			return nil, fmt.Errorf("inspect foreign keys: %w", err)
		}
		live.table(table).addFKColumn(LiveFK{Name: name, Column: column, RefTable: ref, OnDelete: postgresOnDelete(action)})
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("inspect foreign keys: %w", err)
	}
	live.sortKeys()
	return live, nil
}

// postgresOnDelete maps pg_constraint.confdeltype to the model's action names.
func postgresOnDelete(code string) string {
	switch code {
	case "a":
		return "no_action"
	case "r":
		return "restrict"
	case "c":
		return "cascade"
	case "n":
		return "set_null"
	case "d":
		return "set_default"
	}
	return "unknown(" + code + ")"
}
