package database

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"

	"modernc.org/sqlite"
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

// EnsureScopedRole creates (or brings up to date) the tenant store's scoped account
// with the given password, using db's own (administrative) connection, and returns a
// Strata URL that logs in as it. SQLite has no accounts: it returns "".
// The role name and password are hex strings made here, never request input.
func EnsureScopedRole(ctx context.Context, db *DB, password string) (string, error) {
	role := scopedRole(db.url, db.Name)
	switch db.Dialect.Name() {
	case "postgres":
		if err := ensurePostgresRole(ctx, db, role, password); err != nil {
			return "", fmt.Errorf("tenant role: %w", err)
		}
	case "mysql":
		for _, host := range []string{"%", "localhost"} {
			for _, q := range []string{
				"CREATE USER IF NOT EXISTS '" + role + "'@'" + host + "' IDENTIFIED BY '" + password + "'",
				"ALTER USER '" + role + "'@'" + host + "' IDENTIFIED BY '" + password + "'",
				"GRANT ALL PRIVILEGES ON " + db.Dialect.Quote(db.Name) + ".* TO '" + role + "'@'" + host + "'",
			} {
				if _, err := db.ExecContext(ctx, q); err != nil {
					return "", fmt.Errorf("tenant account: %w", err)
				}
			}
		}
	default:
		return "", nil
	}
	u, err := url.Parse(db.url)
	if err != nil {
		return "", err
	}
	u.User = url.UserPassword(role, password)
	if db.Dialect.Name() == "mysql" {
		q := u.Query()
		q.Set("multiStatements", "true")
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

func ensurePostgresRole(ctx context.Context, db *DB, role, password string) error {
	q := db.Dialect.Quote
	var exists, super bool
	if err := db.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1), (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)", role).Scan(&exists, &super); err != nil {
		return err
	}
	stmts := []string{}
	if !exists {
		stmts = append(stmts, "CREATE ROLE "+q(role)+" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD '"+password+"'")
	} else {
		stmts = append(stmts, "ALTER ROLE "+q(role)+" PASSWORD '"+password+"'")
	}
	if !super {
		// Only a member may hand objects to the role.
		stmts = append(stmts, "GRANT "+q(role)+" TO CURRENT_USER")
	}
	stmts = append(stmts, "ALTER SCHEMA "+q(db.Name)+" OWNER TO "+q(role))
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	// Tables Strata created since the last time belong to the admin account.
	rows, err := db.QueryContext(ctx, `SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm') AND pg_get_userbyid(c.relowner) <> $2`, db.Name, role)
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
		what := map[string]string{"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW"}[kind]
		alter = append(alter, "ALTER "+what+" "+q(name)+" OWNER TO "+q(role))
	}
	if err := rows.Close(); err != nil {
		return err
	}
	for _, s := range alter {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// OpenScoped opens a single-connection pool logged in as a tenant's scoped account.
func OpenScoped(ctx context.Context, scopedURL string) (*DB, error) {
	db, err := Open(ctx, scopedURL, Pool{MaxOpen: 1, MaxIdle: 1})
	if err != nil {
		return nil, err
	}
	return db, nil
}

// GuardSQLite denies ATTACH and DETACH on a SQLite connection until the returned
// function is called: hand-written SQL may then touch only its own tenant's file.
func GuardSQLite(conn *sql.Conn) (func(), error) {
	set := func(fn sqlite.AuthorizerFn) error {
		return conn.Raw(func(dc any) error {
			r, ok := dc.(sqlite.AuthorizerRegisterer)
			if !ok {
				return fmt.Errorf("the sqlite driver cannot guard connections")
			}
			return r.RegisterAuthorizer(fn)
		})
	}
	err := set(func(action sqlite.AuthorizerActionCode, _, _, _, _ string) sqlite.AuthorizerReturnCode {
		if action == sqlite.AuthAttach || action == sqlite.AuthDetach {
			return sqlite.AuthorizerDeny
		}
		return sqlite.AuthorizerOK
	})
	if err != nil {
		return nil, fmt.Errorf("guard sqlite connection: %w", err)
	}
	return func() { _ = set(nil) }, nil
}
