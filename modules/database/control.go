package database

import (
	"context"
	"fmt"
	"slices"
	"time"

	"strata/schema"
)

// ControlStep is one versioned change to the control database's own tables (the
// tenant registry, platform admins, sessions). Steps are applied once each, in
// version order, and recorded in strata_control_migrations.
type ControlStep struct {
	Version int
	Name    string
	Up      func(ctx context.Context) error
}

// controlLock names the lock every node takes before it looks at the control
// database's version, so nodes booting together on an empty database do not race
// each other's CREATE TABLE (PostgreSQL answered the loser "type already exists").
const controlLock = "strata_control_migrations"

// MigrateControl brings the control database up to the last step, under a lock held
// across the cluster (PostgreSQL advisory lock, MySQL GET_LOCK; SQLite serialises
// writers itself). A step already recorded is skipped; a failing step stops the boot
// with its version and name.
func MigrateControl(ctx context.Context, db *DB, steps []ControlStep) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("control migrations: %w", err)
	}
	defer conn.Close()
	unlock, err := db.Dialect.MigrationLock(ctx, conn, controlLock)
	if err != nil {
		return fmt.Errorf("control migrations: lock: %w", err)
	}
	defer unlock()
	d := db.Dialect
	str := d.ColumnType(&schema.Column{Type: schema.TypeString, Length: 200})
	ts := d.ColumnType(&schema.Column{Type: schema.TypeDatetime})
	if _, err := conn.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS strata_control_migrations (version INTEGER NOT NULL PRIMARY KEY, name "+str+" NOT NULL, applied_at "+ts+" NOT NULL)"); err != nil {
		return fmt.Errorf("control migrations: create ledger: %w", err)
	}
	applied := map[int]bool{}
	rows, err := conn.QueryContext(ctx, "SELECT version FROM strata_control_migrations")
	if err != nil {
		return fmt.Errorf("control migrations: read ledger: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return err
		}
		applied[v] = true
	}
	if err := rows.Close(); err != nil {
		return err
	}
	steps = slices.Clone(steps)
	slices.SortFunc(steps, func(a, b ControlStep) int { return a.Version - b.Version })
	for _, s := range steps {
		if applied[s.Version] {
			continue
		}
		if err := s.Up(ctx); err != nil {
			return fmt.Errorf("control migration %d (%s): %w", s.Version, s.Name, err)
		}
		if _, err := conn.ExecContext(ctx, d.Rebind("INSERT INTO strata_control_migrations (version, name, applied_at) VALUES (?, ?, ?)"), s.Version, s.Name, d.TimeValue(time.Now().UTC())); err != nil {
			return fmt.Errorf("control migration %d (%s): record: %w", s.Version, s.Name, err)
		}
	}
	return nil
}
