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
	a.tell(tenantID, bus.Invalidation{What: what})
}

// invalidateSessions forgets what every node checked of a subject's sessions (all the
// tenant's when subject is empty; tenantID is empty for platform admins), so their
// access tokens are checked again on their next request: after a sign-out, a
// revocation, or a change of role, status or password.
func (a *API) invalidateSessions(tenantID, subject string) {
	a.tell(tenantID, bus.Invalidation{What: bus.InvalidateSessions, Subject: subject})
}

func (a *API) tell(tenantID string, inv bus.Invalidation) {
	a.forget(tenantID, inv)
	if a.Bus != nil {
		bus.Tell(a.Bus, a.Log, bus.TopicInvalidate, tenantID, inv)
	}
}

func (a *API) forget(tenantID string, inv bus.Invalidation) {
	switch inv.What {
	case bus.InvalidateAccess:
		a.Access.Invalidate(tenantID)
		// A deleted role moves its users to the default one: their tokens' role is stale.
		a.Auth.ForgetSessions(tenantID, "")
	case bus.InvalidateSettings:
		a.Settings.Invalidate(tenantID)
	case bus.InvalidateWebhooks:
		if a.Webhooks != nil {
			a.Webhooks.Invalidate(tenantID)
		}
	case bus.InvalidateSessions:
		a.Auth.ForgetSessions(tenantID, inv.Subject)
		if a.Realtime != nil {
			a.Realtime.Revoke(tenantID, inv.Subject)
		}
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
				a.Log.Warn("bus: bad invalidation message", "tenant_id", m.Tenant, "err", err)
				return
			}
			a.forget(m.Tenant, inv)
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
			a.Settings.InvalidateAll()
			if a.Webhooks != nil {
				a.Webhooks.InvalidateAll()
			}
			a.Auth.ForgetAllSessions()
		}
	})
	// What the auth service revokes (sign-out, a refresh token reused too late), this
	// node has forgotten already; the others hear of it.
	a.Auth.OnRevoke(func(tenantID, subject string) {
		bus.Tell(a.Bus, a.Log, bus.TopicInvalidate, tenantID, bus.Invalidation{What: bus.InvalidateSessions, Subject: subject})
	})
	if a.Throttle != nil {
		a.Throttle.Share = func(ev auth.ThrottleEvent) { bus.Tell(a.Bus, a.Log, bus.TopicThrottle, "", ev) }
	}
}
