package meta

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"strata/schema"
)

// The state of a PostgreSQL tenant's migration history travels with the login of its
// account. A tenant's first request on a node logs in anew, and every statement on a
// new PostgreSQL process is slow (its catalog caches are cold: reading the state was
// 3.7 ms of a 13 ms cold request at 7,460 tenants). But logging in already reads the
// account's own settings, and the server reports a few parameters back to the client,
// application_name among them. So a trigger on custom_migrations sets the account's
// application_name to the history's state (its Tag) in the transaction of every change
// to the history, and the node reads the state off the login, at no statement.
//
// The tag is a hint, checked like the rest of a cached model: a history changed with
// the trigger away (a schema restored on its own from a dump) leaves a stale tag, which
// the version check every ModelTTL finds. A tag that says a migration is running is not
// trusted: the node reads the state then (ReadState) and settles it.

// tagPrefix opens every tag; the digit is the tag's format.
const tagPrefix = "strata1 "

// tagPattern is a whole tag: version, running, head (a digest, or none yet).
var tagPattern = regexp.MustCompile(`^` + regexp.QuoteMeta(tagPrefix) + `(\d{1,18}) (\d{1,18}) ([0-9a-f]{32})?$`)

// Tag is the state as the login tag carries it. PostgreSQL keeps 63 bytes of
// application_name, room for versions up to 10^12; a longer tag is cut, and a cut tag
// reads as none (the state is then read from the history).
func (s State) Tag() string {
	return tagPrefix + strconv.FormatInt(s.Version, 10) + " " + strconv.FormatInt(s.Running, 10) + " " + s.Head
}

// StateFromTag reads the state back from a login tag; ok is false for anything that is
// not a whole tag (no tag yet, an application_name set another way, a cut one).
func StateFromTag(tag string) (s State, ok bool) {
	m := tagPattern.FindStringSubmatch(tag)
	if m == nil {
		return State{}, false
	}
	// At most 18 digits: both fit an int64.
	v, _ := strconv.ParseInt(m[1], 10, 64)
	r, _ := strconv.ParseInt(m[2], 10, 64)
	return State{Version: v, Running: r, Head: m[3]}, true
}

// TagState makes a PostgreSQL tenant's history keep its account's login tag, and tags
// it now; q must be logged in as the tenant's account, which then owns the trigger's
// function (it alters its own settings, whoever writes the history). Other dialects
// have no such login parameter: nothing is done.
func TagState(ctx context.Context, db beginner, d schema.Dialect) error {
	if d.Name() != "postgres" {
		return nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("tag the schema state in the login: %w", err)
	}
	defer tx.Rollback()
	// The function runs with the owner's rights and a fixed search_path, so neither a
	// writer's role nor its search_path changes what it reads or whose setting it sets.
	// The table is named by the trigger (TG_TABLE_SCHEMA), so no schema name is written
	// into the function: every tenant's is the same text.
	sel := strings.ReplaceAll(stateSelect(d), "'", "''")
	stmts := []string{
		`CREATE OR REPLACE FUNCTION strata_tag_state() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $strata$
DECLARE top bigint; n bigint; run bigint; head text;
BEGIN
  EXECUTE format('` + sel + `%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME) INTO top, n, run, head;
  EXECUTE format('ALTER ROLE CURRENT_USER SET application_name = %L',
    '` + tagPrefix + `' || (COALESCE(top, 0) + n) || ' ' || run || ' ' ||
    COALESCE(left(encode(sha256(convert_to(head, 'UTF8')), 'hex'), 32), ''));
  RETURN NULL;
END $strata$`,
		`DROP TRIGGER IF EXISTS strata_tag_state ON ` + d.Quote("custom_migrations"),
		`CREATE TRIGGER strata_tag_state AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ` + d.Quote("custom_migrations") +
			` FOR EACH STATEMENT EXECUTE FUNCTION strata_tag_state()`,
		// A statement-level trigger fires on a statement that touches no row: this tags
		// the history as it is now.
		`UPDATE ` + d.Quote("custom_migrations") + ` SET ` + d.Quote("seq") + ` = ` + d.Quote("seq") + ` WHERE false`,
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("tag the schema state in the login: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("tag the schema state in the login: %w", err)
	}
	return nil
}

// beginner opens transactions: a pool (*sql.DB, *database.DB).
type beginner interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}
