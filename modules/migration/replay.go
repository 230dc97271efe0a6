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
func userHistory(ctx context.Context, tgt Target, upTo int64) ([]Migration, error) {
	list, err := executedHistory(ctx, tgt.DB, tgt.Dialect)
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

// Replay brings target up to date with source's executed history: the migrations the
// target already has (the same changes in the same order) are skipped, the rest are
// applied through the one path, each planned for the target's dialect. A target whose
// history diverged from the source's is refused, naming the first difference. A failed
// step stops the replay; running it again resumes after the last applied step.
func (s *Service) Replay(ctx context.Context, source, target Target, upTo int64) (*ReplayReport, error) {
	// A history with an unsettled step in range is not one to copy.
	all, _, err := List(ctx, source.DB, source.Dialect, ListFilter{Limit: 1 << 30})
	if err != nil {
		return nil, err
	}
	for _, m := range all {
		if (upTo == 0 || m.Seq <= upTo) && (m.Status == StatusPending || m.Status == StatusFailed || m.Status == StatusRunning) {
			return nil, &StateError{Message: fmt.Sprintf("migration %d of the source is %s; replay up to a seq before it, or settle it first", m.Seq, m.Status)}
		}
	}
	src, err := userHistory(ctx, source, upTo)
	if err != nil {
		return nil, err
	}
	have, err := userHistory(ctx, target, 0)
	if err != nil {
		return nil, err
	}
	report := &ReplayReport{UpTo: upTo, Steps: []ReplayedStep{}}
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
	report.Skipped = len(have)
	// A rollback names the migration it undoes by id, which differs between tenants.
	ids := make(map[string]string, len(src))
	for i, m := range have {
		ids[src[i].ID] = m.ID
	}
	// One session for the whole replay: the lock is taken once and the model is carried
	// from step to step instead of being read back from the metadata each time.
	sess, err := s.open(ctx, target)
	if err != nil {
		return nil, err
	}
	defer sess.release()
	model, err := meta.Load(ctx, sess.conn, target.Dialect)
	if err != nil {
		return nil, err
	}
	for _, m := range src[len(have):] {
		var change schema.Change
		_ = json.Unmarshal(m.Change, &change)
		step := ReplayedStep{SourceSeq: m.Seq, Name: m.Name, Type: m.Type}
		if change.Type == schema.Rollback {
			of, ok := ids[change.Of]
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
			report.Steps = append(report.Steps, step)
			return report, nil
		}
		ids[m.ID] = res.Migration.ID
		report.Applied++
		report.Steps = append(report.Steps, step)
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
