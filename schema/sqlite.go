package schema

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// SQLite renders for SQLite. Each tenant is its own database file. SQLite cannot alter
// a column or a foreign key in place, so such changes rebuild the table: a new table of
// the final shape, a copy of the rows, and a swap, inside the migration's transaction.
type SQLite struct{}

var _ Dialect = SQLite{}

// Name implements Dialect.
func (SQLite) Name() string { return "sqlite" }

// Quote implements Dialect.
func (SQLite) Quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// Rebind implements Dialect.
func (SQLite) Rebind(q string) string { return q }

// TransactionalDDL implements Dialect.
func (SQLite) TransactionalDDL() bool { return true }

// BoolValue implements Dialect.
func (SQLite) BoolValue(b bool) any {
	if b {
		return 1
	}
	return 0
}

// ColumnType implements Dialect. SQLite keeps declared types verbatim; we declare
// descriptive ones so introspection can tell the contract's types apart.
func (SQLite) ColumnType(c *Column) string {
	switch c.Type {
	case TypeString, TypeEmail, TypeURL, TypePhone:
		return fmt.Sprintf("VARCHAR(%d)", c.TextLength())
	case TypeText:
		return "TEXT"
	case TypeInteger:
		return "INTEGER"
	case TypeBigint:
		return "BIGINT"
	case TypeFloat, TypePercent:
		return "DOUBLE"
	case TypeDecimal:
		return fmt.Sprintf("NUMERIC(%d,%d)", c.Precision, c.Scale)
	case TypeCurrency:
		return fmt.Sprintf("NUMERIC(%d,%d)", CurrencyPrecision, CurrencyScale)
	case TypeBoolean:
		return "BOOLEAN"
	case TypeDate:
		return "DATE"
	case TypeDatetime:
		return "DATETIME"
	case TypeTime:
		return "TIME"
	case TypeUUID, TypeFile:
		return "UUID"
	case TypeJSON, TypeMultiEnum:
		return "JSON"
	}
	return "VARCHAR(255)" // enum
}

// Plan implements Dialect.
func (s SQLite) Plan(before *Model, c Change) (Plan, error) { return planChange(s, before, c) }

func (s SQLite) columnDef(c *Column) string {
	def := s.Quote(c.Name) + " " + s.ColumnType(c)
	if !c.Nullable {
		def += " NOT NULL"
	}
	if c.Type == TypeString || (c.Type.SizedText() && c.Length > 0) {
		// SQLite ignores VARCHAR(n); the check makes a too-long value fail here as it
		// does on PostgreSQL and MySQL (shortening a column below its data, say). Email,
		// url and phone columns made before they had lengths have none.
		def += fmt.Sprintf(" CHECK (length(%s) <= %d)", s.Quote(c.Name), c.TextLength())
	}
	if len(c.Default) > 0 {
		def += " DEFAULT " + s.literal(c)
	}
	return def
}

func (s SQLite) literal(c *Column) string {
	// Date-times are text here, compared and sorted as text: a default must be in the
	// fixed-width UTC form values are written in, or filters and sorts misplace it.
	if t, ok := datetimeDefault(c); ok {
		return quoteString(t.Format(TimeLayout), false)
	}
	return literal(c, func(b bool) string {
		if b {
			return "1"
		}
		return "0"
	}, false)
}

func (s SQLite) fkClause(fk ForeignKey) string {
	return "CONSTRAINT " + s.Quote(fk.Name) + " FOREIGN KEY (" + s.Quote(fk.Column) + ") REFERENCES " +
		s.Quote(fk.RefTable) + " (" + s.Quote("id") + ") ON DELETE " + onDeleteSQL(fk.OnDelete)
}

// createStatement renders CREATE TABLE with its foreign keys inline (SQLite cannot add
// them later).
func (s SQLite) createStatement(name string, m *Model, t *Table) string {
	parts := tableBody(s, t)
	for _, fk := range ForeignKeys(m, t) {
		parts = append(parts, s.fkClause(fk))
	}
	return "CREATE TABLE " + s.Quote(name) + " (" + strings.Join(parts, ", ") + ")"
}

func (s SQLite) createTable(m *Model, t *Table) []Step {
	steps := []Step{{Up: []string{s.createStatement(t.Name, m, t)}, Down: []string{s.dropTable(t.Name)}}}
	for _, ix := range t.Indexes {
		steps = append(steps, Step{Up: []string{s.createIndex(t.Name, ix)}, Down: []string{s.dropIndex(t.Name, ix)}})
	}
	return steps
}

func (s SQLite) renameTable(from, to string) Step {
	return Step{
		Up:   []string{"ALTER TABLE " + s.Quote(from) + " RENAME TO " + s.Quote(to)},
		Down: []string{"ALTER TABLE " + s.Quote(to) + " RENAME TO " + s.Quote(from)},
	}
}

func (s SQLite) dropTable(name string) string { return "DROP TABLE " + s.Quote(name) }

func (s SQLite) createIndex(table string, ix Index) string {
	u := ""
	if ix.Unique {
		u = "UNIQUE "
	}
	return "CREATE " + u + "INDEX " + s.Quote(ix.Name) + " ON " + s.Quote(table) + " (" + columnList(s, ix.Columns) + ")"
}

func (s SQLite) dropIndex(_ string, ix Index) string { return "DROP INDEX " + s.Quote(ix.Name) }

// addFK and dropFK are never planned on SQLite: a change of keys rebuilds the table.
func (s SQLite) addFK(string, ForeignKey) string  { panic("sqlite: foreign keys change by rebuild") }
func (s SQLite) dropFK(string, ForeignKey) string { panic("sqlite: foreign keys change by rebuild") }

func (s SQLite) alterTable(bm, am *Model, before, after *Table, diff tableDiff) []Step {
	if steps, ok := s.alterInPlace(before, after, diff); ok {
		return steps
	}
	return []Step{{Up: s.rebuild(am, before, after), Down: s.rebuild(bm, after, before)}}
}

// alterInPlace handles what SQLite's ALTER TABLE can do: rename columns and add
// columns that need no key and can be filled by their default.
func (s SQLite) alterInPlace(before, after *Table, diff tableDiff) ([]Step, bool) {
	if len(diff.addFKs)+len(diff.dropFKs) > 0 {
		return nil, false
	}
	t := s.Quote(after.Name)
	var cols []Step
	old := columnsByID(before)
	for i := range after.Columns {
		a := &after.Columns[i]
		b := old[a.ID]
		if b == nil {
			if !a.Nullable && len(a.Default) == 0 {
				return nil, false
			}
			cols = append(cols, Step{Up: []string{"ALTER TABLE " + t + " ADD COLUMN " + s.columnDef(a)}, Down: []string{"ALTER TABLE " + t + " DROP COLUMN " + s.Quote(a.Name)}})
			continue
		}
		if !physicallyEqual(b, a) {
			return nil, false
		}
		if b.Name != a.Name {
			cols = append(cols, Step{
				Up:   []string{"ALTER TABLE " + t + " RENAME COLUMN " + s.Quote(b.Name) + " TO " + s.Quote(a.Name)},
				Down: []string{"ALTER TABLE " + t + " RENAME COLUMN " + s.Quote(a.Name) + " TO " + s.Quote(b.Name)},
			})
		}
	}
	if len(before.Columns) > len(after.Columns)-countNew(before, after) {
		return nil, false // a column goes: rebuild
	}
	return withKeys(s, after.Name, tableDiff{dropIdx: diff.dropIdx, addIdx: diff.addIdx}, cols), true
}

func countNew(before, after *Table) int {
	old := columnsByID(before)
	n := 0
	for _, c := range after.Columns {
		if old[c.ID] == nil {
			n++
		}
	}
	return n
}

// rebuild turns table from into table to (model m describes to) by copying its rows
// into a table of the final shape. The migration runs with foreign-key enforcement off
// and checks the keys before it commits.
func (s SQLite) rebuild(m *Model, from, to *Table) []string {
	tmp := tmpTablePrefix + to.Name
	var dst, src []string
	old := columnsByID(from)
	for _, c := range to.Columns {
		if b := old[c.ID]; b != nil {
			dst = append(dst, s.Quote(c.Name))
			src = append(src, s.Quote(b.Name))
		}
	}
	out := []string{
		s.createStatement(tmp, m, to),
		"INSERT INTO " + s.Quote(tmp) + " (" + strings.Join(dst, ", ") + ") SELECT " + strings.Join(src, ", ") + " FROM " + s.Quote(from.Name),
		"DROP TABLE " + s.Quote(from.Name),
		"ALTER TABLE " + s.Quote(tmp) + " RENAME TO " + s.Quote(to.Name),
	}
	for _, ix := range to.Indexes {
		out = append(out, s.createIndex(to.Name, ix))
	}
	return out
}

// TimeLayout is how SQLite stores date-times: fixed width, so text order is time order.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// TimeValue implements Dialect.
func (SQLite) TimeValue(t time.Time) any { return t.UTC().Format(TimeLayout) }

// BeforeMigration implements Dialect: a table rebuild drops and re-creates tables that
// others reference, which must not fire ON DELETE actions; the pragma only takes effect
// outside a transaction, so it is set here and keys are checked before commit.
func (SQLite) BeforeMigration(ctx context.Context, q Querier) error {
	_, err := q.ExecContext(ctx, "PRAGMA foreign_keys = OFF")
	return err
}

// AfterMigration implements Dialect.
func (SQLite) AfterMigration(ctx context.Context, q Querier) error {
	_, err := q.ExecContext(ctx, "PRAGMA foreign_keys = ON")
	return err
}

// MigrationLock implements Dialect. One process owns a SQLite file; the migration
// service serialises its own goroutines and BEGIN IMMEDIATE takes the writer lock.
func (SQLite) MigrationLock(context.Context, Querier, string) (func(), error) { return func() {}, nil }

// VerifyKeys implements Dialect: keys were not enforced during a rebuild, so they are
// checked before the migration commits.
func (SQLite) VerifyKeys(ctx context.Context, q Querier) error {
	rows, err := q.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return err
	}
	defer rows.Close()
	if rows.Next() {
		var table string
		var rowid, parent, fkid any
		_ = rows.Scan(&table, &rowid, &parent, &fkid)
		return fmt.Errorf("foreign key violation in table %s (references %v)", table, parent)
	}
	return rows.Err()
}

// OrderTerm implements Dialect.
func (SQLite) OrderTerm(expr string, desc, nullable bool) string {
	switch {
	case !nullable && desc:
		return expr + " DESC"
	case !nullable:
		return expr + " ASC"
	case desc:
		return expr + " DESC NULLS FIRST"
	}
	return expr + " ASC NULLS LAST"
}

// SelectTerm implements Dialect. The driver parses the text of a column declared DATE
// or DATETIME into a time.Time (two time.Parse calls, one of them failing), which the
// engine would format straight back into the RFC 3339 text it stored (TimeLayout).
// SQLite's unary plus changes no value but leaves a result column without a declared
// type, so the stored text comes back as it is.
func (SQLite) SelectTerm(expr string, c *Column) string {
	if c.Type == TypeDatetime || c.Type == TypeDate {
		return "+" + expr
	}
	return expr
}

// limits implements ddl: the model's own limits are within SQLite's.
func (SQLite) limits(_, _ *Model, _ Change) error { return nil }
