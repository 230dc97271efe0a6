package records

import (
	"context"
	"database/sql"

	"strata/modules/query"
	"strata/schema"
)

// lazyTx is a write's transaction that begins when it is first used: a create's before
// hooks get it, and most of them never read.
type lazyTx struct {
	open  func() (schema.Querier, error)
	begun bool
	// fallback runs a row query that cannot start: a *sql.Row carries its error only
	// from the driver, so the query goes there under an ended context and its Scan
	// reports that instead.
	fallback schema.Querier
}

func (l *lazyTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	q, err := l.use()
	if err != nil {
		return nil, err
	}
	return q.QueryContext(ctx, query, args...)
}

func (l *lazyTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	q, err := l.use()
	if err != nil {
		return nil, err
	}
	return q.ExecContext(ctx, query, args...)
}

func (l *lazyTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	q, err := l.use()
	if err != nil {
		ended, cancel := context.WithCancel(ctx)
		cancel()
		return l.fallback.QueryRowContext(ended, query, args...)
	}
	return q.QueryRowContext(ctx, query, args...)
}

func (l *lazyTx) use() (schema.Querier, error) {
	q, err := l.open()
	l.begun = err == nil
	return q, err
}

// Reader is where a scope reads what is not the write's rows (settings, secrets, a
// role's policy): its transaction once that has begun, since the tenant's pool may be
// held by writers waiting on it, and the pool before, so such a read does not begin it.
func (sc *Scope) Reader() schema.Querier {
	if sc.Tx == nil {
		return sc.DB
	}
	inner := sc.Tx
	if t, ok := inner.(query.Tagged); ok {
		inner = t.Q
	}
	if l, ok := inner.(*lazyTx); ok && !l.begun {
		return sc.DB
	}
	return sc.Tx
}
