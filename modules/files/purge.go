package files

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"strata/modules/database"
	"strata/schema"
)

// Purges deletes the objects of deleted tenants. A deletion is recorded in the control
// database before the tenant's row goes, and its record removed only once every location
// is clear of the tenant's keys: a node that stops midway leaves the record, and the next
// pass (at boot, then every Interval, on any node) resumes it. Two nodes purging the same
// tenant at once do the same idempotent deletes.
type Purges struct {
	Control  *database.DB
	Files    *Service
	Interval time.Duration // default 1h
	Log      *slog.Logger
}

// EnsureSchema creates the purge list (a control migration).
func (p *Purges) EnsureSchema(ctx context.Context) error {
	d := p.Control.Dialect
	q := "CREATE TABLE IF NOT EXISTS strata_storage_purges (tenant_id " + d.ColumnType(&schema.Column{Type: schema.TypeString, Length: 36}) +
		" NOT NULL PRIMARY KEY, created_at " + d.ColumnType(&schema.Column{Type: schema.TypeDatetime}) + " NOT NULL)"
	if _, err := p.Control.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("create the storage purge list: %w", err)
	}
	return nil
}

// Enqueue records that a tenant's objects are to go.
func (p *Purges) Enqueue(ctx context.Context, tenantID string) error {
	d := p.Control.Dialect
	_, err := p.Control.ExecContext(ctx, d.Rebind("INSERT INTO strata_storage_purges (tenant_id, created_at) VALUES (?, ?)"), tenantID, d.TimeValue(time.Now().UTC()))
	if err != nil {
		return fmt.Errorf("record the storage purge: %w", err)
	}
	return nil
}

// Run purges every recorded tenant once; a failure stays recorded for the next pass.
func (p *Purges) Run(ctx context.Context) {
	rows, err := p.Control.QueryContext(ctx, "SELECT tenant_id FROM strata_storage_purges")
	if err != nil {
		p.Log.Warn("files: list storage purges", "err", err)
		return
	}
	var ids []string
	for rows.Next() {
		var id string
		if rows.Scan(&id) == nil {
			ids = append(ids, id)
		}
	}
	rows.Close()
	d := p.Control.Dialect
	for _, id := range ids {
		if err := p.Files.DeleteTenant(ctx, id); err != nil {
			p.Log.Warn("files: purge a deleted tenant's objects; will try again", "tenant", id, "err", err)
			continue
		}
		if _, err := p.Control.ExecContext(ctx, d.Rebind("DELETE FROM strata_storage_purges WHERE tenant_id = ?"), id); err != nil {
			p.Log.Warn("files: record a storage purge done", "tenant", id, "err", err)
		}
	}
}

// Loop runs a pass now and then every Interval until ctx ends.
func (p *Purges) Loop(ctx context.Context) {
	every := p.Interval
	if every <= 0 {
		every = time.Hour
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		p.Run(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
