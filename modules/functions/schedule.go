package functions

import (
	"context"
	"fmt"
	"sync"
	"time"

	"strata/modules/database"
	"strata/modules/records"
	"strata/schema"
)

// Tenants opens tenants for work no request started: after hooks, schedules.
type Tenants interface {
	// Scope is the tenant's scope with no caller (nil, nil: the tenant is gone).
	Scope(ctx context.Context, tenantID string) (*records.Scope, error)
}

// EnsureSchema creates the control tables of functions (a control migration): which
// tenants have after hooks or schedules, so a node finds them without opening every
// tenant, and the claims that run each schedule once per tick in the cluster.
func (s *Service) EnsureSchema(ctx context.Context) error {
	d := s.Control.Dialect
	str := func(n int) string { return d.ColumnType(&schema.Column{Type: schema.TypeString, Length: n}) }
	stmts := []string{
		"CREATE TABLE IF NOT EXISTS strata_function_tenants (tenant_id " + str(36) + " NOT NULL PRIMARY KEY, after_hooks INTEGER NOT NULL, schedules INTEGER NOT NULL, updated_at " +
			d.ColumnType(&schema.Column{Type: schema.TypeDatetime}) + " NOT NULL)",
		"CREATE TABLE IF NOT EXISTS strata_function_ticks (function_id " + str(36) + " NOT NULL, tick " + d.ColumnType(&schema.Column{Type: schema.TypeBigint}) +
			" NOT NULL, tenant_id " + str(36) + " NOT NULL, node " + str(64) + " NOT NULL, PRIMARY KEY (function_id, tick))",
	}
	for _, q := range stmts {
		if _, err := s.Control.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("create the function control tables: %w", err)
		}
	}
	return nil
}

// ModelChanged keeps the control index of a tenant's after hooks and schedules true
// after a migration committed its model.
func (s *Service) ModelChanged(ctx context.Context, tenantID string, m *schema.Model) {
	s.init()
	var after, sched int
	for _, f := range m.Functions {
		switch {
		case !f.Enabled:
		case f.Kind == "hook" && f.Phase == "after":
			after++
		case f.Kind == "schedule":
			sched++
		}
	}
	s.mu.Lock()
	prev, known := s.indexed[tenantID]
	s.indexed[tenantID] = [2]int{after, sched}
	s.mu.Unlock()
	if known && prev == [2]int{after, sched} {
		return
	}
	if !known && after == 0 && sched == 0 && len(m.Functions) == 0 {
		return // never had any: nothing to write or remove
	}
	if err := s.index(ctx, tenantID, after, sched); err != nil {
		s.mu.Lock()
		delete(s.indexed, tenantID)
		s.mu.Unlock()
		s.Log.Warn("functions: index a tenant's hooks and schedules", "tenant", tenantID, "err", err)
	}
}

func (s *Service) index(ctx context.Context, tenantID string, after, sched int) error {
	d := s.Control.Dialect
	tx, err := s.Control.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after commit
	if _, err := tx.ExecContext(ctx, d.Rebind("DELETE FROM strata_function_tenants WHERE tenant_id = ?"), tenantID); err != nil {
		return err
	}
	if after > 0 || sched > 0 {
		if _, err := tx.ExecContext(ctx, d.Rebind("INSERT INTO strata_function_tenants (tenant_id, after_hooks, schedules, updated_at) VALUES (?, ?, ?, ?)"),
			tenantID, after, sched, d.TimeValue(s.now().UTC())); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// tenantsWith lists the tenants whose count in column (after_hooks, schedules) is set.
func (s *Service) tenantsWith(ctx context.Context, column string) ([]string, error) {
	if column != "after_hooks" && column != "schedules" {
		return nil, fmt.Errorf("no column %q", column)
	}
	return database.Texts(ctx, s.Control, "SELECT tenant_id FROM strata_function_tenants WHERE "+column+" > 0")
}

// Tick runs the schedules due at minute (UTC, whole minute) whose claim this node
// wins: the first node to record (function, minute) runs it, every other one sees the
// key taken. It waits for the runs it started.
func (s *Service) Tick(ctx context.Context, minute time.Time) {
	s.init()
	minute = minute.UTC().Truncate(time.Minute)
	ids, err := s.tenantsWith(ctx, "schedules")
	if err != nil {
		s.Log.Warn("functions: list tenants with schedules", "err", err)
		return
	}
	var runs sync.WaitGroup
	for _, id := range ids {
		sc, err := s.Tenants.Scope(ctx, id)
		if err != nil || sc == nil {
			continue
		}
		for i := range sc.Model.Functions {
			f := &sc.Model.Functions[i]
			if f.Kind != "schedule" || !f.Enabled {
				continue
			}
			sched, err := cronParser.Parse(f.Cron)
			if err != nil || !sched.Next(minute.Add(-time.Second)).Equal(minute) {
				continue
			}
			if !s.claimTick(ctx, sc.TenantID, f.ID, minute) {
				continue
			}
			runs.Add(1)
			go func() {
				defer runs.Done()
				if _, err := s.Run(ctx, sc, f, Trigger{Kind: "schedule"}); err != nil {
					s.Log.Warn("functions: a schedule did not start", "tenant", sc.Slug, "function", f.Name, "err", err)
				}
			}()
		}
	}
	runs.Wait()
}

// claimTick records that this node runs f at minute; false when another node did.
func (s *Service) claimTick(ctx context.Context, tenantID, functionID string, minute time.Time) bool {
	d := s.Control.Dialect
	_, err := s.Control.ExecContext(ctx, d.Rebind("INSERT INTO strata_function_ticks (function_id, tick, tenant_id, node) VALUES (?, ?, ?, ?)"),
		functionID, minute.Unix()/60, tenantID, s.NodeID)
	return err == nil
}

// Loop runs schedules at every minute and sweeps the outboxes every 30 seconds, until
// ctx ends; once an hour it forgets claims older than a day.
func (s *Service) Loop(ctx context.Context) {
	s.init()
	s.Sweep(ctx)
	sweep := time.NewTicker(30 * time.Second)
	defer sweep.Stop()
	next := time.Now().UTC().Truncate(time.Minute).Add(time.Minute)
	tick := time.NewTimer(time.Until(next))
	defer tick.Stop()
	lastPrune := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-sweep.C:
			s.Sweep(ctx)
		case <-tick.C:
			go s.Tick(ctx, next)
			if time.Since(lastPrune) > time.Hour {
				lastPrune = time.Now()
				d := s.Control.Dialect
				if _, err := s.Control.ExecContext(ctx, d.Rebind("DELETE FROM strata_function_ticks WHERE tick < ?"), next.Add(-24*time.Hour).Unix()/60); err != nil {
					s.Log.Warn("functions: forget old schedule claims", "err", err)
				}
			}
			next = next.Add(time.Minute)
			tick.Reset(time.Until(next))
		}
	}
}
