package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestSecurityFunctionsStayInTheirTenant: a hostile tenant admin's function tries to
// reach what is not its tenant's — another tenant's rows and functions, identities,
// the metadata, the node's environment, files, modules, private addresses and hosts
// the tenant did not allow — and to serve a page as Strata's origin. Each attempt fails
// with a clear refusal.
func TestSecurityFunctionsStayInTheirTenant(t *testing.T) {
	t.Parallel()
	n := startNode(t, backends(t)[0].newControlURL(t), nil)
	for _, slug := range []string{"evil", "victim"} {
		n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": slug})
		n.mustCall(200, "POST", "/api/t/"+slug+"/tables", map[string]any{"name": "notes", "columns": []any{map[string]any{"name": "text", "type": "string"}}})
	}
	n.mustCall(200, "POST", "/api/t/victim/items/notes", map[string]any{"text": "victim's secret"})
	n.mustCall(201, "PUT", "/api/t/victim/functions/secrets/API_KEY", map[string]any{"value": "victim-key"})
	victimFn := createFunction(t, n, "victim", map[string]any{"name": "v", "kind": "endpoint", "path": "v", "source": `export default async () => 1`})

	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "inside") }))
	defer local.Close()
	host := strings.TrimPrefix(local.URL, "http://")
	n.mustCall(200, "PATCH", "/api/t/evil/settings", map[string]any{"functions_fetch_hosts": []string{"127.0.0.1", "localhost"}})

	probe := func(name, body string) (int, reply) {
		t.Helper()
		createFunction(t, n, "evil", map[string]any{"name": name, "kind": "endpoint", "path": name, "source": "export default async function (ctx) { " + body + " }"})
		return n.call("GET", "/api/t/evil/fn/"+name, nil, nil)
	}
	cases := []struct {
		name, body string
		status     int
		want       string
	}{
		{"other_rows", `return await ctx.items("notes").readMany({})`, 200, `"data":[]`},
		{"identities", `return await ctx.items("strata_users").readMany({})`, 500, "no table"},
		{"metadata", `return await ctx.items("function_definition").readMany({})`, 500, "no table"},
		{"ledger", `return await ctx.items("custom_migrations").readMany({})`, 500, "no table"},
		{"secrets_table", `return await ctx.items("strata_function_secrets").readMany({})`, 500, "no table"},
		{"other_env", `return ctx.env.API_KEY ?? "none"`, 200, `"data":"none"`},
		{"process", `return typeof process + " " + typeof globalThis.fetch + " " + typeof setTimeout`, 200, `"undefined undefined undefined"`},
		{"require", `try { require("child_process"); return "loaded" } catch (e) { return String(e) }`, 200, "cannot import modules"},
		{"imports", `const m = await import("fs"); return m`, 500, "FUNCTION_"},
		{"loopback", `return await (await ctx.fetch("http://` + host + `/")).text()`, 500, "private"},
		{"localhost", `return await (await ctx.fetch("http://localhost:` + strings.Split(host, ":")[1] + `/")).text()`, 500, "private"},
		{"not_allowed", `return await (await ctx.fetch("https://example.com/")).text()`, 500, "functions_fetch_hosts"},
		{"file_scheme", `return await (await ctx.fetch("file:///etc/passwd")).text()`, 500, "not an http"},
	}
	for _, c := range cases {
		st, r := probe(c.name, c.body)
		if st != c.status || !strings.Contains(r.String(), c.want) {
			t.Errorf("%s: %d %s; want %d containing %q", c.name, st, r, c.status, c.want)
		}
		if strings.Contains(r.String(), "victim") || strings.Contains(r.String(), "inside") {
			t.Errorf("%s reached the other side: %s", c.name, r)
		}
	}
	// Another tenant's function is not there to run, read or change.
	for _, call := range [][2]string{{"GET", "/api/t/evil/functions/" + victimFn}, {"POST", "/api/t/evil/functions/" + victimFn + "/run"},
		{"PATCH", "/api/t/evil/functions/" + victimFn}, {"DELETE", "/api/t/evil/functions/" + victimFn}, {"GET", "/api/t/evil/fn/v"}} {
		if st, r := n.call(call[0], call[1], map[string]any{}, nil); st != 404 {
			t.Errorf("%s %s: %d %s", call[0], call[1], st, r)
		}
	}
	// A page an endpoint serves never runs as Strata's origin.
	createFunction(t, n, "evil", map[string]any{"name": "page", "kind": "endpoint", "path": "page",
		"source": `export default async (ctx) => ctx.response(200, "<script>localStorage</script>", {"Content-Type": "text/html", "Content-Security-Policy": "default-src *"})`})
	resp, err := http.Get(n.base + "/api/t/evil/fn/page")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "sandbox") || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("an endpoint's page: CSP %q, nosniff %q", csp, resp.Header.Get("X-Content-Type-Options"))
	}
	// Secrets are write-only: listed by name, never by value.
	if list := n.mustCall(200, "GET", "/api/t/victim/functions/secrets", nil); strings.Contains(list.String(), "victim-key") || list.get("data.0.name") != "API_KEY" {
		t.Errorf("secrets list: %s", list)
	}
	// A non-admin of the tenant cannot manage functions.
	n.mustCall(200, "PATCH", "/api/t/evil/settings", map[string]any{"allow_signup": true})
	user := tenantUser(t, n, "evil", "u@example.com")
	for _, call := range [][2]string{{"GET", "/api/t/evil/functions"}, {"POST", "/api/t/evil/functions"}, {"GET", "/api/t/evil/functions/secrets"}} {
		if st, _ := user.call(call[0], call[1], map[string]any{}, nil); st != 403 {
			t.Errorf("a tenant user: %s %s answered %d", call[0], call[1], st)
		}
	}
	n.app.Functions.FlushRuns(context.Background())
}
