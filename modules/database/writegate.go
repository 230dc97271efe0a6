package database

import (
	"context"
	"database/sql/driver"
	"strings"
	"sync"
	"time"
)

// writeGate hands SQLite's one write lock from writer to writer inside the process.
// SQLite lets one connection write at a time; the others find the file busy and their
// busy handler sleeps, 1 ms, then 2, 5, 10, … up to 100 ms, before it looks again. Under
// many writers, a transaction of a few statements left most of them asleep long after
// the lock was free: a create in a transaction ran at half the rate of one autocommit
// insert (docs/benchmarks.md, the audit trail). Waiting on a channel instead, the next
// writer starts the moment the last one commits. Transactions (which take the write lock
// as they begin: _txlock=immediate) and writes outside one pass the gate; reads do not
// (WAL lets them run beside the writer).
//
// A writer that cannot get through within gateWait goes on anyway, to SQLite's own
// locking: a goroutine that holds a transaction and writes on another connection of the
// same file waits as long as it did before the gate, never for ever.
type writeGate struct{ ch chan struct{} }

const gateWait = 10 * time.Second

func newWriteGate() *writeGate { return &writeGate{ch: make(chan struct{}, 1)} }

// enter waits for the gate; passed reports whether it was taken (and must be left).
func (g *writeGate) enter(ctx context.Context) (passed bool, err error) {
	select {
	case g.ch <- struct{}{}:
		return true, nil
	default:
	}
	t := time.NewTimer(gateWait)
	defer t.Stop()
	select {
	case g.ch <- struct{}{}:
		return true, nil
	case <-t.C:
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

func (g *writeGate) leave() { <-g.ch }

// gatedTx leaves the gate when the transaction ends.
type gatedTx struct {
	driver.Tx
	once sync.Once
	conn *countedConn
	// passed: the transaction holds the gate (not when it went on after gateWait).
	passed bool
}

func (t *gatedTx) done() {
	t.once.Do(func() {
		t.conn.inTx = false
		if t.passed {
			t.conn.gate.leave()
		}
	})
}

func (t *gatedTx) Commit() error {
	defer t.done()
	return t.Tx.Commit()
}

func (t *gatedTx) Rollback() error {
	defer t.done()
	return t.Tx.Rollback()
}

// writes reports whether a statement outside a transaction may write: anything but a
// read (SELECT, WITH … SELECT, EXPLAIN, PRAGMA reads are left to SQLite).
func writes(query string) bool {
	q := strings.TrimLeft(query, " \t\r\n(")
	for strings.HasPrefix(q, "/*") { // the schema-version tag (decision 0005)
		end := strings.Index(q, "*/")
		if end < 0 {
			return true
		}
		q = strings.TrimLeft(q[end+2:], " \t\r\n(")
	}
	if len(q) < 6 {
		return true
	}
	switch strings.ToUpper(q[:6]) {
	case "SELECT", "EXPLAI", "PRAGMA":
		return false
	}
	return true
}
