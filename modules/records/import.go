package records

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/google/uuid"

	"strata/modules/access"
	"strata/modules/apierr"
	"strata/modules/query"
	"strata/schema"
)

// An import writes rows read one at a time from a file (sources.go reads CSV and JSON)
// as creates of the caller: the create rule, field permissions, presets, value checks,
// the tenant's hooks and the trail apply to every row as to POST /items. Rows are
// written a batch at a time, so neither the file nor its rows are ever held whole.
//
// Every batch runs under a savepoint. A batch the database or a rule refuses is undone
// to its savepoint and written again a row at a time, each under its own savepoint, so
// the bad rows are found and named and never take good rows with them. All or nothing
// (the default), the whole import is one transaction, committed once at the end when no
// row failed; partial, each batch commits on its own.

// RowSource is an import's rows, read one at a time.
type RowSource interface {
	// Next reads the next row. A row that cannot be read as an object (a cell that is
	// not of its column's kind, a row of the wrong length) is a *RowError, and the
	// import goes on past it; io.EOF ends the rows; any other error ends the import.
	Next() (map[string]any, error)
	// Offset is how many bytes of the file have been read.
	Offset() int64
}

// RowError is one row an import could not read or write: its number (1-based, among
// the file's data rows) and why.
type RowError struct {
	Row int
	Err error
}

func (e *RowError) Error() string { return fmt.Sprintf("row %d: %v", e.Row, e.Err) }
func (e *RowError) Unwrap() error { return e.Err }

// Import is how an import goes.
type Import struct {
	// Partial writes the good rows and reports the bad ones; otherwise one bad row
	// leaves nothing written.
	Partial bool
	// Batch is the rows of one write (default 500); BatchBytes ends a batch sooner once
	// its rows took that many bytes of the file (default 4 MiB), which bounds the
	// memory a batch holds.
	Batch      int
	BatchBytes int64
	// MaxRows bounds the rows of one import, bad ones included (0: no bound).
	MaxRows int
	// MaxErrors bounds the bad rows listed (default 1000). An all-or-nothing import
	// stops at that many: it will not be written anyway.
	MaxErrors int
	// Progress hears after every batch.
	Progress func(ImportProgress)
}

// ImportProgress is how far an import has come: rows read, written (all or nothing:
// not committed until the end) and refused.
type ImportProgress struct {
	Rows, Imported, Failed int
}

// ImportResult is what an import did. All or nothing, Imported is 0 when any row
// failed: nothing was written.
type ImportResult struct {
	Imported int
	Failed   int
	// Errors are the first MaxErrors bad rows, in file order; Truncated says there were
	// more (partial) or that the import stopped at them (all or nothing).
	Errors    []*RowError
	Truncated bool
}

// maxInsertParams bounds the bound values of one statement, below every database's
// limit (SQLite's 32766).
const maxInsertParams = 30_000

// Defaults of Import.
const (
	importBatch      = 500
	importBatchBytes = 4 << 20
	importMaxErrors  = 1000
)

// Import writes the rows of src into t as the caller. It answers an error only when the
// import could not go on (a malformed file, a bound passed, the database gone); rows
// refused are in the result. After an error, a partial import's result counts the
// batches it committed before.
func (s *Service) Import(ctx context.Context, sc *Scope, t *schema.Table, src RowSource, opt Import) (*ImportResult, error) {
	if opt.Batch <= 0 {
		opt.Batch = importBatch
	}
	if opt.BatchBytes <= 0 {
		opt.BatchBytes = importBatchBytes
	}
	if opt.MaxErrors <= 0 {
		opt.MaxErrors = importMaxErrors
	}
	g, err := s.Guard(sc, t, access.Create)
	if err != nil {
		return nil, err
	}
	im := &importer{s: s, sc: sc, t: t, g: g, opt: opt, res: &ImportResult{}, others: Touched{}}
	defer im.rollback()
	err = im.run(ctx, src)
	// Rows unreadable were listed as they were read, rows refused as their batch was
	// written: the list is put in the file's order.
	slices.SortStableFunc(im.res.Errors, func(a, b *RowError) int { return a.Row - b.Row })
	return im.res, err
}

// importer is one import under way.
type importer struct {
	s   *Service
	sc  *Scope
	t   *schema.Table
	g   *Guard
	opt Import
	res *ImportResult
	tx  *sql.Tx
	// rows read so far; written, the rows written so far (in the open transaction or
	// committed; res.Imported counts the committed).
	rows, written int
	// pending are the writes of the open transaction, heard of once it commits: their
	// keys only (16 bytes a row), so an all-or-nothing import of a million rows keeps
	// 16 MB, not its rows.
	pending [][]uuid.UUID
	others  Touched
}

// importRow is a row read, with its number.
type importRow struct {
	n   int
	obj map[string]any
}

func (im *importer) run(ctx context.Context, src RowSource) error {
	batch := make([]importRow, 0, im.opt.Batch)
	start := src.Offset()
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := im.batch(ctx, batch); err != nil {
			return err
		}
		clear(batch) // the rows are written: their maps may go
		batch, start = batch[:0], src.Offset()
		if im.opt.Progress != nil {
			im.opt.Progress(ImportProgress{Rows: im.rows, Imported: im.written, Failed: im.res.Failed})
		}
		return nil
	}
	for !im.stopped() {
		obj, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		im.rows++
		if im.opt.MaxRows > 0 && im.rows > im.opt.MaxRows {
			return apierr.InvalidPayload("body", "an import takes at most %d rows", im.opt.MaxRows).With("row", im.rows)
		}
		var re *RowError
		if errors.As(err, &re) {
			re.Row = im.rows
			im.fail(re)
			continue
		}
		if err != nil {
			return err
		}
		batch = append(batch, importRow{n: im.rows, obj: obj})
		if len(batch) >= im.opt.Batch || src.Offset()-start >= im.opt.BatchBytes {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if !im.stopped() {
		if err := flush(); err != nil {
			return err
		}
	}
	if im.opt.Partial || im.res.Failed == 0 {
		if err := im.commit(ctx); err != nil {
			return err
		}
	}
	return nil
}

// stopped reports whether an all-or-nothing import has listed as many bad rows as it
// may: it will not be written, and reading on would only find more.
func (im *importer) stopped() bool {
	return !im.opt.Partial && im.res.Failed >= im.opt.MaxErrors
}

// fail counts a refused row and lists it while the list has room.
func (im *importer) fail(e *RowError) {
	im.res.Failed++
	if len(im.res.Errors) < im.opt.MaxErrors {
		im.res.Errors = append(im.res.Errors, e)
	} else {
		im.res.Truncated = true
	}
	if im.stopped() {
		im.res.Truncated = true
	}
}

// batch writes rows under a savepoint; when it is refused, a row at a time. A partial
// import commits it.
func (im *importer) batch(ctx context.Context, rows []importRow) error {
	if im.tx == nil {
		tx, err := im.sc.DB.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("begin an import's transaction: %w", err)
		}
		im.tx = tx
	}
	ok, err := im.attempt(ctx, rows)
	if err != nil {
		return err
	}
	if !ok && len(rows) > 1 {
		for _, r := range rows {
			if _, err := im.attempt(ctx, []importRow{r}); err != nil {
				return err
			}
		}
	}
	if im.opt.Partial {
		return im.commit(ctx)
	}
	return nil
}

// attempt writes rows under a savepoint and reports whether they were written. A
// refusal is undone to the savepoint (and, for one row, is that row's failure); any
// other error ends the import.
func (im *importer) attempt(ctx context.Context, rows []importRow) (bool, error) {
	if err := im.exec(ctx, "SAVEPOINT strata_import"); err != nil {
		return false, err
	}
	others := Touched{}
	ids, err := im.create(ctx, rows, others)
	if err == nil {
		if err := im.exec(ctx, "RELEASE SAVEPOINT strata_import"); err != nil {
			return false, err
		}
		// Rows written one at a time join the keys before them: the hooks hear of a
		// batch's rows together.
		if last := len(im.pending) - 1; last >= 0 && len(im.pending[last])+len(ids) <= im.opt.Batch {
			im.pending[last] = append(im.pending[last], ids...)
		} else {
			im.pending = append(im.pending, ids)
		}
		for table, keys := range others {
			im.others[table] = append(im.others[table], keys...)
		}
		im.written += len(rows)
		return true, nil
	}
	if !refusal(err) {
		return false, err
	}
	if err := im.exec(ctx, "ROLLBACK TO SAVEPOINT strata_import"); err != nil {
		return false, err
	}
	if err := im.exec(ctx, "RELEASE SAVEPOINT strata_import"); err != nil {
		return false, err
	}
	if len(rows) == 1 {
		var re *RowError
		if !errors.As(err, &re) {
			re = &RowError{Err: err}
		}
		re.Row = rows[0].n
		im.fail(re)
	}
	return false, nil
}

func (im *importer) exec(ctx context.Context, stmt string) error {
	if _, err := im.tx.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("import: %s: %w", stmt, err)
	}
	return nil
}

// refusal reports whether err refuses the rows written (a value, a constraint, a rule,
// a hook's refusal), rather than ending the import (the database gone, a bug).
func refusal(err error) bool {
	var (
		ve *query.ValueError
		ce *query.ConstraintError
		ae *apierr.Error
	)
	switch {
	case errors.As(err, &ve), errors.As(err, &ce):
		return true
	case errors.As(err, &ae):
		return ae.Status < 500
	}
	return false
}

// create writes rows as CreateSet does inside its transaction: field permissions and
// presets, the tenant's before hooks, links, the create rule on the rows written, then
// the before hooks and the trail. Each row's refusal is a *RowError; a refusal of the
// rows together (the rule, a hook) is not. It works on copies of the rows, so a refused
// batch is written again from the rows as they were read.
func (im *importer) create(ctx context.Context, rows []importRow, others Touched) ([]uuid.UUID, error) {
	s, sc, t := im.s, im.sc, im.t
	q, d := sc.Q(im.tx), sc.DB.Dialect
	objs := make([]map[string]any, len(rows))
	ids := make([]string, len(rows))
	for i, r := range rows {
		objs[i] = maps.Clone(r.obj)
		if err := im.g.Fields(objs[i]); err != nil {
			return nil, &RowError{Row: r.n, Err: err}
		}
		ids[i] = uuid.Must(uuid.NewV7()).String()
	}
	if before, _ := s.Hooks.tenant(sc, t, "create"); before {
		for i, r := range rows {
			if err := s.prepare(ctx, q, sc, t, "create", ids[i:i+1], objs[i]); err != nil {
				return nil, &RowError{Row: r.n, Err: err}
			}
		}
	}
	links := make([][]query.Links, len(rows))
	for i, r := range rows {
		var err error
		if links[i], err = query.SplitLinks(s.Resolver(sc), t, objs[i]); err != nil {
			return nil, &RowError{Row: r.n, Err: err}
		}
	}
	now := s.Now()
	stmts, args := make([]string, len(rows)), make([][]any, len(rows))
	for i, r := range rows {
		var err error
		if stmts[i], args[i], ids[i], err = query.InsertStatement(d, sc.Model, t, objs[i], ids[i], sc.user(), now); err != nil {
			return nil, &RowError{Row: r.n, Err: s.writeError(ctx, sc, t, objs[i], err)}
		}
	}
	// Rows of the same columns, one after another, are one statement: a row at a time
	// is a round trip a row. The database refuses such a statement whole; the batch is
	// then written again a row at a time, which names the row.
	for start := 0; start < len(rows); {
		end, params := start+1, len(args[start])
		for end < len(rows) && stmts[end] == stmts[start] && params+len(args[end]) <= maxInsertParams {
			params += len(args[end])
			end++
		}
		stmt, all, _ := query.JoinInserts(stmts[start:end], args[start:end])
		if _, err := q.ExecContext(ctx, d.Rebind(stmt), all...); err != nil {
			if end-start == 1 {
				return nil, &RowError{Row: rows[start].n, Err: s.writeError(ctx, sc, t, objs[start], err)}
			}
			return nil, s.writeError(ctx, sc, t, nil, err)
		}
		start = end
	}
	keys := make([]uuid.UUID, len(rows))
	for i, r := range rows {
		if err := s.WriteLinks(ctx, sc, q, t, ids[i], links[i], others); err != nil {
			return nil, &RowError{Row: r.n, Err: s.writeError(ctx, sc, t, nil, err)}
		}
		var err error
		if keys[i], err = uuid.Parse(ids[i]); err != nil {
			return nil, fmt.Errorf("import: the key %q of a row written: %w", ids[i], err)
		}
	}
	if err := im.g.Rows(ctx, q, d, ids); err != nil {
		return nil, err
	}
	if err := s.before(ctx, q, &Write{Scope: sc, Table: t, Action: "create", IDs: ids, Data: objs}); err != nil {
		return nil, err
	}
	return keys, nil
}

// commit commits the open transaction, then runs the after hooks of its writes and
// announces their rows, a batch at a time. The hooks see the rows' keys, not their
// values: those were not kept until the commit.
func (im *importer) commit(ctx context.Context) error {
	if im.tx == nil {
		return nil
	}
	err := im.tx.Commit()
	im.tx = nil
	if err != nil {
		return im.s.writeError(ctx, im.sc, im.t, nil, err)
	}
	for _, keys := range im.pending {
		im.res.Imported += len(keys)
		ids := make([]string, len(keys))
		for i, k := range keys {
			ids[i] = k.String()
		}
		w := &Write{Scope: im.sc, Table: im.t, Action: "create", IDs: ids}
		im.s.After(ctx, w)
		im.s.Announce(ctx, im.sc, im.t.Name, "create", ids)
	}
	im.others.Announce(ctx, im.s, im.sc, "update")
	im.pending, im.others = nil, Touched{}
	return nil
}

// rollback undoes what the open transaction wrote (nothing once committed).
func (im *importer) rollback() {
	if im.tx != nil {
		_ = im.tx.Rollback()
		im.tx = nil
	}
}
