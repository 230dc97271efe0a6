package query

import (
	"context"
	"database/sql"
	"strconv"
	"strings"

	"strata/schema"
)

// Tagged runs statements with the tenant's schema version in a leading comment. Drivers
// that cache prepared statements by their text (pgx) then never reuse one across a
// change of the tables it reads: a new version is new text. A node whose model is a
// moment behind another node's change can still meet a stale plan; that statement is
// retried once under a fresh text.
type Tagged struct {
	Q       schema.Querier
	Version int64
}

// NewTagged tags the statements run through q with version.
func NewTagged(q schema.Querier, version int64) Tagged { return Tagged{Q: q, Version: version} }

func (t Tagged) tag(q string) string { return "/* v" + strconv.FormatInt(t.Version, 10) + " */ " + q }

// stalePlan reports PostgreSQL's refusal to run a cached plan whose tables changed.
func stalePlan(err error) bool {
	return err != nil && strings.Contains(err.Error(), "cached plan must not change result type")
}

// QueryContext implements schema.Querier.
func (t Tagged) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	rows, err := t.Q.QueryContext(ctx, t.tag(q), args...)
	if stalePlan(err) {
		return t.Q.QueryContext(ctx, "/* retry */ "+t.tag(q), args...)
	}
	return rows, err
}

// ExecContext implements schema.Querier.
func (t Tagged) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	res, err := t.Q.ExecContext(ctx, t.tag(q), args...)
	if stalePlan(err) {
		return t.Q.ExecContext(ctx, "/* retry */ "+t.tag(q), args...)
	}
	return res, err
}

// QueryRowContext implements schema.Querier. A *sql.Row reports its error only on
// Scan, so it cannot be retried here; counts run through it are plain aggregates
// whose result type never changes.
func (t Tagged) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return t.Q.QueryRowContext(ctx, t.tag(q), args...)
}
