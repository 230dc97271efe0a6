package schema

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// MySQL renders for MySQL and MariaDB. Each tenant is its own database. DDL commits
// implicitly here, so plans are kept to one statement per step, each with its undo.
type MySQL struct{}

// The character set and collation of every table Strata makes on MySQL/MariaDB (and of
// the tenant's database): strings compare and sort by code point, as PostgreSQL's
// COLLATE "C" and SQLite's BINARY do. Each table names them, so its DDL (an export,
// say) builds the same table in a database made with the server's defaults.
const (
	MySQLCharset   = "utf8mb4"
	MySQLCollation = "utf8mb4_bin"
)

var _ Dialect = MySQL{}

// Name implements Dialect.
func (MySQL) Name() string { return "mysql" }

// Quote implements Dialect.
func (MySQL) Quote(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// Rebind implements Dialect.
func (MySQL) Rebind(q string) string { return q }

// TransactionalDDL implements Dialect.
func (MySQL) TransactionalDDL() bool { return false }

// BoolValue implements Dialect.
func (MySQL) BoolValue(b bool) any { return b }

// ColumnType implements Dialect; names are those information_schema reports (integer
// display widths stripped). JSON is longtext, which is what MariaDB's JSON alias is.
func (MySQL) ColumnType(c *Column) string {
	switch c.Type {
	case TypeString, TypeEmail, TypeURL, TypePhone:
		return fmt.Sprintf("varchar(%d)", c.TextLength())
	case TypeText, TypeJSON, TypeMultiEnum:
		return "longtext"
	case TypeInteger:
		return "int"
	case TypeBigint:
		return "bigint"
	case TypeFloat, TypePercent:
		return "double"
	case TypeDecimal:
		return fmt.Sprintf("decimal(%d,%d)", c.Precision, c.Scale)
	case TypeCurrency:
		return fmt.Sprintf("decimal(%d,%d)", CurrencyPrecision, CurrencyScale)
	case TypeBoolean:
		return "tinyint(1)"
	case TypeDate:
		return "date"
	case TypeDatetime:
		return "datetime(6)"
	case TypeTime:
		return "time(6)"
	case TypeUUID, TypeFile:
		return "char(36)"
	}
	return "varchar(255)" // enum
}

// Plan implements Dialect.
func (d MySQL) Plan(before *Model, c Change) (Plan, error) { return planChange(d, before, c) }

func (d MySQL) columnDef(c *Column) string {
	s := d.Quote(c.Name) + " " + d.ColumnType(c)
	if c.Nullable {
		s += " NULL"
	} else {
		s += " NOT NULL"
	}
	if len(c.Default) > 0 {
		s += " DEFAULT " + d.literal(c)
	}
	return s
}

// mysqlTimeLayout is the date-time literal MySQL and MariaDB take: they refuse RFC 3339's
// T and zone (Error 1067 Invalid default value). Values are stored in UTC, so is this.
const mysqlTimeLayout = "2006-01-02 15:04:05.000000"

func (d MySQL) literal(c *Column) string {
	if t, ok := datetimeDefault(c); ok {
		return quoteString(t.Format(mysqlTimeLayout), true)
	}
	return literal(c, func(b bool) string {
		if b {
			return "1"
		}
		return "0"
	}, true)
}

func (d MySQL) createTable(m *Model, t *Table) []Step {
	steps := []Step{{
		Up:   []string{"CREATE TABLE " + d.Quote(t.Name) + " (" + strings.Join(tableBody(d, t), ", ") + ") ENGINE=InnoDB DEFAULT CHARSET=" + MySQLCharset + " COLLATE=" + MySQLCollation},
		Down: []string{d.dropTable(t.Name)},
	}}
	return append(steps, withKeys(d, t.Name, tableDiff{addIdx: t.Indexes, addFKs: ForeignKeys(m, t)}, nil)...)
}

func (d MySQL) renameTable(from, to string) Step {
	return Step{
		Up:   []string{"RENAME TABLE " + d.Quote(from) + " TO " + d.Quote(to)},
		Down: []string{"RENAME TABLE " + d.Quote(to) + " TO " + d.Quote(from)},
	}
}

func (d MySQL) dropTable(name string) string { return "DROP TABLE " + d.Quote(name) }

// createIndex builds online: the table stays readable and writable meanwhile.
func (d MySQL) createIndex(table string, ix Index) string {
	u := ""
	if ix.Unique {
		u = "UNIQUE "
	}
	return "CREATE " + u + "INDEX " + d.Quote(ix.Name) + " ON " + d.Quote(table) + " (" + columnList(d, ix.Columns) + ") ALGORITHM=INPLACE LOCK=NONE"
}

func (d MySQL) dropIndex(table string, ix Index) string {
	return "DROP INDEX " + d.Quote(ix.Name) + " ON " + d.Quote(table)
}

func (d MySQL) addFK(table string, fk ForeignKey) string {
	return "ALTER TABLE " + d.Quote(table) + " ADD CONSTRAINT " + d.Quote(fk.Name) + " FOREIGN KEY (" + d.Quote(fk.Column) +
		") REFERENCES " + d.Quote(fk.RefTable) + " (" + d.Quote("id") + ") ON DELETE " + onDeleteSQL(fk.OnDelete)
}

func (d MySQL) dropFK(table string, fk ForeignKey) string {
	return "ALTER TABLE " + d.Quote(table) + " DROP FOREIGN KEY " + d.Quote(fk.Name)
}

func (d MySQL) alterTable(_, _ *Model, before, after *Table, diff tableDiff) []Step {
	t := d.Quote(after.Name)
	alter := func(s string) string { return "ALTER TABLE " + t + " " + s }
	var cols []Step
	old := columnsByID(before)
	for i := range after.Columns {
		a := &after.Columns[i]
		b := old[a.ID]
		if b == nil {
			if !a.Nullable && len(a.Default) == 0 {
				// MySQL would fill existing rows with an implicit '' or 0; adding the
				// column nullable and then requiring it fails on existing rows instead,
				// as it does on PostgreSQL and SQLite.
				loose := *a
				loose.Nullable = true
				cols = append(cols, Step{Up: []string{alter("ADD COLUMN " + d.columnDef(&loose))}, Down: []string{alter("DROP COLUMN " + d.Quote(a.Name))}},
					Step{Up: []string{alter("MODIFY COLUMN " + d.columnDef(a))}, Down: []string{alter("MODIFY COLUMN " + d.columnDef(&loose))}})
				continue
			}
			cols = append(cols, Step{Up: []string{alter("ADD COLUMN " + d.columnDef(a))}, Down: []string{alter("DROP COLUMN " + d.Quote(a.Name))}})
			continue
		}
		if b.Name != a.Name {
			cols = append(cols, Step{
				Up:   []string{alter("RENAME COLUMN " + d.Quote(b.Name) + " TO " + d.Quote(a.Name))},
				Down: []string{alter("RENAME COLUMN " + d.Quote(a.Name) + " TO " + d.Quote(b.Name))},
			})
		}
		if !physicallyEqual(b, a) {
			prev := *b
			prev.Name = a.Name
			cols = append(cols, Step{Up: []string{alter("MODIFY COLUMN " + d.columnDef(a))}, Down: []string{alter("MODIFY COLUMN " + d.columnDef(&prev))}})
		}
	}
	now := columnsByID(after)
	for i := range before.Columns {
		b := &before.Columns[i]
		if now[b.ID] == nil {
			cols = append(cols, Step{Up: []string{alter("DROP COLUMN " + d.Quote(b.Name))}, Down: []string{alter("ADD COLUMN " + d.columnDef(b))}})
		}
	}
	return withKeys(d, after.Name, diff, cols)
}

// TimeValue implements Dialect.
func (MySQL) TimeValue(t time.Time) any { return t.UTC() }

// BeforeMigration implements Dialect: metadata locks are waited for at most 10s.
func (MySQL) BeforeMigration(ctx context.Context, q Querier) error {
	_, err := q.ExecContext(ctx, "SET SESSION lock_wait_timeout = 10")
	return err
}

// AfterMigration implements Dialect.
func (MySQL) AfterMigration(ctx context.Context, q Querier) error {
	_, err := q.ExecContext(ctx, "SET SESSION lock_wait_timeout = DEFAULT")
	return err
}

// MigrationLock implements Dialect with GET_LOCK on the dedicated connection.
func (MySQL) MigrationLock(ctx context.Context, q Querier, key string) (func(), error) {
	var got sql.NullInt64
	if err := q.QueryRowContext(ctx, "SELECT GET_LOCK(?, 60)", key).Scan(&got); err != nil {
		return nil, fmt.Errorf("take migration lock: %w", err)
	}
	if got.Int64 != 1 {
		return nil, fmt.Errorf("take migration lock: timed out after 60s")
	}
	return func() { _, _ = q.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK(?)", key) }, nil
}

// VerifyKeys implements Dialect; MySQL checks keys as statements run.
func (MySQL) VerifyKeys(context.Context, Querier) error { return nil }

// OrderTerm implements Dialect. MySQL sorts NULLs first ascending and has no NULLS
// LAST, so nullable columns get an IS NULL term first (NOT NULL ones keep index order).
func (MySQL) OrderTerm(expr string, desc, nullable bool) string {
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	if !nullable {
		return expr + dir
	}
	return "(" + expr + " IS NULL)" + dir + ", " + expr + dir
}

// SelectTerm implements Dialect: the column as it is.
func (MySQL) SelectTerm(expr string, _ *Column) string { return expr }
