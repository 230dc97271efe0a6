package database

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/go-sql-driver/mysql"

	"modernc.org/sqlite"

	"strata/schema"
)

// scopedRole names the database account of one tenant store: it owns that PostgreSQL
// schema (and every table in it), or has every privilege on that MySQL database, and
// nothing else. Hand-written SQL runs logged in as it, so it cannot reach another
// tenant even with SET ROLE or RESET tricks: the session itself belongs to the role.
//
// The name derives from the server's address, the database and the store name, so
// two deployments sharing a database server never share an account.
func scopedRole(rawURL, store string) string {
	key := store
	if u, err := url.Parse(rawURL); err == nil {
		key = u.Host + "\x00" + u.Path + "\x00" + store
	}
	h := sha256.Sum256([]byte("strata tenant role\x00" + key))
	return "strata_t_" + hex.EncodeToString(h[:8])
}

// OrphanTenantRoles lists the PostgreSQL tenant roles (scopedRole) that own nothing and
// are granted nothing in any database (no shared dependency): those a dropped database
// left, which clean-ups may drop.
const OrphanTenantRoles = `SELECT rolname FROM pg_roles r WHERE rolname LIKE 'strata\_t\_%' AND NOT EXISTS (SELECT 1 FROM pg_shdepend d WHERE d.refclassid = 'pg_authid'::regclass AND d.refobjid = r.oid)`

// mysqlTenantPrivileges is what a tenant's MySQL account may do on its own database:
// everything a schema owner needs, but not EVENT (a scheduled event would run SQL
// outside any request, migration or timeout) and never GRANT OPTION.
const mysqlTenantPrivileges = "SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, REFERENCES, INDEX, ALTER, CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, TRIGGER"

// StoreName is the schema (PostgreSQL), database (MySQL) or file (SQLite) a tenant URL
// points at.
func StoreName(tenantURL string) string {
	_, _, name, _, _ := parse(tenantURL)
	return name
}

// AccountURL is the URL that logs in to a tenant store as its own account: every
// statement for the tenant runs as it, so nothing a tenant makes the database run (a
// trigger, a function, custom SQL) can reach beyond its store, even by RESET ROLE: the
// session itself belongs to the account. SQLite has no accounts: the URL is returned
// as it is, and its connections are guarded instead (GuardSQLite).
func AccountURL(tenantURL, password string) (string, error) {
	_, _, name, dialect, err := parse(tenantURL)
	if err != nil || dialect == "sqlite" {
		return tenantURL, err
	}
	u, err := url.Parse(tenantURL)
	if err != nil {
		return "", err
	}
	u.User = url.UserPassword(scopedRole(tenantURL, name), password)
	return u.String(), nil
}

// ProvisionAccount creates (or brings up to date) the account of a tenant store with
// the given password, through admin, a connection to the store's server as the
// control account. On PostgreSQL the account may create in the tenant's schema and
// owns every table in it; on MySQL it holds mysqlTenantPrivileges on the tenant's
// database. The control account needs CREATEROLE on PostgreSQL, and CREATE USER plus
// those privileges WITH GRANT OPTION on MySQL: never superuser. The role name and
// password are hex strings made here, never request input.
func ProvisionAccount(ctx context.Context, admin *DB, tenantURL, password string) error {
	_, _, name, dialect, err := parse(tenantURL)
	if err != nil {
		return err
	}
	role := scopedRole(tenantURL, name)
	switch dialect {
	case "postgres":
		if !ownDatabase(tenantURL) {
			if err := ensurePostgresRole(ctx, admin, admin, name, role, password); err != nil {
				return fmt.Errorf("tenant role: %w", err)
			}
			break
		}
		// A database of its own: the role is made on the server, its rights in the
		// tenant database's public schema, on a connection to that database.
		tdb, err := onDatabase(ctx, admin, name)
		if err != nil {
			return fmt.Errorf("tenant database: %w", err)
		}
		defer tdb.Close()
		if err := ensurePostgresRole(ctx, admin, tdb, "public", role, password); err != nil {
			return fmt.Errorf("tenant role: %w", err)
		}
		if _, err := admin.ExecContext(ctx, "GRANT CONNECT, TEMPORARY ON DATABASE "+admin.Dialect.Quote(name)+" TO "+admin.Dialect.Quote(role)); err != nil {
			return fmt.Errorf("tenant role: %w", err)
		}
	case "mysql":
		q := admin.Dialect.Quote
		for _, host := range []string{"%", "localhost"} {
			account := "'" + role + "'@'" + host + "'"
			for _, stmt := range []string{
				"CREATE USER IF NOT EXISTS " + account + " IDENTIFIED BY '" + password + "'",
				"ALTER USER " + account + " IDENTIFIED BY '" + password + "'",
				// Grant before revoking, so live sessions never lack what they use; an
				// account made by an older Strata held ALL, EVENT included.
				"GRANT " + mysqlTenantPrivileges + " ON " + q(name) + ".* TO " + account,
				"REVOKE EVENT ON " + q(name) + ".* FROM " + account,
			} {
				if _, err := admin.ExecContext(ctx, stmt); err != nil && !isNoSuchGrant(err) {
					return fmt.Errorf("tenant account: %w", err)
				}
			}
		}
	}
	return nil
}

// SetAccountSecret gives the PostgreSQL account of a tenant store its password again,
// as a secret with few iterations (accountSecret), through admin, a connection to the
// store's server as the control account. Other databases keep what they hold.
func SetAccountSecret(ctx context.Context, admin *DB, tenantURL, password string) error {
	_, _, name, dialect, err := parse(tenantURL)
	if err != nil || dialect != "postgres" {
		return err
	}
	secret, err := accountSecret(password)
	if err != nil {
		return err
	}
	if _, err := admin.ExecContext(ctx, "ALTER ROLE "+admin.Dialect.Quote(scopedRole(tenantURL, name))+" PASSWORD '"+secret+"'"); err != nil {
		return fmt.Errorf("tenant account password: %w", err)
	}
	return nil
}

// isNoSuchGrant is MySQL's answer to revoking from an account that holds nothing.
func isNoSuchGrant(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1141
}

// ensurePostgresRole makes the role through server (any database of the server) and
// gives it its schema through store (a connection to the database the schema is in).
func ensurePostgresRole(ctx context.Context, server, store *DB, schemaName, role, password string) error {
	q := server.Dialect.Quote
	var exists, super bool
	if err := server.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1), (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)", role).Scan(&exists, &super); err != nil {
		return err
	}
	// The server is given the password's secret, made here with few iterations
	// (accountIterations): every login repeats them on the node.
	secret, err := accountSecret(password)
	if err != nil {
		return err
	}
	stmts := []string{}
	if !exists {
		stmts = append(stmts, "CREATE ROLE "+q(role)+" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS PASSWORD '"+secret+"'")
	} else {
		// Only a superuser may even restate SUPERUSER, REPLICATION or BYPASSRLS, and
		// a control account that is none cannot have granted them.
		stmts = append(stmts, "ALTER ROLE "+q(role)+" LOGIN NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD '"+secret+"'")
	}
	if !super {
		// Only a member may hand objects to the role.
		stmts = append(stmts, "GRANT "+q(role)+" TO CURRENT_USER")
	}
	// The schema stays the control account's: the tenant may create in it but not
	// drop it, and the role needs no CREATE on the database (which would let it make
	// schemas, say one named like a tenant yet to come).
	for _, s := range stmts {
		if _, err := server.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	if _, err := store.ExecContext(ctx, "GRANT USAGE, CREATE ON SCHEMA "+q(schemaName)+" TO "+q(role)); err != nil {
		return err
	}
	// Tables an older Strata created as the control account become the tenant's.
	rows, err := store.QueryContext(ctx, adoptableRelations, schemaName, role)
	if err != nil {
		return err
	}
	var alter []string
	for rows.Next() {
		var name, kind string
		if err := rows.Scan(&name, &kind); err != nil {
			rows.Close()
			return err
		}
		what := map[string]string{"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE"}[kind]
		alter = append(alter, "ALTER "+what+" "+q(schemaName)+"."+q(name)+" OWNER TO "+q(role))
	}
	if err := rows.Close(); err != nil {
		return err
	}
	for _, s := range alter {
		if _, err := store.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// adoptableRelations lists the relations of schema $1 that role $2 does not own, but
// for the sequences their tables own. They are found through their dependency on the
// schema (an index lookup in pg_depend): pg_class has no index by schema, and scanning
// it made every tenant's creation cost time in proportion to all the relations on the
// server (2.7 s at 3,500 tenants, 33 ms this way).
const adoptableRelations = `SELECT c.relname, c.relkind FROM pg_depend dn JOIN pg_class c ON c.oid = dn.objid
WHERE dn.refclassid = 'pg_namespace'::regclass AND dn.refobjid = (SELECT oid FROM pg_namespace WHERE nspname = $1) AND dn.refobjsubid = 0
AND dn.classid = 'pg_class'::regclass AND dn.deptype = 'n'
AND c.relkind IN ('r', 'p', 'v', 'm', 'S') AND pg_get_userbyid(c.relowner) <> $2
AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i') AND c.relkind = 'S')`

// OpenScript opens a one-connection pool like db that runs a script of several
// statements in one call (MySQL needs multiStatements for that; the other drivers
// take scripts as they are, so db itself serves).
func OpenScript(ctx context.Context, db *DB) (*DB, func(), error) {
	if db.Dialect.Name() != "mysql" {
		return db, func() {}, nil
	}
	u, err := url.Parse(db.url)
	if err != nil {
		return nil, nil, err
	}
	q := u.Query()
	q.Set("multiStatements", "true")
	u.RawQuery = q.Encode()
	sdb, err := Open(ctx, u.String(), Pool{MaxOpen: 1, MaxIdle: 1, Limit: db.limit})
	if err != nil {
		return nil, nil, err
	}
	return sdb, func() { sdb.Close() }, nil
}

// Protected reports whether a table is Strata's own (the system tables every tenant
// has, and everything named strata_*, such as the trash): custom SQL may not write or
// alter it, and no trigger may write it.
func Protected(table string) bool {
	return schema.IsSystemTable(table) || strings.HasPrefix(strings.ToLower(table), "strata_")
}

// sqliteBaseGuard is the authorizer of every SQLite connection. No statement may
// attach another file (that is how one tenant would reach another's, or the control
// database), turn on writable_schema, or — from inside a trigger — write Strata's own
// tables: Strata never writes them from triggers, so such a write can only come from a
// trigger custom SQL made to tamper with the history on a later ordinary write.
func sqliteBaseGuard(action sqlite.AuthorizerActionCode, arg1, arg2, _, trigger string) sqlite.AuthorizerReturnCode {
	switch action {
	case sqlite.AuthAttach, sqlite.AuthDetach:
		return sqlite.AuthorizerDeny
	case sqlite.AuthPragma:
		if strings.EqualFold(arg1, "writable_schema") {
			return sqlite.AuthorizerDeny
		}
	case sqlite.AuthInsert, sqlite.AuthUpdate, sqlite.AuthDelete:
		if trigger != "" && Protected(arg1) {
			return sqlite.AuthorizerDeny
		}
	}
	return sqlite.AuthorizerOK
}

// sqliteCustomGuard is the authorizer while custom SQL runs: on top of the base guard,
// no PRAGMA but quick_check (they change the connection, which goes back to the pool), no transaction
// control (the migration's transaction must stay whole), and no write or schema change
// to Strata's own tables.
func sqliteCustomGuard(action sqlite.AuthorizerActionCode, arg1, arg2, db, trigger string) sqlite.AuthorizerReturnCode {
	if r := sqliteBaseGuard(action, arg1, arg2, db, trigger); r != sqlite.AuthorizerOK {
		return r
	}
	switch action {
	case sqlite.AuthPragma:
		// ALTER TABLE … ADD COLUMN with a CHECK runs quick_check on the table itself;
		// it only reads.
		if !strings.EqualFold(arg1, "quick_check") {
			return sqlite.AuthorizerDeny
		}
	case sqlite.AuthTransaction, sqlite.AuthSavepoint:
		return sqlite.AuthorizerDeny
	case sqlite.AuthInsert, sqlite.AuthUpdate, sqlite.AuthDelete, sqlite.AuthDropTable:
		if Protected(arg1) {
			return sqlite.AuthorizerDeny
		}
	// An index is judged by its table (arg2), not its name: a rebuild re-creates the
	// indexes Strata named strata_ix_* on a user table.
	case sqlite.AuthAlterTable, sqlite.AuthCreateIndex, sqlite.AuthCreateTrigger, sqlite.AuthDropTrigger, sqlite.AuthDropIndex, sqlite.AuthCreateTempTrigger:
		if Protected(arg2) {
			return sqlite.AuthorizerDeny
		}
	}
	return sqlite.AuthorizerOK
}

func registerAuthorizer(dc any, fn sqlite.AuthorizerFn) error {
	r, ok := unwrapConn(dc).(sqlite.AuthorizerRegisterer)
	if !ok {
		return fmt.Errorf("the sqlite driver cannot guard connections")
	}
	return r.RegisterAuthorizer(fn)
}

// guardSQLiteConn installs the base guard on a new SQLite connection, and keeps its
// plans stable (stableSQLitePlans).
func guardSQLiteConn(c driver.Conn) error {
	if err := registerAuthorizer(c, sqliteBaseGuard); err != nil {
		return fmt.Errorf("guard sqlite connection: %w", err)
	}
	return stableSQLitePlans(c)
}

// GuardSQLite puts a SQLite connection under the custom SQL guard until the returned
// function is called, which puts the base guard back.
func GuardSQLite(conn *sql.Conn) (func(), error) {
	set := func(fn sqlite.AuthorizerFn) error {
		return conn.Raw(func(dc any) error { return registerAuthorizer(dc, fn) })
	}
	if err := set(sqliteCustomGuard); err != nil {
		return nil, fmt.Errorf("guard sqlite connection: %w", err)
	}
	return func() { _ = set(sqliteBaseGuard) }, nil
}
