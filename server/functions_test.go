package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// createFunction saves a function and returns its id.
func createFunction(t *testing.T, n *node, slug string, def map[string]any) string {
	t.Helper()
	return n.mustCall(200, "POST", "/api/t/"+slug+"/functions", def).get("data.function.id").(string)
}

// notedOnce checks that the audit table of slug holds one note for each of want and
// nothing else, a moment after the writes (an after hook delivered twice would show).
func notedOnce(t *testing.T, n *node, slug string, want ...string) {
	t.Helper()
	audit := waitRows(t, n, slug, "audit", len(want))
	time.Sleep(300 * time.Millisecond)
	audit = waitRows(t, n, slug, "audit", len(want))
	notes := map[string]int{}
	for _, r := range audit {
		notes[r.(map[string]any)["note"].(string)]++
	}
	ok := len(audit) == len(want)
	for _, w := range want {
		ok = ok && notes[w] == 1
	}
	if !ok {
		t.Errorf("after hook deliveries: %v, want %v once each", notes, want)
	}
}

// waitRows polls until table has want rows (after hooks and run records land a moment
// after the write that caused them), and returns them.
func waitRows(t *testing.T, n *node, slug, table string, want int) []any {
	t.Helper()
	var rows []any
	for range 100 {
		n.app.Functions.FlushRuns(context.Background())
		rows, _ = n.mustCall(200, "GET", "/api/t/"+slug+"/items/"+table+"?limit=100", nil).get("data").([]any)
		if len(rows) >= want {
			return rows
		}
		time.Sleep(50 * time.Millisecond)
	}
	return rows
}

// TestFunctionHooksOnEverySurface: a before hook rewrites the payload and another
// refuses the write, the same way over REST, GraphQL and a data migration; an after
// hook is delivered once per committed write, from the outbox.
func TestFunctionHooksOnEverySurface(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			p := "/api/t/acme"
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "posts", "columns": []any{
				map[string]any{"name": "slug", "type": "string", "unique": true}, map[string]any{"name": "title", "type": "string"}}})
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "audit", "columns": []any{map[string]any{"name": "note", "type": "string"}}})
			createFunction(t, n, "acme", map[string]any{"name": "shout", "kind": "hook", "table": "posts", "event": "create", "phase": "before", "priority": 2,
				"source": `export default async function (ctx: any) { ctx.event.payload.title = String(ctx.event.payload.title).toUpperCase() + "!" }`})
			createFunction(t, n, "acme", map[string]any{"name": "guard", "kind": "hook", "table": "posts", "event": "create", "phase": "before", "priority": 1,
				"source": `export default async function (ctx) { if (ctx.event.payload.title === "spam") ctx.reject(422, "SPAM", "no spam here") }`})
			createFunction(t, n, "acme", map[string]any{"name": "note", "kind": "hook", "table": "posts", "event": "create", "phase": "after",
				"source": `export default async function (ctx) { await ctx.items("audit").createOne({note: ctx.event.payload.slug}) }`})

			// Refused on every surface, in the contract's envelope, nothing written.
			if st, r := n.call("POST", p+"/items/posts", map[string]any{"slug": "a", "title": "spam"}, nil); st != 422 || r.get("errors.0.extensions.code") != "SPAM" {
				t.Errorf("REST create refused by the hook: %d %s", st, r)
			}
			if _, r := n.gql("acme", `mutation { create_posts_item(data: {slug: "b", title: "spam"}) { id } }`, nil); !strings.Contains(r.String(), "no spam here") {
				t.Errorf("GraphQL create refused by the hook: %s", r)
			}
			if st, r := n.call("POST", p+"/schema/apply?format=data-migration", `{"posts": [{"_unique": ["slug"], "slug": "c", "title": "spam"}]}`, nil); st != 422 {
				t.Errorf("data migration refused by the hook: %d %s", st, r)
			}
			if rows := rowsOf(n, "acme", "posts", "slug"); len(rows) != 0 {
				t.Fatalf("refused writes left rows: %v", rows)
			}
			// Rewritten on every surface.
			n.mustCall(200, "POST", p+"/items/posts", map[string]any{"slug": "a", "title": "hello"})
			n.mustGQL("acme", `mutation { create_posts_item(data: {slug: "b", title: "gql"}) { id } }`, nil)
			n.mustCall(200, "POST", p+"/schema/apply?format=data-migration", `{"posts": [{"_unique": ["slug"], "slug": "c", "title": "file"}]}`)
			rows := rowsOf(n, "acme", "posts", "slug")
			for slug, want := range map[string]string{"a": "HELLO!", "b": "GQL!", "c": "FILE!"} {
				if rows[slug]["title"] != want {
					t.Errorf("%s: title %v, want %s (the hooks in priority order)", slug, rows[slug]["title"], want)
				}
			}
			// The after hook ran once per committed write.
			notedOnce(t, n, "acme", "a", "b", "c")
			// The runs are recorded, and listed with the query language.
			fns, _ := n.mustCall(200, "GET", p+"/functions", nil).get("data").([]any)
			var noteID string
			for _, f := range fns {
				if m := f.(map[string]any); m["name"] == "note" {
					noteID = m["id"].(string)
				}
			}
			runs, _ := n.mustCall(200, "GET", p+"/functions/"+noteID+"/runs?filter[status][_eq]=success&meta=filter_count", nil).get("data").([]any)
			if len(runs) != 3 || runs[0].(map[string]any)["trigger"] != "hook" {
				t.Errorf("runs of the after hook: %v", runs)
			}
		})
	}
}

// TestFunctionEndpointUnderRowRule: an endpoint's ctx.items reads as its caller, under
// the caller's role's row rule; run_as a role reads as that role whoever calls.
func TestFunctionEndpointUnderRowRule(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			admin := startNode(t, b.newControlURL(t), nil)
			admin.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			p := "/api/t/acme"
			admin.mustCall(200, "PATCH", p+"/settings", map[string]any{"allow_signup": true})
			admin.mustCall(200, "POST", p+"/tables", map[string]any{"name": "docs", "columns": []any{
				map[string]any{"name": "title", "type": "string"}, map[string]any{"name": "status", "type": "string"}}})
			for _, d := range []map[string]any{{"title": "one", "status": "published"}, {"title": "two", "status": "draft"}, {"title": "three", "status": "published"}} {
				admin.mustCall(200, "POST", p+"/items/docs", d)
			}
			authd := roleID(t, admin, "acme", "authenticated")
			admin.mustCall(200, "POST", p+"/permissions", map[string]any{"role": authd, "collection": "docs", "action": "read",
				"permissions": map[string]any{"status": map[string]any{"_eq": "published"}}})
			src := `export default async function (ctx) { const rows = await ctx.items("docs").readMany({sort: ["title"], fields: ["title"]}); return rows.map((r) => r.title) }`
			createFunction(t, admin, "acme", map[string]any{"name": "mine", "kind": "endpoint", "method": "GET", "path": "docs/mine", "source": src})
			createFunction(t, admin, "acme", map[string]any{"name": "as_role", "kind": "endpoint", "method": "GET", "path": "docs/role", "source": src, "run_as": authd})
			user := tenantUser(t, admin, "acme", "u@example.com")
			if got := fmt.Sprint(user.mustCall(200, "GET", p+"/fn/docs/mine", nil).get("data")); got != "[one three]" {
				t.Errorf("as the caller (row rule): %s", got)
			}
			if got := fmt.Sprint(admin.mustCall(200, "GET", p+"/fn/docs/mine", nil).get("data")); got != "[one three two]" {
				t.Errorf("as the admin caller: %s", got)
			}
			if got := fmt.Sprint(admin.mustCall(200, "GET", p+"/fn/docs/role", nil).get("data")); got != "[one three]" {
				t.Errorf("run_as the role, called by an admin: %s", got)
			}
			anon := &node{t: t, base: admin.base}
			if st, r := anon.call("GET", p+"/fn/docs/mine", nil, nil); st != 500 || r.get("errors.0.extensions.code") != "FUNCTION_FAILED" {
				t.Errorf("anonymous, whose role may not read docs: %d %s", st, r)
			}
			if st, r := anon.call("GET", p+"/fn/docs/none", nil, nil); st != 404 {
				t.Errorf("no such endpoint: %d %s", st, r)
			}
		})
	}
}

// TestFunctionScheduleOncePerCluster: two nodes on one control database both reach
// the same minute; the schedule runs once.
func TestFunctionScheduleOncePerCluster(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			control := b.newControlURL(t)
			dir := t.TempDir()
			n1 := startNode(t, control, map[string]string{"STRATA_DATA_DIR": dir})
			n2 := startNode(t, control, map[string]string{"STRATA_DATA_DIR": dir})
			n1.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			p := "/api/t/acme"
			n1.mustCall(200, "POST", p+"/tables", map[string]any{"name": "ticks", "columns": []any{map[string]any{"name": "note", "type": "string"}}})
			createFunction(t, n1, "acme", map[string]any{"name": "every_minute", "kind": "schedule", "cron": "* * * * *",
				"source": `export default async function (ctx) { await ctx.items("ticks").createOne({note: "tick"}) }`})
			minute := time.Now().UTC().Truncate(time.Minute).Add(time.Minute)
			var wg sync.WaitGroup
			for _, n := range []*node{n1, n2, n1, n2} {
				wg.Add(1)
				go func() { defer wg.Done(); n.app.Functions.Tick(context.Background(), minute) }()
			}
			wg.Wait()
			if rows := waitRows(t, n1, "acme", "ticks", 1); len(rows) != 1 {
				t.Fatalf("one minute, two nodes, four ticks: %d runs", len(rows))
			}
			// The next minute runs again; a cron that does not match does not.
			n2.app.Functions.Tick(context.Background(), minute.Add(time.Minute))
			if rows := waitRows(t, n1, "acme", "ticks", 2); len(rows) != 2 {
				t.Fatalf("the next minute: %d runs", len(rows))
			}
		})
	}
}

// TestFunctionsAreSchema: a function is a migration of type function; a sandbox made
// by replay runs it, and rolling the migration back removes it.
func TestFunctionsAreSchema(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "prod"})
			r := n.mustCall(200, "POST", "/api/t/prod/functions", map[string]any{"name": "ping", "kind": "endpoint", "path": "ping",
				"source": `export default async (ctx) => ({pong: ctx.tenant.slug})`})
			if r.get("data.migration.type") != "function" || r.get("data.migration.status") != "executed" || r.get("data.migration.change.function.checksum") == nil {
				t.Fatalf("the function's migration: %s", r)
			}
			if got := fmt.Sprint(n.mustCall(200, "GET", "/api/t/prod/fn/ping", nil).get("data.pong")); got != "prod" {
				t.Fatalf("prod endpoint: %s", got)
			}
			n.mustCall(201, "POST", "/api/tenants/prod/sandboxes", map[string]any{"slug": "prod-sb"})
			if got := fmt.Sprint(n.mustCall(200, "GET", "/api/t/prod-sb/fn/ping", nil).get("data.pong")); got != "prod-sb" {
				t.Fatalf("the sandbox runs production's function: %s", got)
			}
			list, _ := n.mustCall(200, "GET", "/api/t/prod-sb/migrations?type=function", nil).get("data").([]any)
			if len(list) != 1 {
				t.Fatalf("the sandbox's function migrations: %v", list)
			}
			rollback(t, n, "prod-sb", list[0].(map[string]any)["id"].(string), "")
			if st, r := n.call("GET", "/api/t/prod-sb/fn/ping", nil, nil); st != 404 {
				t.Fatalf("after the rollback the endpoint is gone: %d %s", st, r)
			}
			if fns, _ := n.mustCall(200, "GET", "/api/t/prod-sb/functions", nil).get("data").([]any); len(fns) != 0 {
				t.Fatalf("functions after the rollback: %v", fns)
			}
			// Production keeps its own.
			n.mustCall(200, "GET", "/api/t/prod/fn/ping", nil)
			// The JSON export carries it; the SQL script says it has none.
			if bundle := n.mustCall(200, "GET", "/api/t/prod/migrations/export?format=json", nil).String(); !strings.Contains(bundle, `"create_function"`) || !strings.Contains(bundle, "pong") {
				t.Errorf("the JSON export lacks the function: %.1500s", bundle)
			}
			sql, _ := n.mustCall(200, "GET", "/api/t/prod/migrations/export?format=sql", nil)["raw"].(string)
			if !strings.Contains(sql, "-- function ping has no SQL") {
				t.Errorf("the SQL export does not account for the function:\n%s", sql)
			}
			// A syntax error is a 400 naming where it is, and records nothing.
			st, bad := n.call("POST", "/api/t/prod/functions", map[string]any{"name": "broken", "kind": "endpoint", "path": "broken",
				"source": "export default async function () {\n  return {a: 1,,}\n}"}, nil)
			if st != 400 || bad.get("errors.0.extensions.code") != "FUNCTION_INVALID" || fmt.Sprint(bad.get("errors.0.extensions.line")) != "2" {
				t.Fatalf("invalid source: %d %s", st, bad)
			}
		})
	}
}

// TestFunctionLimitsKeepTheNodeServing: a function that loops, allocates without end,
// recurses without end or answers too much is stopped with the contract's error, its
// run is recorded, and the node answers other requests meanwhile.
func TestFunctionLimitsKeepTheNodeServing(t *testing.T) {
	t.Parallel()
	n := startNode(t, backends(t)[0].newControlURL(t), nil) // SQLite: the limits are the worker's, not the database's
	n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	p := "/api/t/acme"
	cases := []struct {
		name, source  string
		status        int
		code, message string
		run           string
	}{
		{"spin", `export default async function () { while (true) {} }`, 504, "FUNCTION_TIMEOUT", "time limit", "timeout"},
		{"hog", `export default async function () { const a = []; for (;;) a.push("x".repeat(4096) + a.length) }`, 500, "FUNCTION_FAILED", "memory", "memory"},
		{"deep", `export default async function () { const f = (n) => f(n + 1) + 1; return f(0) }`, 500, "FUNCTION_FAILED", "call stack", "error"},
		{"loud", `export default async function () { return "x".repeat(3 << 20) }`, 500, "FUNCTION_FAILED", "over the limit", "error"},
	}
	for _, c := range cases {
		createFunction(t, n, "acme", map[string]any{"name": c.name, "kind": "endpoint", "path": c.name, "timeout_ms": 1500, "memory_mb": 32, "source": c.source})
	}
	quick := createFunction(t, n, "acme", map[string]any{"name": "quick", "kind": "endpoint", "path": "quick", "source": `export default async () => "ok"`})
	// An admin watching the run log hears of runs as they are recorded.
	ws := n.dial("acme", n.token)
	ws.send(map[string]any{"type": "subscribe", "collection": "strata_function_runs", "uid": "runs",
		"query": map[string]any{"fields": []string{"function_name", "status", "trigger"}, "filter": map[string]any{"function_id": map[string]any{"_eq": quick}}}})
	ws.expect("subscription", "runs", "init")
	n.mustCall(200, "GET", p+"/fn/quick", nil)
	if r := ws.expect("subscription", "runs", "create"); r.get("data.0.function_name") != "quick" || r.get("data.0.status") != "success" {
		t.Fatalf("the run log over the websocket: %s", r)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			done := make(chan struct{})
			var st int
			var r reply
			go func() { defer close(done); st, r = n.call("GET", p+"/fn/"+c.name, nil, nil) }()
			// Meanwhile the node answers: other functions and plain routes.
			time.Sleep(100 * time.Millisecond)
			start := time.Now()
			n.mustCall(200, "GET", p+"/fn/quick", nil)
			n.mustCall(200, "GET", p+"/tables", nil)
			if d := time.Since(start); d > time.Second {
				t.Errorf("other requests took %v while %s ran", d, c.name)
			}
			<-done
			msg, _ := r.get("errors.0.message").(string)
			if st != c.status || r.get("errors.0.extensions.code") != c.code || !strings.Contains(msg, c.message) {
				t.Fatalf("%s: %d %s", c.name, st, r)
			}
		})
	}
	// Each run is recorded with how it ended.
	fns, _ := n.mustCall(200, "GET", p+"/functions", nil).get("data").([]any)
	for _, f := range fns {
		m := f.(map[string]any)
		for _, c := range cases {
			if m["name"] != c.name {
				continue
			}
			n.app.Functions.FlushRuns(context.Background())
			runs, _ := n.mustCall(200, "GET", p+"/functions/"+m["id"].(string)+"/runs", nil).get("data").([]any)
			if len(runs) != 1 || runs[0].(map[string]any)["status"] != c.run {
				t.Errorf("%s: runs %v, want one %s", c.name, runs, c.run)
			}
		}
	}
}

// TestAfterHookSurvivesANodeKill: a node killed while an after hook runs leaves its
// outbox entry claimed; once the claim expires another node delivers it.
func TestAfterHookSurvivesANodeKill(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			// Mostly waiting for the killed node's claim to expire; each leg kills only
			// its own process.
			t.Parallel()
			control, dataDir := b.newControlURL(t), t.TempDir()
			env := map[string]string{"STRATA_DATABASE_URL": control, "STRATA_DATA_DIR": dataDir, "STRATA_ADMIN_PASSWORD": testPassword,
				"STRATA_JWT_SECRET": "test-secret-test-secret-test-secret!!", "STRATA_LOG_LEVEL": "warn"}
			p := startProc(t, env)
			n := p.node(t)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			n.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "posts", "columns": []any{map[string]any{"name": "title", "type": "string"}}})
			n.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "audit", "columns": []any{map[string]any{"name": "note", "type": "string"}}})
			createFunction(t, n, "acme", map[string]any{"name": "slow_note", "kind": "hook", "table": "posts", "event": "create", "phase": "after", "timeout_ms": 1500,
				"source": `export default async function (ctx) { const end = Date.now() + 1000; while (Date.now() < end) {} await ctx.items("audit").createOne({note: ctx.event.payload.title}) }`})
			n.mustCall(200, "POST", "/api/t/acme/items/posts", map[string]any{"title": "first"})

			db := openStore(t, control, dataDir, "acme", 2)
			d := db.Dialect
			claimed := "SELECT COUNT(*) FROM " + d.Quote("strata_function_outbox") + " WHERE " + d.Quote("claimed_until") + " IS NOT NULL AND " + d.Quote("status") + " = 'pending'"
			for deadline := time.Now().Add(10 * time.Second); ; {
				var c int
				if err := db.QueryRow(claimed).Scan(&c); err == nil && c == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the after hook was never claimed:\n%s", p.out.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
			p.stop(t, syscall.SIGKILL) // mid-run: the hook busy-waits a second first
			other := startNode(t, control, map[string]string{"STRATA_DATA_DIR": dataDir})
			if rows := rowsOf(other, "acme", "audit", "note"); len(rows) != 0 {
				t.Fatalf("the killed run wrote: %v", rows)
			}
			for deadline := time.Now().Add(20 * time.Second); ; {
				other.app.Functions.Sweep(context.Background())
				if rows := rowsOf(other, "acme", "audit", "note"); len(rows) == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("another node never delivered the after hook")
				}
				time.Sleep(200 * time.Millisecond)
			}
			// Delivered once: further sweeps find nothing left to do.
			other.app.Functions.Sweep(context.Background())
			time.Sleep(1500 * time.Millisecond)
			if rows := rowsOf(other, "acme", "audit", "note"); len(rows) != 1 || rows["first"] == nil {
				t.Fatalf("after the takeover: %v", rows)
			}
			var status string
			var attempts int
			if err := db.QueryRow("SELECT "+d.Quote("status")+", "+d.Quote("attempts")+" FROM "+d.Quote("strata_function_outbox")).Scan(&status, &attempts); err != nil {
				t.Fatal(err)
			}
			if status != "delivered" || attempts != 2 {
				t.Fatalf("outbox entry: %s after %d attempts, want delivered after 2", status, attempts)
			}
		})
	}
}

// TestFunctionFiles: ctx.files stores, lists, reads and deletes the tenant's files
// through the files service, under the run's rights.
func TestFunctionFiles(t *testing.T) {
	t.Parallel()
	n := startNode(t, backends(t)[0].newControlURL(t), nil)
	n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	createFunction(t, n, "acme", map[string]any{"name": "files", "kind": "endpoint", "method": "POST", "path": "files", "source": `
export default async function (ctx) {
  const f = await ctx.files.upload({filename: "note.txt", content: "aGVsbG8gZmlsZQ==", encoding: "base64", fields: {title: "A note"}})
  const text = await ctx.files.text(f.id)
  const listed = await ctx.files.readMany({fields: ["id", "title", "type"]})
  await ctx.files.deleteOne(f.id)
  const after = await ctx.files.readMany({})
  return {title: f.title, size: f.filesize, text, listed: listed.length, type: listed[0].type, after: after.length}
}`})
	r := n.mustCall(200, "POST", "/api/t/acme/fn/files", nil)
	if got := fmt.Sprint(r.get("data")); got != "map[after:0 listed:1 size:10 text:hello file title:A note type:text/plain]" {
		t.Fatalf("ctx.files: %s", got)
	}
	// An anonymous caller's run has the public role's rights on files: none.
	anon := &node{t: t, base: n.base}
	if st, r := anon.call("POST", "/api/t/acme/fn/files", nil, nil); st != 500 || !strings.Contains(r.String(), "authentication required") {
		t.Fatalf("anonymous upload through a function: %d %s", st, r)
	}
}

// TestFunctionTypesServed: the types of ctx are at a fixed address, as text.
func TestFunctionTypesServed(t *testing.T) {
	t.Parallel()
	n := startNode(t, backends(t)[0].newControlURL(t), nil)
	resp, err := http.Get(n.base + "/strata.d.ts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") || !strings.Contains(string(b), "readMany") {
		t.Fatalf("/strata.d.ts: %d %s %.200s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
}

// TestFunctionRunsRecordedInBatches: runs recorded together (more than one
// statement's worth) are all there, each once.
func TestFunctionRunsRecordedInBatches(t *testing.T) {
	t.Parallel()
	n := startNode(t, backends(t)[0].newControlURL(t), nil)
	n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	id := createFunction(t, n, "acme", map[string]any{"name": "ping", "kind": "endpoint", "path": "ping", "source": `export default async () => "pong"`})
	const runs = 120
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range runs / 4 {
				n.mustCall(200, "GET", "/api/t/acme/fn/ping", nil)
			}
		}()
	}
	wg.Wait()
	n.app.Functions.FlushRuns(context.Background())
	r := n.mustCall(200, "GET", "/api/t/acme/functions/"+id+"/runs?limit=-1&meta=total_count&fields=id,status", nil)
	rows, _ := r.get("data").([]any)
	seen := map[string]bool{}
	for _, row := range rows {
		seen[row.(map[string]any)["id"].(string)] = true
	}
	if len(rows) != runs || len(seen) != runs {
		t.Fatalf("%d runs recorded (%d distinct), want %d", len(rows), len(seen), runs)
	}
}

// TestBeforeHookHoldsNoLockUntilItReads: a create's before hook that has not read yet
// holds no transaction, so while it waits (here on a fetch the test holds open) other
// writes of the tenant go through; on SQLite the write lock would otherwise stop them
// all. Once it reads, its read and the write are one transaction.
func TestBeforeHookHoldsNoLockUntilItReads(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), map[string]string{"STRATA_FUNCTIONS_FETCH_PRIVATE": "true"})
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			p := "/api/t/acme"
			for _, table := range []string{"posts", "other"} {
				n.mustCall(200, "POST", p+"/tables", map[string]any{"name": table, "columns": []any{map[string]any{"name": "title", "type": "string"}}})
			}
			entered, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			held := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				once.Do(func() { close(entered) })
				<-release
				fmt.Fprint(w, "go on")
			}))
			defer held.Close()
			defer func() {
				select {
				case <-release:
				default:
					close(release)
				}
			}()
			n.mustCall(200, "PATCH", p+"/settings", map[string]any{"functions_fetch_hosts": []string{"127.0.0.1"}})
			createFunction(t, n, "acme", map[string]any{"name": "wait", "kind": "hook", "table": "posts", "event": "create", "phase": "before", "timeout_ms": 30000,
				"source": `export default async function (ctx) {
					await (await ctx.fetch("` + held.URL + `/")).text()
					const seen = await ctx.items("posts").readMany({})
					ctx.event.payload.title = ctx.event.payload.title + " after " + seen.length
				}`})
			hooked := make(chan reply, 1)
			go func() {
				_, r := n.call("POST", p+"/items/posts", map[string]any{"title": "first"}, nil)
				hooked <- r
			}()
			select {
			case <-entered:
			case <-time.After(20 * time.Second):
				t.Fatal("the hook never fetched")
			}
			// The hook is waiting: a write to another table, and one to the hooked table's
			// neighbour in the same tenant, are not held behind it.
			other := make(chan int, 1)
			go func() {
				st, _ := n.call("POST", p+"/items/other", map[string]any{"title": "meanwhile"}, nil)
				other <- st
			}()
			select {
			case st := <-other:
				if st != 200 {
					t.Errorf("write beside the waiting hook: %d", st)
				}
			case <-time.After(8 * time.Second):
				t.Error("a write of the tenant waited on a before hook that had not read anything")
			}
			close(release)
			select {
			case r := <-hooked:
				if got := r.get("data.title"); got != "first after 0" {
					t.Errorf("the hooked write: %v, want its title rewritten after the read (%s)", got, r)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the hooked write did not finish")
			}
		})
	}
}
