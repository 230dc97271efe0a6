package controlplane

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"strata/modules/apierr"
	"strata/modules/changeset"
	"strata/modules/database"
	"strata/modules/migration"
	"strata/schema"
)

// Run statuses.
const (
	RunRunning   = "running"
	RunPaused    = "paused"
	RunCompleted = "completed"
	RunFailed    = "failed"
	RunCancelled = "cancelled"
)

// Run is a fleet run as the API shows it.
type Run struct {
	ID         string     `json:"id"`
	Status     string     `json:"status"`
	Request    Request    `json:"request"`
	Error      *string    `json:"error"`
	CreatedBy  string     `json:"created_by,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Results    []Result   `json:"results"`
	// Counts are the results by status.
	Counts map[string]int `json:"counts"`
}

// Final reports whether a run with status has ended.
func Final(status string) bool {
	return status == RunCompleted || status == RunFailed || status == RunCancelled
}

func (s *Service) takeoverAfter() time.Duration {
	if s.TakeoverAfter > 0 {
		return s.TakeoverAfter
	}
	return 30 * time.Second
}

// Start records a run and starts it on this node (202: it goes on after the answer).
func (s *Service) Start(ctx context.Context, req Request, by string) (*Run, error) {
	sel, err := s.resolve(ctx, &req)
	if err != nil {
		return nil, err
	}
	req.DryRun = false
	body, _ := json.Marshal(req)
	id := s.NewID()
	now := s.Now().UTC()
	d := s.Control.Dialect
	tx, err := s.Control.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("record the run: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after commit
	if _, err := tx.ExecContext(ctx, d.Rebind("INSERT INTO strata_migrate_runs (id, status, request, created_by, node, heartbeat, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
		id, RunRunning, string(body), database.NullText(by), s.NodeID, d.TimeValue(now), d.TimeValue(now), d.TimeValue(now)); err != nil {
		return nil, fmt.Errorf("record the run: %w", err)
	}
	// The results, queued, in run order, a hundred rows a statement.
	const perStatement = 100
	var marks []string
	var args []any
	flush := func() error {
		if len(marks) == 0 {
			return nil
		}
		_, err := tx.ExecContext(ctx, d.Rebind("INSERT INTO strata_migrate_results (run_id, position, tenant, changeset, status, updated_at) VALUES "+strings.Join(marks, ", ")), args...)
		marks, args = marks[:0], args[:0]
		return err
	}
	pos := 0
	for _, t := range sel.tenants {
		for _, cs := range sel.changesets {
			marks = append(marks, "(?, ?, ?, ?, ?, ?)")
			args = append(args, id, pos, t.Slug, cs.Name, ResultQueued, d.TimeValue(now))
			pos++
			if len(marks) == perStatement {
				if err := flush(); err != nil {
					return nil, fmt.Errorf("record the run: %w", err)
				}
			}
		}
	}
	if err := flush(); err != nil {
		return nil, fmt.Errorf("record the run: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("record the run: %w", err)
	}
	s.drive(id, req, by)
	return s.GetRun(ctx, id)
}

// runner drives one run on this node.
type runner struct {
	id     string
	wake   chan struct{}
	cancel context.CancelFunc
}

// drive starts the goroutine that runs id, unless this node drives it already.
func (s *Service) drive(id string, req Request, by string) {
	s.mu.Lock()
	if s.runs == nil {
		s.runs = map[string]*runner{}
	}
	if s.runs[id] != nil {
		s.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{id: id, wake: make(chan struct{}, 1), cancel: cancel}
	s.runs[id] = r
	s.mu.Unlock()
	go func() {
		defer func() {
			s.mu.Lock()
			delete(s.runs, id)
			s.mu.Unlock()
			cancel()
		}()
		if err := s.execute(ctx, r, req, by); err != nil && !errors.Is(err, context.Canceled) {
			s.Log.Error("fleet run stopped", "run", id, "err", err)
			msg := err.Error()
			_ = s.finish(context.Background(), id, RunFailed, &msg)
		}
	}()
}

// Close stops driving runs; another node (or this one, restarted) takes them over.
func (s *Service) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.runs {
		r.cancel()
	}
}

type pendingResult struct {
	position  int
	tenant    string
	changeset string
	status    string
}

// execute runs what is left of a run: its queued results (and those a stopped node left
// running), tenant by tenant, several tenants at once, the canary tenants first.
func (s *Service) execute(ctx context.Context, r *runner, req Request, by string) error {
	go s.beat(ctx, r.id)
	left, err := s.pending(ctx, r.id)
	if err != nil {
		return err
	}
	// Group by tenant, in position order.
	var order []string
	byTenant := map[string][]pendingResult{}
	for _, p := range left {
		if byTenant[p.tenant] == nil {
			order = append(order, p.tenant)
		}
		byTenant[p.tenant] = append(byTenant[p.tenant], p)
	}
	registered, err := s.List(ctx)
	if err != nil {
		return err
	}
	sets := map[string]*changeset.Changeset{}
	for _, reg := range registered {
		sets[reg.Name] = reg.Changeset
	}
	failures, err := s.failedTenants(ctx, r.id)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	stop := "" // why the run stops taking tenants
	canary := max(req.Canary-s.doneTenants(ctx, r.id), 0)
	runBatch := func(slugs []string, parallel int) {
		sem := make(chan struct{}, parallel)
		var wg sync.WaitGroup
		for _, slug := range slugs {
			// A slot first, then look: while this waited for one, the run may have
			// been paused or cancelled, or a tenant that just failed may have stopped it.
			sem <- struct{}{}
			if err := s.waitRunnable(ctx, r); err != nil {
				mu.Lock()
				if stop == "" {
					stop = err.Error()
				}
				mu.Unlock()
				<-sem
				break
			}
			mu.Lock()
			stopped := stop != ""
			mu.Unlock()
			if stopped {
				<-sem
				break
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if s.runTenant(ctx, r.id, slug, byTenant[slug], sets, by) {
					mu.Lock()
					failures++
					if req.MaxFailures != nil && failures > *req.MaxFailures && stop == "" {
						stop = fmt.Sprintf("%d tenants failed, more than max_failures (%d)", failures, *req.MaxFailures)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}
	if canary > 0 && len(order) > 0 {
		n := min(canary, len(order))
		runBatch(order[:n], min(req.Concurrency, n))
		order = order[n:]
		if failures > 0 && stop == "" {
			stop = fmt.Sprintf("the canary failed: %d of its tenants failed", failures)
		}
	}
	if stop == "" {
		runBatch(order, req.Concurrency)
	}
	if ctx.Err() != nil {
		return ctx.Err() // this node stops; the run is taken over
	}
	status, err := s.runStatus(ctx, r.id)
	if err != nil {
		return err
	}
	switch {
	case status == RunCancelled:
		return s.finish(ctx, r.id, RunCancelled, nil)
	case stop != "":
		return s.finish(ctx, r.id, RunFailed, &stop)
	case failures > 0:
		msg := fmt.Sprintf("%d tenants failed", failures)
		return s.finish(ctx, r.id, RunFailed, &msg)
	}
	return s.finish(ctx, r.id, RunCompleted, nil)
}

// errStopped says the run was cancelled while it waited.
var errStopped = errors.New("the run was cancelled")

// waitRunnable returns when the run may take its next tenant: at once when it is
// running, after a resume when it is paused; errStopped when it was cancelled.
func (s *Service) waitRunnable(ctx context.Context, r *runner) error {
	for {
		status, err := s.runStatus(ctx, r.id)
		if err != nil {
			return err
		}
		switch status {
		case RunRunning:
			return nil
		case RunPaused:
		default:
			return errStopped
		}
		select {
		case <-r.wake:
		case <-time.After(time.Second): // paused or resumed from another node
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// runTenant runs a tenant's changesets in order; it reports whether the tenant failed.
// A changeset that fails leaves the tenant's later ones not run.
func (s *Service) runTenant(ctx context.Context, runID, slug string, list []pendingResult, sets map[string]*changeset.Changeset, by string) bool {
	failed := ""
	for _, p := range list {
		if ctx.Err() != nil {
			return false
		}
		if failed != "" {
			msg := fmt.Sprintf("not run: changeset %s failed before it on this tenant", failed)
			_ = s.setResult(ctx, runID, p.position, Result{Status: ResultNotRun, Error: &msg})
			continue
		}
		// Running: a node that takes the run over finds this one was under way. Only
		// a result still waiting is taken: a cancel marks those not_run at once.
		if claimed, err := s.claimResult(ctx, runID, p.position); err != nil || !claimed {
			if err != nil {
				s.Log.Error("fleet run: claim a result", "run", runID, "tenant", slug, "err", err)
			}
			continue
		}
		res := s.applyOne(ctx, slug, sets[p.changeset], p.changeset, by)
		if res.Status == ResultSkipped && p.status == ResultRunning {
			// Applied by this run before its node stopped.
			res.Status = ResultApplied
		}
		if err := s.setResult(ctx, runID, p.position, res); err != nil {
			s.Log.Error("fleet run: record a result", "run", runID, "tenant", slug, "err", err)
		}
		if res.Status == ResultFailed {
			failed = p.changeset
		}
	}
	return failed != ""
}

// applyOne runs one changeset on one tenant and says how it went.
func (s *Service) applyOne(ctx context.Context, slug string, cs *changeset.Changeset, name, by string) Result {
	res := Result{Tenant: slug, Changeset: name, MigrationIDs: []string{}}
	fail := func(err error) Result {
		msg := s.errorText(err)
		res.Status, res.Error = ResultFailed, &msg
		return res
	}
	if cs == nil {
		return fail(fmt.Errorf("changeset %s is no longer registered", name))
	}
	t, tgt, err := s.Tenants.Open(ctx, slug)
	if err != nil {
		return fail(err)
	}
	db := tgt.Store
	// Held already: said so before its changes are worked out against a schema that
	// has them. (The migration path checks again under the tenant's lock.)
	held, err := migration.OfChangeset(ctx, db, db.Dialect, name)
	if err != nil {
		return fail(err)
	}
	if slices.ContainsFunc(held, func(m migration.Migration) bool { return m.Status == migration.StatusRunning }) {
		// Left running by a node that stopped (this run's, taken over): settled first,
		// executed or failed, from what the schema shows.
		if _, err := s.Migration.Recover(ctx, tgt); err != nil {
			return fail(err)
		}
		if held, err = migration.OfChangeset(ctx, db, db.Dialect, name); err != nil {
			return fail(err)
		}
	}
	if r, ok := heldResult(slug, name, held); ok {
		return r
	}
	var results []*migration.Result
	if strings.TrimSpace(cs.UpSQL) != "" {
		var one *migration.Result
		one, err = s.Migration.Custom(ctx, tgt, migration.CustomRequest{Name: cs.Name, Description: cs.Description, UpSQL: cs.UpSQL, DownSQL: cs.DownSQL,
			CreatedBy: by, Changeset: cs.Name})
		if one != nil && err == nil {
			results = append(results, one)
		}
	} else {
		m, _, merr := s.Tenants.FreshModelVersion(ctx, t, db)
		if err = merr; err == nil {
			results, err = s.apply(ctx, tgt, m, cs, by, false)
		}
	}
	for _, r := range results {
		if r.Migration != nil && r.Migration.ID != "" {
			res.MigrationIDs = append(res.MigrationIDs, r.Migration.ID)
		}
	}
	var already *migration.ChangesetHeld
	switch {
	case errors.As(err, &already):
		r, _ := heldResult(slug, name, already.Migrations)
		return r
	case err != nil:
		return fail(err)
	}
	res.Status = ResultApplied
	for _, r := range results {
		if r.Migration != nil && r.Migration.Status == migration.StatusPending {
			res.Status = ResultPendingApproval
		}
	}
	return res
}

// pending reads the results of a run not yet settled, by position.
func (s *Service) pending(ctx context.Context, id string) ([]pendingResult, error) {
	d := s.Control.Dialect
	rows, err := s.Control.QueryContext(ctx, d.Rebind("SELECT position, tenant, changeset, status FROM strata_migrate_results WHERE run_id = ? AND status IN (?, ?) ORDER BY position"),
		id, ResultQueued, ResultRunning)
	if err != nil {
		return nil, fmt.Errorf("read the run's results: %w", err)
	}
	defer rows.Close()
	var out []pendingResult
	for rows.Next() {
		var p pendingResult
		if err := rows.Scan(&p.position, &p.tenant, &p.changeset, &p.status); err != nil {
			return nil, fmt.Errorf("read the run's results: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// failedTenants counts the tenants of a run that have failed so far (a run taken over
// keeps counting toward max_failures).
func (s *Service) failedTenants(ctx context.Context, id string) (int, error) {
	var n int
	d := s.Control.Dialect
	err := s.Control.QueryRowContext(ctx, d.Rebind("SELECT COUNT(DISTINCT tenant) FROM strata_migrate_results WHERE run_id = ? AND status = ?"), id, ResultFailed).Scan(&n)
	return n, err
}

// doneTenants counts the tenants of a run with every result settled (the canary counts
// them when a run is taken over).
func (s *Service) doneTenants(ctx context.Context, id string) int {
	var all, open int
	d := s.Control.Dialect
	_ = s.Control.QueryRowContext(ctx, d.Rebind("SELECT COUNT(DISTINCT tenant), COUNT(DISTINCT CASE WHEN status IN (?, ?) THEN tenant END) FROM strata_migrate_results WHERE run_id = ?"),
		ResultQueued, ResultRunning, id).Scan(&all, &open)
	return all - open
}

func (s *Service) setResult(ctx context.Context, runID string, position int, r Result) error {
	d := s.Control.Dialect
	var ids any
	if r.MigrationIDs != nil {
		b, _ := json.Marshal(r.MigrationIDs)
		ids = string(b)
	}
	_, err := s.Control.ExecContext(context.WithoutCancel(ctx), d.Rebind("UPDATE strata_migrate_results SET status = ?, error = ?, migration_ids = ?, updated_at = ? WHERE run_id = ? AND position = ?"),
		r.Status, r.Error, ids, d.TimeValue(s.Now().UTC()), runID, position)
	return err
}

// claimResult marks a result running if it is still queued (or running: left by a
// node this one took the run over from), and says whether it did.
func (s *Service) claimResult(ctx context.Context, runID string, position int) (bool, error) {
	d := s.Control.Dialect
	res, err := s.Control.ExecContext(context.WithoutCancel(ctx), d.Rebind("UPDATE strata_migrate_results SET status = ?, updated_at = ? WHERE run_id = ? AND position = ? AND status IN (?, ?)"),
		ResultRunning, d.TimeValue(s.Now().UTC()), runID, position, ResultQueued, ResultRunning)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (s *Service) runStatus(ctx context.Context, id string) (string, error) {
	var status string
	d := s.Control.Dialect
	err := s.Control.QueryRowContext(ctx, d.Rebind("SELECT status FROM strata_migrate_runs WHERE id = ?"), id).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return "", apierr.NotFound("run %q not found", id)
	}
	return status, err
}

// finish settles a run: what it did not reach is not_run.
func (s *Service) finish(ctx context.Context, id, status string, msg *string) error {
	ctx = context.WithoutCancel(ctx)
	d := s.Control.Dialect
	now := d.TimeValue(s.Now().UTC())
	reason := "not run: the run stopped first"
	if msg != nil {
		reason = "not run: " + *msg
	}
	if status == RunCancelled {
		reason = "not run: the run was cancelled"
	}
	if _, err := s.Control.ExecContext(ctx, d.Rebind("UPDATE strata_migrate_results SET status = ?, error = ?, updated_at = ? WHERE run_id = ? AND status IN (?, ?)"),
		ResultNotRun, reason, now, id, ResultQueued, ResultRunning); err != nil {
		return fmt.Errorf("settle the run's results: %w", err)
	}
	if _, err := s.Control.ExecContext(ctx, d.Rebind("UPDATE strata_migrate_runs SET status = ?, error = ?, updated_at = ?, finished_at = ? WHERE id = ?"),
		status, msg, now, now, id); err != nil {
		return fmt.Errorf("settle the run: %w", err)
	}
	return nil
}

// beat keeps the run's heartbeat while this node drives it.
func (s *Service) beat(ctx context.Context, id string) {
	t := time.NewTicker(s.takeoverAfter() / 6)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d := s.Control.Dialect
		if _, err := s.Control.ExecContext(ctx, d.Rebind("UPDATE strata_migrate_runs SET heartbeat = ?, node = ? WHERE id = ?"), d.TimeValue(s.Now().UTC()), s.NodeID, id); err != nil && ctx.Err() == nil {
			s.Log.Warn("fleet run: heartbeat", "run", id, "err", err)
		}
	}
}

// Steer pauses, resumes or cancels a run.
func (s *Service) Steer(ctx context.Context, id, action string) (*Run, error) {
	status, err := s.runStatus(ctx, id)
	if err != nil {
		return nil, err
	}
	if Final(status) {
		return nil, apierr.New(409, "INVALID_STATE", "run %s is %s", id, status)
	}
	to := map[string]string{"pause": RunPaused, "resume": RunRunning, "cancel": RunCancelled}[action]
	if to == "" {
		return nil, apierr.NotFound("no action %q", action)
	}
	if action == "pause" && status != RunRunning || action == "resume" && status != RunPaused {
		return nil, apierr.New(409, "INVALID_STATE", "run %s is %s: it cannot %s", id, status, action)
	}
	d := s.Control.Dialect
	now := d.TimeValue(s.Now().UTC())
	if _, err := s.Control.ExecContext(ctx, d.Rebind("UPDATE strata_migrate_runs SET status = ?, updated_at = ? WHERE id = ? AND status = ?"),
		to, now, id, status); err != nil {
		return nil, fmt.Errorf("%s run: %w", action, err)
	}
	if to == RunCancelled {
		// What it had not reached is settled now; tenants under way finish first.
		if _, err := s.Control.ExecContext(ctx, d.Rebind("UPDATE strata_migrate_results SET status = ?, error = ?, updated_at = ? WHERE run_id = ? AND status = ?"),
			ResultNotRun, "not run: the run was cancelled", now, id, ResultQueued); err != nil {
			return nil, fmt.Errorf("cancel run: %w", err)
		}
	}
	s.mu.Lock()
	r := s.runs[id]
	s.mu.Unlock()
	if r != nil {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
	return s.GetRun(ctx, id)
}

// Resume takes over runs whose node has gone silent (a node stopped mid-run): each is
// claimed by one node with a conditional update and driven on from its unsettled
// results; what the stopped node had applied is found applied and reported so.
func (s *Service) Resume(ctx context.Context) {
	d := s.Control.Dialect
	cutoff := s.Now().UTC().Add(-s.takeoverAfter())
	rows, err := s.Control.QueryContext(ctx, d.Rebind("SELECT id, request, created_by FROM strata_migrate_runs WHERE status IN (?, ?) AND (heartbeat IS NULL OR heartbeat < ?)"),
		RunRunning, RunPaused, d.TimeValue(cutoff))
	if err != nil {
		s.Log.Warn("fleet runs: look for runs to take over", "err", err)
		return
	}
	type stale struct{ id, request, by string }
	var list []stale
	for rows.Next() {
		var st stale
		var by sql.NullString
		if err := rows.Scan(&st.id, &st.request, &by); err == nil {
			st.by = by.String
			list = append(list, st)
		}
	}
	rows.Close()
	for _, st := range list {
		res, err := s.Control.ExecContext(ctx, d.Rebind("UPDATE strata_migrate_runs SET node = ?, heartbeat = ? WHERE id = ? AND (heartbeat IS NULL OR heartbeat < ?)"),
			s.NodeID, d.TimeValue(s.Now().UTC()), st.id, d.TimeValue(cutoff))
		if err != nil {
			continue
		}
		if n, _ := res.RowsAffected(); n != 1 {
			continue // another node took it
		}
		var req Request
		if err := json.Unmarshal([]byte(st.request), &req); err != nil {
			msg := "the run's request cannot be read: " + err.Error()
			_ = s.finish(ctx, st.id, RunFailed, &msg)
			continue
		}
		s.Log.Info("fleet run taken over", "run", st.id)
		s.drive(st.id, req, st.by)
	}
}

// Loop takes over stale runs now and then regularly, until ctx ends.
func (s *Service) Loop(ctx context.Context) {
	for {
		s.Resume(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.takeoverAfter() / 2):
		}
	}
}

// GetRun reads a run with its results.
func (s *Service) GetRun(ctx context.Context, id string) (*Run, error) {
	runs, err := s.readRuns(ctx, "WHERE id = ?", id)
	if err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		return nil, apierr.NotFound("run %q not found", id)
	}
	r := runs[0]
	d := s.Control.Dialect
	rows, err := s.Control.QueryContext(ctx, d.Rebind("SELECT tenant, changeset, status, error, migration_ids FROM strata_migrate_results WHERE run_id = ? ORDER BY position"), id)
	if err != nil {
		return nil, fmt.Errorf("read the run's results: %w", err)
	}
	defer rows.Close()
	r.Results = []Result{}
	r.Counts = map[string]int{}
	for rows.Next() {
		var res Result
		var msg, ids sql.NullString
		if err := rows.Scan(&res.Tenant, &res.Changeset, &res.Status, &msg, &ids); err != nil {
			return nil, fmt.Errorf("read the run's results: %w", err)
		}
		if msg.Valid {
			res.Error = &msg.String
		}
		res.MigrationIDs = []string{}
		if ids.String != "" {
			_ = json.Unmarshal([]byte(ids.String), &res.MigrationIDs)
		}
		r.Results = append(r.Results, res)
		r.Counts[res.Status]++
	}
	return r, rows.Err()
}

// Runs a list shows: by default, and at most.
const (
	DefaultRunsListed = 50
	MaxRunsListed     = 1000
)

// ListRuns reads the latest limit runs (0: DefaultRunsListed), newest first, with their
// counts and without their results.
func (s *Service) ListRuns(ctx context.Context, limit int) ([]*Run, error) {
	if limit == 0 {
		limit = DefaultRunsListed
	}
	if limit < 1 || limit > MaxRunsListed {
		return nil, apierr.InvalidQuery("limit", "limit must be between 1 and %d", MaxRunsListed)
	}
	runs, err := s.readRuns(ctx, "ORDER BY created_at DESC, id DESC LIMIT ?", int64(limit))
	if err != nil || len(runs) == 0 {
		return runs, err
	}
	// Their counts, in one query: a list of runs shows how each went.
	d := s.Control.Dialect
	byID := map[string]*Run{}
	args := make([]any, len(runs))
	for i, r := range runs {
		r.Counts = map[string]int{}
		byID[r.ID], args[i] = r, r.ID
	}
	rows, err := s.Control.QueryContext(ctx, d.Rebind("SELECT run_id, status, COUNT(*) FROM strata_migrate_results WHERE run_id IN ("+schema.Placeholders(len(runs))+") GROUP BY run_id, status"), args...)
	if err != nil {
		return nil, fmt.Errorf("count the runs' results: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, status string
		var n int
		if err := rows.Scan(&id, &status, &n); err != nil {
			return nil, fmt.Errorf("count the runs' results: %w", err)
		}
		byID[id].Counts[status] = n
	}
	return runs, rows.Err()
}

func (s *Service) readRuns(ctx context.Context, tail string, args ...any) ([]*Run, error) {
	d := s.Control.Dialect
	rows, err := s.Control.QueryContext(ctx, d.Rebind("SELECT id, status, request, error, created_by, created_at, updated_at, finished_at FROM strata_migrate_runs "+tail), args...)
	if err != nil {
		return nil, fmt.Errorf("read runs: %w", err)
	}
	defer rows.Close()
	out := []*Run{}
	for rows.Next() {
		var r Run
		var req string
		var msg, by sql.NullString
		var created, updated, finished any
		if err := rows.Scan(&r.ID, &r.Status, &req, &msg, &by, &created, &updated, &finished); err != nil {
			return nil, fmt.Errorf("read runs: %w", err)
		}
		_ = json.Unmarshal([]byte(req), &r.Request)
		if msg.Valid {
			r.Error = &msg.String
		}
		r.CreatedBy = by.String
		if t := database.Time(created); t != nil {
			r.CreatedAt = *t
		}
		if t := database.Time(updated); t != nil {
			r.UpdatedAt = *t
		}
		r.FinishedAt = database.Time(finished)
		out = append(out, &r)
	}
	return out, rows.Err()
}

// Follow watches a run until it has ended and every result is settled, calling
// progress with each result when it is first seen and whenever it changes, and returns
// the run as it ended. It reads the control database every poll, so it follows a run
// whichever node drives it. A progress error or the end of ctx stops it.
func (s *Service) Follow(ctx context.Context, id string, poll time.Duration, progress func(Result) error) (*Run, error) {
	seen := map[int]string{}
	for {
		run, err := s.GetRun(ctx, id)
		if err != nil {
			return nil, err
		}
		for i, r := range run.Results {
			key := r.Status
			if r.Error != nil {
				key += "\x00" + *r.Error
			}
			if seen[i] != key {
				seen[i] = key
				if err := progress(r); err != nil {
					return run, err
				}
			}
		}
		if Final(run.Status) && run.Counts[ResultRunning] == 0 && run.Counts[ResultQueued] == 0 {
			return run, nil
		}
		select {
		case <-ctx.Done():
			return run, ctx.Err()
		case <-time.After(poll):
		}
	}
}
