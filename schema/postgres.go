package schema

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Postgres renders for PostgreSQL. Each tenant lives in its own schema, selected by the
// connection's search_path, so statements never qualify names with a schema.
type Postgres struct{}

var _ Dialect = Postgres{}

// Name implements Dialect.
func (Postgres) Name() string { return "postgres" }

// Quote implements Dialect.
func (Postgres) Quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// Rebind implements Dialect.
func (Postgres) Rebind(q string) string { return rebindDollar(q) }

// TransactionalDDL implements Dialect.
func (Postgres) TransactionalDDL() bool { return true }

// BoolValue implements Dialect.
func (Postgres) BoolValue(b bool) any { return b }

// ColumnType implements Dialect; names are those format_type() reports.
func (Postgres) ColumnType(c *Column) string {
	switch c.Type {
	case TypeString, TypeEmail, TypeURL, TypePhone:
		return fmt.Sprintf("character varying(%d)", c.TextLength())
	case TypeText:
		return "text"
	case TypeInteger:
		return "integer"
	case TypeBigint:
		return "bigint"
	case TypeFloat, TypePercent:
		return "double precision"
	case TypeDecimal:
		return fmt.Sprintf("numeric(%d,%d)", c.Precision, c.Scale)
	case TypeCurrency:
		return fmt.Sprintf("numeric(%d,%d)", CurrencyPrecision, CurrencyScale)
	case TypeBoolean:
		return "boolean"
	case TypeDate:
		return "date"
	case TypeDatetime:
		return "timestamp with time zone"
	case TypeTime:
		return "time without time zone"
	case TypeUUID, TypeFile:
		return "uuid"
	case TypeJSON, TypeMultiEnum:
		return "jsonb"
	}
	return "character varying(255)" // enum
}

// Plan implements Dialect.
func (p Postgres) Plan(before *Model, c Change) (Plan, error) { return planChange(p, before, c) }

func (p Postgres) literal(c *Column) string {
	s := literal(c, func(b bool) string {
		if b {
			return "TRUE"
		}
		return "FALSE"
	}, false)
	if c.Type == TypeJSON || c.Type == TypeMultiEnum {
		s += "::jsonb"
	}
	return s
}

// sqlType is the column's type as declared: string types compare and sort by code
// point (COLLATE "C"), as they do on MySQL (utf8mb4_bin) and SQLite (BINARY), so a
// filter or sort gives the same rows on every dialect and indexes still serve them.
func (p Postgres) sqlType(c *Column) string {
	if c.Type.IsText() {
		return p.ColumnType(c) + ` COLLATE "C"`
	}
	return p.ColumnType(c)
}

func (p Postgres) columnDef(c *Column) string {
	s := p.Quote(c.Name) + " " + p.sqlType(c)
	if !c.Nullable {
		s += " NOT NULL"
	}
	if len(c.Default) > 0 {
		s += " DEFAULT " + p.literal(c)
	}
	return s
}

func (p Postgres) createTable(m *Model, t *Table) []Step {
	steps := []Step{{
		Up:   []string{"CREATE TABLE " + p.Quote(t.Name) + " (" + strings.Join(tableBody(p, t), ", ") + ")"},
		Down: []string{p.dropTable(t.Name)},
	}}
	return append(steps, withKeys(p, t.Name, tableDiff{addIdx: t.Indexes, addFKs: ForeignKeys(m, t)}, nil)...)
}

func (p Postgres) renameTable(from, to string) Step {
	return Step{
		Up:   []string{"ALTER TABLE " + p.Quote(from) + " RENAME TO " + p.Quote(to)},
		Down: []string{"ALTER TABLE " + p.Quote(to) + " RENAME TO " + p.Quote(from)},
	}
}

func (p Postgres) dropTable(name string) string { return "DROP TABLE " + p.Quote(name) + " CASCADE" }

func (p Postgres) createIndex(table string, ix Index) string {
	u := ""
	if ix.Unique {
		u = "UNIQUE "
	}
	return "CREATE " + u + "INDEX " + p.Quote(ix.Name) + " ON " + p.Quote(table) + " (" + columnList(p, ix.Columns) + ")"
}

func (p Postgres) dropIndex(_ string, ix Index) string { return "DROP INDEX " + p.Quote(ix.Name) }

func (p Postgres) addFK(table string, fk ForeignKey) string {
	return "ALTER TABLE " + p.Quote(table) + " ADD CONSTRAINT " + p.Quote(fk.Name) + " FOREIGN KEY (" + p.Quote(fk.Column) +
		") REFERENCES " + p.Quote(fk.RefTable) + " (" + p.Quote("id") + ") ON DELETE " + onDeleteSQL(fk.OnDelete)
}

func (p Postgres) dropFK(table string, fk ForeignKey) string {
	return "ALTER TABLE " + p.Quote(table) + " DROP CONSTRAINT " + p.Quote(fk.Name)
}

func (p Postgres) alterTable(_, _ *Model, before, after *Table, diff tableDiff) []Step {
	t := p.Quote(after.Name)
	alter := func(s string) string { return "ALTER TABLE " + t + " " + s }
	var cols []Step
	old := columnsByID(before)
	for i := range after.Columns {
		a := &after.Columns[i]
		b := old[a.ID]
		if b == nil {
			cols = append(cols, Step{Up: []string{alter("ADD COLUMN " + p.columnDef(a))}, Down: []string{alter("DROP COLUMN " + p.Quote(a.Name))}})
			continue
		}
		name := p.Quote(a.Name)
		if b.Name != a.Name {
			cols = append(cols, Step{
				Up:   []string{alter("RENAME COLUMN " + p.Quote(b.Name) + " TO " + name)},
				Down: []string{alter("RENAME COLUMN " + name + " TO " + p.Quote(b.Name))},
			})
		}
		typeChanged := p.ColumnType(b) != p.ColumnType(a)
		defaultChanged := string(b.Default) != string(a.Default)
		if len(b.Default) > 0 && (typeChanged || defaultChanged) {
			cols = append(cols, Step{Up: []string{alter("ALTER COLUMN " + name + " DROP DEFAULT")}, Down: []string{alter("ALTER COLUMN " + name + " SET DEFAULT " + p.literal(b))}})
		}
		if typeChanged {
			cols = append(cols, Step{
				Up:   []string{alter("ALTER COLUMN " + name + " TYPE " + p.sqlType(a) + " USING " + p.using(name, a))},
				Down: []string{alter("ALTER COLUMN " + name + " TYPE " + p.sqlType(b) + " USING " + p.using(name, b))},
			})
		}
		if b.Nullable != a.Nullable {
			set, drop := alter("ALTER COLUMN "+name+" SET NOT NULL"), alter("ALTER COLUMN "+name+" DROP NOT NULL")
			if a.Nullable {
				cols = append(cols, Step{Up: []string{drop}, Down: []string{set}})
			} else {
				cols = append(cols, Step{Up: []string{set}, Down: []string{drop}})
			}
		}
		if len(a.Default) > 0 && (typeChanged || defaultChanged) {
			cols = append(cols, Step{Up: []string{alter("ALTER COLUMN " + name + " SET DEFAULT " + p.literal(a))}, Down: []string{alter("ALTER COLUMN " + name + " DROP DEFAULT")}})
		}
	}
	now := columnsByID(after)
	for i := range before.Columns {
		b := &before.Columns[i]
		if now[b.ID] == nil {
			cols = append(cols, Step{Up: []string{alter("DROP COLUMN " + p.Quote(b.Name))}, Down: []string{alter("ADD COLUMN " + p.columnDef(b))}})
		}
	}
	return withKeys(p, after.Name, diff, cols)
}

// TimeValue implements Dialect.
func (Postgres) TimeValue(t time.Time) any { return t.UTC() }

// BeforeMigration implements Dialect: DDL waits at most 10s for a table lock, so a
// migration never queues forever behind long-running traffic.
func (Postgres) BeforeMigration(ctx context.Context, q Querier) error {
	_, err := q.ExecContext(ctx, "SET lock_timeout = '10s'")
	return err
}

// AfterMigration implements Dialect.
func (Postgres) AfterMigration(ctx context.Context, q Querier) error {
	_, err := q.ExecContext(ctx, "RESET lock_timeout")
	return err
}

// MigrationLock implements Dialect with a session advisory lock on the dedicated
// connection, so every Strata node serialises its migrations of one tenant. Waiting
// is bounded by lock_timeout.
func (Postgres) MigrationLock(ctx context.Context, q Querier, key string) (func(), error) {
	if _, err := q.ExecContext(ctx, "SET lock_timeout = '60s'"); err != nil {
		return nil, err
	}
	if _, err := q.ExecContext(ctx, "SELECT pg_advisory_lock(hashtextextended($1, 0))", key); err != nil {
		return nil, fmt.Errorf("take migration lock: %w", err)
	}
	return func() {
		_, _ = q.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtextextended($1, 0))", key)
	}, nil
}

// VerifyKeys implements Dialect; PostgreSQL checks keys as statements run.
func (Postgres) VerifyKeys(context.Context, Querier) error { return nil }

// OrderTerm implements Dialect; PostgreSQL's own NULL order is the rule.
func (Postgres) OrderTerm(expr string, desc, _ bool) string {
	if desc {
		return expr + " DESC"
	}
	return expr + " ASC"
}

// SelectTerm implements Dialect: the column as it is.
func (Postgres) SelectTerm(expr string, _ *Column) string { return expr }

// using converts a column's values to the type of c. Strings go through text, not
// varchar(n): an explicit cast to varchar(n) truncates silently, while assigning text to
// varchar(n) fails on a value that does not fit — as MySQL and SQLite-with-checks do.
func (p Postgres) using(name string, c *Column) string {
	if c.Type.IsText() {
		return name + "::text"
	}
	return name + "::" + p.ColumnType(c)
}

// limits implements ddl: the model's own limits are within Postgres's.
func (Postgres) limits(_, _ *Model, _ Change) error { return nil }
