package migration

import (
	"context"
	"database/sql"
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
	// Changeset names the changeset the SQL came from, kept with the change.
	Changeset string
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
	if _, err := CheckCustomSQL(tgt.Dialect.Name(), "up_sql", req.UpSQL); err != nil {
		return nil, err
	}
	if _, err := CheckCustomSQL(tgt.Dialect.Name(), "down_sql", req.DownSQL); err != nil {
		return nil, err
	}
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
	before, err := meta.Load(ctx, sess.conn, tgt.Dialect)
	if err != nil {
		return nil, err
	}
	if !req.DryRun {
		if err := checkChangeset(ctx, sess.conn, tgt.Dialect, req.Changeset); err != nil {
			return nil, err
		}
	}
	change := schema.Change{Type: schema.Custom, SQL: req.UpSQL, DownSQL: req.DownSQL, Dialect: tgt.Dialect.Name(), Changeset: req.Changeset}
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

// customDryRun runs the SQL in a transaction that is rolled back, to show the model
// changes it would make.
func (s *Service) customDryRun(ctx context.Context, conn *sql.Conn, tgt Target, before *schema.Model, change schema.Change) (*schema.Model, schema.Change, error) {
	var after *schema.Model
	err := inTx(ctx, conn, func(tx *sql.Tx) error {
		if err := s.execScript(ctx, conn, tx, tgt, change.SQL); err != nil {
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

// inTx runs f in a transaction on the migration's connection, committed when f
// returns nil. The connection logs in as the tenant's own account (PostgreSQL, MySQL)
// or is guarded (SQLite), like every tenant connection.
func inTx(ctx context.Context, conn *sql.Conn, f func(*sql.Tx) error) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after commit
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// execScript runs hand-written SQL inside tx, on conn, within CustomSQLTimeout.
//   - PostgreSQL: statement by statement, each prepared, so the server itself refuses a
//     piece that holds more than one statement: nothing can slip a COMMIT past
//     CheckCustomSQL. Settings the script changed are reset afterwards, and its writes to
//     Strata's own tables (a DO block or a trigger naming them at run time) refuse it.
//   - SQLite: under the custom SQL authorizer (no transaction control, PRAGMA, ATTACH,
//     or writes to Strata's own tables).
//
// On time-out the statement is cancelled on the server, not only abandoned.
func (s *Service) execScript(ctx context.Context, conn *sql.Conn, tx *sql.Tx, tgt Target, script string) error {
	stmts, err := CheckCustomSQL(tgt.Dialect.Name(), "sql", script)
	if err != nil {
		return err
	}
	s.tainted.Store(conn, true)
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CustomSQLTimeout)
	defer cancel()
	switch tgt.Dialect.Name() {
	case "sqlite":
		unguard, err := database.GuardSQLite(conn)
		if err != nil {
			return err
		}
		defer unguard()
		_, err = tx.ExecContext(ctx, script)
		return timedOut(ctx, err, s.cfg.CustomSQLTimeout)
	case "postgres":
		var pid int64
		if err := tx.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			return err
		}
		stop := context.AfterFunc(ctx, func() {
			if ctx.Err() == context.DeadlineExceeded {
				_, _ = tgt.DB.ExecContext(context.Background(), "SELECT pg_cancel_backend($1)", pid)
			}
		})
		defer stop()
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("SET LOCAL statement_timeout = %d", s.cfg.CustomSQLTimeout.Milliseconds())); err != nil {
			return err
		}
		before, err := protectedWriteCounts(ctx, tx)
		if err != nil {
			return err
		}
		for _, text := range stmts {
			if err := execPrepared(ctx, tx, text); err != nil {
				return timedOut(ctx, err, s.cfg.CustomSQLTimeout)
			}
		}
		if _, err := tx.ExecContext(ctx, "RESET ALL"); err != nil {
			return err
		}
		after, err := protectedWriteCounts(ctx, tx)
		if err != nil {
			return err
		}
		for name, n := range after {
			if n != before[name] {
				return fmt.Errorf("custom SQL may not write %q: it is one of Strata's own tables", name)
			}
		}
		return nil
	}
	return fmt.Errorf("no script runner for %s", tgt.Dialect.Name())
}

// execPrepared runs one statement through the extended protocol.
func execPrepared(ctx context.Context, tx *sql.Tx, text string) error {
	st, err := tx.PrepareContext(ctx, text)
	if err != nil {
		return err
	}
	defer st.Close()
	_, err = st.ExecContext(ctx)
	return err
}

// protectedWriteCounts reads, from the backend's own statistics, how many rows of
// Strata's own tables it has written. Taken before and after a script in one
// transaction (statistics are not flushed inside one), the two differ exactly when
// the script wrote them, whatever names it built at run time.
func protectedWriteCounts(ctx context.Context, tx *sql.Tx) (map[string]int64, error) {
	rows, err := tx.QueryContext(ctx, "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_xact_user_tables WHERE schemaname = current_schema()")
	if err != nil {
		return nil, fmt.Errorf("read write counts: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			return nil, err
		}
		if database.Protected(name) {
			out[name] = n
		}
	}
	return out, rows.Err()
}

// timedOut names the time-out when it is what ended a statement: the context's
// deadline, or the database's own bound set to the same limit, which comes first when
// the node is slow to send its cancel (a loaded machine did).
func timedOut(ctx context.Context, err error, limit time.Duration) error {
	if err != nil && (ctx.Err() == context.DeadlineExceeded || ctx.Err() == nil && database.IsStatementTimeout(err)) {
		return fmt.Errorf("custom SQL ran longer than %s (STRATA_CUSTOM_SQL_TIMEOUT) and was cancelled: %w", limit, err)
	}
	return err
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
		runErr = inTx(ctx, conn, func(tx *sql.Tx) error {
			if err := s.execScript(ctx, conn, tx, tgt, change.SQL); err != nil {
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
			s.cfg.Log.Error("record failed migration", "tenant", tgt.logName(), "seq", m.Seq, "err", err)
		} else {
			s.statusChanged(tgt.TenantID, m, false)
		}
		s.notifiers.Failed(tgt.TenantID, m)
		return nil, &FailedError{Migration: m}
	}
	s.cfg.Log.Info("migration executed", "tenant", tgt.logName(), "seq", m.Seq, "type", m.Type, "ms", m.durationMs())
	s.committed(ctx, conn, tgt, m, after)
	return after, nil
}

// runSQLSteps is runSQL for MySQL, where DDL commits as it runs: the SQL runs as the
// scoped account, then the schema is read back; when it cannot be described the
// down_sql (if any) is run to undo it, and the migration fails either way.
func (s *Service) runSQLSteps(ctx context.Context, conn *sql.Conn, tgt Target, before *schema.Model, m *Migration, change *schema.Change, after **schema.Model, absorb bool, start time.Time) error {
	d := tgt.Dialect
	sdb, closeScript, err := database.OpenScript(ctx, tgt.Store)
	if err != nil {
		return err
	}
	defer closeScript()
	if err := s.execMySQLScript(ctx, sdb, tgt, change.SQL); err != nil {
		return s.undoSQL(ctx, sdb, tgt, change, err)
	}
	a, resolved, err := readBack(ctx, conn, d, before, *change, absorb, s.cfg.NewID)
	if err != nil {
		return s.undoSQL(ctx, sdb, tgt, change, err)
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

// execMySQLScript runs a script on its own connection (the tenant's account, closed
// afterwards with whatever the script changed of its session) within
// CustomSQLTimeout; on time-out the query is killed on the server.
func (s *Service) execMySQLScript(ctx context.Context, sdb *database.DB, tgt Target, script string) error {
	if _, err := CheckCustomSQL("mysql", "sql", script); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CustomSQLTimeout)
	defer cancel()
	var id int64
	if err := sdb.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
		return err
	}
	// MariaDB bounds every statement on the server; MySQL has no such setting.
	_, _ = sdb.ExecContext(ctx, fmt.Sprintf("SET SESSION max_statement_time = %g", s.cfg.CustomSQLTimeout.Seconds()))
	stop := context.AfterFunc(ctx, func() {
		if ctx.Err() == context.DeadlineExceeded {
			// An account may kill its own queries.
			_, _ = tgt.DB.ExecContext(context.Background(), fmt.Sprintf("KILL QUERY %d", id))
		}
	})
	defer stop()
	_, err := sdb.ExecContext(ctx, script)
	return timedOut(ctx, err, s.cfg.CustomSQLTimeout)
}

func (s *Service) undoSQL(ctx context.Context, sdb *database.DB, tgt Target, change *schema.Change, cause error) error {
	if strings.TrimSpace(change.DownSQL) == "" {
		return fmt.Errorf("%w; MySQL keeps what ran before the failure and there is no down_sql: fix the schema by hand, then resolve the migration", cause)
	}
	if err := s.execMySQLScript(context.WithoutCancel(ctx), sdb, tgt, change.DownSQL); err != nil {
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
