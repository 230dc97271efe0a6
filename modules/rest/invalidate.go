package rest

import (
	"encoding/json"

	"strata/modules/auth"
	"strata/modules/bus"
)

// invalidate forgets what this node cached of a tenant's policies (what:
// bus.InvalidateAccess) or settings (bus.InvalidateSettings), and tells the other nodes
// through the bus to do the same.
func (a *API) invalidate(tenantID, what string) {
	a.forget(tenantID, what)
	if a.Bus != nil {
		bus.Tell(a.Bus, a.Log, bus.TopicInvalidate, tenantID, bus.Invalidation{What: what})
	}
}

func (a *API) forget(tenantID, what string) {
	switch what {
	case bus.InvalidateAccess:
		a.Access.Invalidate(tenantID)
	case bus.InvalidateSettings:
		a.corsMu.Drop(tenantID)
	}
}

// followBus applies the invalidations of every node (this one's again, harmlessly) to
// this node's caches, and drops them all on a resync; it counts the other nodes'
// sign-in failures, and shares this one's.
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
		case bus.TopicThrottle:
			// This node counted its own already.
			if m.Origin == a.NodeID || a.Throttle == nil {
				return
			}
			var ev auth.ThrottleEvent
			if err := json.Unmarshal(m.Data, &ev); err != nil || len(ev.Keys) > 2 {
				a.Log.Warn("bus: bad throttle message", "err", err)
				return
			}
			a.Throttle.Apply(ev)
		case bus.TopicResync:
			a.Access.InvalidateAll()
			a.corsMu.DropAll()
		}
	})
	if a.Throttle != nil {
		a.Throttle.Share = func(ev auth.ThrottleEvent) { bus.Tell(a.Bus, a.Log, bus.TopicThrottle, "", ev) }
	}
}
