// Package migration owns the one path for schema change: validate → plan → confirm
// destructive changes → record → lock → execute with the metadata → mark executed or
// failed → tell listeners. Every schema write of every surface goes through
// Service.Apply; there is no second way to run DDL against a tenant.
//
// It does not know HTTP, tenants' registry rows, or how the model is cached: callers
// hand it a Target (a tenant database) and listen for commits.
package migration

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"strata/modules/database"
	"strata/modules/meta"
	"strata/schema"
)

// Statuses of a migration row.
const (
	StatusPending  = "pending"
	StatusRunning  = "running"
	StatusExecuted = "executed"
	StatusFailed   = "failed"
)

// Statuses are the values of custom_migrations.status, as the contract lists them.
var Statuses = []string{StatusPending, "approved", StatusRunning, StatusExecuted, StatusFailed, "rejected", "rolled_back"}

// Types are the values of custom_migrations.type, as the contract lists them.
var Types = []string{"create_table", "add_column", "alter_column", "rename_column", "drop_column", "rename_table", "drop_table",
	"add_relation", "drop_relation", "rename_relation", "add_index", "drop_index", "custom", "rollback", "data", "alter_table", "function"}

// Target is one tenant database to migrate.
type Target struct {
	TenantID string
	// Slug names the tenant in logs, as operators know it.
	Slug    string
	DB      *sql.DB
	Dialect schema.Dialect
	// LockKey names the tenant's migration lock; it must be the same on every node.
	LockKey string
	// Store is the tenant's store; custom SQL logs in to it as the scoped account.
	Store *database.DB
}

// logName is how logs name the target's tenant: its slug, or its id without one.
func (t Target) logName() string {
	if t.Slug != "" {
		return t.Slug
	}
	return t.TenantID
}

// Request is one schema change as a caller asks for it.
type Request struct {
	Change       schema.Change
	Name         string
	Description  string
	DryRun       bool
	ConfirmHash  string
	ConfirmToken string
	// ConfirmPhrase is Enfyra's legacy confirm phrase ("APPLY SCHEMA CHANGES posts"),
	// which confirms a destructive change of one table in place of the hash and token.
	// A door passes it only for a tenant whose legacy_schema_confirm setting is on.
	ConfirmPhrase string
	CreatedBy     string
	// IDs, when set, makes the ids of new objects (bootstrap: derived from names, so
	// every tenant's system tables are identical).
	IDs schema.IDGen
	// Approval is the tenant's require_approval setting: "all" holds every change,
	// "destructive" the destructive ones, as pending rows an admin approves or rejects.
	Approval string
	// Unattended marks a change Strata makes by itself under a policy the admin set
	// (purging trash past its retention); it needs no confirm challenge.
	Unattended bool
	// Confirmed marks a change whose removals were confirmed before it was asked for (a
	// platform admin running a registered changeset across tenants): no challenge, but
	// the tenant's approval policy still holds it.
	Confirmed bool
	// Replayed marks a recorded change run again (replay): hand-written SQL must then
	// give the schema its recorded steps describe.
	Replayed bool
	// recorded is the ledger row of a change run again under its own row (approved or
	// retried): it is re-planned against the model as it is now, needs no confirmation
	// and is not held again, and a change that no longer applies fails under that row.
	recorded *Migration
}

// Result is what a change did (or, for a dry run, would do).
type Result struct {
	Migration *Migration
	Change    schema.Change
	Before    *schema.Model
	After     *schema.Model
	Plan      schema.Plan
	Removal   schema.Removal
}

// Migrations lists the migrations of results, in order.
func Migrations(results []*Result) []*Migration {
	out := make([]*Migration, 0, len(results))
	for _, r := range results {
		if r != nil && r.Migration != nil {
			out = append(out, r.Migration)
		}
	}
	return out
}

// Commit is told to listeners after a migration executed.
type Commit struct {
	TenantID  string
	Migration *Migration
	Model     *schema.Model
	// Version is the schema version the commit produced (meta.Version).
	Version int64
}

// Config holds the service's dependencies and limits.
type Config struct {
	// StepDelay pauses after each applied step. It exists only so crash-recovery
	// tests can kill a node in the middle of a migration (STRATA_TEST_STEP_DELAY).
	StepDelay time.Duration
	// Secret signs confirm tokens.
	Secret []byte
	// ConfirmTTL is how long a confirm token stays valid.
	ConfirmTTL time.Duration
	// CustomSQLTimeout bounds one run of hand-written SQL (default 30s).
	CustomSQLTimeout time.Duration
	// Approval reads a tenant's require_approval policy ("none", "destructive" or
	// "all"), which the service applies to every change a user asks for, whichever
	// surface asked (HTTP, the CLI, a changeset run). Nil: nothing is held.
	Approval func(ctx context.Context, tgt Target) (string, error)
	Now      func() time.Time
	NewID    func() string
	Log      *slog.Logger
}

// Service runs schema changes.
type Service struct {
	cfg       Config
	mu        sync.Mutex
	locks     map[string]*sync.Mutex
	notifiers Notifiers
	// tainted holds the migration connections hand-written SQL ran on: whatever it did
	// to the session (locks, listeners, temporary objects) goes with the connection,
	// which is closed instead of going back to the pool.
	tainted sync.Map
}

// StatusChange is a migration row recorded or moved to another status, after the
// change is durable.
type StatusChange struct {
	TenantID string
	// Created is set when the row was just recorded.
	Created   bool
	Migration Migration
}

// withPolicy fills in the approval policy a change a user asked for follows. It is read
// before the migration's connection is taken: the read needs one of its own. Changes
// Strata makes itself, replays, system upgrades and dry runs are never held.
func (s *Service) withPolicy(ctx context.Context, tgt Target, req *Request) error {
	if req.Unattended || req.Replayed || req.Change.System || req.DryRun {
		return nil
	}
	p, err := s.policy(ctx, tgt, req.Approval)
	req.Approval = p
	return err
}

// policy is the approval policy a request follows: the one it names (a request of
// several changes holds the rest once one is held), else the tenant's.
func (s *Service) policy(ctx context.Context, tgt Target, named string) (string, error) {
	if named != "" || s.cfg.Approval == nil {
		return named, nil
	}
	p, err := s.cfg.Approval(ctx, tgt)
	if err != nil {
		return "", fmt.Errorf("read the approval policy: %w", err)
	}
	return p, nil
}

// Notifier hears what the service did, once it is durable (step 8 of the design): the
// schema caches, the realtime pushes to admins and the metrics are all told here.
// Its methods must not block.
type Notifier interface {
	// Status: a migration row was recorded or moved to another status.
	Status(StatusChange)
	// Committed: a migration executed; the model and schema version it produced.
	Committed(Commit)
	// Failed: a migration failed (its status change is told as well).
	Failed(tenantID string, m *Migration)
}

// Notifiers tells each of its notifiers in turn.
type Notifiers []Notifier

func (ns Notifiers) Status(sc StatusChange) {
	for _, n := range ns {
		n.Status(sc)
	}
}

func (ns Notifiers) Committed(c Commit) {
	for _, n := range ns {
		n.Committed(c)
	}
}

func (ns Notifiers) Failed(tenantID string, m *Migration) {
	for _, n := range ns {
		n.Failed(tenantID, m)
	}
}

// NotifierFuncs is a Notifier made of functions; a nil one hears nothing.
type NotifierFuncs struct {
	OnStatus  func(StatusChange)
	OnCommit  func(Commit)
	OnFailure func(tenantID string, m *Migration)
}

func (f NotifierFuncs) Status(sc StatusChange) {
	if f.OnStatus != nil {
		f.OnStatus(sc)
	}
}

func (f NotifierFuncs) Committed(c Commit) {
	if f.OnCommit != nil {
		f.OnCommit(c)
	}
}

func (f NotifierFuncs) Failed(tenantID string, m *Migration) {
	if f.OnFailure != nil {
		f.OnFailure(tenantID, m)
	}
}

// Notify adds notifiers; the wiring calls it once, before the service runs anything.
func (s *Service) Notify(n ...Notifier) { s.notifiers = append(s.notifiers, n...) }

func (s *Service) statusChanged(tenantID string, m *Migration, created bool) {
	s.notifiers.Status(StatusChange{TenantID: tenantID, Created: created, Migration: *m})
}

// NewService returns a Service.
func NewService(cfg Config) *Service {
	if cfg.ConfirmTTL == 0 {
		cfg.ConfirmTTL = 5 * time.Minute
	}
	if cfg.CustomSQLTimeout <= 0 {
		cfg.CustomSQLTimeout = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Service{cfg: cfg, locks: map[string]*sync.Mutex{}}
}

// ConfirmRequiredError asks the caller to resend a destructive change with the hash and
// token it carries.
type ConfirmRequiredError struct {
	Hash    string
	Token   string
	TTL     time.Duration
	Removal schema.Removal
	Reason  string
}

func (e *ConfirmRequiredError) Error() string {
	return "destructive schema change needs confirmation: " + e.Reason
}

// FailedError reports a migration the database refused; the row is recorded as failed.
type FailedError struct{ Migration *Migration }

func (e *FailedError) Error() string {
	msg := ""
	if e.Migration.Error != nil {
		msg = *e.Migration.Error
	}
	return "migration failed: " + msg
}

// tenantMutex serialises this process's migrations of one tenant before the database
// lock is even asked for, so goroutines do not hold pool connections while waiting.
func (s *Service) tenantMutex(key string) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.locks[key]
	if m == nil {
		m = &sync.Mutex{}
		s.locks[key] = m
	}
	return m
}

// session is a dedicated connection holding the tenant's migration lock.
type session struct {
	conn    *sql.Conn
	release func()
}

func (s *Service) open(ctx context.Context, tgt Target) (*session, error) {
	mu := s.tenantMutex(tgt.LockKey)
	mu.Lock()
	conn, err := tgt.DB.Conn(ctx)
	if err != nil {
		mu.Unlock()
		return nil, fmt.Errorf("migration connection: %w", err)
	}
	unlock, err := tgt.Dialect.MigrationLock(ctx, conn, tgt.LockKey)
	if err != nil {
		conn.Close()
		mu.Unlock()
		return nil, err
	}
	if err := tgt.Dialect.BeforeMigration(ctx, conn); err != nil {
		unlock()
		conn.Close()
		mu.Unlock()
		return nil, fmt.Errorf("prepare migration connection: %w", err)
	}
	return &session{conn: conn, release: func() {
		if _, ok := s.tainted.LoadAndDelete(conn); ok {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		} else if err := tgt.Dialect.AfterMigration(context.WithoutCancel(ctx), conn); err != nil {
			// Its session settings are unknown now: make database/sql discard it.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		unlock()
		conn.Close()
		mu.Unlock()
	}}, nil
}

// Apply runs one schema change against a tenant through the one path.
func (s *Service) Apply(ctx context.Context, tgt Target, req Request) (*Result, error) {
	if err := s.withPolicy(ctx, tgt, &req); err != nil {
		return nil, err
	}
	sess, err := s.open(ctx, tgt)
	if err != nil {
		return nil, err
	}
	defer sess.release()
	before, err := meta.Load(ctx, sess.conn, tgt.Dialect)
	if err != nil {
		return nil, err
	}
	if err := checkChangeset(ctx, sess.conn, tgt.Dialect, req.Change.Changeset); err != nil {
		return nil, err
	}
	return s.run(ctx, sess.conn, tgt, before, req)
}

// Preview plans a change without the lock and without writing: what a dry run returns.
func (s *Service) Preview(ctx context.Context, tgt Target, req Request) (*Result, error) {
	req.DryRun = true
	before, err := meta.Load(ctx, tgt.DB, tgt.Dialect)
	if err != nil {
		return nil, err
	}
	return s.run(ctx, nil, tgt, before, req)
}

// run is the one path, for a model already loaded under the lock.
func (s *Service) run(ctx context.Context, conn *sql.Conn, tgt Target, before *schema.Model, req Request) (*Result, error) {
	gen := s.cfg.NewID
	if req.IDs != nil {
		gen = req.IDs
	}
	after, resolved, err := schema.Apply(before, req.Change, gen)
	if err != nil {
		if req.recorded != nil {
			err = fmt.Errorf("no longer applies to the current schema: %w", err)
		}
		return nil, s.refuse(ctx, conn, tgt, req.recorded, err)
	}
	plan, err := tgt.Dialect.Plan(before, resolved)
	if err != nil {
		return nil, s.refuse(ctx, conn, tgt, req.recorded, fmt.Errorf("plan %s: %w", resolved.Type, err))
	}
	stampTrash(before, after, s.cfg.Now())
	res := &Result{Change: resolved, Before: before, After: after, Plan: plan, Removal: schema.Removals(before, resolved)}
	destructive := !res.Removal.Empty()
	m := req.recorded
	if m == nil {
		now := s.cfg.Now().UTC()
		m = &Migration{
			TenantID: tgt.TenantID, Name: req.Name, Description: req.Description, Type: ledgerType(resolved),
			Status: StatusPending, CreatedBy: req.CreatedBy, CreatedAt: now, UpdatedAt: now, Destructive: destructive,
		}
		if m.Name == "" {
			m.Name = DefaultName(resolved)
		}
	}
	m.Error = nil
	m.Change, m.UpSQL, m.DownSQL = mustJSON(resolved), plan.UpSQL(), plan.DownSQL()
	m.Checksum = checksum(m.UpSQL)
	if resolved.Type.IsFunctionChange() {
		m.Checksum = resolved.Function.Checksum // the source's: the function has no SQL
	}
	res.Migration = m
	if req.DryRun {
		return res, nil
	}
	if req.recorded == nil {
		if destructive && !req.Unattended && !req.Confirmed {
			hash := s.ConfirmHash(tgt.TenantID, req.Change, res.Removal)
			if reason := s.confirmReason(tgt.TenantID, hash, req, []schema.Change{resolved}); reason != "" {
				return nil, &ConfirmRequiredError{Hash: hash, Token: s.confirmToken(tgt.TenantID, hash), TTL: s.cfg.ConfirmTTL, Removal: res.Removal, Reason: reason}
			}
		}
		if req.Approval == "all" || (req.Approval == "destructive" && destructive) {
			if before.Table("custom_migrations") == nil {
				return nil, fmt.Errorf("the ledger does not exist yet")
			}
			// Held: recorded with its plan, run only when approved.
			if err := insertMigration(ctx, conn, tgt.Dialect, m, s.cfg.NewID()); err != nil {
				return nil, fmt.Errorf("record pending migration: %w", err)
			}
			s.statusChanged(tgt.TenantID, m, true)
			return res, nil
		}
	}
	if handWritten(resolved, tgt.Dialect) {
		after, err := s.runSQL(ctx, conn, tgt, before, m, resolved, !req.Replayed)
		if err != nil {
			return res, err
		}
		res.After = after
		return res, nil
	}
	if err := s.execute(ctx, conn, tgt, before, after, plan, m); err != nil {
		return res, err
	}
	return res, nil
}

// refuse answers a change that cannot be planned: a new one is refused with the
// reason; a recorded one (m) fails under its row with it.
func (s *Service) refuse(ctx context.Context, conn *sql.Conn, tgt Target, m *Migration, reason error) error {
	if m == nil {
		return reason
	}
	msg := reason.Error()
	m.Error = &msg
	if setStatus(context.WithoutCancel(ctx), conn, tgt.Dialect, m, StatusFailed, &msg, s.cfg.Now()) == nil {
		s.statusChanged(tgt.TenantID, m, false)
	}
	return &FailedError{Migration: m}
}

// handWritten reports whether c runs as SQL written by hand for this dialect.
func handWritten(c schema.Change, d schema.Dialect) bool {
	return c.SQL != "" && c.Dialect == d.Name()
}

// StateError refuses an action on a migration in the wrong state (approving one that
// is not pending, retrying one that did not fail).
type StateError struct{ Message string }

func (e *StateError) Error() string { return e.Message }

// Approve runs a pending migration through the one path, re-planned against the model
// as it is now. A change that no longer applies fails with the reason.
func (s *Service) Approve(ctx context.Context, tgt Target, id, by string) (*Migration, error) {
	return s.rerun(ctx, tgt, id, StatusPending, "approve")
}

// Retry runs a failed migration again, re-validated against the current model.
func (s *Service) Retry(ctx context.Context, tgt Target, id, by string) (*Migration, error) {
	return s.rerun(ctx, tgt, id, StatusFailed, "retry")
}

// rerun runs a recorded migration again under its own row, through the one path.
func (s *Service) rerun(ctx context.Context, tgt Target, id, want, verb string) (*Migration, error) {
	sess, err := s.open(ctx, tgt)
	if err != nil {
		return nil, err
	}
	defer sess.release()
	m, err := Get(ctx, sess.conn, tgt.Dialect, id)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, &schema.NotFoundError{What: "migration", Name: id}
	}
	if m.Status != want {
		return nil, &StateError{Message: fmt.Sprintf("only %s migrations can be %s; this one is %s", want, verb+"d", m.Status)}
	}
	var change schema.Change
	if err := json.Unmarshal(m.Change, &change); err != nil || change.Type == "" {
		return nil, &StateError{Message: "this migration has no change to run"}
	}
	before, err := meta.Load(ctx, sess.conn, tgt.Dialect)
	if err != nil {
		return nil, err
	}
	res, err := s.run(ctx, sess.conn, tgt, before, Request{Change: change, recorded: m})
	if res == nil {
		return nil, err
	}
	return res.Migration, err
}

// Reject closes a pending migration without running it.
func (s *Service) Reject(ctx context.Context, tgt Target, id string) (*Migration, error) {
	sess, err := s.open(ctx, tgt)
	if err != nil {
		return nil, err
	}
	defer sess.release()
	m, err := Get(ctx, sess.conn, tgt.Dialect, id)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, &schema.NotFoundError{What: "migration", Name: id}
	}
	if m.Status != StatusPending {
		return nil, &StateError{Message: "only pending migrations can be rejected; this one is " + m.Status}
	}
	if err := setStatus(ctx, sess.conn, tgt.Dialect, m, "rejected", nil, s.cfg.Now()); err != nil {
		return nil, err
	}
	s.statusChanged(tgt.TenantID, m, false)
	return m, nil
}

// execute records the migration, runs it with its metadata writes and marks it.
func (s *Service) execute(ctx context.Context, conn *sql.Conn, tgt Target, before, after *schema.Model, plan schema.Plan, m *Migration) error {
	d := tgt.Dialect
	ledger := before.Table("custom_migrations") != nil
	switch {
	case ledger && m.ID != "":
		// A recorded migration (approved or retried) runs under its own row, with the
		// plan made now against the current model.
		m.AppliedSteps = 0
		if err := replan(ctx, conn, d, m, s.cfg.Now()); err != nil {
			return fmt.Errorf("mark migration running: %w", err)
		}
		s.statusChanged(tgt.TenantID, m, false)
	case ledger:
		// The row is committed on its own before any DDL, so a failure or a crash
		// still leaves a record. It goes straight to running: the lock is held, and
		// pending is kept for changes that wait (approval).
		m.Status = StatusRunning
		if err := insertMigration(ctx, conn, d, m, s.cfg.NewID()); err != nil {
			return fmt.Errorf("record migration: %w", err)
		}
		s.statusChanged(tgt.TenantID, m, true)
	}
	start := time.Now()
	var runErr error
	if d.TransactionalDDL() {
		runErr = s.executeTx(ctx, conn, d, before, after, plan, m, start, ledger)
	} else {
		runErr = s.executeSteps(ctx, conn, d, before, after, plan, m, start, ledger)
	}
	if runErr != nil {
		msg := runErr.Error()
		m.Error = &msg
		if ledger {
			if err := setStatus(context.WithoutCancel(ctx), conn, d, m, StatusFailed, &msg, s.cfg.Now()); err != nil {
				s.cfg.Log.Error("record failed migration", "tenant", tgt.logName(), "seq", m.Seq, "err", err)
			} else {
				s.statusChanged(tgt.TenantID, m, false)
			}
		}
		s.cfg.Log.Warn("migration failed", "tenant", tgt.logName(), "seq", m.Seq, "type", m.Type, "err", msg)
		s.notifiers.Failed(tgt.TenantID, m)
		return &FailedError{Migration: m}
	}
	s.cfg.Log.Info("migration executed", "tenant", tgt.logName(), "seq", m.Seq, "type", m.Type, "ms", m.durationMs())
	s.committed(ctx, conn, tgt, m, after)
	return nil
}

// committed tells the listeners about an executed migration, with the schema version
// it produced (read under the lock, so no other migration came in between).
func (s *Service) committed(ctx context.Context, conn *sql.Conn, tgt Target, m *Migration, after *schema.Model) {
	if m.ID != "" {
		s.statusChanged(tgt.TenantID, m, false)
		if of := m.RollbackOf(); of != "" {
			s.statusChanged(tgt.TenantID, &Migration{ID: of, TenantID: tgt.TenantID, Status: StatusRolledBack, UpdatedAt: m.UpdatedAt}, false)
		}
	}
	v, err := meta.Version(ctx, conn, tgt.Dialect)
	if err != nil {
		s.cfg.Log.Warn("read schema version after a migration", "tenant", tgt.logName(), "err", err)
		return // caches catch up when they next check the version
	}
	s.notifiers.Committed(Commit{TenantID: tgt.TenantID, Migration: m, Model: after, Version: v})
}

func (s *Service) pause() {
	if s.cfg.StepDelay > 0 {
		time.Sleep(s.cfg.StepDelay)
	}
}

func isComment(q string) bool { return strings.HasPrefix(strings.TrimSpace(q), "--") }

// executeTx runs DDL, metadata and the executed mark in one transaction.
func (s *Service) executeTx(ctx context.Context, conn *sql.Conn, d schema.Dialect, before, after *schema.Model, plan schema.Plan, m *Migration, start time.Time, ledger bool) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after commit
	for _, st := range plan.Steps {
		for _, q := range st.Up {
			if isComment(q) {
				continue
			}
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		s.pause()
	}
	if err := d.VerifyKeys(ctx, tx); err != nil {
		return err
	}
	if err := meta.Sync(ctx, tx, d, before, after, s.cfg.Now()); err != nil {
		return err
	}
	m.AppliedSteps = len(plan.Steps)
	m.finish(start, s.cfg.Now())
	if ledger {
		err = markExecuted(ctx, tx, d, m)
	} else {
		// The ledger itself was just created: its own row is its first.
		err = insertMigration(ctx, tx, d, m, s.cfg.NewID())
		if err == nil {
			err = markExecuted(ctx, tx, d, m)
		}
	}
	if err != nil {
		return fmt.Errorf("record executed migration: %w", err)
	}
	return tx.Commit()
}

// executeSteps runs DDL statement by statement (it commits implicitly), recording
// progress; on failure it undoes the applied steps newest first. Metadata is written
// only after every statement succeeded.
func (s *Service) executeSteps(ctx context.Context, conn *sql.Conn, d schema.Dialect, before, after *schema.Model, plan schema.Plan, m *Migration, start time.Time, ledger bool) error {
	undo := func(applied int, cause error) error {
		for i := applied - 1; i >= 0; i-- {
			for _, q := range plan.Steps[i].Down {
				if isComment(q) {
					continue
				}
				if _, err := conn.ExecContext(context.WithoutCancel(ctx), q); err != nil {
					return fmt.Errorf("%w; undoing step %d also failed: %v", cause, i+1, err)
				}
			}
		}
		if ledger {
			m.AppliedSteps = 0
			_ = setProgress(context.WithoutCancel(ctx), conn, d, m)
		}
		return cause
	}
	for i, st := range plan.Steps {
		for _, q := range st.Up {
			if isComment(q) {
				continue
			}
			if _, err := conn.ExecContext(ctx, q); err != nil {
				return undo(i, err)
			}
		}
		if ledger {
			m.AppliedSteps = i + 1
			if err := setProgress(ctx, conn, d, m); err != nil {
				return undo(i+1, fmt.Errorf("record progress: %w", err))
			}
		}
		s.pause()
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return undo(len(plan.Steps), fmt.Errorf("begin metadata write: %w", err))
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after commit
	if err := meta.Sync(ctx, tx, d, before, after, s.cfg.Now()); err != nil {
		tx.Rollback()
		return undo(len(plan.Steps), err)
	}
	m.finish(start, s.cfg.Now())
	if ledger {
		err = markExecuted(ctx, tx, d, m)
	} else {
		err = insertMigration(ctx, tx, d, m, s.cfg.NewID())
		if err == nil {
			err = markExecuted(ctx, tx, d, m)
		}
	}
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		tx.Rollback()
		return undo(len(plan.Steps), fmt.Errorf("record executed migration: %w", err))
	}
	return nil
}

// Bootstrap creates a new tenant's system tables from the snapshot, each as a recorded
// create_table migration, the ledger (custom_migrations) first.
func (s *Service) Bootstrap(ctx context.Context, tgt Target, tables []schema.Table) error {
	sess, err := s.open(ctx, tgt)
	if err != nil {
		return err
	}
	defer sess.release()
	model := &schema.Model{Tables: []schema.Table{}, Relations: []schema.Relation{}}
	_, err = s.createSystemTables(ctx, sess, tgt, model, tables)
	return err
}

// UpgradeSystem brings a tenant made by an older Strata up to the snapshot: the system
// tables it lacks are created and the columns its system tables lack are added, each as
// a recorded migration. An up-to-date tenant costs one query. It returns what it
// created ("table", "table.column").
func (s *Service) UpgradeSystem(ctx context.Context, tgt Target, tables []schema.Table) ([]string, error) {
	// The cheap check first, without the lock: boot and `strata migrate system` run
	// it for every tenant, and nearly all of them are up to date.
	if current, err := hasSystemTables(ctx, tgt, tables); err != nil || current {
		return nil, err
	}
	sess, err := s.open(ctx, tgt)
	if err != nil {
		return nil, err
	}
	defer sess.release()
	model, err := meta.Load(ctx, sess.conn, tgt.Dialect)
	if err != nil {
		return nil, err
	}
	var missing []schema.Table
	var columns []schema.Change
	for _, t := range tables {
		have := model.Table(t.Name)
		if have == nil {
			missing = append(missing, t)
			continue
		}
		for _, col := range t.Columns {
			if have.Column(col.Name) == nil {
				def := col
				def.ID = systemID(t.Name, "column "+col.Name)
				columns = append(columns, schema.Change{Type: schema.AddColumn, System: true, Table: t.Name, Def: &def})
			}
		}
	}
	// Columns first: a metadata table gaining a column (table_definition.display_template)
	// must have it before the tables created next write their metadata rows into it.
	var created []string
	for _, c := range columns {
		res, err := s.run(ctx, sess.conn, tgt, model, Request{Change: c, Name: "system: add column " + c.Table + "." + c.Def.Name, CreatedBy: "system"})
		if err != nil {
			return created, fmt.Errorf("add system column %s.%s: %w", c.Table, c.Def.Name, err)
		}
		model = res.After
		created = append(created, c.Table+"."+c.Def.Name)
	}
	made, err := s.createSystemTables(ctx, sess, tgt, model, missing)
	return append(created, made...), err
}

// systemID derives the id of a system object from its table and name, so every
// tenant's system metadata is identical whenever it was created.
func systemID(table, what string) string {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte("strata system "+table+" "+what)).String()
}

// hasSystemTables reports, with one query, whether the tenant's metadata has every one
// of tables with as many columns as the snapshot gives them (the four every table
// carries included).
func hasSystemTables(ctx context.Context, tgt Target, tables []schema.Table) (bool, error) {
	d := tgt.Dialect
	names := make([]any, 0, 2*len(tables))
	marks := make([]string, len(tables))
	columns := 0
	for i, t := range tables {
		names, marks[i] = append(names, t.Name), "?"
		columns += len(t.Columns) + len(schema.SystemColumns)
	}
	names = append(names, names...)
	in := "(" + strings.Join(marks, ", ") + ")"
	q := "SELECT (SELECT COUNT(*) FROM " + d.Quote("table_definition") + " WHERE " + d.Quote("name") + " IN " + in + "), " +
		"(SELECT COUNT(*) FROM " + d.Quote("column_definition") + " WHERE " + d.Quote("table_id") + " IN (SELECT " + d.Quote("id") +
		" FROM " + d.Quote("table_definition") + " WHERE " + d.Quote("name") + " IN " + in + "))"
	var nt, nc any
	if err := tgt.DB.QueryRowContext(ctx, d.Rebind(q), names...).Scan(&nt, &nc); err != nil {
		return false, fmt.Errorf("check the system tables: %w", err)
	}
	return database.Int64(nt) == int64(len(tables)) && database.Int64(nc) == int64(columns), nil
}

// createSystemTables creates system tables through the one path, with ids derived from
// their names so every tenant's system tables are identical.
func (s *Service) createSystemTables(ctx context.Context, sess *session, tgt Target, model *schema.Model, tables []schema.Table) ([]string, error) {
	var created []string
	for i := range tables {
		t := tables[i]
		n := 0
		ids := func() string { // the same ids in every tenant
			n++
			return uuid.NewSHA1(uuid.NameSpaceOID, []byte(fmt.Sprintf("strata system %s %d", t.Name, n))).String()
		}
		res, err := s.run(ctx, sess.conn, tgt, model, Request{
			Change: schema.Change{Type: schema.CreateTable, System: true, Create: &t},
			Name:   "system: create " + t.Name, CreatedBy: "system", IDs: ids,
		})
		if err != nil {
			return created, fmt.Errorf("create system table %s: %w", t.Name, err)
		}
		model = res.After
		created = append(created, t.Name)
	}
	return created, nil
}

// stampTrash starts the retention clock of what the change moved into the trash.
func stampTrash(before, after *schema.Model, now time.Time) {
	old := map[string]bool{}
	for _, tr := range before.Trash {
		old[tr.ID] = true
	}
	for i := range after.Trash {
		if !old[after.Trash[i].ID] {
			// Microseconds: what every dialect stores, so a reloaded model compares equal.
			after.Trash[i].TrashedAt = now.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)
		}
	}
}

// ledgerType is the contract's migration type of a change. A purge is recorded as the
// hard drop it is; its change JSON still says purge.
func ledgerType(c schema.Change) string {
	if c.Type == schema.Purge {
		if c.Column != "" {
			return string(schema.DropColumn)
		}
		return string(schema.DropTable)
	}
	if c.Type.IsFunctionChange() {
		return "function"
	}
	return string(c.Type)
}

// DefaultName describes a change in a few words for the migration's name.
func DefaultName(c schema.Change) string {
	switch c.Type {
	case schema.CreateTable:
		return "create table " + c.Create.Name
	case schema.RenameTable:
		return "rename table " + c.Table + " to " + c.NewName
	case schema.AlterTable:
		return "describe table " + c.Table
	case schema.DropTable:
		return "drop table " + c.Table
	case schema.AddColumn:
		return "add column " + c.Table + "." + c.Def.Name
	case schema.AlterColumn:
		return "alter column " + c.Table + "." + c.Column
	case schema.RenameColumn:
		return "rename column " + c.Table + "." + c.Column + " to " + c.NewName
	case schema.DropColumn:
		return "drop column " + c.Table + "." + c.Column
	case schema.AddRelation:
		return "add relation " + c.Relation.Table + "." + c.Relation.Name
	case schema.DropRelation:
		return "drop relation " + c.Relation.Table + "." + c.Relation.Name
	case schema.RenameRelation:
		return "rename relation " + c.Table + "." + c.Column + " to " + c.NewName
	case schema.AddIndex:
		return "add index " + c.Index.Name + " on " + c.Table
	case schema.DropIndex:
		return "drop index " + c.Column + " on " + c.Table
	case schema.Purge:
		return "purge " + c.TrashName
	case schema.Restore:
		return "restore " + c.TrashName
	case schema.Rollback:
		return fmt.Sprintf("rollback of %d", c.OfSeq)
	case schema.CreateFunction:
		return "create function " + c.Function.Name
	case schema.AlterFunction:
		return "alter function " + c.Function.Name
	case schema.DropFunction:
		return "drop function " + c.Function.ID
	}
	return string(c.Type)
}

func checksum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
