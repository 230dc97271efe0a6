package functions

import (
	"context"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	json "github.com/goccy/go-json"

	"strata/modules/access"
	"strata/modules/database"
	"strata/modules/records"
	"strata/schema"
)

// MaxAttempts is how many times an after hook is tried before its entry is marked
// failed; attempts are spaced 10 s, 20 s, 40 s, 80 s apart.
const MaxAttempts = 5

// deliverer runs after hooks from each tenant's outbox. An entry is claimed for a
// lease (a conditional update: one node wins), run, then marked delivered, or put
// back for a later attempt. A node that stops mid-run leaves its claim to expire, and
// any node's next pass delivers the entry: at least once.
type deliverer struct {
	s  *Service
	mu sync.Mutex
	// due are the tenants to drain, with the scope of the write that made the entries
	// (nil from a sweep: the tenant is opened then).
	due      map[string]*records.Scope
	draining map[string]bool
	wake     chan struct{}
	started  sync.Once
}

// maxDrains is how many tenants' outboxes a node drains at once: one tenant's slow
// hooks do not hold up the others'.
const maxDrains = 4

func newDeliverer(s *Service) *deliverer {
	return &deliverer{s: s, due: map[string]*records.Scope{}, draining: map[string]bool{}, wake: make(chan struct{}, 1)}
}

// enqueue writes outbox entries for fns × events inside the write's transaction q.
func (d *deliverer) enqueue(ctx context.Context, q schema.Querier, sc *records.Scope, fns []*schema.Function, events []map[string]any) error {
	dl := sc.DB.Dialect
	now := dl.TimeValue(d.s.now().UTC())
	qi := dl.Quote
	stmt := dl.Rebind("INSERT INTO " + qi(OutboxTable) + " (" + qi("id") + ", " + qi("created_at") + ", " + qi("updated_at") + ", " + qi("function_id") + ", " +
		qi("event") + ", " + qi("status") + ", " + qi("attempts") + ", " + qi("next_at") + ") VALUES (?, ?, ?, ?, ?, 'pending', 0, ?)")
	for _, f := range fns {
		for _, ev := range events {
			b, err := json.Marshal(ev)
			if err != nil {
				return fmt.Errorf("after hook %s: encode the event: %w", f.Name, err)
			}
			if _, err := q.ExecContext(ctx, stmt, d.s.NewID(), now, now, f.ID, string(b), now); err != nil {
				return fmt.Errorf("after hook %s: queue the event: %w", f.Name, err)
			}
		}
	}
	return nil
}

// kick asks for a pass over a tenant's outbox soon; sc (nil: none at hand) saves
// opening the tenant again.
func (d *deliverer) kick(tenantID string, sc *records.Scope) {
	if sc != nil {
		base := *sc
		base.Caller, base.Tx = nil, nil
		sc = &base
	}
	d.mu.Lock()
	if sc != nil || d.due[tenantID] == nil {
		d.due[tenantID] = sc
	}
	d.mu.Unlock()
	d.signal()
	d.started.Do(func() { go d.loop() })
}

func (d *deliverer) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// loop starts a drain for each tenant due, a few at a time, one per tenant; a tenant
// kicked while it drains is drained again after.
func (d *deliverer) loop() {
	for range d.wake {
		d.mu.Lock()
		start := map[string]*records.Scope{}
		for id, sc := range d.due {
			if !d.draining[id] && len(d.draining) < maxDrains {
				delete(d.due, id)
				d.draining[id] = true
				start[id] = sc
			}
		}
		d.mu.Unlock()
		for id, sc := range start {
			go func() {
				d.drain(context.Background(), id, sc)
				d.mu.Lock()
				delete(d.draining, id)
				more := len(d.due) > 0
				d.mu.Unlock()
				if more {
					d.signal()
				}
			}()
		}
	}
}

type entry struct {
	id, functionID, event string
	attempts              int64
}

// drain delivers what is due in one tenant's outbox, a batch at a time.
func (d *deliverer) drain(ctx context.Context, tenantID string, sc *records.Scope) {
	s := d.s
	if sc == nil {
		if s.Tenants == nil {
			return
		}
		var err error
		if sc, err = s.Tenants.Scope(ctx, tenantID); err != nil || sc == nil {
			if err != nil {
				s.Log.Warn("functions: open a tenant for its after hooks", "tenant", tenantID, "err", err)
			}
			return
		}
	}
	if sc.Model.Table(OutboxTable) == nil {
		return
	}
	for range 100 { // a bound on one pass; the sweep comes back for the rest
		batch, err := d.claim(ctx, sc)
		if err != nil {
			s.Log.Warn("functions: claim after hooks", "tenant", sc.Slug, "err", err)
			return
		}
		if len(batch) == 0 {
			return
		}
		for _, e := range batch {
			d.run(ctx, sc, e)
		}
	}
}

// claim takes up to 20 due entries for this node, each with a conditional update.
func (d *deliverer) claim(ctx context.Context, sc *records.Scope) ([]entry, error) {
	dl := sc.DB.Dialect
	qi := dl.Quote
	now := d.s.now().UTC()
	rows, err := sc.DB.QueryContext(ctx, dl.Rebind("SELECT "+qi("id")+", "+qi("function_id")+", "+qi("event")+", "+qi("attempts")+" FROM "+qi(OutboxTable)+
		" WHERE "+qi("status")+" = 'pending' AND "+qi("next_at")+" <= ? AND ("+qi("claimed_until")+" IS NULL OR "+qi("claimed_until")+" < ?) ORDER BY "+qi("next_at")+" LIMIT 20"),
		dl.TimeValue(now), dl.TimeValue(now))
	if err != nil {
		return nil, err
	}
	var found []entry
	for rows.Next() {
		var id, fid, ev, attempts any
		if err := rows.Scan(&id, &fid, &ev, &attempts); err != nil {
			rows.Close()
			return nil, err
		}
		found = append(found, entry{database.Text(id), database.Text(fid), database.Text(ev), database.Int64(attempts)})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var mine []entry
	for _, e := range found {
		// Long enough to wait for a worker and run (each bounded by the timeout), short
		// enough that a stopped node's claim is taken over soon.
		lease := now.Add(90 * time.Second)
		if f := sc.Model.Function(e.functionID); f != nil {
			lease = now.Add(2*time.Duration(f.TimeoutMs)*time.Millisecond + 5*time.Second)
		}
		res, err := sc.DB.ExecContext(ctx, dl.Rebind("UPDATE "+qi(OutboxTable)+" SET "+qi("claimed_until")+" = ?, "+qi("attempts")+" = "+qi("attempts")+" + 1 WHERE "+qi("id")+
			" = ? AND "+qi("status")+" = 'pending' AND ("+qi("claimed_until")+" IS NULL OR "+qi("claimed_until")+" < ?)"), dl.TimeValue(lease), e.id, dl.TimeValue(now))
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			e.attempts++
			mine = append(mine, e)
		}
	}
	return mine, nil
}

// run delivers one claimed entry and records how it went.
func (d *deliverer) run(ctx context.Context, sc *records.Scope, e entry) {
	s := d.s
	f := sc.Model.Function(e.functionID)
	if f == nil || !f.Enabled {
		d.settle(ctx, sc, e, "dropped", "the function was removed or disabled before delivery")
		return
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(e.event), &ev); err != nil {
		d.settle(ctx, sc, e, "failed", "the event could not be read: "+err.Error())
		return
	}
	caller, err := d.caller(ctx, sc, ev["user"])
	if err != nil {
		d.retry(ctx, sc, e, err.Error())
		return
	}
	delete(ev, "user")
	run := *sc
	run.Caller = caller
	r, err := s.Run(ctx, &run, f, Trigger{Kind: "hook", Event: ev, Attempt: int(e.attempts), OutboxID: e.id})
	switch {
	case err != nil:
		d.retry(ctx, sc, e, err.Error())
	case r.Outcome.Status == "success":
		d.settle(ctx, sc, e, "delivered", "")
	default:
		d.retry(ctx, sc, e, r.Outcome.Error)
	}
}

// caller rebuilds the writer an event names, for a hook that runs as its caller.
func (d *deliverer) caller(ctx context.Context, sc *records.Scope, user any) (*access.Caller, error) {
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
		p, err := d.s.Access.Policy(ctx, sc.DB, sc.TenantID, role)
		if err != nil {
			return nil, err
		}
		c.Policy = p
	}
	return c, nil
}

func (d *deliverer) retry(ctx context.Context, sc *records.Scope, e entry, reason string) {
	if e.attempts >= MaxAttempts {
		d.settle(ctx, sc, e, "failed", reason)
		return
	}
	dl := sc.DB.Dialect
	qi := dl.Quote
	next := d.s.now().UTC().Add(10 * time.Second << (e.attempts - 1))
	if _, err := sc.DB.ExecContext(ctx, dl.Rebind("UPDATE "+qi(OutboxTable)+" SET "+qi("claimed_until")+" = NULL, "+qi("next_at")+" = ?, "+qi("last_error")+" = ? WHERE "+qi("id")+" = ?"),
		dl.TimeValue(next), truncate(reason, 2000), e.id); err != nil {
		d.s.Log.Warn("functions: put an after hook back", "tenant", sc.Slug, "err", err)
	}
}

func (d *deliverer) settle(ctx context.Context, sc *records.Scope, e entry, status, reason string) {
	dl := sc.DB.Dialect
	qi := dl.Quote
	now := dl.TimeValue(d.s.now().UTC())
	if _, err := sc.DB.ExecContext(ctx, dl.Rebind("UPDATE "+qi(OutboxTable)+" SET "+qi("status")+" = ?, "+qi("claimed_until")+" = NULL, "+qi("delivered_at")+" = ?, "+
		qi("last_error")+" = ?, "+qi("updated_at")+" = ? WHERE "+qi("id")+" = ?"), status, now, database.NullText(truncate(reason, 2000)), now, e.id); err != nil {
		d.s.Log.Warn("functions: settle an after hook", "tenant", sc.Slug, "err", err)
	}
}

// truncate cuts s to at most n bytes, never inside a character (PostgreSQL and MySQL
// refuse text that is not UTF-8).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
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
		s.deliver.kick(id, nil)
	}
}
