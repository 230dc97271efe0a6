package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"strata/modules/meta"
	"strata/schema"
)

// sameSchema checks that a tenant's live schema is what another tenant's model says
// it should be, on the first tenant's dialect.
func sameSchema(t *testing.T, n *node, modelOf, liveOf string) {
	t.Helper()
	// Straight from the metadata: another process (the CLI) may have changed it
	// since the node cached it.
	src := n.tenantDB(modelOf)
	m, err := meta.Load(context.Background(), src, src.Dialect)
	if err != nil {
		t.Fatal(err)
	}
	dst := n.tenantDB(liveOf)
	live, err := dst.Dialect.Inspect(context.Background(), dst)
	if err != nil {
		t.Fatal(err)
	}
	if d := schema.CompareLive(schema.ExpectedLive(dst.Dialect, m), live); len(d) > 0 {
		t.Fatalf("%s's schema differs from %s's model:\n%s", liveOf, modelOf, strings.Join(d, "\n"))
	}
}

func TestSandboxAndReplay(t *testing.T) {
	t.Parallel() // alone on its databases
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			p := "/api/t/acme"
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "authors", "columns": []any{map[string]any{"name": "name", "type": "string"}}})
			early := int64(len(ledger(t, n.tenantDB("acme"))))
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "posts", "columns": everyType,
				"relations": []any{map[string]any{"name": "author", "type": "many_to_one", "target": "authors", "inverse": "posts"}}})
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "tags", "columns": []any{map[string]any{"name": "label", "type": "string"}}})
			n.mustCall(200, "POST", p+"/relations", map[string]any{"table": "posts", "name": "tags", "type": "many_to_many", "target": "tags"})
			n.mustCall(200, "PATCH", p+"/tables/posts/columns/title", map[string]any{"name": "headline"})
			n.mustCall(200, "POST", p+"/tables/posts/indexes", map[string]any{"columns": []string{"headline", "views"}})
			_, r := n.call("DELETE", p+"/tables/posts/columns/body", nil, nil)
			n.call("DELETE", p+"/tables/posts/columns/body", nil, confirmHeaders(t, r))
			n.mustCall(200, "PATCH", p+"/tables/tags", map[string]any{"name": "labels"})

			r = n.mustCall(201, "POST", "/api/tenants/acme/sandboxes", map[string]any{"slug": "acme-sb"})
			if r.get("data.replay.complete") != true || r.get("data.replay.applied") != float64(8) {
				t.Fatalf("sandbox replay: %s", r)
			}
			sameSchema(t, n, "acme", "acme-sb")
			// A sandbox names its source; the source names none.
			if r.get("data.tenant.sandbox_of") != "acme" {
				t.Fatalf("sandbox answer without its source: %s", r)
			}
			if got := n.mustCall(200, "GET", "/api/tenants/acme-sb", nil).get("data.sandbox_of"); got != "acme" {
				t.Fatalf("GET the sandbox: sandbox_of %v", got)
			}
			if got := n.mustCall(200, "GET", "/api/tenants/acme", nil).get("data.sandbox_of"); got != nil {
				t.Fatalf("GET the source: sandbox_of %v", got)
			}
			// Up to a seq: only what existed then.
			n.mustCall(201, "POST", "/api/tenants/acme/sandboxes", map[string]any{"slug": "acme-early", "up_to": early})
			if tables := n.mustCall(200, "GET", "/api/t/acme-early/tables", nil).fieldNames("data"); !tables["authors"] || tables["posts"] {
				t.Fatalf("up_to sandbox: %v", tables)
			}
			// Replay brings a sandbox up to date with only what it lacks.
			n.mustCall(200, "POST", p+"/tables/authors/columns", map[string]any{"name": "bio", "type": "text"})
			r = n.mustCall(200, "POST", "/api/tenants/acme-sb/replay", map[string]any{"from": "acme"})
			if r.get("data.applied") != float64(1) || r.get("data.skipped") != float64(8) {
				t.Fatalf("incremental replay: %s", r)
			}
			sameSchema(t, n, "acme", "acme-sb")
			// Progress as server-sent events, for a new sandbox and for a replay.
			st, events := n.stream("POST", "/api/tenants/acme/sandboxes", map[string]any{"slug": "acme-live"})
			checkReplayEvents(t, st, 201, events, 9, 0)
			if events[len(events)-1].data.get("data.tenant.slug") != "acme-live" {
				t.Fatalf("sandbox result event: %s", events[len(events)-1].data)
			}
			n.mustCall(200, "POST", p+"/tables/authors/columns", map[string]any{"name": "born", "type": "date"})
			st, events = n.stream("POST", "/api/tenants/acme-live/replay", map[string]any{"from": "acme"})
			checkReplayEvents(t, st, 200, events, 1, 9)
			sameSchema(t, n, "acme", "acme-live")
			// A refusal known before anything runs is an ordinary error answer.
			n.mustCall(200, "POST", "/api/t/acme-live/tables", map[string]any{"name": "live_only", "columns": []any{}})
			if st, events := n.stream("POST", "/api/tenants/acme-live/replay", map[string]any{"from": "acme"}); st != 409 || len(events) != 0 {
				t.Fatalf("diverged streamed replay: %d %v", st, events)
			}
			// Diverged histories are refused, naming where.
			n.mustCall(200, "POST", "/api/t/acme-sb/tables", map[string]any{"name": "only_here", "columns": []any{}})
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "only_there", "columns": []any{}})
			if st, r := n.call("POST", "/api/tenants/acme-sb/replay", map[string]any{"from": "acme"}, nil); st != 409 || r.get("errors.0.extensions.target_seq") == nil {
				t.Fatalf("diverged replay: %d %s", st, r)
			}
			// A replay into itself, and a negative up_to, are refused by the service
			// (every door), streamed or not, before anything is made.
			for _, bad := range []struct {
				path  string
				body  map[string]any
				field string
			}{
				{"/api/tenants/acme/replay", map[string]any{"from": "acme"}, "from"},
				{"/api/tenants/acme-sb/replay", map[string]any{"from": "acme", "up_to": -1}, "up_to"},
				{"/api/tenants/acme/sandboxes", map[string]any{"slug": "acme-neg", "up_to": -1}, "up_to"},
			} {
				if st, r := n.call("POST", bad.path, bad.body, nil); st != 400 || r.get("errors.0.extensions.field") != bad.field {
					t.Errorf("%s %v: %d %s", bad.path, bad.body, st, r)
				}
			}
			n.mustCall(404, "GET", "/api/tenants/acme-neg", nil)
			// A failed step in range is refused.
			n.mustCall(200, "POST", p+"/items/authors", map[string]any{"name": "x"})
			n.call("POST", p+"/tables/authors/columns", map[string]any{"name": "must", "type": "string", "nullable": false}, nil)
			if st, _ := n.call("POST", "/api/tenants/acme/sandboxes", map[string]any{"slug": "acme-late"}, nil); st != 409 {
				t.Errorf("sandbox of a history with a failed step: %d", st)
			}
			// Another dialect: the same history onto SQLite.
			if b.name != "sqlite" {
				r = n.mustCall(201, "POST", "/api/tenants/acme/sandboxes", map[string]any{"slug": "acme-lite", "up_to": early + 8, "database_url": "sqlite://" + t.TempDir() + "/ignored.db"})
				if r.get("data.tenant.dialect") != "sqlite" || r.get("data.replay.complete") != true {
					t.Fatalf("cross-dialect sandbox: %s", r)
				}
				n.mustCall(201, "POST", "/api/tenants/acme/sandboxes", map[string]any{"slug": "acme-mid", "up_to": early + 8})
				sameSchema(t, n, "acme-mid", "acme-lite")
			}
		})
	}
}

// event is one server-sent event.
type event struct {
	name string
	data reply
}

// stream sends a request that accepts server-sent events and reads them all; an answer
// that is not a stream comes back as its status and no events.
func (n *node) stream(method, path string, body any) (int, []event) {
	n.t.Helper()
	buf, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, n.base+path, bytes.NewReader(buf))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+n.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return resp.StatusCode, nil
	}
	var out []event
	sc := bufio.NewScanner(resp.Body)
	var cur event
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data = reply{}
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &cur.data); err != nil {
				n.t.Fatalf("event %s data is not JSON: %q", cur.name, line)
			}
		case line == "" && cur.name != "":
			out = append(out, cur)
			cur = event{}
		}
	}
	return resp.StatusCode, out
}

// checkReplayEvents checks a replay's stream: start, one progress event per applied
// step counting up, then the result.
func checkReplayEvents(t *testing.T, status, want int, events []event, applied, skipped int) {
	t.Helper()
	if status != want || len(events) != applied+2 {
		t.Fatalf("replay stream: status %d, %d events, want %d and %d: %v", status, len(events), want, applied+2, events)
	}
	if events[0].name != "start" || events[0].data.get("pending") != float64(applied) || events[0].data.get("skipped") != float64(skipped) {
		t.Fatalf("start event: %s %s", events[0].name, events[0].data)
	}
	for i, e := range events[1 : applied+1] {
		if e.name != "progress" || e.data.get("done") != float64(i+1) || e.data.get("total") != float64(applied) || e.data.get("step.status") != "executed" {
			t.Fatalf("progress event %d: %s %s", i, e.name, e.data)
		}
	}
	if last := events[applied+1]; last.name != "result" || last.data.get("data") == nil {
		t.Fatalf("result event: %s %s", last.name, last.data)
	}
}
