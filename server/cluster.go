package main

import (
	"context"
	"fmt"
	"log/slog"

	"strata/modules/bus"
	"strata/modules/database"
)

// openBus picks the cluster bus: Redis pub/sub when STRATA_REDIS_URL is set, else
// PostgreSQL LISTEN/NOTIFY when the control database is PostgreSQL (every node of a
// cluster shares it), else the in-process bus: one node, or a MySQL cluster whose
// nodes rely on the cache TTL. What this node publishes carries a new id of its own.
func openBus(ctx context.Context, cfg Config, log *slog.Logger) (bus.Bus, error) {
	dialect, err := database.DialectOf(cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	// Anyone who can write to the channel (any session of the control database can
	// NOTIFY) is not a node: what the transports carry is sealed with the cluster key.
	seal, err := bus.NewSeal(cfg.BusKey)
	if err != nil {
		return nil, err
	}
	var b bus.Bus
	switch {
	case cfg.RedisURL != "":
		if b, err = bus.NewRedis(ctx, cfg.RedisURL, seal, log); err != nil {
			return nil, fmt.Errorf("cluster bus (STRATA_REDIS_URL): %w", err)
		}
		log.Info("cluster bus: redis pub/sub")
	case dialect == "postgres":
		if b, err = bus.NewPostgres(ctx, cfg.DatabaseURL, seal, log); err != nil {
			return nil, fmt.Errorf("cluster bus (control database): %w", err)
		}
		log.Info("cluster bus: postgresql listen/notify")
	default:
		b = bus.NewLocal()
	}
	return bus.NewNode(b, newID()), nil
}
