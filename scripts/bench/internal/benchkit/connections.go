package benchkit

import (
	"context"
	"sync/atomic"
	"time"

	"strata/modules/database"
)

// Connections counts the client connections to the database server (db's own
// excepted): on PostgreSQL those to every database of the server, on MySQL every
// session.
func Connections(ctx context.Context, db *database.DB, dialect string) (int, error) {
	var n int
	q := "SELECT COUNT(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
	if dialect == "mysql" {
		q = "SELECT COUNT(*) FROM information_schema.processlist WHERE id <> CONNECTION_ID()"
	}
	err := db.QueryRowContext(ctx, q).Scan(&n)
	return n, err
}

// Peak samples count every 20 ms from its start and keeps the highest value seen.
type Peak struct {
	max  atomic.Int64
	stop chan struct{}
	done chan struct{}
}

// SamplePeak starts sampling count.
func SamplePeak(count func() (int, error)) *Peak {
	p := &Peak{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
			if n, err := count(); err == nil && int64(n) > p.max.Load() {
				p.max.Store(int64(n))
			}
		}
	}()
	return p
}

// Now is the highest value seen so far.
func (p *Peak) Now() int64 { return p.max.Load() }

// Stop ends the sampling and returns the highest value seen.
func (p *Peak) Stop() int64 {
	close(p.stop)
	<-p.done
	return p.max.Load()
}
