package schema

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Querier is what planning-adjacent code needs from a connection: *sql.DB, *sql.Conn
// and *sql.Tx all satisfy it.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Step is one unit of a plan: the statements that apply it and the statements that
// undo it. On a dialect without transactional DDL, a failure part-way runs the Down of
// the steps already applied, newest first.
type Step struct {
	Up   []string `json:"up"`
	Down []string `json:"down"`
}

// Plan is the rendered SQL of one change.
type Plan struct {
	Steps []Step `json:"steps"`
}

// UpSQL is the whole forward script.
func (p Plan) UpSQL() string {
	var b strings.Builder
	for _, s := range p.Steps {
		for _, q := range s.Up {
			b.WriteString(q)
			b.WriteString(";\n")
		}
	}
	return b.String()
}

// DownSQL is the whole undo script: each step's Down, newest step first.
func (p Plan) DownSQL() string {
	var b strings.Builder
	for i := len(p.Steps) - 1; i >= 0; i-- {
		for _, q := range p.Steps[i].Down {
			b.WriteString(q)
			b.WriteString(";\n")
		}
	}
	return b.String()
}

// Dialect is everything dialect-specific: quoting, types, planning and introspection.
// Modules use it and never branch on the dialect's name.
type Dialect interface {
	// Name is "postgres", "mysql" or "sqlite".
	Name() string
	// Quote quotes an identifier. Identifiers always come from validated metadata.
	Quote(ident string) string
	// Rebind turns ?-placeholders into the dialect's own.
	Rebind(query string) string
	// ColumnType renders a column's SQL type as the database reports it back.
	ColumnType(c *Column) string
	// TransactionalDDL reports whether DDL can run inside a transaction with the
	// metadata writes (PostgreSQL, SQLite) or commits implicitly (MySQL).
	TransactionalDDL() bool
	// Plan renders a resolved change against the model it applies to.
	Plan(before *Model, c Change) (Plan, error)
	// Inspect reads the live schema of the connection's tenant database/schema.
	Inspect(ctx context.Context, q Querier) (*Live, error)
	// BoolValue converts a Go bool for a bound parameter.
	BoolValue(b bool) any
	// TimeValue converts a time for a bound parameter (SQLite keeps RFC 3339 text).
	TimeValue(t time.Time) any
	// BeforeMigration prepares a dedicated connection for running a migration;
	// AfterMigration restores it before it goes back to the pool.
	BeforeMigration(ctx context.Context, conn Querier) error
	AfterMigration(ctx context.Context, conn Querier) error
	// MigrationLock takes the tenant's migration lock on a dedicated connection, so
	// several Strata nodes never migrate one tenant at once.
	MigrationLock(ctx context.Context, conn Querier, key string) (unlock func(), err error)
	// VerifyKeys checks referential integrity inside a migration before it commits.
	VerifyKeys(ctx context.Context, tx Querier) error
	// OrderTerm renders one ORDER BY term so that NULLs sort last ascending and first
	// descending on every dialect (PostgreSQL's rule).
	OrderTerm(expr string, desc, nullable bool) string
	// SelectTerm renders one selected column c of a result the engine decodes itself.
	SelectTerm(expr string, c *Column) string
}

// DialectByName returns the dialect for "postgres", "mysql" or "sqlite".
func DialectByName(name string) (Dialect, error) {
	switch name {
	case "postgres":
		return Postgres{}, nil
	case "mysql":
		return MySQL{}, nil
	case "sqlite":
		return SQLite{}, nil
	}
	return nil, fmt.Errorf("unknown dialect %q", name)
}

// Placeholders is n ? placeholders separated by commas ("?, ?, ?"), for a VALUES or IN
// list; Rebind turns them into the dialect's.
func Placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// rebindDollar rewrites ? placeholders as $1, $2, … outside quoted strings.
func rebindDollar(q string) string {
	var b strings.Builder
	n := 0
	inStr := false
	for i := 0; i < len(q); i++ {
		ch := q[i]
		if ch == '\'' {
			inStr = !inStr
		}
		if ch == '?' && !inStr {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(ch)
	}
	return b.String()
}

// derivedID makes a stable UUID from parts, for objects created implicitly by another
// (a relation's key column, a junction table) so replays produce the same ids.
func derivedID(parts ...string) string {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte(strings.Join(parts, "\x00"))).String()
}

// PhysicalTable is the table as it exists in the database: the model's columns plus the
// soft-dropped columns still kept under their trash names (nullable, without keys).
func PhysicalTable(m *Model, t *Table) Table {
	out := *t
	out.Columns = append([]Column(nil), t.Columns...)
	for _, tr := range m.Trash {
		if tr.Kind == "column" && tr.TableID == t.ID && tr.ColumnDef != nil {
			c := *tr.ColumnDef
			c.Name, c.Nullable, c.Unique, c.Index, c.Relation, c.System = tr.TrashName, true, false, false, "", false
			out.Columns = append(out.Columns, c)
		}
	}
	return out
}

// ForeignKey is a key column's reference, derived from the relation that owns it.
type ForeignKey struct {
	Name     string
	Column   string
	RefTable string
	OnDelete string // set_null, cascade, restrict, no_action
}

// ForeignKeys lists the foreign keys of table t in model m.
func ForeignKeys(m *Model, t *Table) []ForeignKey {
	var out []ForeignKey
	for _, c := range t.Columns {
		if c.Relation == "" {
			continue
		}
		r := m.Relation(c.Relation)
		if r == nil {
			continue
		}
		switch r.Type {
		case ManyToOne, OneToOne:
			out = append(out, ForeignKey{Name: FKName(r.ID, ""), Column: c.Name, RefTable: r.Target, OnDelete: r.OnDeleteAction()})
		case OneToMany:
			out = append(out, ForeignKey{Name: FKName(r.ID, ""), Column: c.Name, RefTable: r.Table, OnDelete: r.OnDeleteAction()})
		case ManyToMany:
			a, _ := m.JunctionKeys(r)
			if c.Name == a {
				out = append(out, ForeignKey{Name: FKName(r.ID, "_a"), Column: c.Name, RefTable: r.Table, OnDelete: "cascade"})
			} else {
				out = append(out, ForeignKey{Name: FKName(r.ID, "_b"), Column: c.Name, RefTable: r.Target, OnDelete: "cascade"})
			}
		}
	}
	return out
}

func onDeleteSQL(a string) string {
	switch a {
	case "cascade":
		return "CASCADE"
	case "restrict":
		return "RESTRICT"
	case "no_action":
		return "NO ACTION"
	}
	return "SET NULL"
}

// quoteString renders a string literal with single quotes doubled; backslashes are
// doubled too where the dialect treats them as escapes.
func quoteString(s string, backslash bool) string {
	s = strings.ReplaceAll(s, "'", "''")
	if backslash {
		s = strings.ReplaceAll(s, `\`, `\\`)
	}
	return "'" + s + "'"
}
