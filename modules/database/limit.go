package database

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrTooManyConnections is returned when a node's connection cap stays full for the
// whole wait: every slot is in use by a running statement.
var ErrTooManyConnections = errors.New("the node's database connection cap is reached")

// Limiter caps the database connections a node holds, across every pool that opens
// through it (the control database and all tenant pools). A pool asks for a slot
// before each new connection and gives it back when the connection closes. When the
// cap is full, Shed is asked to close idle connections of pools nobody is using, so a
// node touching thousands of tenants holds at most Max connections whatever the
// number of pools.
//
// It sheds ahead, too: when fewer than headroom slots are free, the idle connections of
// the least recently used pool are closed as soon as a connection finishes a statement,
// in the background. A login then seldom waits for a closing, and it does not run
// beside one: on PostgreSQL a server process ending while another starts (and runs
// its first statement) slowed those by half at p95 (decision 0034).
type Limiter struct {
	slots chan struct{}
	// Wait bounds how long a new connection waits for a slot before failing.
	Wait time.Duration
	// shed closes idle connections elsewhere; it returns whether it closed any.
	shed atomic.Pointer[func() bool]
	// headroom is how many free slots shedding ahead keeps; shedding is set while
	// it runs.
	headroom int
	shedding atomic.Bool
}

// NewLimiter returns a Limiter of n connections (n ≤ 0: no cap).
func NewLimiter(n int) *Limiter {
	if n <= 0 {
		return nil
	}
	return &Limiter{slots: make(chan struct{}, n), Wait: 10 * time.Second, headroom: max(1, n/20)}
}

// free is how many slots no connection holds.
func (l *Limiter) free() int { return cap(l.slots) - len(l.slots) }

// makeRoom sheds ahead (see Limiter) when fewer than headroom slots are free: one
// shedding at a time, in the background, so the statement that just finished is not
// held up.
func (l *Limiter) makeRoom() {
	if l.free() >= l.headroom || l.shed.Load() == nil || !l.shedding.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer l.shedding.Store(false)
		for l.free() < l.headroom {
			if !(*l.shed.Load())() {
				return
			}
		}
	}()
}

// Max is the cap.
func (l *Limiter) Max() int { return cap(l.slots) }

// SetShed installs the function that closes idle connections when the cap is full.
func (l *Limiter) SetShed(f func() bool) { l.shed.Store(&f) }

func (l *Limiter) acquire(ctx context.Context) error {
	select {
	case l.slots <- struct{}{}:
		return nil
	default:
	}
	deadline := time.NewTimer(l.Wait)
	defer deadline.Stop()
	for {
		if f := l.shed.Load(); f != nil && (*f)() {
			select {
			case l.slots <- struct{}{}:
				return nil
			default:
			}
		}
		// Slots also come back when a connection in use is closed; poll briefly so a
		// shed that frees nothing now (every connection busy) is tried again.
		tick := time.NewTimer(20 * time.Millisecond)
		select {
		case l.slots <- struct{}{}:
			tick.Stop()
			return nil
		case <-ctx.Done():
			tick.Stop()
			return ctx.Err()
		case <-deadline.C:
			tick.Stop()
			return fmt.Errorf("%w (%d connections)", ErrTooManyConnections, l.Max())
		case <-tick.C:
		}
	}
}

func (l *Limiter) release() { <-l.slots }

// limitedConnector opens connections through the inner connector, one slot each.
type limitedConnector struct {
	inner driver.Connector
	limit *Limiter
	// after runs on each new connection (the SQLite guard).
	after func(driver.Conn) error
	// stmts is how many prepared statements each connection keeps (0: none).
	stmts int
	// count counts the statements run on its connections.
	count *atomic.Int64
	// gate passes one writer at a time (SQLite; nil elsewhere).
	gate *writeGate
	// loginTag is the application_name PostgreSQL reported when the first connection
	// logged in (DB.LoginTag); nil until then, and on other databases.
	loginTag atomic.Pointer[string]
}

func (c *limitedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	if c.limit != nil {
		if err := c.limit.acquire(ctx); err != nil {
			return nil, err
		}
	}
	conn, err := c.inner.Connect(ctx)
	if err == nil && c.after != nil {
		if err = c.after(conn); err != nil {
			conn.Close()
		}
	}
	if err != nil {
		if c.limit != nil {
			c.limit.release()
		}
		return nil, err
	}
	if pc, ok := conn.(interface{ Conn() *pgx.Conn }); ok && c.loginTag.Load() == nil {
		tag := pc.Conn().PgConn().ParameterStatus("application_name")
		c.loginTag.CompareAndSwap(nil, &tag)
	}
	cc := &countedConn{Conn: conn, limit: c.limit, count: c.count, gate: c.gate}
	if c.stmts > 0 {
		cc.stmts = newStmtCache(conn, c.stmts)
	}
	return cc, nil
}

func (c *limitedConnector) Driver() driver.Driver { return c.inner.Driver() }

// dsnConnector is a driver.Connector for drivers that have none of their own.
type dsnConnector struct {
	dsn string
	drv driver.Driver
}

func (c dsnConnector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c dsnConnector) Driver() driver.Driver                        { return c.drv }

// countedConn counts the statements it runs, gives its slot back when closed (limit
// nil: there is none), and runs statements with arguments through its statement cache
// when it has one. It forwards every optional interface database/sql looks for; where
// the driver lacks one it answers as database/sql expects of a driver without it
// (driver.ErrSkip and the like).
type countedConn struct {
	driver.Conn
	limit *Limiter
	once  sync.Once
	stmts *stmtCache
	count *atomic.Int64
	// gate and inTx: SQLite's writers take turns (writeGate); inside a transaction the
	// connection holds its turn already.
	gate *writeGate
	inTx bool
	// used is set once the connection has run a statement: only then does its return
	// to the pool shed ahead (a login's own return, in Open, does not).
	used bool
}

// Unwrap is the driver's own connection (for driver-specific calls through
// sql.Conn.Raw).
func (c *countedConn) Unwrap() driver.Conn { return c.Conn }

// unwrapConn returns the driver's connection under a countedConn.
func unwrapConn(dc any) any {
	if c, ok := dc.(*countedConn); ok {
		return c.Conn
	}
	return dc
}

func (c *countedConn) Close() error {
	if c.stmts != nil {
		c.stmts.close()
	}
	err := c.Conn.Close()
	if c.limit != nil {
		c.once.Do(c.limit.release)
	}
	return err
}

func (c *countedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	c.used = true
	if c.gate == nil {
		return c.beginTx(ctx, opts)
	}
	passed, err := c.gate.enter(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := c.beginTx(ctx, opts)
	if err != nil {
		if passed {
			c.gate.leave()
		}
		return nil, err
	}
	c.inTx = true
	return &gatedTx{Tx: tx, conn: c, passed: passed}, nil
}

func (c *countedConn) beginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if b, ok := c.Conn.(driver.ConnBeginTx); ok {
		return b.BeginTx(ctx, opts)
	}
	return c.Conn.Begin() //nolint:staticcheck // the fallback database/sql itself uses
}

func (c *countedConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if p, ok := c.Conn.(driver.ConnPrepareContext); ok {
		return p.PrepareContext(ctx, query)
	}
	return c.Conn.Prepare(query)
}

// ExecContext and QueryContext reuse the connection's prepared statement for a text
// with arguments; one without arguments (DDL, scripts, one-off reads) runs as it is.
func (c *countedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	c.count.Add(1)
	c.used = true
	if c.gate != nil && !c.inTx && writes(query) {
		passed, err := c.gate.enter(ctx)
		if err != nil {
			return nil, err
		}
		if passed {
			defer c.gate.leave()
		}
	}
	if c.stmts != nil && len(args) > 0 {
		if res, ok, err := c.stmts.exec(ctx, query, args); ok || err != nil {
			return res, err
		}
	}
	if e, ok := c.Conn.(driver.ExecerContext); ok {
		return e.ExecContext(ctx, query, args)
	}
	return nil, driver.ErrSkip
}

func (c *countedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	c.count.Add(1)
	c.used = true
	if c.stmts != nil && len(args) > 0 {
		if rows, ok, err := c.stmts.query(ctx, query, args); ok || err != nil {
			return rows, err
		}
	}
	if q, ok := c.Conn.(driver.QueryerContext); ok {
		return q.QueryContext(ctx, query, args)
	}
	return nil, driver.ErrSkip
}

func (c *countedConn) CheckNamedValue(v *driver.NamedValue) error {
	if n, ok := c.Conn.(driver.NamedValueChecker); ok {
		return n.CheckNamedValue(v)
	}
	return driver.ErrSkip
}

func (c *countedConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

// IsValid is asked as the connection goes back to its pool, after a statement: the
// moment to shed ahead (Limiter.makeRoom).
func (c *countedConn) IsValid() bool {
	if c.used && c.limit != nil {
		c.limit.makeRoom()
	}
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

// Ping counts as a statement: it is a round trip all the same.
func (c *countedConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		c.count.Add(1)
		return p.Ping(ctx)
	}
	return nil
}
