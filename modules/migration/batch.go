package migration

import (
	"context"
	"fmt"

	"strata/modules/meta"
	"strata/schema"
)

// ApplyAll runs the changes of one request (a column renamed and altered at once, say)
// through the one path, each its own migration, in order. The whole request is
// validated and planned before anything is written, and what the changes remove
// together is confirmed once: a request refused for any reason has changed nothing.
// One request's changes do not fail half-way for a reason known in advance; a database
// error while one executes still leaves the earlier ones executed, as separate
// requests would.
//
// Where the tenant holds changes for approval, the first change held holds the rest
// of the request behind it: each is recorded pending, to be approved in order.
func (s *Service) ApplyAll(ctx context.Context, tgt Target, reqs []Request) ([]*Result, error) {
	switch len(reqs) {
	case 0:
		return nil, fmt.Errorf("apply: no change")
	case 1:
		apply := s.Apply
		if reqs[0].DryRun {
			apply = s.Preview
		}
		res, err := apply(ctx, tgt, reqs[0])
		if err != nil {
			return nil, err
		}
		return []*Result{res}, nil
	}
	// Read before the connection is taken (the read needs one of its own); one policy
	// for the whole request.
	first := reqs[0]
	if err := s.withPolicy(ctx, tgt, &first); err != nil {
		return nil, err
	}
	policy := first.Approval
	var conn *session
	var before *schema.Model
	var err error
	if reqs[0].DryRun {
		before, err = meta.Load(ctx, tgt.DB, tgt.Dialect)
	} else {
		conn, err = s.open(ctx, tgt)
		if err != nil {
			return nil, err
		}
		defer conn.release()
		before, err = meta.Load(ctx, conn.conn, tgt.Dialect)
		if err == nil {
			err = checkChangeset(ctx, conn.conn, tgt.Dialect, first.Change.Changeset)
		}
	}
	if err != nil {
		return nil, err
	}
	// Plan every change against the model the ones before it leave.
	planned := make([]*Result, 0, len(reqs))
	removal := schema.Removal{RemovedColumns: []string{}, DroppedTables: []string{}}
	model := before
	for _, req := range reqs {
		dry := req
		dry.DryRun = true
		res, err := s.run(ctx, nil, tgt, model, dry)
		if err != nil {
			return nil, err
		}
		planned = append(planned, res)
		model = res.After
		removal.RemovedColumns = append(removal.RemovedColumns, res.Removal.RemovedColumns...)
		removal.DroppedTables = append(removal.DroppedTables, res.Removal.DroppedTables...)
		removal.RemovedRelations += res.Removal.RemovedRelations
		removal.Narrowing = append(removal.Narrowing, res.Removal.Narrowing...)
	}
	if reqs[0].DryRun {
		return planned, nil
	}
	if !removal.Empty() && !first.Unattended && !first.Confirmed {
		hash := s.ConfirmHash(tgt.TenantID, requested(reqs), removal)
		resolved := make([]schema.Change, len(planned))
		for i, res := range planned {
			resolved[i] = res.Change
		}
		if reason := s.confirmReason(tgt.TenantID, hash, first, resolved); reason != "" {
			return nil, &ConfirmRequiredError{Hash: hash, Token: s.confirmToken(tgt.TenantID, hash), TTL: s.cfg.ConfirmTTL, Removal: removal, Reason: reason}
		}
	}
	model = before
	done := make([]*Result, 0, len(reqs))
	held := false
	for _, req := range reqs {
		if req.Approval == "" {
			req.Approval = policy
		}
		// Confirmed above, as a whole.
		req.Unattended = true
		if held {
			req.Approval = "all"
		}
		res, err := s.run(ctx, conn.conn, tgt, model, req)
		if res != nil && err == nil {
			done = append(done, res)
		}
		if err != nil {
			return done, err
		}
		held = held || res.Migration.Status == StatusPending
		model = res.After
	}
	return done, nil
}

// PlanOn plans changes against a model the caller holds (a dry run of several
// changesets, one after another), each against what the ones before it leave; nothing
// is read or written.
func (s *Service) PlanOn(ctx context.Context, tgt Target, model *schema.Model, reqs []Request) ([]*Result, error) {
	out := make([]*Result, 0, len(reqs))
	for _, req := range reqs {
		req.DryRun = true
		res, err := s.run(ctx, nil, tgt, model, req)
		if err != nil {
			return nil, err
		}
		out = append(out, res)
		model = res.After
	}
	return out, nil
}

// requested is what the confirm hash of a request of several changes covers: all of
// them, in order.
func requested(reqs []Request) schema.Change {
	all := schema.Change{Type: "request"}
	for _, r := range reqs {
		all.Steps = append(all.Steps, r.Change)
	}
	return all
}
