package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"strata/modules/database"
	"strata/modules/query"
)

// recordingQuerier keeps the first statement the query engine sends, so a test can ask
// the database how it would run exactly that statement.
type recordingQuerier struct {
	*database.DB
	sql  string
	args []any
}

func (q *recordingQuerier) QueryContext(ctx context.Context, s string, args ...any) (*sql.Rows, error) {
	if q.sql == "" {
		q.sql, q.args = s, args
	}
	return q.DB.QueryContext(ctx, s, args...)
}

// TestSortFollowsIndex: a list sorted on a column with the index flag reads that index
// in order, forwards or backwards, with no sort step, on every dialect. The sort still
// ends with id (ties stay in one order), so this holds only because the tie-breaker runs
// in the sort's direction and the flag's index ends with id; a NULL order the index does
// not have is avoided when the filter excludes NULLs.
func TestSortFollowsIndex(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "plans"})
			n.mustCall(200, "POST", "/api/t/plans/tables", map[string]any{"name": "posts", "columns": []any{
				map[string]any{"name": "title", "type": "string"},
				map[string]any{"name": "views", "type": "integer", "index": true},
				map[string]any{"name": "rank", "type": "integer", "index": true, "nullable": false, "default": 0},
			}})
			db := n.tenantDB("plans")
			ctx := context.Background()
			loadPlanRows(t, db, 20000)

			tn := mustTenant(t, n, "plans")
			m, err := n.app.Tenants.Model(ctx, tn, db)
			if err != nil {
				t.Fatal(err)
			}
			res := &query.Resolver{Model: m, Limits: query.Limits{}.WithDefaults()}
			for _, tc := range []struct{ name, filter, sort string }{
				{"filtered, descending", `{"views":{"_gt":500}}`, "-views"},
				{"filtered, ascending", `{"views":{"_gt":500}}`, "views"},
				{"not null, descending", ``, "-views"},
				{"NOT NULL column, descending", ``, "-rank"},
				{"NOT NULL column, ascending", ``, "rank"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					if tc.filter == "" && tc.sort == "-views" {
						tc.filter = `{"views":{"_nnull":true}}`
					}
					p := query.Params{"sort": {tc.sort}, "limit": {"20"}}
					if tc.filter != "" {
						p["filter"] = []string{tc.filter}
					}
					q, err := res.Parse(m.Table("posts"), p)
					if err != nil {
						t.Fatal(err)
					}
					rec := &recordingQuerier{DB: db}
					r := &query.Runner{DB: rec, D: db.Dialect, Limits: res.Limits}
					got, err := r.Run(ctx, q)
					if err != nil {
						t.Fatal(err)
					}
					if len(got.Data) != 20 {
						t.Fatalf("%d rows, want 20", len(got.Data))
					}
					if !strings.Contains(rec.sql, `"id"`) && !strings.Contains(rec.sql, "`id`") {
						t.Fatalf("the sort has no id tie-breaker: %s", rec.sql)
					}
					plan := explain(t, db, rec.sql, rec.args)
					sorted, indexed := planSorts(b.name, plan)
					if sorted || !indexed {
						t.Errorf("sort=%s filter=%s: plan sorts=%v, uses the column's index=%v\nSQL: %s\nplan:\n%s", tc.sort, tc.filter, sorted, indexed, rec.sql, plan)
					}
				})
			}
		})
	}
}

// loadPlanRows inserts n rows (views 0..999, one in fifty NULL) and refreshes the
// planner's statistics, so plans are those of a table of that size.
func loadPlanRows(t *testing.T, db *database.DB, n int) {
	t.Helper()
	ctx := context.Background()
	d := db.Dialect
	now := d.TimeValue(time.Now())
	cols := strings.Join([]string{d.Quote("id"), d.Quote("created_at"), d.Quote("updated_at"), d.Quote("title"), d.Quote("views"), d.Quote("rank")}, ", ")
	const batch = 500
	for start := 0; start < n; start += batch {
		var ph []string
		var args []any
		for i := start; i < min(start+batch, n); i++ {
			var views any = int64(i % 1000)
			if i%50 == 0 {
				views = nil
			}
			ph = append(ph, "(?, ?, ?, ?, ?, ?)")
			args = append(args, uuid.Must(uuid.NewV7()).String(), now, now, fmt.Sprintf("post %d", i), views, int64(i%700))
		}
		if _, err := db.ExecContext(ctx, d.Rebind("INSERT INTO "+d.Quote("posts")+" ("+cols+") VALUES "+strings.Join(ph, ", ")), args...); err != nil {
			t.Fatalf("load rows: %v", err)
		}
	}
	analyze := "ANALYZE"
	if d.Name() == "mysql" {
		analyze = "ANALYZE TABLE " + d.Quote("posts")
	}
	rows, err := db.QueryContext(ctx, analyze)
	if err != nil {
		t.Fatalf("analyze: %v", err)
	}
	rows.Close()
}

// explain returns the database's plan for the statement, one line per step.
func explain(t *testing.T, db *database.DB, stmt string, args []any) string {
	t.Helper()
	prefix := "EXPLAIN "
	if db.Dialect.Name() == "sqlite" {
		prefix = "EXPLAIN QUERY PLAN "
	}
	rows, err := db.QueryContext(context.Background(), prefix+stmt, args...)
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var lines []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var parts []string
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			parts = append(parts, fmt.Sprintf("%s=%v", cols[i], v))
		}
		lines = append(lines, strings.Join(parts, " "))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// planSorts reads a plan: whether it has a sort step, and whether it reads the index of
// a column flag (named strata_ix_…).
func planSorts(dialect, plan string) (sorted, indexed bool) {
	switch dialect {
	case "sqlite":
		return strings.Contains(plan, "TEMP B-TREE"), strings.Contains(plan, "USING INDEX strata_ix_")
	case "postgres":
		return strings.Contains(plan, "Sort"), strings.Contains(plan, "Index Scan") && strings.Contains(plan, "strata_ix_")
	default:
		return strings.Contains(plan, "filesort"), strings.Contains(plan, "key=strata_ix_")
	}
}
