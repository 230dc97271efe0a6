// Package activity keeps a tenant's audit trail: who created, changed or deleted which
// rows, and who signed in, when and from where (strata_activity), and each row's values
// after each write with what the write changed (strata_revisions). It hooks the records
// service inside each write's transaction, so every surface (REST, GraphQL, data
// migrations, functions) is recorded the same way, and a write that rolls back leaves
// no trace.
package activity

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"strata/modules/database"
	"strata/modules/query"
	"strata/modules/records"
	"strata/schema"
)

// The tables it writes.
const (
	ActivityTable  = "strata_activity"
	RevisionsTable = "strata_revisions"
)

// Actions besides the writes' own (create, update, delete).
const ActionLogin = "login"

// Recorder writes the trail.
type Recorder struct {
	// Records reads a row's values after an update, inside its transaction.
	Records *records.Service
	Now     func() time.Time
	NewID   func() string
}

// rowsPerStatement bounds one multi-row insert (bound parameters stay far below every
// database's limit).
const rowsPerStatement = 200

// quiet are tables whose writes are not recorded: the trail itself, and bookkeeping
// that is not anyone's data (sessions, mailed tokens, sign-in states, function runs).
var quiet = map[string]bool{ActivityTable: true, RevisionsTable: true, "strata_sessions": true, "strata_user_tokens": true,
	"strata_auth_states": true, "strata_function_runs": true, "strata_function_outbox": true, "strata_template_files": true}

// revised reports whether writes of t keep revisions: user tables and files. Strata's
// other tables hold secrets (password hashes, two-factor secrets, API key hashes) that
// a revision would copy; their writes are in the activity log without values.
func revised(t *schema.Table) bool {
	return !t.System || t.Name == schema.FilesTable || t.Name == schema.FoldersTable
}

// Wants reports whether writes of t are recorded (records.Trail).
func (r *Recorder) Wants(t *schema.Table) bool {
	return !quiet[t.Name] && t.Accountability != "none"
}

// Statements are a write's entries and revisions (records.Trail), run in the write.
func (r *Recorder) Statements(ctx context.Context, q schema.Querier, w *records.Write) ([]records.Stmt, error) {
	if !r.Wants(w.Table) || len(w.IDs) == 0 {
		return nil, nil
	}
	now := r.Now()
	user, origin := "", w.Scope.Origin
	if w.Scope.Caller != nil {
		user = w.Scope.Caller.UserID
	}
	acts := make([]entry, len(w.IDs))
	for i, id := range w.IDs {
		acts[i] = entry{ID: r.NewID(), Action: w.Action, User: user, At: now, Collection: w.Table.Name, Item: id}
		if origin != nil {
			acts[i].IP, acts[i].UserAgent = origin.IP, origin.UserAgent
		}
	}
	d := w.Scope.DB.Dialect
	stmts := activityStatements(d, acts)
	if w.Action == "delete" || !revised(w.Table) || w.Table.Accountability == "activity" {
		return stmts, nil
	}
	revs, err := r.revisions(ctx, q, w, acts)
	if err != nil {
		return nil, err
	}
	more, err := revisionStatements(d, revs)
	if err != nil {
		return nil, err
	}
	return append(stmts, more...), nil
}

// revisions are a write's rows after it: for a create, the values written; for an
// update, the whole row read back in the transaction, and what changed.
func (r *Recorder) revisions(ctx context.Context, q schema.Querier, w *records.Write, acts []entry) ([]revision, error) {
	delta := make(map[string]map[string]any, len(w.IDs))
	for i, d := range w.Data {
		switch {
		case w.Action == "create" && len(w.Data) == len(w.IDs):
			delta[w.IDs[i]] = d
		case w.DataIDs != nil && i < len(w.DataIDs):
			for _, id := range w.DataIDs[i] {
				delta[id] = d
			}
		default:
			for _, id := range w.IDs {
				delta[id] = d
			}
		}
	}
	data := map[string]map[string]any{}
	if w.Action == "update" {
		rows, err := r.rowsAfter(ctx, q, w)
		if err != nil {
			return nil, err
		}
		for _, row := range rows {
			if id, ok := row["id"].(string); ok {
				data[id] = row
			}
		}
	}
	revs := make([]revision, 0, len(acts))
	for _, a := range acts {
		d := delta[a.Item]
		full := data[a.Item]
		if w.Action == "create" {
			full = maps.Clone(d)
			if full == nil {
				full = map[string]any{}
			}
			full["id"] = a.Item
		}
		revs = append(revs, revision{ID: r.NewID(), Activity: a.ID, Collection: a.Collection, Item: a.Item, Data: full, Delta: d})
	}
	return revs, nil
}

// rowsAfter reads the written rows' columns inside the write's transaction, as an
// admin: the revision keeps the row, whatever the writer may read.
func (r *Recorder) rowsAfter(ctx context.Context, q schema.Querier, w *records.Write) ([]map[string]any, error) {
	sc := *w.Scope
	sc.Tx, sc.Caller = q, nil
	rows, err := r.Records.Read(ctx, &sc, w.Table, query.Params{"fields": {"*"}, "limit": {"-1"}}, w.IDs)
	if err != nil {
		return nil, fmt.Errorf("read the rows for their revisions: %w", err)
	}
	return rows, nil
}

// Login records a sign-in (user is the subject that signed in).
func (r *Recorder) Login(ctx context.Context, q schema.Querier, d schema.Dialect, user string, origin *records.Origin) error {
	if err := r.Change(ctx, q, d, ActionLogin, user, "strata_users", user, origin); err != nil {
		return fmt.Errorf("record a sign-in: %w", err)
	}
	return nil
}

// Change records a change made outside the records service (settings, functions,
// webhooks), once it is made: action on item of collection, by user.
func (r *Recorder) Change(ctx context.Context, q schema.Querier, d schema.Dialect, action, user, collection, item string, origin *records.Origin) error {
	e := entry{ID: r.NewID(), Action: action, User: user, At: r.Now(), Collection: collection, Item: item}
	if origin != nil {
		e.IP, e.UserAgent = origin.IP, origin.UserAgent
	}
	return records.Run(ctx, q, d, activityStatements(d, []entry{e}))
}

type entry struct {
	ID, Action, User                string
	At                              time.Time
	IP, UserAgent, Collection, Item string
}

type revision struct {
	ID, Activity, Collection, Item string
	Data, Delta                    map[string]any
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func activityStatements(d schema.Dialect, acts []entry) []records.Stmt {
	cols := []string{"id", "action", "user", "timestamp", "ip", "user_agent", "collection", "item", "created_at", "updated_at"}
	return insertRows(d, ActivityTable, cols, len(acts), func(i int) []any {
		a := acts[i]
		at := d.TimeValue(a.At)
		return []any{a.ID, a.Action, nullable(a.User), at, nullable(a.IP), nullable(a.UserAgent), a.Collection, a.Item, at, at}
	})
}

func revisionStatements(d schema.Dialect, revs []revision) ([]records.Stmt, error) {
	now := d.TimeValue(time.Now())
	cols := []string{"id", "activity", "collection", "item", "data", "delta", "created_at", "updated_at"}
	var ferr error
	stmts := insertRows(d, RevisionsTable, cols, len(revs), func(i int) []any {
		v := revs[i]
		data, err := json.Marshal(v.Data)
		if err != nil && ferr == nil {
			ferr = err
		}
		delta, err := json.Marshal(v.Delta)
		if err != nil && ferr == nil {
			ferr = err
		}
		return []any{v.ID, v.Activity, v.Collection, v.Item, string(data), string(delta), now, now}
	})
	if ferr != nil {
		return nil, fmt.Errorf("encode a revision: %w", ferr)
	}
	return stmts, nil
}

// insertRows are the statements that write n rows of cols into table, rowsPerStatement
// at a time.
func insertRows(d schema.Dialect, table string, cols []string, n int, row func(i int) []any) []records.Stmt {
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = d.Quote(c)
	}
	one := "(" + schema.Placeholders(len(cols)) + ")"
	var stmts []records.Stmt
	for start := 0; start < n; start += rowsPerStatement {
		end := min(n, start+rowsPerStatement)
		args := make([]any, 0, (end-start)*len(cols))
		values := make([]string, 0, end-start)
		for i := start; i < end; i++ {
			args = append(args, row(i)...)
			values = append(values, one)
		}
		stmts = append(stmts, records.Stmt{SQL: "INSERT INTO " + d.Quote(table) + " (" + strings.Join(quoted, ", ") + ") VALUES " + strings.Join(values, ", "), Args: args})
	}
	return stmts
}

// purgeEntries deletes the entries whose ids are args (in: their placeholders) and
// their revisions, together.
func purgeEntries(ctx context.Context, db *database.DB, in string, args []any) error {
	d := db.Dialect
	qi := d.Quote
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after commit
	if _, err := tx.ExecContext(ctx, d.Rebind("DELETE FROM "+qi(RevisionsTable)+" WHERE "+qi("activity")+" IN "+in), args...); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, d.Rebind("DELETE FROM "+qi(ActivityTable)+" WHERE "+qi("id")+" IN "+in), args...); err != nil {
		return err
	}
	return tx.Commit()
}

// purgeBatch bounds the entries one purge transaction deletes: a long log is purged a
// moment of the tenant's write lock (on SQLite, its only one) at a time.
const purgeBatch = 1000

// Purge deletes the entries older than before, with their revisions, a batch at a time.
// Each batch is found through the entries' timestamp index and its revisions through
// their activity index, so a purge reads what it deletes and no more.
func Purge(ctx context.Context, db *database.DB, before time.Time) error {
	d := db.Dialect
	qi := d.Quote
	find := d.Rebind("SELECT " + qi("id") + " FROM " + qi(ActivityTable) + " WHERE " + qi("timestamp") + " < ? ORDER BY " + qi("timestamp") +
		" LIMIT " + strconv.Itoa(purgeBatch))
	for {
		ids, err := database.Texts(ctx, db, find, d.TimeValue(before))
		if err != nil {
			return fmt.Errorf("purge the activity log: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		in := "(" + schema.Placeholders(len(ids)) + ")"
		args := make([]any, len(ids))
		for i, id := range ids {
			args[i] = id
		}
		if err := purgeEntries(ctx, db, in, args); err != nil {
			return fmt.Errorf("purge the activity log: %w", err)
		}
		if len(ids) < purgeBatch {
			return nil
		}
	}
}
