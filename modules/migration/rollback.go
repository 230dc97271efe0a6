package migration

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"strata/modules/meta"
	"strata/schema"
)

// StatusRolledBack marks a migration undone by a later rollback migration.
const StatusRolledBack = "rolled_back"

// RollbackRequest asks to undo one executed migration.
type RollbackRequest struct {
	ID string
	// Cascade rolls back the later migrations that depend on it first, newest first.
	Cascade      bool
	DryRun       bool
	ConfirmHash  string
	ConfirmToken string
	CreatedBy    string
	Approval     string
}

// Dependent is a later migration that a rollback would undo under its feet.
type Dependent struct {
	ID   string `json:"id"`
	Seq  int64  `json:"seq"`
	Name string `json:"name"`
	Type string `json:"type"`
}

// DependentsError refuses a rollback that later executed migrations depend on.
type DependentsError struct{ Dependents []Dependent }

func (e *DependentsError) Error() string {
	seqs := make([]string, len(e.Dependents))
	for i, d := range e.Dependents {
		seqs[i] = fmt.Sprint(d.Seq)
	}
	return "later migrations depend on this one (seq " + strings.Join(seqs, ", ") + "); roll them back first, or pass cascade=true to roll them back with it, newest first"
}

// applied is one migration of the applied history with the models around it.
type applied struct {
	m             Migration
	change        schema.Change
	before, after *schema.Model
}

// appliedHistory rebuilds the model after each applied migration (executed or since
// rolled back), from empty, the way export and replay do.
func appliedHistory(ctx context.Context, q schema.Querier, d schema.Dialect) ([]applied, *schema.Model, error) {
	list, err := executedHistory(ctx, q, d)
	if err != nil {
		return nil, nil, err
	}
	model := &schema.Model{Tables: []schema.Table{}, Relations: []schema.Relation{}}
	out := make([]applied, 0, len(list))
	for _, m := range list {
		var change schema.Change
		if err := json.Unmarshal(m.Change, &change); err != nil || change.Type == "" {
			return nil, nil, fmt.Errorf("migration %d has no dialect-neutral change", m.Seq)
		}
		after, _, err := schema.Apply(model, change, func() string { return "" })
		if err != nil {
			return nil, nil, fmt.Errorf("rebuild the model at migration %d: %w", m.Seq, err)
		}
		out = append(out, applied{m: m, change: change, before: model, after: after})
		model = after
	}
	return out, model, nil
}

// Rollback undoes an executed migration with a new migration of type rollback whose
// steps are the inverse changes, run through the one path; the original is marked
// rolled_back in the same commit. Later executed migrations that touch what it touched
// are its dependents: the rollback is refused with their list, or with Cascade they are
// rolled back first, newest first. Every rollback is planned before any runs, and what
// they remove together is confirmed once.
func (s *Service) Rollback(ctx context.Context, tgt Target, req RollbackRequest) ([]*Result, error) {
	// Read before the connection is taken: the read needs one of its own. A dry run
	// holds nothing, so it needs no policy.
	if !req.DryRun {
		approval, err := s.policy(ctx, tgt, req.Approval)
		if err != nil {
			return nil, err
		}
		req.Approval = approval
	}
	sess, err := s.open(ctx, tgt)
	if err != nil {
		return nil, err
	}
	defer sess.release()
	d := tgt.Dialect
	m, err := Get(ctx, sess.conn, d, req.ID)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, &schema.NotFoundError{What: "migration", Name: req.ID}
	}
	if m.Status != StatusExecuted {
		return nil, &StateError{Message: "only executed migrations can be rolled back; this one is " + m.Status}
	}
	current, err := meta.Load(ctx, sess.conn, d)
	if err != nil {
		return nil, err
	}
	hist, rebuilt, err := appliedHistory(ctx, sess.conn, d)
	if err != nil {
		return nil, err
	}
	if !schema.SameLive(rebuilt, current) {
		return nil, &StateError{Message: "the recorded history does not rebuild the current schema, so no down plan can be trusted; compare GET /schema/drift and settle the difference first"}
	}
	at := -1
	for i := range hist {
		if hist[i].m.ID == m.ID {
			at = i
		}
	}
	if at < 0 {
		return nil, fmt.Errorf("migration %d is executed but not in the applied history", m.Seq)
	}
	order, err := rollbackOrder(hist, at, req.Cascade)
	if err != nil {
		return nil, err
	}
	if len(order) > 1 && (req.Approval == "all" || req.Approval == "destructive") && !req.DryRun {
		return nil, &StateError{Message: "this tenant holds changes for approval (require_approval=" + req.Approval + "); roll the dependents back one by one instead"}
	}
	// Plan every rollback against the model it will meet before anything runs.
	model := current
	planned := make([]*Result, 0, len(order))
	removal := schema.Removal{RemovedColumns: []string{}, DroppedTables: []string{}}
	ids := make([]string, 0, len(order))
	for _, h := range order {
		if h.change.Type == schema.Custom {
			// Hand-written SQL is undone by its down SQL, read back like the up SQL.
			switch {
			case strings.TrimSpace(h.change.DownSQL) == "":
				return nil, &StateError{Message: fmt.Sprintf("migration %d (%s) is custom SQL without down_sql: it has no down plan", h.m.Seq, h.m.Name)}
			case h.change.Dialect != d.Name():
				return nil, &StateError{Message: fmt.Sprintf("migration %d's down_sql was written for %s", h.m.Seq, h.change.Dialect)}
			case len(order) > 1:
				return nil, &StateError{Message: fmt.Sprintf("migration %d is custom SQL: roll it back on its own, after its dependents", h.m.Seq)}
			}
		}
		if h.change.Type == schema.Custom {
			change := schema.Change{Type: schema.Rollback, Of: h.m.ID, OfSeq: h.m.Seq, SQL: h.change.DownSQL, Dialect: d.Name()}
			res, err := s.run(ctx, nil, tgt, model, Request{Change: change, DryRun: true, Name: rollbackName(h.m), CreatedBy: req.CreatedBy})
			if err != nil {
				return nil, fmt.Errorf("roll back migration %d: %w", h.m.Seq, err)
			}
			planned = append(planned, res)
			ids = append(ids, h.m.ID)
			continue
		}
		steps, err := schema.Inverse(h.before, h.after, h.change)
		if err != nil {
			if nu, ok := err.(*schema.NoUndoError); ok {
				return nil, &StateError{Message: fmt.Sprintf("migration %d (%s) cannot be rolled back: %s", h.m.Seq, h.m.Name, nu.Message)}
			}
			return nil, fmt.Errorf("down plan of migration %d: %w", h.m.Seq, err)
		}
		change := schema.Change{Type: schema.Rollback, Of: h.m.ID, OfSeq: h.m.Seq, Steps: steps}
		res, err := s.run(ctx, nil, tgt, model, Request{Change: change, DryRun: true, Name: rollbackName(h.m), CreatedBy: req.CreatedBy})
		if err != nil {
			return nil, fmt.Errorf("roll back migration %d: %w", h.m.Seq, err)
		}
		planned = append(planned, res)
		model = res.After
		removal.RemovedColumns = append(removal.RemovedColumns, res.Removal.RemovedColumns...)
		removal.DroppedTables = append(removal.DroppedTables, res.Removal.DroppedTables...)
		removal.RemovedRelations += res.Removal.RemovedRelations
		removal.Narrowing = append(removal.Narrowing, res.Removal.Narrowing...)
		ids = append(ids, h.m.ID)
	}
	if req.DryRun {
		return planned, nil
	}
	if !removal.Empty() {
		hash := s.ConfirmHash(tgt.TenantID, schema.Change{Type: schema.Rollback, Of: strings.Join(ids, ",")}, removal)
		if reason := s.checkConfirm(tgt.TenantID, hash, req.ConfirmHash, req.ConfirmToken); reason != "" {
			return nil, &ConfirmRequiredError{Hash: hash, Token: s.confirmToken(tgt.TenantID, hash), TTL: s.cfg.ConfirmTTL, Removal: removal, Reason: reason}
		}
	}
	model = current
	done := make([]*Result, 0, len(planned))
	for _, p := range planned {
		res, err := s.run(ctx, sess.conn, tgt, model, Request{Change: p.Change, Name: p.Migration.Name, CreatedBy: req.CreatedBy, Unattended: true, Approval: req.Approval})
		if res != nil {
			done = append(done, res)
		}
		if err != nil {
			return done, err
		}
		model = res.After
	}
	return done, nil
}

// rollbackOrder lists what rolling back hist[at] undoes, newest first: its dependents
// (later executed migrations touching what it or another dependent touched) when
// cascade is set, then itself. Rolled-back migrations and the rollbacks that undid
// them cancel out and are skipped.
func rollbackOrder(hist []applied, at int, cascade bool) ([]applied, error) {
	keys := schema.Touched(hist[at].before, hist[at].after)
	var deps []applied
	for _, h := range hist[at+1:] {
		if h.m.Status != StatusExecuted || h.change.Type == schema.Rollback {
			continue
		}
		t := schema.Touched(h.before, h.after)
		overlap := false
		for k := range t {
			if keys[k] {
				overlap = true
				break
			}
		}
		if !overlap {
			continue
		}
		deps = append(deps, h)
		for k := range t {
			keys[k] = true
		}
	}
	if len(deps) > 0 && !cascade {
		e := &DependentsError{}
		for _, h := range deps {
			e.Dependents = append(e.Dependents, Dependent{ID: h.m.ID, Seq: h.m.Seq, Name: h.m.Name, Type: h.m.Type})
		}
		return nil, e
	}
	order := make([]applied, 0, len(deps)+1)
	for i := len(deps) - 1; i >= 0; i-- {
		order = append(order, deps[i])
	}
	return append(order, hist[at]), nil
}

func rollbackName(m Migration) string {
	return fmt.Sprintf("rollback of %d: %s", m.Seq, m.Name)
}

// RollbackTargets lists the migrations "roll back the last N" or "roll back to seq"
// means: executed, not rollbacks themselves, newest first.
func RollbackTargets(ctx context.Context, q schema.Querier, d schema.Dialect, steps int, toSeq int64) ([]Migration, error) {
	list, err := executedHistory(ctx, q, d)
	if err != nil {
		return nil, err
	}
	var out []Migration
	for i := len(list) - 1; i >= 0; i-- {
		m := list[i]
		if m.Status != StatusExecuted || m.Type == string(schema.Rollback) {
			continue
		}
		var c schema.Change
		if err := json.Unmarshal(m.Change, &c); err == nil && c.System {
			break // the system tables came first and are no user's to undo
		}
		if toSeq > 0 && m.Seq <= toSeq {
			break
		}
		if toSeq == 0 && len(out) >= steps {
			break
		}
		out = append(out, m)
	}
	return out, nil
}
