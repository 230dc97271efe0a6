package database

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestLimiterShedsAheadAfterAStatement: with fewer free slots than the headroom, the
// limiter closes idle connections elsewhere once a connection finishes a statement (in
// the background), not while a login waits; a login alone sheds nothing while a slot
// is free, and with the headroom free nothing more is shed.
func TestLimiterShedsAheadAfterAStatement(t *testing.T) {
	ctx := context.Background()
	lim := NewLimiter(3) // headroom 1
	dir := t.TempDir()
	open := func(name string) *DB {
		t.Helper()
		db, err := Open(ctx, "sqlite://"+filepath.Join(dir, name+".db"), Pool{MaxOpen: 2, MaxIdle: 2, Limit: lim})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	a := open("a")
	var sheds atomic.Int64
	lim.SetShed(func() bool {
		if a.Stats().Idle == 0 {
			return false
		}
		sheds.Add(1)
		a.SetMaxIdleConns(0)
		a.SetMaxIdleConns(2)
		return true
	})
	b := open("b")
	c := open("c") // the last slot: a login, no statement yet
	time.Sleep(50 * time.Millisecond)
	if lim.free() != 0 || sheds.Load() != 0 {
		t.Fatalf("after three logins: %d slots free, %d sheds; want 0 and 0", lim.free(), sheds.Load())
	}
	if _, err := c.ExecContext(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Second); lim.free() < 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("a statement finished with no slot free, and %d slots are free after 2s (%d sheds)", lim.free(), sheds.Load())
		}
	}
	if n := a.Stats().OpenConnections; n != 0 {
		t.Fatalf("the pool shed ahead still holds %d connections", n)
	}
	if _, err := b.ExecContext(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if sheds.Load() != 1 {
		t.Fatalf("%d sheds with the headroom free, want 1", sheds.Load())
	}
}
