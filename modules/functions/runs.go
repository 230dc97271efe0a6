package functions

import (
	"context"
	"strings"
	"sync"
	"time"

	json "github.com/goccy/go-json"

	"strata/modules/database"
	"strata/modules/records"
	"strata/schema"
)

// recorder writes runs to each tenant's run log in batches: a busy endpoint costs one
// insert per batch, not one write per request. Runs wait at most flushEvery; a node
// that stops loses what it had not written yet.
type recorder struct {
	s       *Service
	mu      sync.Mutex
	pending map[string]*pendingRuns
	wake    chan struct{}
	started sync.Once
	pruned  map[string]time.Time
}

type pendingRuns struct {
	sc   *records.Scope
	rows []runRow
}

type runRow struct {
	id, functionID, name, trigger, status, errMsg, output, outboxID string
	started                                                         time.Time
	ms, attempt                                                     int64
	logs                                                            string
}

const (
	flushEvery = 200 * time.Millisecond
	// maxPending bounds the runs a tenant may have waiting; past it runs go unrecorded
	// (and are counted in the node's log) rather than grow without end.
	maxPending = 2000
	// keptOutput is how much of a run's output its record keeps.
	keptOutput = 4096
)

func newRecorder(s *Service) *recorder {
	return &recorder{s: s, pending: map[string]*pendingRuns{}, wake: make(chan struct{}, 1), pruned: map[string]time.Time{}}
}

func (r *recorder) add(sc *records.Scope, f *schema.Function, tr Trigger, run *Run, start time.Time) {
	out := run.Outcome
	logs, _ := json.Marshal(out.Logs)
	if out.Logs == nil {
		logs = []byte("[]")
	}
	attempt := int64(tr.Attempt)
	if attempt == 0 {
		attempt = 1
	}
	output := out.Output
	if out.Response != nil { // an endpoint's own answer is its output
		output, _ = json.Marshal(out.Response)
	}
	row := runRow{id: run.ID, functionID: f.ID, name: f.Name, trigger: tr.Kind, status: out.Status, errMsg: database.Clip(out.Error, 2000),
		output: database.Clip(string(output), keptOutput), outboxID: tr.OutboxID, started: start.UTC(), ms: run.Duration.Milliseconds(), attempt: attempt, logs: string(logs)}
	r.mu.Lock()
	p := r.pending[sc.TenantID]
	if p == nil {
		p = &pendingRuns{}
		r.pending[sc.TenantID] = p
	}
	p.sc = sc
	if len(p.rows) < maxPending {
		p.rows = append(p.rows, row)
	}
	r.mu.Unlock()
	r.started.Do(func() { go r.loop() })
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *recorder) loop() {
	for range r.wake {
		time.Sleep(flushEvery)
		r.Flush(context.Background())
	}
}

// Flush writes every waiting run now.
func (r *recorder) Flush(ctx context.Context) {
	r.mu.Lock()
	batch := r.pending
	r.pending = map[string]*pendingRuns{}
	r.mu.Unlock()
	for tenantID, p := range batch {
		if err := r.write(ctx, p); err != nil {
			r.s.Log.Warn("functions: record runs", "tenant", p.sc.Slug, "runs", len(p.rows), "err", err)
			continue
		}
		r.prune(ctx, tenantID, p.sc)
	}
}

func (r *recorder) write(ctx context.Context, p *pendingRuns) error {
	sc := p.sc
	if sc.Model.Table(RunsTable) == nil {
		return nil
	}
	d := sc.DB.Dialect
	qi := d.Quote
	tx, err := sc.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after commit
	// Up to 50 rows a statement: one round trip for a batch of runs.
	const perStatement = 50
	head := "INSERT INTO " + qi(RunsTable) + " (" + qi("id") + ", " + qi("created_at") + ", " + qi("updated_at") + ", " + qi("function_id") + ", " + qi("function_name") + ", " +
		qi("trigger") + ", " + qi("status") + ", " + qi("started_at") + ", " + qi("duration_ms") + ", " + qi("logs") + ", " + qi("error") + ", " + qi("output") + ", " +
		qi("attempt") + ", " + qi("outbox_id") + ") VALUES "
	const tuple = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	ids := make([]string, 0, len(p.rows))
	now := d.TimeValue(r.s.now().UTC())
	for start := 0; start < len(p.rows); start += perStatement {
		chunk := p.rows[start:min(start+perStatement, len(p.rows))]
		args := make([]any, 0, 14*len(chunk))
		for _, row := range chunk {
			args = append(args, row.id, now, now, row.functionID, row.name, row.trigger, row.status, d.TimeValue(row.started), row.ms,
				row.logs, database.NullText(row.errMsg), database.NullText(row.output), row.attempt, database.NullText(row.outboxID))
			ids = append(ids, row.id)
		}
		stmt := head + strings.TrimSuffix(strings.Repeat(tuple+", ", len(chunk)), ", ")
		if _, err := tx.ExecContext(ctx, d.Rebind(stmt), args...); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	// Admins subscribed to the run log hear of them as of any other row.
	r.s.Records.Announce(ctx, sc, RunsTable, "create", ids)
	return nil
}

// prune removes, at most once an hour per tenant, runs and delivered outbox entries
// older than the tenant's retention.
func (r *recorder) prune(ctx context.Context, tenantID string, sc *records.Scope) {
	r.mu.Lock()
	last := r.pruned[tenantID]
	due := time.Since(last) > time.Hour
	if due {
		r.pruned[tenantID] = time.Now()
	}
	r.mu.Unlock()
	if !due {
		return
	}
	days := 7
	if st, err := r.s.Settings.Get(ctx, sc.TenantID, sc.DB); err == nil && st.FunctionsRunsRetention > 0 {
		days = st.FunctionsRunsRetention
	}
	d := sc.DB.Dialect
	qi := d.Quote
	cutoff := d.TimeValue(r.s.now().UTC().AddDate(0, 0, -days))
	if _, err := sc.DB.ExecContext(ctx, d.Rebind("DELETE FROM "+qi(RunsTable)+" WHERE "+qi("started_at")+" < ?"), cutoff); err != nil {
		r.s.Log.Warn("functions: prune runs", "tenant", sc.Slug, "err", err)
	}
}

// FlushRuns writes the runs waiting to be recorded (tests, shutdown).
func (s *Service) FlushRuns(ctx context.Context) {
	s.init()
	s.rec.Flush(ctx)
}
