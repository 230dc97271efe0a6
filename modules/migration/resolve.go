package migration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"strata/modules/meta"
	"strata/schema"
)

// ResolveRequest settles a failed migration by hand, after an admin fixed the schema
// outside Strata.
type ResolveRequest struct {
	ID string
	// As is the status to record: executed (the change is in the live schema now) or
	// rolled_back (nothing of it is).
	As     string
	Reason string
	By     string
	// Force records the status even when the live schema does not agree with it.
	Force bool
}

// Resolution is the record of a migration settled by hand.
type Resolution struct {
	ID          string    `json:"id"`
	MigrationID string    `json:"migration_id"`
	Seq         int64     `json:"migration_seq"`
	FromStatus  string    `json:"from_status"`
	ToStatus    string    `json:"to_status"`
	ResolvedBy  string    `json:"resolved_by"`
	Reason      string    `json:"reason"`
	Forced      bool      `json:"forced"`
	CreatedAt   time.Time `json:"created_at"`
}

// MaxReasonLength bounds the reason of a resolution.
const MaxReasonLength = 2000

// Resolve marks a failed migration executed or rolled_back after a manual fix. The
// claim is checked against the live schema: executed means the schema now shows the
// change (its metadata is then written, as if it had run), rolled_back means the
// schema is still what the model says without it. A mismatch is refused with the
// differences unless Force is set. Who and why are recorded in migration_resolutions,
// in the same transaction as the status.
func (s *Service) Resolve(ctx context.Context, tgt Target, req ResolveRequest) (*Migration, *Resolution, error) {
	if req.As != StatusExecuted && req.As != StatusRolledBack {
		return nil, nil, &schema.FieldError{Field: "as", Message: "as must be executed or rolled_back"}
	}
	req.Reason = strings.TrimSpace(req.Reason)
	if req.Reason == "" || len(req.Reason) > MaxReasonLength {
		return nil, nil, &schema.FieldError{Field: "reason", Message: fmt.Sprintf("a reason of 1 to %d characters is required: say what was fixed by hand", MaxReasonLength)}
	}
	if strings.TrimSpace(req.By) == "" {
		return nil, nil, &schema.FieldError{Field: "by", Message: "who resolves the migration must be named"}
	}
	sess, err := s.open(ctx, tgt)
	if err != nil {
		return nil, nil, err
	}
	defer sess.release()
	d := tgt.Dialect
	m, err := Get(ctx, sess.conn, d, req.ID)
	if err != nil {
		return nil, nil, err
	}
	if m == nil {
		return nil, nil, &schema.NotFoundError{What: "migration", Name: req.ID}
	}
	if m.Status != StatusFailed {
		return nil, nil, &StateError{Message: "only failed migrations can be resolved by hand; this one is " + m.Status}
	}
	var change schema.Change
	if err := json.Unmarshal(m.Change, &change); err != nil || change.Type == "" {
		return nil, nil, &StateError{Message: "this migration has no change to resolve"}
	}
	before, err := meta.Load(ctx, sess.conn, d)
	if err != nil {
		return nil, nil, err
	}
	res := &Resolution{ID: s.cfg.NewID(), MigrationID: m.ID, Seq: m.Seq, FromStatus: m.Status, ToStatus: req.As,
		ResolvedBy: req.By, Reason: req.Reason, Forced: req.Force, CreatedAt: s.cfg.Now().UTC()}
	tx, err := sess.conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after commit
	var after *schema.Model
	if req.As == StatusExecuted {
		// Hand-written SQL is read back from the live schema, as when it runs.
		a, resolved, err := readBack(ctx, tx, d, before, change, handWritten(change, d), s.cfg.NewID)
		if err != nil && req.Force {
			a, resolved, err = schema.Apply(before, change, s.cfg.NewID)
		}
		if err != nil {
			return nil, nil, mismatch("the live schema does not show this migration's change", err)
		}
		after = a
		if err := s.finishSQL(ctx, tx, d, before, after, m, resolved, time.Now()); err != nil {
			return nil, nil, err
		}
	} else {
		live, err := d.Inspect(ctx, tx)
		if err != nil {
			return nil, nil, err
		}
		if diff := schema.CompareLive(schema.ExpectedLive(d, before), live); len(diff) > 0 && !req.Force {
			return nil, nil, mismatch("the live schema still differs from the model without this migration", &schema.UndescribableError{Problems: diff})
		}
		if err := setStatus(ctx, tx, d, m, StatusRolledBack, m.Error, s.cfg.Now()); err != nil {
			return nil, nil, fmt.Errorf("mark migration rolled back: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, d.Rebind("INSERT INTO "+d.Quote("migration_resolutions")+" ("+
		quoteAll(d, []string{"id", "created_at", "updated_at", "migration_id", "migration_seq", "from_status", "to_status", "resolved_by", "reason", "forced"})+
		") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
		res.ID, d.TimeValue(res.CreatedAt), d.TimeValue(res.CreatedAt), res.MigrationID, res.Seq, res.FromStatus, res.ToStatus, res.ResolvedBy, res.Reason, res.Forced); err != nil {
		return nil, nil, fmt.Errorf("record the resolution: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, nil, fmt.Errorf("commit the resolution: %w", err)
	}
	if after == nil {
		s.statusChanged(tgt.TenantID, m, false) // executed ones are told by committed
	}
	s.cfg.Log.Warn("migration resolved by hand", "tenant", tgt.logName(), "seq", m.Seq, "as", req.As, "by", req.By, "forced", req.Force)
	if after != nil {
		s.committed(ctx, sess.conn, tgt, m, after)
	}
	return m, res, nil
}

// mismatch is the refusal of a resolution the live schema contradicts, with the
// differences when there are some.
func mismatch(what string, err error) error {
	var ue *schema.UndescribableError
	if errors.As(err, &ue) {
		return &StateError{Message: what + " (use force to record it anyway): " + strings.Join(ue.Problems, "; ")}
	}
	return &StateError{Message: what + " (use force to record it anyway): " + err.Error()}
}
