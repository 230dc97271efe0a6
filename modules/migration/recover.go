package migration

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"strata/modules/meta"
	"strata/schema"
)

// interrupted is the error text of a migration a crash stopped.
const interrupted = "interrupted: the server stopped while this migration was running"

// Recover finds migrations a crashed node left running and settles them against the
// live schema: executed when every statement had been applied (the metadata is then
// written), failed when none had (or the applied ones could be undone). It runs under
// the tenant's migration lock, so a migration another node is running right now is
// waited for, not mistaken for a crashed one.
func (s *Service) Recover(ctx context.Context, tgt Target) ([]Migration, error) {
	d := tgt.Dialect
	// A cheap look first, so boot does not take every tenant's lock.
	var n int
	if err := tgt.DB.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+d.Quote("custom_migrations")+" WHERE "+d.Quote("status")+" = 'running'").Scan(&n); err != nil {
		return nil, fmt.Errorf("look for interrupted migrations: %w", err)
	}
	if n == 0 {
		return nil, nil
	}
	sess, err := s.open(ctx, tgt)
	if err != nil {
		return nil, err
	}
	defer sess.release()
	running, _, err := List(ctx, sess.conn, d, ListFilter{Status: StatusRunning, Limit: 1000})
	if err != nil {
		return nil, err
	}
	var out []Migration
	for i := range running {
		m := &running[i]
		if err := s.settle(ctx, sess, tgt, m); err != nil {
			return out, fmt.Errorf("recover migration %d: %w", m.Seq, err)
		}
		s.statusChanged(tgt.TenantID, m, false)
		s.cfg.Log.Warn("recovered interrupted migration", "tenant", tgt.logName(), "seq", m.Seq, "type", m.Type, "status", m.Status, "error", derefString(m.Error))
		out = append(out, *m)
	}
	return out, nil
}

func derefString(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// settle decides what an interrupted migration did, from the live schema.
func (s *Service) settle(ctx context.Context, sess *session, tgt Target, m *Migration) error {
	d := tgt.Dialect
	before, err := meta.Load(ctx, sess.conn, d)
	if err != nil {
		return err
	}
	fail := func(detail string) error {
		msg := interrupted + detail
		return setStatus(ctx, sess.conn, d, m, StatusFailed, &msg, s.cfg.Now())
	}
	var change schema.Change
	if err := json.Unmarshal(m.Change, &change); err != nil || change.Type == "" {
		return fail("; its change could not be read, so the live schema was left as it is")
	}
	after, _, err := schema.Apply(before, change, s.cfg.NewID)
	if err != nil {
		return fail("; it no longer applies to the current model: " + err.Error())
	}
	plan, err := d.Plan(before, change)
	if err != nil {
		return fail("; it could not be planned again: " + err.Error())
	}
	drift := func(m *schema.Model) ([]string, error) {
		live, err := d.Inspect(ctx, sess.conn)
		if err != nil {
			return nil, err
		}
		return schema.CompareLive(schema.ExpectedLive(d, m), live), nil
	}
	diffBefore, err := drift(before)
	if err != nil {
		return err
	}
	if len(diffBefore) == 0 {
		return fail("; nothing had been applied")
	}
	if diffAfter, err := drift(after); err != nil {
		return err
	} else if len(diffAfter) == 0 {
		// Every statement ran but the metadata was not written (MySQL commits DDL as
		// it goes): finish the bookkeeping.
		tx, err := sess.conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback() //nolint:errcheck // a no-op after commit
		if err := meta.Sync(ctx, tx, d, before, after, s.cfg.Now()); err != nil {
			return err
		}
		m.AppliedSteps = len(plan.Steps)
		m.finish(s.cfg.Now(), s.cfg.Now())
		if err := markExecuted(ctx, tx, d, m); err != nil {
			return err
		}
		return tx.Commit()
	}
	// Part of it ran: undo the applied steps, newest first. The step in progress may
	// or may not have run, so its undo is tried and its failure ignored.
	applied := min(m.AppliedSteps, len(plan.Steps))
	if applied < len(plan.Steps) {
		for _, q := range plan.Steps[applied].Down {
			if !isComment(q) {
				_, _ = sess.conn.ExecContext(ctx, q)
			}
		}
	}
	for i := applied - 1; i >= 0; i-- {
		for _, q := range plan.Steps[i].Down {
			if isComment(q) {
				continue
			}
			if _, err := sess.conn.ExecContext(ctx, q); err != nil {
				return fail(fmt.Sprintf("; undoing step %d failed (%v); the live schema differs from the metadata: %s", i+1, err, strings.Join(diffBefore, "; ")))
			}
		}
	}
	if rest, err := drift(before); err != nil {
		return err
	} else if len(rest) > 0 {
		return fail("; after undoing it the live schema still differs from the metadata: " + strings.Join(rest, "; "))
	}
	m.AppliedSteps = 0
	return fail(fmt.Sprintf("; %d applied step(s) were undone", applied))
}
