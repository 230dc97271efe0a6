package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// registerChangeset registers a YAML changeset, wanting status.
func registerChangeset(t *testing.T, n *node, status int, yaml string) reply {
	t.Helper()
	st, r := n.call("POST", "/api/changesets", yaml, map[string]string{"Content-Type": "application/yaml"})
	if st != status {
		t.Fatalf("register changeset: %d %s, want %d", st, r, status)
	}
	return r
}

// waitRun polls a fleet run until it ends and every result is settled, and returns it.
func waitRun(t *testing.T, n *node, id string) reply {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		r := n.mustCall(200, "GET", "/api/migrate/runs/"+id, nil)
		counts, _ := r.get("data.counts").(map[string]any)
		if s := r.get("data.status"); s != "running" && s != "paused" && counts["queued"] == nil && counts["running"] == nil {
			return r
		}
	}
	t.Fatalf("run %s did not end", id)
	return nil
}

// outcomes lists a run's results as "tenant/changeset=status", in order.
func outcomes(r reply) string {
	var out []string
	results, _ := r.get("data.results").([]any)
	for _, x := range results {
		m := x.(map[string]any)
		out = append(out, fmt.Sprintf("%s/%s=%s", m["tenant"], m["changeset"], m["status"]))
	}
	return strings.Join(out, " ")
}

func startRun(t *testing.T, n *node, req map[string]any) string {
	t.Helper()
	return n.mustCall(202, "POST", "/api/migrate", req).get("data.id").(string)
}

func hasTable(n *node, slug, table string) bool {
	st, _ := n.call("GET", "/api/t/"+slug+"/tables/"+table, nil, nil)
	return st == 200
}

// TestFleetRuns: changesets selected by name and by tags (AND), expanded with their
// dependencies in order, planned by a dry run that changes nothing, applied once per
// tenant (a second run skips them), held for approval where a tenant says so, and
// stopped by a canary or by max_failures; a cycle or a missing dependency is refused
// before anything runs, and a registered changeset never changes.
func TestFleetRuns(t *testing.T) {
	requireBackends(t)
	t.Parallel() // alone on its databases; mostly waiting for DDL
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			tags := map[string]map[string]string{"ta": {"tier": "pro", "region": "eu"}, "tb": {"tier": "pro"}, "tc": {"tier": "free"}, "td": nil}
			for _, slug := range []string{"ta", "tb", "tc", "td"} {
				n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": slug})
				if tags[slug] != nil {
					if got := n.mustCall(200, "PATCH", "/api/tenants/"+slug, map[string]any{"tags": tags[slug]}).get("data.tags.tier"); got != tags[slug]["tier"] {
						t.Fatalf("tags of %s: %v", slug, got)
					}
				}
			}
			base := "name: base\ntags: [team=core]\nchanges:\n  - op: create_table\n    name: accounts\n    columns: [{name: email, type: string}]\n"
			registerChangeset(t, n, 201, base)
			registerChangeset(t, n, 200, base) // the same file again
			registerChangeset(t, n, 201, "name: plan\ndepends_on: [base]\ntags: [team=billing, kind=schema]\nchanges:\n  - op: add_column\n    table: accounts\n    column: {name: plan, type: string, length: 32}\n")
			registerChangeset(t, n, 201, `{"name": "notes", "tags": ["team=billing"], "changes": [{"op": "create_table", "name": "notes", "columns": [{"name": "body", "type": "text"}]}]}`)
			if r := registerChangeset(t, n, 409, strings.Replace(base, "email", "mail", 1)); r.get("errors.0.extensions.code") != "CHECKSUM_MISMATCH" || r.get("errors.0.extensions.registered_checksum") == nil {
				t.Fatalf("a changed file under a registered name: %s", r)
			}
			registerChangeset(t, n, 201, "name: loop_a\ndepends_on: [loop_b]\nup_sql: SELECT 1\n")
			registerChangeset(t, n, 201, "name: loop_b\ndepends_on: [loop_a]\nup_sql: SELECT 1\n")
			registerChangeset(t, n, 201, "name: orphan\ndepends_on: [ghost]\nup_sql: SELECT 1\n")
			for _, c := range []struct{ name, want string }{{"loop_a", "loop_a → loop_b → loop_a"}, {"orphan", "ghost (needed by orphan)"}} {
				st, r := n.call("POST", "/api/migrate", map[string]any{"changesets": []string{c.name}, "all_tenants": true}, nil)
				if st != 400 || r.get("errors.0.extensions.code") != "INVALID_DEPENDENCIES" || !strings.Contains(r.String(), c.want) {
					t.Errorf("%s: %d %s, want 400 INVALID_DEPENDENCIES naming %s", c.name, st, r, c.want)
				}
			}

			// Changesets tagged team=billing AND kind=schema (plan, not notes), with base
			// before it; tenants tagged tier=pro (ta and tb).
			sel := map[string]any{"changeset_tags": []string{"team=billing", "kind=schema"}, "tenant_tags": []string{"tier=pro"}}
			dry := n.mustCall(200, "POST", "/api/migrate", map[string]any{"changeset_tags": sel["changeset_tags"], "tenant_tags": sel["tenant_tags"], "dry_run": true})
			if got := outcomes(dry); got != "ta/base=planned ta/plan=planned tb/base=planned tb/plan=planned" {
				t.Fatalf("dry run: %s (%v)", got, dry.get("data.results.0.error"))
			}
			if !strings.Contains(fmt.Sprint(dry.get("data.results.1.plan.0.up_sql")), "plan") {
				t.Errorf("the dry run's plan of add_plan: %s", dry)
			}
			if hasTable(n, "ta", "accounts") {
				t.Fatal("the dry run changed a tenant")
			}
			run := waitRun(t, n, startRun(t, n, sel))
			if got := outcomes(run); run.get("data.status") != "completed" || got != "ta/base=applied ta/plan=applied tb/base=applied tb/plan=applied" {
				t.Fatalf("the run: %s %s", run.get("data.status"), got)
			}
			// The run as server-sent events: a progress per result, then the result.
			if st, r := n.call("GET", "/api/migrate/runs/"+run.get("data.id").(string), nil, map[string]string{"Accept": "text/event-stream"}); st != 200 ||
				strings.Count(fmt.Sprint(r["raw"]), "event: progress") != 4 || !strings.Contains(fmt.Sprint(r["raw"]), "event: result\ndata: {\"data\":{") {
				t.Errorf("the run's event stream: %d %s", st, r)
			}
			if !hasTable(n, "ta", "accounts") || !hasTable(n, "tb", "accounts") || hasTable(n, "tc", "accounts") {
				t.Fatal("the run did not touch exactly the selected tenants")
			}
			ledger, _ := n.mustCall(200, "GET", "/api/t/ta/migrations?limit=100", nil).get("data").([]any)
			var marked []string
			for _, x := range ledger {
				if cs, _ := x.(map[string]any)["changeset"].(string); cs != "" {
					marked = append(marked, cs)
				}
			}
			if !slices.Equal(marked, []string{"base", "plan"}) {
				t.Errorf("ledger rows carrying their changeset: %v", marked)
			}
			// Again: nothing to do.
			if got := outcomes(waitRun(t, n, startRun(t, n, sel))); got != "ta/base=skipped ta/plan=skipped tb/base=skipped tb/plan=skipped" {
				t.Errorf("the same run again: %s", got)
			}
			// The list: newest first, as many as asked, each with its counts.
			if runs := n.mustCall(200, "GET", "/api/migrate/runs?limit=1", nil); runs.get("data.1") != nil || runs.get("data.0.counts.skipped") != 4.0 || runs.get("data.0.results") != nil {
				t.Errorf("the list of runs: %s", runs)
			}

			// Without its dependency, plan fails on tenants that lack base (tc, td). A canary of
			// one stops the run at the first; max_failures 0 stops it after the first.
			only := func(extra map[string]any) map[string]any {
				req := map[string]any{"changesets": []string{"plan"}, "tenants": []string{"tc", "td"}, "no_deps": true, "concurrency": 1}
				for k, v := range extra {
					req[k] = v
				}
				return req
			}
			for _, c := range []struct {
				name  string
				extra map[string]any
				why   string
			}{{"canary", map[string]any{"canary": 1}, "canary"}, {"max_failures", map[string]any{"max_failures": 0}, "max_failures"}} {
				r := waitRun(t, n, startRun(t, n, only(c.extra)))
				if got := outcomes(r); r.get("data.status") != "failed" || got != "tc/plan=failed td/plan=not_run" || !strings.Contains(fmt.Sprint(r.get("data.error")), c.why) {
					t.Errorf("%s: %s %s (%v)", c.name, r.get("data.status"), got, r.get("data.error"))
				}
			}
			if r := waitRun(t, n, startRun(t, n, only(nil))); outcomes(r) != "tc/plan=failed td/plan=failed" || r.get("data.status") != "failed" {
				t.Errorf("no limit: every tenant tried: %s", outcomes(r))
			}

			// A tenant that holds changes for approval holds the changeset's, once.
			n.mustCall(200, "PATCH", "/api/t/tb/settings", map[string]any{"require_approval": "all"})
			for range 2 {
				if got := outcomes(waitRun(t, n, startRun(t, n, map[string]any{"changesets": []string{"notes"}, "tenants": []string{"tb"}}))); got != "tb/notes=pending_approval" {
					t.Errorf("under approval: %s", got)
				}
			}
			pending, _ := n.mustCall(200, "GET", "/api/t/tb/migrations?status=pending", nil).get("data").([]any)
			if len(pending) != 1 {
				t.Errorf("pending migrations of tb: %d, want 1", len(pending))
			}
			runs, _ := n.mustCall(200, "GET", "/api/migrate/runs", nil).get("data").([]any)
			if len(runs) != 7 {
				t.Errorf("runs listed: %d", len(runs))
			}

			// A relation the changeset adds can be dropped later in the same changeset: its id
			// is fixed before the changeset runs, in the dry run and in the run.
			registerChangeset(t, n, 201, `{"name": "links", "changes": [
				{"op": "create_table", "name": "authors", "columns": [{"name": "name", "type": "string"}]},
				{"op": "create_table", "name": "posts", "columns": [{"name": "title", "type": "string"}]},
				{"op": "add_relation", "table": "posts", "name": "author", "type": "many_to_one", "target": "authors"},
				{"op": "add_relation", "table": "posts", "name": "editor", "type": "many_to_one", "target": "authors"},
				{"op": "drop_relation", "table": "posts", "name": "author"}]}`)
			links := map[string]any{"changesets": []string{"links"}, "tenants": []string{"td"}}
			if r := n.mustCall(200, "POST", "/api/migrate", map[string]any{"changesets": links["changesets"], "tenants": links["tenants"], "dry_run": true}); outcomes(r) != "td/links=planned" {
				t.Fatalf("the dry run of links: %s (%v)", outcomes(r), r.get("data.results.0.error"))
			}
			if r := waitRun(t, n, startRun(t, n, links)); outcomes(r) != "td/links=applied" {
				t.Fatalf("links: %s (%v)", outcomes(r), r.get("data.results.0.error"))
			}
			posts := n.mustCall(200, "GET", "/api/t/td/tables/posts", nil)
			if posts.get("data.relations.0.name") != "editor" || posts.get("data.relations.1") != nil {
				t.Errorf("posts' relations after links: %v, want editor alone", posts.get("data.relations"))
			}
			n.mustCall(200, "POST", "/api/t/td/items/posts", map[string]any{"title": "x", "editor": nil})
			if st, _ := n.call("POST", "/api/t/td/items/posts", map[string]any{"title": "x", "author": nil}, nil); st != 400 {
				t.Errorf("writing the dropped relation: %d, want 400", st)
			}
		})
	}
}

// TestFleetRunSteered: a run is paused (it takes no new tenant), resumed, and another is
// cancelled (what it had not reached is not run). A node running migrations slowly
// (STRATA_TEST_STEP_DELAY) makes the window.
func TestFleetRunSteered(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			control, dataDir := b.newControlURL(t), t.TempDir()
			n := startNode(t, control, map[string]string{"STRATA_DATA_DIR": dataDir})
			slugs := []string{"s1", "s2", "s3", "s4", "s5", "s6"}
			for _, slug := range slugs {
				n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": slug})
			}
			registerChangeset(t, n, 201, "name: t1\nchanges:\n  - op: create_table\n    name: t1\n    columns: [{name: a, type: string}]\n")
			registerChangeset(t, n, 201, "name: t2\nchanges:\n  - op: create_table\n    name: t2\n    columns: [{name: a, type: string}]\n")
			slow := startNode(t, control, map[string]string{"STRATA_DATA_DIR": dataDir, "STRATA_TEST_STEP_DELAY": "150ms"})

			id := startRun(t, slow, map[string]any{"changesets": []string{"t1"}, "all_tenants": true, "concurrency": 1})
			paused := slow.mustCall(200, "POST", "/api/migrate/runs/"+id+"/pause", nil)
			if paused.get("data.status") != "paused" {
				t.Fatalf("pause: %s", paused)
			}
			time.Sleep(600 * time.Millisecond) // the tenant under way finishes; no other starts
			held := n.mustCall(200, "GET", "/api/migrate/runs/"+id, nil)
			// At most the one tenant the run had just taken (concurrency 1) starts after
			// the pause; not one that waited for a free slot when it came.
			q, _ := held.get("data.counts.queued").(float64)
			if was, _ := paused.get("data.counts.queued").(float64); q < 4 || q < was-1 {
				t.Fatalf("a paused run went on: %s, queued at the pause %v", outcomes(held), was)
			}
			if st, _ := n.call("POST", "/api/migrate/runs/"+id+"/pause", nil, nil); st != 409 {
				t.Errorf("pausing a paused run: %d", st)
			}
			n.mustCall(200, "POST", "/api/migrate/runs/"+id+"/resume", nil) // from the other node
			if r := waitRun(t, n, id); r.get("data.status") != "completed" || r.get("data.counts.applied") != 6.0 {
				t.Fatalf("resumed: %s %s", r.get("data.status"), outcomes(r))
			}

			id = startRun(t, slow, map[string]any{"changesets": []string{"t2"}, "all_tenants": true, "concurrency": 1})
			time.Sleep(200 * time.Millisecond)
			cancelled := slow.mustCall(200, "POST", "/api/migrate/runs/"+id+"/cancel", nil)
			if cancelled.get("data.status") != "cancelled" || cancelled.get("data.counts.queued") != nil {
				t.Fatalf("cancel: what was queued is not run at once: %s %s", cancelled.get("data.status"), outcomes(cancelled))
			}
			r := waitRun(t, n, id)
			counts, _ := r.get("data.counts").(map[string]any)
			if r.get("data.status") != "cancelled" || counts["not_run"] == nil || counts["queued"] != nil || counts["running"] != nil {
				t.Fatalf("cancelled: %s %s", r.get("data.status"), outcomes(r))
			}
			// What the cancel marked not run stays so: not even a tenant that waited for
			// a free slot when it came.
			if was := cancelled.get("data.counts.not_run"); counts["not_run"] != was {
				t.Fatalf("cancelled, then ran: %s, not run at the cancel %v", outcomes(r), was)
			}
			if st, _ := n.call("POST", "/api/migrate/runs/"+id+"/resume", nil, nil); st != 409 {
				t.Errorf("resuming a cancelled run: %d", st)
			}
		})
	}
}

// TestFleetRunSurvivesANodeKill: a node killed in the middle of a run leaves it
// running with a silent heartbeat; another node takes it over, finds what the dead one
// had applied (applied, not twice), and finishes the rest.
func TestFleetRunSurvivesANodeKill(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			control, dataDir := b.newControlURL(t), t.TempDir()
			n := startNode(t, control, map[string]string{"STRATA_DATA_DIR": dataDir, "STRATA_FLEET_TAKEOVER_AFTER": "2s"})
			slugs := []string{"k1", "k2", "k3", "k4", "k5"}
			for _, slug := range slugs {
				n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": slug})
			}
			registerChangeset(t, n, 201, "name: kt\nchanges:\n  - op: create_table\n    name: kt\n    columns: [{name: a, type: string}]\n")
			env := map[string]string{"STRATA_DATABASE_URL": control, "STRATA_DATA_DIR": dataDir, "STRATA_ADMIN_PASSWORD": testPassword,
				"STRATA_JWT_SECRET": "test-secret-test-secret-test-secret!!", "STRATA_LOG_LEVEL": "warn", "STRATA_TEST_STEP_DELAY": "400ms"}
			p := startProc(t, env)
			doomed := p.node(t)
			id := startRun(t, doomed, map[string]any{"changesets": []string{"kt"}, "all_tenants": true, "concurrency": 1})
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				r := n.mustCall(200, "GET", "/api/migrate/runs/"+id, nil)
				if r.get("data.counts.applied") != nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("nothing applied: %s", outcomes(r))
				}
			}
			if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = p.cmd.Wait()
			before := n.mustCall(200, "GET", "/api/migrate/runs/"+id, nil)
			if before.get("data.status") != "running" {
				t.Fatalf("the killed node's run: %s", before.get("data.status"))
			}
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
				n.app.fleet.Resume(context.Background())
				r := n.mustCall(200, "GET", "/api/migrate/runs/"+id, nil)
				if r.get("data.status") == "completed" {
					if r.get("data.counts.applied") != 5.0 {
						t.Fatalf("taken over: %s", outcomes(r))
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the run was not taken over: %s %s", r.get("data.status"), outcomes(r))
				}
			}
			for _, slug := range slugs {
				list, _ := n.mustCall(200, "GET", "/api/t/"+slug+"/migrations?limit=100&status=executed", nil).get("data").([]any)
				count := 0
				for _, m := range list {
					if m.(map[string]any)["changeset"] == "kt" {
						count++
					}
				}
				if count != 1 {
					t.Errorf("%s ran the changeset %d times", slug, count)
				}
			}
		})
	}
}
