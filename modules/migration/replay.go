package migration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"strata/modules/meta"
	"strata/schema"
)

// ReplayReport says what a replay did.
type ReplayReport struct {
	Applied  int            `json:"applied"`
	Skipped  int            `json:"skipped"` // already present in the target
	UpTo     int64          `json:"up_to,omitempty"`
	Steps    []ReplayedStep `json:"steps"`
	Complete bool           `json:"complete"`
}

// ReplayedStep is one source migration replayed into the target.
type ReplayedStep struct {
	SourceSeq int64  `json:"source_seq"`
	Name      string `json:"name"`
	Type      string `json:"type"`
	TargetSeq int64  `json:"target_seq"`
	Status    string `json:"status"`
	Error     string `json:"error,omitempty"`
}

// DivergedError refuses a replay onto a target whose history is not a prefix of the
// source's.
type DivergedError struct {
	TargetSeq int64
	SourceSeq int64
	Message   string
}

func (e *DivergedError) Error() string { return e.Message }

// userHistory is a tenant's executed history without the bootstrap of its system
// tables (every tenant has its own), up to seq upTo when it is set.
func userHistory(ctx context.Context, q schema.Querier, d schema.Dialect, upTo int64) ([]Migration, error) {
	list, err := executedHistory(ctx, q, d)
	if err != nil {
		return nil, err
	}
	out := list[:0]
	for _, m := range list {
		var c schema.Change
		if err := json.Unmarshal(m.Change, &c); err != nil || c.Type == "" {
			return nil, fmt.Errorf("migration %d has no dialect-neutral change to replay", m.Seq)
		}
		if c.System || (upTo > 0 && m.Seq > upTo) {
			continue
		}
		out = append(out, m)
	}
	return out, nil
}

// ReplayOptions shape a replay.
type ReplayOptions struct {
	// UpTo stops the replay at this source seq; 0 replays the whole history.
	UpTo int64
	// Progress, when set, hears about every step as it settles (from the replaying
	// goroutine, under the target's migration lock: it must not block for long).
	Progress func(ReplayProgress)
}

// ReplayProgress is one settled step of a replay: Done of Total steps to apply.
type ReplayProgress struct {
	Done  int          `json:"done"`
	Total int          `json:"total"`
	Step  ReplayedStep `json:"step"`
}

// replayPlan is what a replay has to do: the source's migrations the target lacks.
type replayPlan struct {
	src     []Migration
	skipped int
	// ids maps the source's migration ids to the target's, for rollbacks (which name
	// the migration they undo by a tenant-local id).
	ids map[string]string
}

// CheckReplay answers what Replay would refuse (an unsettled step in range, diverged
// histories) without applying anything, and otherwise how many steps it would apply
// and skip: a caller that streams progress checks first, so a refusal is an ordinary
// error answer rather than an event in a stream already under way.
func (s *Service) CheckReplay(ctx context.Context, source, target Target, upTo int64) (pending, skipped int, err error) {
	if err := distinct(source, target); err != nil {
		return 0, 0, err
	}
	p, err := s.planReplay(ctx, source, target.DB, target.Dialect, upTo)
	if err != nil {
		return 0, 0, err
	}
	return len(p.src) - p.skipped, p.skipped, nil
}

// distinct refuses a replay of a tenant's history into itself.
func distinct(source, target Target) error {
	if source.TenantID == target.TenantID {
		return &schema.FieldError{Field: "from", Message: "must name another tenant"}
	}
	return nil
}

// CheckSource refuses a history with an unsettled step (pending, failed, running) up
// to upTo: it is not one to copy.
func CheckSource(ctx context.Context, source Target, upTo int64) error {
	if upTo < 0 {
		return &schema.FieldError{Field: "up_to", Message: "must be a positive seq"}
	}
	d := source.Dialect
	q := "SELECT " + quoteAll(d, migrationColumns) + " FROM " + d.Quote("custom_migrations") +
		" WHERE " + d.Quote("status") + " IN ('pending', 'failed', 'running')"
	args := []any{}
	if upTo > 0 {
		q += " AND " + d.Quote("seq") + " <= ?"
		args = append(args, upTo)
	}
	first, err := scanMigrations(ctx, source.DB, d.Rebind(q+" ORDER BY "+d.Quote("seq")+" LIMIT 1"), args...)
	if err != nil {
		return fmt.Errorf("look for unsettled migrations: %w", err)
	}
	if len(first) == 0 {
		return nil
	}
	m := first[0]
	return &StateError{Message: fmt.Sprintf("migration %d of the source is %s; replay up to a seq before it, or settle it first", m.Seq, m.Status)}
}

func (s *Service) planReplay(ctx context.Context, source Target, target schema.Querier, td schema.Dialect, upTo int64) (*replayPlan, error) {
	if err := CheckSource(ctx, source, upTo); err != nil {
		return nil, err
	}
	src, err := userHistory(ctx, source.DB, source.Dialect, upTo)
	if err != nil {
		return nil, err
	}
	have, err := userHistory(ctx, target, td, 0)
	if err != nil {
		return nil, err
	}
	for i, m := range have {
		if i >= len(src) || !sameChange(m.Change, src[i].Change) {
			srcSeq := int64(0)
			if i < len(src) {
				srcSeq = src[i].Seq
			}
			return nil, &DivergedError{TargetSeq: m.Seq, SourceSeq: srcSeq,
				Message: fmt.Sprintf("the target's migration %d (%s) is not the source's next one; the histories diverged there", m.Seq, m.Name)}
		}
	}
	ids := make(map[string]string, len(src))
	for i, m := range have {
		ids[src[i].ID] = m.ID
	}
	return &replayPlan{src: src, skipped: len(have), ids: ids}, nil
}

// Replay brings target up to date with source's executed history: the migrations the
// target already has (the same changes in the same order) are skipped, the rest are
// applied through the one path, each planned for the target's dialect. A target whose
// history diverged from the source's is refused, naming the first difference. A failed
// step stops the replay; running it again resumes after the last applied step.
func (s *Service) Replay(ctx context.Context, source, target Target, opts ReplayOptions) (*ReplayReport, error) {
	if err := distinct(source, target); err != nil {
		return nil, err
	}
	// One session for the whole replay: the lock is taken once and the model is carried
	// from step to step instead of being read back from the metadata each time. The
	// plan is made under it, so no other change slips in between.
	sess, err := s.open(ctx, target)
	if err != nil {
		return nil, err
	}
	defer sess.release()
	plan, err := s.planReplay(ctx, source, sess.conn, target.Dialect, opts.UpTo)
	if err != nil {
		return nil, err
	}
	report := &ReplayReport{UpTo: opts.UpTo, Steps: []ReplayedStep{}, Skipped: plan.skipped}
	model, err := meta.Load(ctx, sess.conn, target.Dialect)
	if err != nil {
		return nil, err
	}
	todo := plan.src[plan.skipped:]
	settled := func(step ReplayedStep) {
		report.Steps = append(report.Steps, step)
		if opts.Progress != nil {
			opts.Progress(ReplayProgress{Done: len(report.Steps), Total: len(todo), Step: step})
		}
	}
	for _, m := range todo {
		var change schema.Change
		_ = json.Unmarshal(m.Change, &change)
		step := ReplayedStep{SourceSeq: m.Seq, Name: m.Name, Type: m.Type}
		if change.Type == schema.Rollback {
			of, ok := plan.ids[change.Of]
			if !ok {
				return nil, fmt.Errorf("migration %d rolls back a migration outside the replayed range", m.Seq)
			}
			change.Of = of
		}
		res, err := s.run(ctx, sess.conn, target, model, Request{Change: change, Name: m.Name, Description: m.Description, CreatedBy: "replay", Unattended: true, Replayed: true})
		if err == nil {
			model = res.After
		}
		if res != nil && res.Migration != nil {
			step.TargetSeq, step.Status = res.Migration.Seq, res.Migration.Status
		}
		if err != nil {
			step.Status, step.Error = StatusFailed, err.Error()
			settled(step)
			return report, nil
		}
		plan.ids[m.ID] = res.Migration.ID
		report.Applied++
		settled(step)
	}
	report.Complete = true
	return report, nil
}

// sameChange compares two recorded changes; a rollback's reference to the migration
// it undoes is a tenant-local id and is left out.
func sameChange(a, b json.RawMessage) bool {
	return bytes.Equal(withoutOf(a), withoutOf(b))
}

func withoutOf(raw json.RawMessage) []byte {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return compact(raw)
	}
	delete(m, "of")
	out, err := json.Marshal(m)
	if err != nil {
		return compact(raw)
	}
	return out
}

func compact(raw json.RawMessage) []byte {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return raw
	}
	return b.Bytes()
}
