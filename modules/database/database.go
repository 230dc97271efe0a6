// Package database opens connections from Strata's database URLs (postgres://,
// mysql://, sqlite://) and places tenants inside a database server: a schema on
// PostgreSQL, a database on MySQL/MariaDB, a file on SQLite. It owns connection
// settings and pool bounds; it knows nothing of tables or migrations.
package database

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib" // also registers the "pgx" driver
	_ "modernc.org/sqlite"           // registers the pure-Go "sqlite" driver

	"strata/schema"
)

// DB is an open pool together with the dialect that speaks to it.
type DB struct {
	*sql.DB
	Dialect schema.Dialect
	// Name is the database (MySQL), schema (PostgreSQL) or file (SQLite) it points at.
	Name  string
	url   string
	limit *Limiter
	// statements counts the statements run on this pool's connections.
	statements *atomic.Int64
	connector  *limitedConnector
}

// LoginTag is the application_name PostgreSQL reported when this pool's first
// connection logged in, which Open makes: the account's own default unless the URL
// sets one (a tenant's account carries its schema state there: meta.StateFromTag).
// It is "" on other databases.
func (d *DB) LoginTag() string {
	if d.connector == nil {
		return ""
	}
	if tag := d.connector.loginTag.Load(); tag != nil {
		return *tag
	}
	return ""
}

// Statements is how many statements this pool's connections have run: what tests
// bound per request, so a change that adds round trips to a hot path is noticed.
func (d *DB) Statements() int64 {
	if d.statements == nil {
		return 0
	}
	return d.statements.Load()
}

// URL is the Strata URL this pool was opened from (credentials included: never log it).
func (d *DB) URL() string { return d.url }

// Pool bounds the connections of one pool.
type Pool struct {
	MaxOpen     int
	MaxIdle     int
	MaxIdleTime time.Duration
	// Limit, when set, is the node-wide cap every new connection takes a slot of.
	Limit *Limiter
}

// Open opens a pool for a Strata database URL and checks that it answers.
func Open(ctx context.Context, rawURL string, pool Pool) (*DB, error) {
	driver, dsn, name, dialect, err := parse(rawURL)
	if err != nil {
		return nil, err
	}
	if dialect == "sqlite" {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return nil, fmt.Errorf("create sqlite directory: %w", err)
		}
	}
	connector, err := connectorFor(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", dialect, err)
	}
	lc := &limitedConnector{inner: connector, limit: pool.Limit, count: new(atomic.Int64)}
	if dialect != "postgres" { // pgx keeps its own statement cache per connection
		lc.stmts = StatementCacheSize
	}
	if dialect == "sqlite" {
		// Every SQLite connection is guarded: no statement may reach another file, and
		// no trigger may write Strata's own tables (GuardSQLite).
		lc.after = guardSQLiteConn
		lc.gate = newWriteGate()
	}
	db := sql.OpenDB(lc)
	if pool.MaxOpen > 0 {
		db.SetMaxOpenConns(pool.MaxOpen)
	}
	if pool.MaxIdle > 0 {
		db.SetMaxIdleConns(pool.MaxIdle)
	}
	if pool.MaxIdleTime > 0 {
		db.SetConnMaxIdleTime(pool.MaxIdleTime)
	}
	// The first connection is made now, so a database that does not answer or refuses
	// the login fails here. A login is proof enough: a ping on top of it would be one
	// more round trip on a tenant's cold first request, to a process just started.
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := db.Conn(pctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s database: %w", dialect, err)
	}
	conn.Close()
	d, _ := schema.DialectByName(dialect)
	return &DB{DB: db, Dialect: d, Name: name, url: rawURL, limit: pool.Limit, statements: lc.count, connector: lc}, nil
}

// connectorFor returns the driver's connector for dsn.
func connectorFor(driverName, dsn string) (driver.Connector, error) {
	if driverName == "pgx" {
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			return nil, err
		}
		return stdlib.GetConnector(*cfg, stdlib.OptionShouldPing(pingBeforeReuse)), nil
	}
	probe, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, err
	}
	drv := probe.Driver()
	probe.Close()
	if dc, ok := drv.(driver.DriverContext); ok {
		return dc.OpenConnector(dsn)
	}
	return dsnConnector{dsn: dsn, drv: drv}, nil
}

// pingBeforeReuse is pgx's rule (ping a connection idle for over a second before its
// next use) but for a connection never used since it was made: Open just logged it in,
// and on a tenant's cold first request a ping is a round trip for nothing.
// pgx times idleness from the connection's last reset, which a new one has never had:
// its idle time then reads as the longest duration there is.
func pingBeforeReuse(_ context.Context, p stdlib.ShouldPingParams) bool {
	return p.IdleDuration > time.Second && p.IdleDuration != time.Duration(math.MaxInt64)
}

// OnceArgs are the arguments to give a statement without parameters that a new
// connection runs once, first (a tenant's schema state, on its cold connection): on
// PostgreSQL it then goes in one round trip by the simple protocol, instead of being
// prepared first and kept in the connection's statement cache.
func OnceArgs(d schema.Dialect) []any {
	if d.Name() == "postgres" {
		return []any{pgx.QueryExecModeSimpleProtocol}
	}
	return nil
}

// DialectOf returns the dialect name of a Strata database URL.
func DialectOf(rawURL string) (string, error) {
	_, _, _, d, err := parse(rawURL)
	return d, err
}

// parse turns a Strata URL into a driver name, its DSN, the database name and dialect.
func parse(raw string) (driver, dsn, name, dialect string, err error) {
	switch {
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		u, err := url.Parse(raw)
		if err != nil {
			return "", "", "", "", fmt.Errorf("parse postgres url: %w", err)
		}
		name = u.Query().Get("search_path")
		if name == "" {
			name = strings.TrimPrefix(u.Path, "/")
		}
		// pgx caches prepared statements by their text; statements on tables that can
		// change shape carry the schema version in their text (query.Tagged).
		return "pgx", raw, name, "postgres", nil
	case strings.HasPrefix(raw, "mysql://"):
		u, err := url.Parse(raw)
		if err != nil {
			return "", "", "", "", fmt.Errorf("parse mysql url: %w", err)
		}
		cfg := mysql.NewConfig()
		cfg.Net, cfg.Addr = "tcp", u.Host
		if u.Port() == "" {
			cfg.Addr = u.Host + ":3306"
		}
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
		cfg.DBName = strings.TrimPrefix(u.Path, "/")
		cfg.ParseTime = true
		cfg.Loc = time.UTC
		// Strict mode makes MySQL refuse bad data instead of silently truncating it.
		cfg.Params = map[string]string{"time_zone": "'+00:00'", "sql_mode": "'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'"}
		for k, v := range u.Query() {
			if k == "multiStatements" { // a driver option, not a session variable
				cfg.MultiStatements = v[0] == "true"
				continue
			}
			cfg.Params[k] = v[0]
		}
		return "mysql", cfg.FormatDSN(), cfg.DBName, "mysql", nil
	case strings.HasPrefix(raw, "sqlite://"), strings.HasPrefix(raw, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(raw, "sqlite://"), "sqlite:")
		if path == "" {
			return "", "", "", "", fmt.Errorf("sqlite url needs a file path")
		}
		// WAL lets readers run beside the writer; _txlock=immediate takes the writer
		// lock when a transaction starts, so two writers never deadlock on upgrade.
		// LIKE is case-sensitive, as on PostgreSQL and on MySQL's binary collation.
		dsn := "file:" + path + "?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=case_sensitive_like(1)&_txlock=immediate"
		return "sqlite", dsn, path, "sqlite", nil
	}
	return "", "", "", "", fmt.Errorf("unsupported database url (want postgres://, mysql:// or sqlite://): %q", redact(raw))
}

// redact hides credentials of a URL for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		if len(raw) > 16 {
			return raw[:16] + "…"
		}
		return raw
	}
	u.User = url.User(u.User.Username())
	return u.String()
}

// Placements of a PostgreSQL tenant on its server.
const (
	// PlaceSchema: a schema t_<slug> in the control database (the default).
	PlaceSchema = "schema"
	// PlaceDatabase: a database of its own, which no other tenant's account may connect
	// to: the catalogs it reads (tables, schemas) hold only its own objects.
	PlaceDatabase = "database"
)

// TenantURL derives the URL of a tenant's own database/schema/file on the server of
// base (the control database, or the tenant's own database_url), placed by schema on
// PostgreSQL.
func TenantURL(base, dataDir, slug string) (string, error) {
	return PlacedTenantURL(base, dataDir, slug, PlaceSchema)
}

// PlacedTenantURL is TenantURL with the PostgreSQL placement chosen. A tenant database
// is named by a digest of the slug, not the slug: database names are in a catalog every
// account can read.
func PlacedTenantURL(base, dataDir, slug, placement string) (string, error) {
	driver, _, name, _, err := parse(base)
	if err != nil {
		return "", err
	}
	ident := strings.ReplaceAll(slug, "-", "_")
	switch driver {
	case "pgx":
		u, _ := url.Parse(base)
		q := u.Query()
		if placement == PlaceDatabase {
			h := sha256.Sum256([]byte("strata tenant database\x00" + slug))
			u.Path = "/" + limitName(name+"_t_"+hex.EncodeToString(h[:6]))
			q.Del("search_path")
		} else {
			q.Set("search_path", limitName("t_"+ident))
		}
		u.RawQuery = q.Encode()
		return u.String(), nil
	case "mysql":
		u, _ := url.Parse(base)
		u.Path = "/" + limitName(name+"_"+ident)
		return u.String(), nil
	}
	return "sqlite://" + filepath.Join(dataDir, "tenants", slug+".db"), nil
}

// ownDatabase reports whether a PostgreSQL tenant URL places the tenant in a database
// of its own (no search_path: the tenant uses the database's public schema).
func ownDatabase(tenantURL string) bool {
	u, err := url.Parse(tenantURL)
	return err == nil && u.Query().Get("search_path") == ""
}

// onDatabase opens a one-connection pool to another database of admin's server, as
// admin's account.
func onDatabase(ctx context.Context, admin *DB, dbName string) (*DB, error) {
	u, err := url.Parse(admin.url)
	if err != nil {
		return nil, err
	}
	u.Path = "/" + dbName
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	return Open(ctx, u.String(), Pool{MaxOpen: 1, Limit: admin.limit})
}

// limitName keeps a generated database or schema name within 63 characters.
func limitName(n string) string {
	if len(n) <= 63 {
		return n
	}
	h := sha256.Sum256([]byte(n))
	return n[:50] + "_" + hex.EncodeToString(h[:6])
}

// CreateTenantStore creates the schema or database a tenant URL points at, using a
// connection to the server it lives on. SQLite files are created on open.
func CreateTenantStore(ctx context.Context, admin *DB, tenantURL string) error {
	_, _, name, dialect, err := parse(tenantURL)
	if err != nil {
		return err
	}
	switch dialect {
	case "postgres":
		if ownDatabase(tenantURL) {
			err = createPostgresDatabase(ctx, admin, name)
			break
		}
		_, err = admin.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+admin.Dialect.Quote(name))
	case "mysql":
		_, err = admin.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+admin.Dialect.Quote(name)+" CHARACTER SET "+schema.MySQLCharset+" COLLATE "+schema.MySQLCollation)
	}
	if err != nil {
		return fmt.Errorf("create tenant %s store %s: %w", dialect, name, err)
	}
	return nil
}

// createPostgresDatabase makes a tenant's own database that only its account (granted
// later) and the control account may connect to.
func createPostgresDatabase(ctx context.Context, admin *DB, name string) error {
	q := admin.Dialect.Quote
	var exists bool
	if err := admin.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+q(name)); err != nil {
			return err
		}
	}
	if _, err := admin.ExecContext(ctx, "REVOKE ALL ON DATABASE "+q(name)+" FROM PUBLIC"); err != nil {
		return err
	}
	tdb, err := onDatabase(ctx, admin, name)
	if err != nil {
		return err
	}
	defer tdb.Close()
	// PostgreSQL 14 and older let every role create in public.
	_, err = tdb.ExecContext(ctx, "REVOKE CREATE ON SCHEMA public FROM PUBLIC")
	return err
}

// DropTenantStore removes a tenant's schema, database or file.
func DropTenantStore(ctx context.Context, admin *DB, tenantURL string) error {
	_, _, name, dialect, err := parse(tenantURL)
	if err != nil {
		return err
	}
	switch dialect {
	case "postgres":
		if ownDatabase(tenantURL) {
			_, err = admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+admin.Dialect.Quote(name)+" WITH (FORCE)")
		} else {
			_, err = admin.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+admin.Dialect.Quote(name)+" CASCADE")
		}
		if err == nil { // its scoped role owned only that schema or database
			_, err = admin.ExecContext(ctx, "DROP ROLE IF EXISTS "+admin.Dialect.Quote(scopedRole(tenantURL, name)))
		}
	case "mysql":
		_, err = admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+admin.Dialect.Quote(name))
		if err == nil {
			role := scopedRole(tenantURL, name)
			_, err = admin.ExecContext(ctx, "DROP USER IF EXISTS '"+role+"'@'%', '"+role+"'@'localhost'")
		}
	case "sqlite":
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if rmErr := os.Remove(name + suffix); rmErr != nil && !os.IsNotExist(rmErr) {
				err = rmErr
			}
		}
	}
	if err != nil {
		return fmt.Errorf("drop tenant %s store %s: %w", dialect, name, err)
	}
	return nil
}

// IsStatementTimeout reports whether the database itself cancelled a statement: the
// bound Strata sets on tenant SQL (PostgreSQL's statement_timeout raises
// query_canceled, MariaDB's max_statement_time 1969, MySQL's 3024).
func IsStatementTimeout(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "57014"
	}
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1969 || me.Number == 3024)
}

// IsSchemaRace reports whether a statement failed because the table it names changed
// shape after the statement was built: a column or table renamed or dropped by a
// migration that committed in between, or a prepared plan whose result type changed.
// Built again on the new model, the statement may well succeed.
func IsSchemaRace(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "42703", "42P01": // undefined_column, undefined_table
			return true
		case "0A000": // feature_not_supported: "cached plan must not change result type"
			return strings.Contains(pe.Message, "cached plan")
		}
		return false
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1054 || me.Number == 1146 // unknown column, no such table
	}
	msg := err.Error()
	return strings.Contains(msg, "no such column") || strings.Contains(msg, "no such table") || strings.Contains(msg, "has no column named")
}
