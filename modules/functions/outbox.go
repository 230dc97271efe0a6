package functions

import (
	"context"
	"time"

	json "github.com/goccy/go-json"

	"strata/modules/access"
	"strata/modules/outbox"
	"strata/modules/records"
)

// MaxAttempts is how many times an after hook is tried before its entry is marked
// failed; attempts are spaced 10 s, 20 s, 40 s, 80 s apart.
const MaxAttempts = 5

// OutboxKind is the outbox's name for after hooks' entries.
const OutboxKind = "function"

// hookTarget runs after hooks from the outbox (outbox.Target).
type hookTarget struct{ s *Service }

// OutboxTarget is what the outbox delivers after hooks' entries to.
func (s *Service) OutboxTarget() outbox.Target { return hookTarget{s} }

func (hookTarget) Policy() outbox.Policy {
	return outbox.Policy{Attempts: MaxAttempts, First: 10 * time.Second, Exhausted: "failed"}
}

// Lease is long enough to wait for a worker and run (each bounded by the timeout).
func (h hookTarget) Lease(sc *records.Scope, id string) time.Duration {
	if f := sc.Model.Function(id); f != nil {
		return 2*time.Duration(f.TimeoutMs)*time.Millisecond + 5*time.Second
	}
	return 90 * time.Second
}

// Deliver runs the hook an entry names, as the writer who caused it.
func (h hookTarget) Deliver(ctx context.Context, sc *records.Scope, e outbox.Entry) outbox.Result {
	s := h.s
	s.init()
	f := sc.Model.Function(e.TargetID)
	if f == nil || !f.Enabled {
		return outbox.Result{Status: outbox.Dropped, Error: "the function was removed or disabled before delivery"}
	}
	var ev map[string]any
	if err := json.Unmarshal(e.Event, &ev); err != nil {
		return outbox.Result{Status: "failed", Error: "the event could not be read: " + err.Error()}
	}
	caller, err := s.writer(ctx, sc, ev["user"])
	if err != nil {
		return outbox.Result{Status: outbox.Retry, Error: err.Error()}
	}
	delete(ev, "user")
	run := *sc
	run.Caller = caller
	r, err := s.Run(ctx, &run, f, Trigger{Kind: "hook", Event: ev, Attempt: e.Attempt, OutboxID: e.ID})
	switch {
	case err != nil:
		return outbox.Result{Status: outbox.Retry, Error: err.Error()}
	case r.Outcome.Status == "success":
		return outbox.Result{Status: outbox.Delivered}
	default:
		return outbox.Result{Status: outbox.Retry, Error: r.Outcome.Error}
	}
}

// writer rebuilds the writer an event names, for a hook that runs as its caller.
func (s *Service) writer(ctx context.Context, sc *records.Scope, user any) (*access.Caller, error) {
	u, _ := user.(map[string]any)
	if u == nil {
		return nil, nil
	}
	id, _ := u["id"].(string)
	role, _ := u["role"].(string)
	kind, _ := u["kind"].(string)
	admin, _ := u["admin"].(bool)
	c := &access.Caller{Kind: kind, UserID: id, RoleID: role, Policy: &access.Policy{Admin: admin && role == ""}}
	if role != "" {
		p, err := s.Access.Policy(ctx, sc.DB, sc.TenantID, role)
		if err != nil {
			return nil, err
		}
		c.Policy = p
	}
	return c, nil
}

// Sweep passes over the outbox of every tenant with after hooks: what a stopped node
// claimed, and attempts put back for later, are delivered so.
func (s *Service) Sweep(ctx context.Context) {
	s.init()
	ids, err := s.tenantsWith(ctx, "after_hooks")
	if err != nil {
		s.Log.Warn("functions: list tenants with after hooks", "err", err)
		return
	}
	for _, id := range ids {
		s.Outbox.Kick(id, nil)
	}
}
