// Package outbox delivers what a write must cause elsewhere once it commits: a
// tenant's after hooks and webhooks. Entries are written in the write's own
// transaction, so they exist if and only if the write commits; any node claims due
// entries with a lease, hands each to the target of its kind, and records how it went.
// Delivery is at least once: a node that stops mid-delivery leaves its claim to
// expire, and another node's next pass delivers the entry again.
package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	json "github.com/goccy/go-json"

	"strata/modules/database"
	"strata/modules/records"
	"strata/schema"
)

// Table is each tenant's outbox. Its target column is still named function_id, from
// when after hooks were its only targets: the system upgrade adds columns but renames
// none.
const Table = "strata_function_outbox"

// Statuses of an entry. A target may settle an entry with a final status of its own
// (an after hook's is "failed", a webhook's "dead").
const (
	Pending   = "pending"
	Delivered = "delivered"
	Dropped   = "dropped"
)

// Entry is one claimed delivery.
type Entry struct {
	ID, TargetID string
	Event        json.RawMessage
	// Attempt counts this one: 1 on the first delivery.
	Attempt int
}

// Result is how a delivery went: Status is Delivered, Retry (put back for later, or
// settled as the target's Policy.Exhausted past its attempts) or a final status.
type Result struct {
	Status string
	// Code is the answer's status code where the target is reached over HTTP.
	Code  int
	Error string
}

// Retry is the Result status that asks for another attempt.
const Retry = "retry"

// Policy is a target kind's retry schedule: attempts spaced First, 2×First, 4×First…
// apart; past Attempts, an entry that asks for a retry is settled as Exhausted.
type Policy struct {
	Attempts  int
	First     time.Duration
	Exhausted string
}

// Target delivers the entries of one kind.
type Target interface {
	Policy() Policy
	// Lease is how long a claim of an entry for target id lasts: long enough to deliver
	// it, short enough that a stopped node's claim is taken over soon.
	Lease(sc *records.Scope, id string) time.Duration
	// Deliver delivers one entry. sc is the tenant's scope without a caller.
	Deliver(ctx context.Context, sc *records.Scope, e Entry) Result
}

// Tenants opens tenants for work no request started.
type Tenants interface {
	// Scope is the tenant's scope with no caller (nil, nil: the tenant is gone).
	Scope(ctx context.Context, tenantID string) (*records.Scope, error)
}

// Deliverer drains tenants' outboxes: a few tenants at a time, one drain per tenant,
// so one tenant's slow targets do not hold up the others'.
type Deliverer struct {
	Tenants Tenants
	Log     *slog.Logger
	Now     func() time.Time
	NewID   func() string

	mu      sync.Mutex
	targets map[string]Target
	// due are the tenants to drain, with the scope of the write that made the entries
	// (nil from a sweep: the tenant is opened then).
	due      map[string]*records.Scope
	draining map[string]bool
	wake     chan struct{}
	started  sync.Once
	// retries wake a tenant's drain when the earliest entry this node put back is due,
	// so a retry is made on time rather than at the next sweep.
	retries map[string]retryTimer
	stopped bool
}

type retryTimer struct {
	at    time.Time
	timer *time.Timer
}

// maxDrains is how many tenants' outboxes a node drains at once.
const maxDrains = 4

// Register makes t the target of entries of kind. It is wiring: call it before the
// first delivery.
func (d *Deliverer) Register(kind string, t Target) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.targets == nil {
		d.targets = map[string]Target{}
	}
	d.targets[kind] = t
}

func (d *Deliverer) target(kind string) Target {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.targets[kind]
}

func (d *Deliverer) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

// Enqueue writes one entry for each event to target id of kind, inside the write's
// transaction q.
func (d *Deliverer) Enqueue(ctx context.Context, q schema.Querier, sc *records.Scope, kind, id string, events ...any) error {
	dl := sc.DB.Dialect
	now := dl.TimeValue(d.now())
	qi := dl.Quote
	stmt := dl.Rebind("INSERT INTO " + qi(Table) + " (" + qi("id") + ", " + qi("created_at") + ", " + qi("updated_at") + ", " + qi("function_id") + ", " +
		qi("target_kind") + ", " + qi("event") + ", " + qi("status") + ", " + qi("attempts") + ", " + qi("next_at") + ") VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?)")
	for _, ev := range events {
		b, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("outbox: encode a %s event: %w", kind, err)
		}
		if _, err := q.ExecContext(ctx, stmt, d.NewID(), now, now, id, kind, string(b), now); err != nil {
			return fmt.Errorf("outbox: queue a %s event: %w", kind, err)
		}
	}
	return nil
}

// Kick asks for a pass over a tenant's outbox soon; sc (nil: none at hand) saves
// opening the tenant again.
func (d *Deliverer) Kick(tenantID string, sc *records.Scope) {
	if sc != nil {
		base := *sc
		base.Caller, base.Tx = nil, nil
		sc = &base
	}
	d.mu.Lock()
	if d.due == nil {
		d.due, d.draining, d.wake = map[string]*records.Scope{}, map[string]bool{}, make(chan struct{}, 1)
	}
	if sc != nil || d.due[tenantID] == nil {
		d.due[tenantID] = sc
	}
	d.mu.Unlock()
	d.signal()
	d.started.Do(func() { go d.loop() })
}

func (d *Deliverer) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// loop starts a drain for each tenant due, a few at a time, one per tenant; a tenant
// kicked while it drains is drained again after.
func (d *Deliverer) loop() {
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
				d.Drain(context.Background(), id, sc)
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

// claimed is an entry this node holds, with its kind.
type claimed struct {
	Entry
	kind string
}

// Drain delivers what is due in one tenant's outbox, a batch at a time (sc nil: the
// tenant is opened).
func (d *Deliverer) Drain(ctx context.Context, tenantID string, sc *records.Scope) {
	if sc == nil {
		if d.Tenants == nil {
			return
		}
		var err error
		if sc, err = d.Tenants.Scope(ctx, tenantID); err != nil || sc == nil {
			if err != nil {
				d.Log.Warn("outbox: open a tenant", "tenant", tenantID, "err", err)
			}
			return
		}
	}
	if sc.Model.Table(Table) == nil || sc.Model.Table(Table).Column("target_kind") == nil {
		return // before the tenant's system upgrade
	}
	for range 100 { // a bound on one pass; the sweep comes back for the rest
		batch, err := d.claim(ctx, sc)
		if err != nil {
			d.Log.Warn("outbox: claim entries", "tenant", sc.Slug, "err", err)
			return
		}
		if len(batch) == 0 {
			return
		}
		for _, e := range batch {
			d.deliver(ctx, sc, e)
		}
	}
}

// claim takes up to 20 due entries for this node, each with a conditional update.
func (d *Deliverer) claim(ctx context.Context, sc *records.Scope) ([]claimed, error) {
	dl := sc.DB.Dialect
	qi := dl.Quote
	now := d.now()
	rows, err := sc.DB.QueryContext(ctx, dl.Rebind("SELECT "+qi("id")+", "+qi("function_id")+", "+qi("target_kind")+", "+qi("event")+", "+qi("attempts")+" FROM "+qi(Table)+
		" WHERE "+qi("status")+" = 'pending' AND "+qi("next_at")+" <= ? AND ("+qi("claimed_until")+" IS NULL OR "+qi("claimed_until")+" < ?) ORDER BY "+qi("next_at")+" LIMIT 20"),
		dl.TimeValue(now), dl.TimeValue(now))
	if err != nil {
		return nil, err
	}
	var found []claimed
	for rows.Next() {
		var id, target, kind, ev, attempts any
		if err := rows.Scan(&id, &target, &kind, &ev, &attempts); err != nil {
			rows.Close()
			return nil, err
		}
		k := database.Text(kind)
		if k == "" {
			k = "function" // written before webhooks shared the outbox
		}
		found = append(found, claimed{Entry{ID: database.Text(id), TargetID: database.Text(target), Event: json.RawMessage(database.Text(ev)), Attempt: int(database.Int64(attempts))}, k})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var mine []claimed
	for _, e := range found {
		lease := 90 * time.Second
		if t := d.target(e.kind); t != nil {
			lease = t.Lease(sc, e.TargetID)
		}
		res, err := sc.DB.ExecContext(ctx, dl.Rebind("UPDATE "+qi(Table)+" SET "+qi("claimed_until")+" = ?, "+qi("attempts")+" = "+qi("attempts")+" + 1 WHERE "+qi("id")+
			" = ? AND "+qi("status")+" = 'pending' AND ("+qi("claimed_until")+" IS NULL OR "+qi("claimed_until")+" < ?)"), dl.TimeValue(now.Add(lease)), e.ID, dl.TimeValue(now))
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			e.Attempt++
			mine = append(mine, e)
		}
	}
	return mine, nil
}

// deliver hands one claimed entry to its target and records how it went.
func (d *Deliverer) deliver(ctx context.Context, sc *records.Scope, e claimed) {
	t := d.target(e.kind)
	if t == nil {
		d.settle(ctx, sc, e.ID, Result{Status: Dropped, Error: "no target of kind " + e.kind + " on this node"})
		return
	}
	r := t.Deliver(ctx, sc, e.Entry)
	if r.Status != Retry {
		d.settle(ctx, sc, e.ID, r)
		return
	}
	p := t.Policy()
	if e.Attempt >= p.Attempts {
		r.Status = p.Exhausted
		d.settle(ctx, sc, e.ID, r)
		return
	}
	dl := sc.DB.Dialect
	qi := dl.Quote
	next := d.now().Add(p.First << (e.Attempt - 1))
	defer d.retryAt(sc.TenantID, next)
	if _, err := sc.DB.ExecContext(ctx, dl.Rebind("UPDATE "+qi(Table)+" SET "+qi("claimed_until")+" = NULL, "+qi("next_at")+" = ?, "+qi("last_error")+" = ?, "+
		qi("response_code")+" = ?, "+qi("updated_at")+" = ? WHERE "+qi("id")+" = ?"),
		dl.TimeValue(next), database.Clip(r.Error, 2000), code(r.Code), dl.TimeValue(d.now()), e.ID); err != nil {
		d.Log.Warn("outbox: put an entry back", "tenant", sc.Slug, "err", err)
	}
}

// retryAt drains the tenant's outbox again at next, unless a drain is set for sooner.
func (d *Deliverer) retryAt(tenantID string, next time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return
	}
	if d.retries == nil {
		d.retries = map[string]retryTimer{}
	}
	if r, ok := d.retries[tenantID]; ok {
		if !r.at.After(next) {
			return
		}
		r.timer.Stop()
	}
	d.retries[tenantID] = retryTimer{at: next, timer: time.AfterFunc(next.Sub(d.now()), func() {
		d.mu.Lock()
		delete(d.retries, tenantID)
		stopped := d.stopped
		d.mu.Unlock()
		if !stopped {
			d.Kick(tenantID, nil)
		}
	})}
}

// Stop cancels the retries this node set; what they would have delivered is left to
// the sweeps (of this node or another).
func (d *Deliverer) Stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopped = true
	for id, r := range d.retries {
		r.timer.Stop()
		delete(d.retries, id)
	}
}

func (d *Deliverer) settle(ctx context.Context, sc *records.Scope, id string, r Result) {
	dl := sc.DB.Dialect
	qi := dl.Quote
	now := dl.TimeValue(d.now())
	if _, err := sc.DB.ExecContext(ctx, dl.Rebind("UPDATE "+qi(Table)+" SET "+qi("status")+" = ?, "+qi("claimed_until")+" = NULL, "+qi("delivered_at")+" = ?, "+
		qi("last_error")+" = ?, "+qi("response_code")+" = ?, "+qi("updated_at")+" = ? WHERE "+qi("id")+" = ?"),
		r.Status, now, database.NullText(database.Clip(r.Error, 2000)), code(r.Code), now, id); err != nil {
		d.Log.Warn("outbox: settle an entry", "tenant", sc.Slug, "err", err)
	}
}

// code is a response code as stored: none is NULL.
func code(c int) any {
	if c == 0 {
		return nil
	}
	return c
}

// Purge deletes entries settled before cutoff.
func Purge(ctx context.Context, db schema.Querier, d schema.Dialect, cutoff time.Time) error {
	qi := d.Quote
	if _, err := db.ExecContext(ctx, d.Rebind("DELETE FROM "+qi(Table)+" WHERE "+qi("status")+" <> 'pending' AND "+qi("updated_at")+" < ?"), d.TimeValue(cutoff.UTC())); err != nil {
		return fmt.Errorf("purge the outbox: %w", err)
	}
	return nil
}
