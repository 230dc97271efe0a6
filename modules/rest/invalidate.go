package rest

import (
	"context"
	"encoding/json"
	"time"

	"strata/modules/bus"
)

// invalidate forgets what this node cached of a tenant's policies (what:
// bus.InvalidateAccess) or settings (bus.InvalidateSettings), and tells the other nodes
// through the bus to do the same.
func (a *API) invalidate(ctx context.Context, tenantID, what string) {
	a.forget(tenantID, what)
	if a.Bus == nil {
		return
	}
	// The change is committed whether or not the caller is still there to hear of it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	m, err := bus.NewMessage(bus.TopicInvalidate, tenantID, bus.Invalidation{What: what})
	if err == nil {
		err = a.Bus.Publish(ctx, m)
	}
	if err != nil {
		a.Log.Warn("bus: publish failed; other nodes catch up within the cache TTL", "what", what, "tenant", tenantID, "err", err)
	}
}

func (a *API) forget(tenantID, what string) {
	switch what {
	case bus.InvalidateAccess:
		a.Access.Invalidate(tenantID)
	case bus.InvalidateSettings:
		a.corsMu.drop(tenantID)
	}
}

// followBus applies the invalidations of every node (this one's again, harmlessly) to
// this node's caches, and drops them all on a resync.
func (a *API) followBus() {
	if a.Bus == nil {
		return
	}
	a.Bus.Subscribe(func(m bus.Message) {
		switch m.Topic {
		case bus.TopicInvalidate:
			var inv bus.Invalidation
			if err := json.Unmarshal(m.Data, &inv); err != nil {
				a.Log.Warn("bus: bad invalidation message", "tenant", m.Tenant, "err", err)
				return
			}
			a.forget(m.Tenant, inv.What)
		case bus.TopicResync:
			a.Access.InvalidateAll()
			a.corsMu.dropAll()
		}
	})
}
