package database

import (
	"container/list"
	"context"
	"database/sql/driver"
	"io"
	"reflect"
)

// StatementCacheSize is how many prepared statements one SQLite or MySQL connection
// keeps, least recently used first out. pgx keeps its own cache on PostgreSQL.
const StatementCacheSize = 64

// stmtCache keeps one connection's prepared statements by SQL text, so a statement the
// node runs again on that connection is not compiled again (SQLite) or prepared,
// executed and closed in three round trips (MySQL). Statements carry the schema
// version in a comment (decision 0005), so a schema change brings new texts and the
// old ones age out; the databases also re-prepare a cached statement themselves when
// its tables change underneath.
//
// database/sql uses a connection from one goroutine at a time, and rows keep it until
// they are closed, so the cache needs no lock. A statement still being read (its rows
// open) is busy: a second use of the same text meanwhile prepares its own.
type stmtCache struct {
	conn  driver.Conn
	max   int
	order *list.List // of *cachedStmt, most recently used first
	bySQL map[string]*list.Element
}

type cachedStmt struct {
	sql  string
	stmt driver.Stmt
	busy bool
	// evicted: it left the cache while busy, and closes when its rows do.
	evicted bool
}

func newStmtCache(conn driver.Conn, max int) *stmtCache {
	return &stmtCache{conn: conn, max: max, order: list.New(), bySQL: map[string]*list.Element{}}
}

// take returns the cached statement for query, preparing it on first use; nil when the
// cached one is busy or the driver cannot run statements with a context.
func (c *stmtCache) take(ctx context.Context, query string) (*cachedStmt, error) {
	if e, ok := c.bySQL[query]; ok {
		cs := e.Value.(*cachedStmt)
		if cs.busy {
			return nil, nil
		}
		c.order.MoveToFront(e)
		cs.busy = true
		return cs, nil
	}
	p, ok := c.conn.(driver.ConnPrepareContext)
	if !ok {
		return nil, nil
	}
	st, err := p.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	_, q := st.(driver.StmtQueryContext)
	_, x := st.(driver.StmtExecContext)
	if !q || !x {
		st.Close()
		return nil, nil
	}
	cs := &cachedStmt{sql: query, stmt: st, busy: true}
	c.bySQL[query] = c.order.PushFront(cs)
	for c.order.Len() > c.max {
		c.evict(c.order.Back())
	}
	return cs, nil
}

// give returns a statement after use; failed drops it (a statement that failed may be
// in any state, and preparing it again is cheap next to being wrong).
func (c *stmtCache) give(cs *cachedStmt, failed bool) {
	cs.busy = false
	if cs.evicted {
		cs.stmt.Close()
		return
	}
	if failed {
		if e, ok := c.bySQL[cs.sql]; ok {
			c.evict(e)
		}
	}
}

func (c *stmtCache) evict(e *list.Element) {
	cs := c.order.Remove(e).(*cachedStmt)
	delete(c.bySQL, cs.sql)
	if cs.busy {
		cs.evicted = true
		return
	}
	cs.stmt.Close()
}

// close closes every statement; the connection is closing.
func (c *stmtCache) close() {
	for c.order.Len() > 0 {
		c.evict(c.order.Front())
	}
}

func (c *stmtCache) query(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, bool, error) {
	cs, err := c.take(ctx, query)
	if cs == nil {
		return nil, false, err
	}
	rows, err := cs.stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		c.give(cs, true)
		return nil, true, err
	}
	return &cachedRows{Rows: rows, cache: c, stmt: cs}, true, nil
}

func (c *stmtCache) exec(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, bool, error) {
	cs, err := c.take(ctx, query)
	if cs == nil {
		return nil, false, err
	}
	res, err := cs.stmt.(driver.StmtExecContext).ExecContext(ctx, args)
	c.give(cs, err != nil)
	return res, true, err
}

// cachedRows gives its statement back to the cache when closed. It answers the
// optional column-type questions from the driver's rows, or as database/sql answers
// for a driver without them.
type cachedRows struct {
	driver.Rows
	cache  *stmtCache
	stmt   *cachedStmt
	closed bool
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	if !r.closed {
		r.closed = true
		r.cache.give(r.stmt, err != nil)
	}
	return err
}

func (r *cachedRows) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}

func (r *cachedRows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *cachedRows) ColumnTypeLength(i int) (int64, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeLength); ok {
		return t.ColumnTypeLength(i)
	}
	return 0, false
}

func (r *cachedRows) ColumnTypeNullable(i int) (bool, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeNullable); ok {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}

func (r *cachedRows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypePrecisionScale); ok {
		return t.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}

func (r *cachedRows) HasNextResultSet() bool {
	if n, ok := r.Rows.(driver.RowsNextResultSet); ok {
		return n.HasNextResultSet()
	}
	return false
}

func (r *cachedRows) NextResultSet() error {
	if n, ok := r.Rows.(driver.RowsNextResultSet); ok {
		return n.NextResultSet()
	}
	return io.EOF
}
