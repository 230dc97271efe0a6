package migration

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"strata/modules/database"
	"strata/modules/meta"
	"strata/schema"
)

// MaxCustomSQL bounds the size of a custom SQL migration.
const MaxCustomSQL = 1 << 20

// CustomRequest is a hand-written SQL migration as a tenant admin sends it.
type CustomRequest struct {
	Name        string
	Description string
	UpSQL       string
	DownSQL     string
	CreatedBy   string
	DryRun      bool
	Approval    string
}

// Custom records and runs hand-written SQL through the one path. The SQL runs logged
// in as the tenant's scoped database account (PostgreSQL, MySQL) or with ATTACH denied
// (SQLite), so it cannot reach another tenant. The model is then read back from the
// live schema: what the SQL created, altered or dropped becomes model changes stored
// with the migration (so it replays on other dialects), or the migration is refused
// when the schema it left cannot be described. On PostgreSQL and SQLite the SQL, the
// metadata and the executed mark commit together, and a dry run executes the SQL and
// rolls it back to show its model changes.
func (s *Service) Custom(ctx context.Context, tgt Target, req CustomRequest) (*Result, error) {
	up := strings.TrimSpace(req.UpSQL)
	switch {
	case up == "":
		return nil, &schema.FieldError{Field: "up_sql", Message: "is required"}
	case len(req.UpSQL) > MaxCustomSQL || len(req.DownSQL) > MaxCustomSQL:
		return nil, &schema.FieldError{Field: "up_sql", Message: fmt.Sprintf("at most %d bytes", MaxCustomSQL)}
	case len(req.Name) > 200:
		return nil, &schema.FieldError{Field: "name", Message: "at most 200 characters"}
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
	change := schema.Change{Type: schema.Custom, SQL: req.UpSQL, DownSQL: req.DownSQL, Dialect: tgt.Dialect.Name()}
	now := s.cfg.Now().UTC()
	m := &Migration{TenantID: tgt.TenantID, Name: req.Name, Description: req.Description, Type: string(schema.Custom),
		Change: mustJSON(change), UpSQL: req.UpSQL, DownSQL: req.DownSQL, Checksum: checksum(req.UpSQL), Status: StatusPending,
		CreatedBy: req.CreatedBy, CreatedAt: now, UpdatedAt: now, Destructive: true}
	if m.Name == "" {
		m.Name = "custom SQL"
	}
	res := &Result{Migration: m, Change: change, Before: before, After: before}
	if req.DryRun {
		if !tgt.Dialect.TransactionalDDL() {
			return res, nil // MySQL commits DDL as it goes: nothing can be tried.
		}
		after, resolved, err := s.customDryRun(ctx, sess.conn, tgt, before, change)
		if err != nil {
			return nil, err
		}
		res.After, res.Change, m.Change = after, resolved, mustJSON(resolved)
		return res, nil
	}
	// What hand-written SQL removes cannot be known before it runs: a tenant that
	// holds destructive changes for approval holds custom SQL too.
	if req.Approval == "all" || req.Approval == "destructive" {
		if err := insertMigration(ctx, sess.conn, tgt.Dialect, m, s.cfg.NewID()); err != nil {
			return nil, fmt.Errorf("record pending migration: %w", err)
		}
		return res, nil
	}
	after, err := s.runSQL(ctx, sess.conn, tgt, before, m, change, true)
	if err != nil {
		return res, err
	}
	res.After = after
	_ = json.Unmarshal(m.Change, &res.Change) // with the steps read back
	return res, nil
}

// rolePassword derives a tenant store's scoped account password from the server
// secret, so every node knows it and nothing is stored.
func (s *Service) rolePassword(store string) string {
	mac := hmac.New(sha256.New, s.cfg.Secret)
	mac.Write([]byte("strata tenant role password\x00" + store))
	return hex.EncodeToString(mac.Sum(nil))[:32]
}

// scoped opens a connection pool logged in as the tenant's scoped account; nil on
// SQLite, where the migration connection is guarded instead.
func (s *Service) scoped(ctx context.Context, tgt Target) (*database.DB, error) {
	if tgt.Store == nil || tgt.Dialect.Name() == "sqlite" {
		return nil, nil
	}
	u, err := database.EnsureScopedRole(ctx, tgt.Store, s.rolePassword(tgt.Store.Name))
	if err != nil {
		return nil, err
	}
	return database.OpenScoped(ctx, u)
}

// customDryRun runs the SQL in a transaction that is rolled back, to show the model
// changes it would make.
func (s *Service) customDryRun(ctx context.Context, conn *sql.Conn, tgt Target, before *schema.Model, change schema.Change) (*schema.Model, schema.Change, error) {
	var after *schema.Model
	err := s.inScopedTx(ctx, conn, tgt, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, change.SQL); err != nil {
			return &schema.FieldError{Field: "up_sql", Message: err.Error()}
		}
		var err error
		after, change, err = readBack(ctx, tx, tgt.Dialect, before, change, true, s.cfg.NewID)
		if err != nil {
			return err
		}
		return errDryRun
	})
	if err != nil && err != errDryRun {
		return nil, change, err
	}
	return after, change, nil
}

var errDryRun = fmt.Errorf("dry run")

// inScopedTx runs f in a transaction of the scoped account (PostgreSQL) or of the
// guarded migration connection (SQLite); the transaction commits when f returns nil.
func (s *Service) inScopedTx(ctx context.Context, conn *sql.Conn, tgt Target, f func(*sql.Tx) error) error {
	var tx *sql.Tx
	if tgt.Dialect.Name() == "sqlite" {
		unguard, err := database.GuardSQLite(conn)
		if err != nil {
			return err
		}
		defer unguard()
		if tx, err = conn.BeginTx(ctx, nil); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
	} else {
		sdb, err := s.scoped(ctx, tgt)
		if err != nil {
			return err
		}
		if sdb == nil {
			return fmt.Errorf("no scoped account for tenant %s", tgt.TenantID)
		}
		defer sdb.Close()
		if tx, err = sdb.BeginTx(ctx, nil); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after commit
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// readBack turns what the SQL did into the change's model steps (absorb) or checks
// that it did what the recorded steps say (a replay), and returns the model after it.
func readBack(ctx context.Context, q schema.Querier, d schema.Dialect, before *schema.Model, change schema.Change, absorb bool, gen schema.IDGen) (*schema.Model, schema.Change, error) {
	live, err := d.Inspect(ctx, q)
	if err != nil {
		return nil, change, err
	}
	if absorb {
		steps, err := schema.Absorb(d, before, live)
		if err != nil {
			return nil, change, err
		}
		change.Steps = steps
	}
	after, resolved, err := schema.Apply(before, change, gen)
	if err != nil {
		return nil, change, &schema.UndescribableError{Problems: []string{err.Error()}}
	}
	if diff := schema.CompareLive(schema.ExpectedLive(d, after), live); len(diff) > 0 {
		return nil, change, &schema.UndescribableError{Problems: diff}
	}
	return after, resolved, nil
}

// runSQL runs a change carrying hand-written SQL for this dialect (custom SQL, the
// down SQL of its rollback, or either replayed) under the recorded migration m, which
// it inserts when m has no id yet. absorb reads the model back from the live schema;
// otherwise the live schema must match the change's recorded steps.
func (s *Service) runSQL(ctx context.Context, conn *sql.Conn, tgt Target, before *schema.Model, m *Migration, change schema.Change, absorb bool) (*schema.Model, error) {
	d := tgt.Dialect
	created := m.ID == ""
	if created {
		m.Status = StatusRunning
		if err := insertMigration(ctx, conn, d, m, s.cfg.NewID()); err != nil {
			return nil, fmt.Errorf("record migration: %w", err)
		}
	} else if err := replan(ctx, conn, d, m, s.cfg.Now()); err != nil {
		return nil, fmt.Errorf("mark migration running: %w", err)
	}
	s.statusChanged(tgt.TenantID, m, created)
	start := time.Now()
	var after *schema.Model
	var runErr error
	if d.TransactionalDDL() {
		runErr = s.inScopedTx(ctx, conn, tgt, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, change.SQL); err != nil {
				return err
			}
			var err error
			if after, change, err = readBack(ctx, tx, d, before, change, absorb, s.cfg.NewID); err != nil {
				return err
			}
			return s.finishSQL(ctx, tx, d, before, after, m, change, start)
		})
	} else {
		runErr = s.runSQLSteps(ctx, conn, tgt, before, m, &change, &after, absorb, start)
	}
	if runErr != nil {
		msg := runErr.Error()
		m.Error = &msg
		if err := setStatus(context.WithoutCancel(ctx), conn, d, m, StatusFailed, &msg, s.cfg.Now()); err != nil {
			s.cfg.Log.Error("record failed migration", "tenant", tgt.TenantID, "seq", m.Seq, "err", err)
		} else {
			s.statusChanged(tgt.TenantID, m, false)
		}
		for _, f := range s.failures {
			f(tgt.TenantID, m)
		}
		return nil, &FailedError{Migration: m}
	}
	s.cfg.Log.Info("migration executed", "tenant", tgt.TenantID, "seq", m.Seq, "type", m.Type, "ms", m.durationMs())
	s.committed(ctx, conn, tgt, m, after)
	return after, nil
}

// runSQLSteps is runSQL for MySQL, where DDL commits as it runs: the SQL runs as the
// scoped account, then the schema is read back; when it cannot be described the
// down_sql (if any) is run to undo it, and the migration fails either way.
func (s *Service) runSQLSteps(ctx context.Context, conn *sql.Conn, tgt Target, before *schema.Model, m *Migration, change *schema.Change, after **schema.Model, absorb bool, start time.Time) error {
	d := tgt.Dialect
	sdb, err := s.scoped(ctx, tgt)
	if err != nil {
		return err
	}
	defer sdb.Close()
	if _, err := sdb.ExecContext(ctx, change.SQL); err != nil {
		return s.undoSQL(ctx, sdb, change, err)
	}
	a, resolved, err := readBack(ctx, conn, d, before, *change, absorb, s.cfg.NewID)
	if err != nil {
		return s.undoSQL(ctx, sdb, change, err)
	}
	*after, *change = a, resolved
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after commit
	if err := s.finishSQL(ctx, tx, d, before, a, m, resolved, start); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *Service) undoSQL(ctx context.Context, sdb *database.DB, change *schema.Change, cause error) error {
	if strings.TrimSpace(change.DownSQL) == "" {
		return fmt.Errorf("%w; MySQL keeps what ran before the failure and there is no down_sql: fix the schema by hand, then resolve the migration", cause)
	}
	if _, err := sdb.ExecContext(context.WithoutCancel(ctx), change.DownSQL); err != nil {
		return fmt.Errorf("%w; running down_sql to undo it also failed: %v", cause, err)
	}
	return fmt.Errorf("%w; down_sql was run to undo it", cause)
}

// finishSQL writes the metadata, the change read back and the executed mark.
func (s *Service) finishSQL(ctx context.Context, tx *sql.Tx, d schema.Dialect, before, after *schema.Model, m *Migration, change schema.Change, start time.Time) error {
	if err := d.VerifyKeys(ctx, tx); err != nil {
		return err
	}
	stampTrash(before, after, s.cfg.Now())
	if err := meta.Sync(ctx, tx, d, before, after, s.cfg.Now()); err != nil {
		return err
	}
	m.Change = mustJSON(change)
	if _, err := tx.ExecContext(ctx, d.Rebind("UPDATE "+d.Quote("custom_migrations")+" SET "+d.Quote("change")+" = ? WHERE "+d.Quote("id")+" = ?"), string(m.Change), m.ID); err != nil {
		return fmt.Errorf("record the change read back: %w", err)
	}
	m.AppliedSteps = 1
	m.finish(start, s.cfg.Now())
	return markExecuted(ctx, tx, d, m)
}
