package realtime

import (
	"context"
	"log/slog"

	"strata/modules/bus"
	"strata/modules/migration"
	"strata/modules/records"
)

// BusPublisher announces committed writes on the bus, where every node's hub (this
// one's included) picks them up for its sockets.
type BusPublisher struct {
	Bus bus.Bus
	Log *slog.Logger
}

// Publish sends one items event; a failure is logged, never the write's failure.
func (p BusPublisher) Publish(ctx context.Context, sc *records.Scope, table, action string, ids []string) {
	if p.Bus == nil {
		return
	}
	if err := Publish(ctx, p.Bus, sc.TenantID, bus.TopicItems, ItemsEvent{Table: table, Action: action, IDs: ids}); err != nil {
		p.Log.Warn("realtime: publish", "tenant", sc.Slug, "table", table, "err", err)
	}
}

// MigrationNotifier sends migration status changes on the bus, for the realtime
// subscribers of custom_migrations on every node (new schema versions travel on their
// own topic, from the tenant registry).
type MigrationNotifier struct {
	Bus bus.Bus
	Log *slog.Logger
}

// Status publishes the changed row's id, status and error.
func (n MigrationNotifier) Status(sc migration.StatusChange) {
	action := "update"
	if sc.Created {
		action = "create"
	}
	m := sc.Migration
	if err := Publish(context.Background(), n.Bus, sc.TenantID, bus.TopicMigration,
		ItemsEvent{Table: "custom_migrations", Action: action, IDs: []string{m.ID}, Status: m.Status, Error: m.Error}); err != nil {
		n.Log.Warn("realtime: publish migration status", "tenant", sc.TenantID, "err", err)
	}
}

// Committed and Failed say nothing more: their status changes were told.
func (MigrationNotifier) Committed(migration.Commit)          {}
func (MigrationNotifier) Failed(string, *migration.Migration) {}
