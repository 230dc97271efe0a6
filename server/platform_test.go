package main

import (
	"net/http"
	"strings"
	"testing"
)

func TestAuthTokens(t *testing.T) {
	t.Parallel()
	// No grace for a reused refresh token here: a reuse revokes at once
	// (TestSecurityRefreshReuseInterval tests the grace).
	n := startNode(t, "sqlite://"+t.TempDir()+"/control.db", map[string]string{"STRATA_REFRESH_REUSE_INTERVAL": "0s"})
	n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	anon := &node{t: t, base: n.base}
	cases := []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"wrong password", "POST", "/api/auth/login", map[string]any{"email": "admin@example.com", "password": "nope"}, 401, "INVALID_CREDENTIALS"},
		{"unknown email", "POST", "/api/auth/login", map[string]any{"email": "who@example.com", "password": "nope"}, 401, "INVALID_CREDENTIALS"},
		{"missing fields", "POST", "/api/auth/login", map[string]any{"email": "admin@example.com"}, 400, "INVALID_PAYLOAD"},
		{"anonymous tenants", "GET", "/api/tenants", nil, 401, "INVALID_CREDENTIALS"},
		{"anonymous tenant route", "GET", "/api/t/acme/migrations", nil, 401, "INVALID_CREDENTIALS"},
		{"unknown refresh token", "POST", "/api/auth/refresh", map[string]any{"refresh_token": "nope"}, 401, "INVALID_TOKEN"},
	}
	for _, c := range cases {
		st, r := anon.call(c.method, c.path, c.body, nil)
		if st != c.status || r.get("errors.0.extensions.code") != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, st, r, c.status, c.code)
		}
	}
	bad := &node{t: t, base: n.base, token: "not-a-jwt"}
	if st, r := bad.call("GET", "/api/tenants", nil, nil); st != 401 || r.get("errors.0.extensions.code") != "INVALID_TOKEN" {
		t.Errorf("garbage token: %d %s", st, r)
	}

	login := anon.mustCall(200, "POST", "/api/auth/login", map[string]any{"email": "Admin@Example.com", "password": testPassword})
	if exp, _ := login.get("data.expires").(float64); exp <= 0 {
		t.Errorf("expires = %v, want a positive number of ms", login.get("data.expires"))
	}
	first := login.get("data.refresh_token").(string)
	rotated := anon.mustCall(200, "POST", "/api/auth/refresh", map[string]any{"refresh_token": first})
	second := rotated.get("data.refresh_token").(string)
	if second == first {
		t.Fatal("refresh did not rotate the token")
	}
	withNew := &node{t: t, base: n.base, token: rotated.get("data.access_token").(string)}
	withNew.mustCall(200, "GET", "/api/tenants", nil)
	// Reusing a rotated token revokes the whole session family.
	if st, _ := anon.call("POST", "/api/auth/refresh", map[string]any{"refresh_token": first}, nil); st != 401 {
		t.Fatalf("a reused refresh token was accepted: %d", st)
	}
	if st, _ := anon.call("POST", "/api/auth/refresh", map[string]any{"refresh_token": second}, nil); st != 401 {
		t.Fatalf("the family survived a reuse: %d", st)
	}
	// Logout revokes.
	again := anon.mustCall(200, "POST", "/api/auth/login", map[string]any{"email": "admin@example.com", "password": testPassword})
	rt := again.get("data.refresh_token").(string)
	if st, _ := anon.call("POST", "/api/auth/logout", map[string]any{"refresh_token": rt}, nil); st != 204 {
		t.Fatalf("logout: %d", st)
	}
	if st, _ := anon.call("POST", "/api/auth/refresh", map[string]any{"refresh_token": rt}, nil); st != 401 {
		t.Fatalf("refresh after logout: %d", st)
	}
}

func TestTenants(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme", "name": "Acme"})
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "beta-2"})
			for _, c := range []struct {
				body any
				code string
			}{
				{map[string]any{"slug": "acme"}, "RECORD_NOT_UNIQUE"},
				{map[string]any{"slug": "Bad_Slug"}, "INVALID_PAYLOAD"},
				{map[string]any{"slug": "a"}, "INVALID_PAYLOAD"},
				{map[string]any{"slug": "ok-slug", "database_url": "oracle://x"}, "INVALID_PAYLOAD"},
			} {
				st, r := n.call("POST", "/api/tenants", c.body, nil)
				if st != 400 || r.get("errors.0.extensions.code") != c.code {
					t.Errorf("%v: %d %s, want 400 %s", c.body, st, r, c.code)
				}
				// A bad slug says what a slug may contain, in words.
				if b := c.body.(map[string]any); b["slug"] == "Bad_Slug" || b["slug"] == "a" {
					if msg, _ := r.get("errors.0.message").(string); !strings.Contains(msg, "lowercase letters, digits and hyphens") {
						t.Errorf("%v: message %q does not say what a slug may contain", c.body, msg)
					}
				}
			}
			list, _ := n.mustCall(200, "GET", "/api/tenants", nil).get("data").([]any)
			if len(list) != 2 {
				t.Fatalf("%d tenants listed, want 2", len(list))
			}
			// Tenants are isolated: a table in one does not exist in the other.
			n.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "posts", "columns": []any{map[string]any{"name": "a", "type": "string"}}})
			if st, _ := n.call("GET", "/api/t/beta-2/items/posts", nil, nil); st != 404 {
				t.Errorf("beta-2 sees acme's table: %d", st)
			}
			if st, _ := n.call("GET", "/api/t/nope/tables", nil, nil); st != 404 {
				t.Errorf("unknown tenant: %d", st)
			}
			// Deleting a tenant takes the confirm challenge.
			st, r := n.call("DELETE", "/api/tenants/beta-2", nil, nil)
			if st != 422 {
				t.Fatalf("delete without confirmation: %d %s", st, r)
			}
			if st, r := n.call("DELETE", "/api/tenants/beta-2", nil, confirmHeaders(t, r)); st != 204 {
				t.Fatalf("confirmed delete: %d %s", st, r)
			}
			if st, _ := n.call("GET", "/api/tenants/beta-2", nil, nil); st != 404 {
				t.Errorf("deleted tenant still readable: %d", st)
			}
			// The slug is free again, with a fresh database.
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "beta-2"})
			n.mustCall(200, "GET", "/api/t/beta-2/tables", nil)
		})
	}
}

// TestMetadataItemsTakeTheOnePath: writes to the metadata tables through /items are
// schema changes with recorded migrations, and the metadata tables read like items.
func TestMetadataItemsTakeTheOnePath(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			db := n.tenantDB("acme")
			count := func() int { return len(ledger(t, db)) }
			c0 := count()
			tbl := n.mustCall(200, "POST", "/api/t/acme/items/table_definition", map[string]any{"name": "books", "columns": []any{map[string]any{"name": "title", "type": "string"}}})
			tableID, _ := tbl.get("data.id").(string)
			if tbl.get("data.name") != "books" || tableID == "" || count() != c0+1 {
				t.Fatalf("create through items: %s (migrations %d → %d)", tbl, c0, count())
			}
			col := n.mustCall(200, "POST", "/api/t/acme/items/column_definition", map[string]any{"table": "books", "name": "pages", "type": "integer"})
			colID, _ := col.get("data.id").(string)
			if col.get("data.name") != "pages" || count() != c0+2 {
				t.Fatalf("add column through items: %s", col)
			}
			n.mustCall(200, "PATCH", "/api/t/acme/items/column_definition/"+colID, map[string]any{"name": "page_count"})
			n.mustCall(200, "PATCH", "/api/t/acme/items/table_definition/"+tableID, map[string]any{"name": "volumes"})
			rel := n.mustCall(200, "POST", "/api/t/acme/items/relation_definition", map[string]any{"table": "volumes", "name": "sequel", "type": "many_to_one", "target": "volumes"})
			relID, _ := rel.get("data.id").(string)
			if count() != c0+5 {
				t.Fatalf("%d migrations after 5 metadata writes", count()-c0)
			}
			st, r := n.call("DELETE", "/api/t/acme/items/relation_definition/"+relID, nil, nil)
			if st != 422 {
				t.Fatalf("dropping a relation through items skipped the confirm challenge: %d %s", st, r)
			}
			if st, r := n.call("DELETE", "/api/t/acme/items/relation_definition/"+relID, nil, confirmHeaders(t, r)); st != 204 {
				t.Fatalf("confirmed relation drop: %d %s", st, r)
			}
			rows, _ := n.mustCall(200, "GET", "/api/t/acme/items/table_definition", nil).get("data").([]any)
			names := map[string]bool{}
			for _, x := range rows {
				names[x.(map[string]any)["name"].(string)] = true
			}
			if !names["volumes"] || !names["custom_migrations"] {
				t.Errorf("table_definition rows: %v", names)
			}
			if st, _ := n.call("POST", "/api/t/acme/items/custom_migrations", map[string]any{"name": "x"}, nil); st != 403 {
				t.Errorf("custom_migrations written through items: %d", st)
			}
			if d := liveDrift(t, db); len(d) > 0 {
				t.Fatalf("drift: %v", d)
			}
		})
	}
}

// TestItemWriteErrors: values are checked per column type, and constraint failures
// map onto the contract's codes with the field named.
func TestItemWriteErrors(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			n.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "people", "columns": []any{
				map[string]any{"name": "email", "type": "email", "unique": true},
				map[string]any{"name": "name", "type": "string", "nullable": false, "length": 5},
				map[string]any{"name": "age", "type": "integer"},
				map[string]any{"name": "kind", "type": "enum", "values": []string{"a", "b"}},
			}})
			n.mustCall(200, "POST", "/api/t/acme/items/people", map[string]any{"email": "x@example.com", "name": "ann"})
			cases := []struct {
				name  string
				body  any
				code  string
				field string
			}{
				{"duplicate unique", map[string]any{"email": "x@example.com", "name": "bob"}, "RECORD_NOT_UNIQUE", "email"},
				{"missing required", map[string]any{"email": "y@example.com"}, "CONTAINS_NULL_VALUES", "name"},
				{"explicit null required", map[string]any{"name": nil}, "CONTAINS_NULL_VALUES", "name"},
				{"too long", map[string]any{"name": "toolong"}, "INVALID_PAYLOAD", "name"},
				{"not an integer", map[string]any{"name": "a", "age": "abc"}, "INVALID_PAYLOAD", "age"},
				{"fractional integer", map[string]any{"name": "a", "age": 1.5}, "INVALID_PAYLOAD", "age"},
				{"bad email", map[string]any{"name": "a", "email": "nope"}, "INVALID_PAYLOAD", "email"},
				{"enum value", map[string]any{"name": "a", "kind": "c"}, "INVALID_PAYLOAD", "kind"},
				{"unknown field", map[string]any{"name": "a", "nme": "typo"}, "INVALID_PAYLOAD", "nme"},
				{"server column", map[string]any{"name": "a", "created_at": "2020-01-01T00:00:00Z"}, "INVALID_PAYLOAD", "created_at"},
				{"injection in a field name", map[string]any{"name": "a", `x";DROP TABLE people;--`: 1}, "INVALID_PAYLOAD", `x";DROP TABLE people;--`},
			}
			for _, c := range cases {
				st, r := n.call("POST", "/api/t/acme/items/people", c.body, nil)
				if st != 400 || r.get("errors.0.extensions.code") != c.code || r.get("errors.0.extensions.field") != c.field {
					t.Errorf("%s: %d %s, want 400 %s naming %s", c.name, st, r, c.code, c.field)
				}
			}
			// A batch is all or nothing.
			if st, _ := n.call("POST", "/api/t/acme/items/people", []any{map[string]any{"name": "ok1"}, map[string]any{"name": "toolong"}}, nil); st != 400 {
				t.Errorf("bad batch: %d", st)
			}
			list, _ := n.mustCall(200, "GET", "/api/t/acme/items/people", nil).get("data").([]any)
			if len(list) != 1 {
				t.Errorf("%d rows after failed writes, want 1", len(list))
			}
		})
	}
}

// TestRequestsNeverShareState alternates requests between two tenants whose slugs have
// the same length, and between two users' tokens: each must resolve to its own tenant
// and caller. (Strings read from a request once pointed into reused buffers, and a
// cache keyed by them served one tenant's or caller's entry to another.)
func TestRequestsNeverShareState(t *testing.T) {
	t.Parallel()
	n := startNode(t, "sqlite://"+t.TempDir()+"/control.db", nil)
	for _, slug := range []string{"aaaa", "bbbb"} {
		n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": slug})
		n.mustCall(200, "POST", "/api/t/"+slug+"/tables", map[string]any{"name": "only_in_" + slug, "columns": []any{map[string]any{"name": "x", "type": "string"}}})
		n.mustCall(200, "PATCH", "/api/t/"+slug+"/settings", map[string]any{"allow_signup": true})
	}
	users := map[string]*node{"aaaa": tenantUser(t, n, "aaaa", "same@example.com"), "bbbb": tenantUser(t, n, "bbbb", "same@example.com")}
	for i := 0; i < 40; i++ {
		slug := []string{"aaaa", "bbbb"}[i%2]
		other := []string{"bbbb", "aaaa"}[i%2]
		tables := n.mustCall(200, "GET", "/api/t/"+slug+"/tables", nil).fieldNames("data")
		if !tables["only_in_"+slug] || tables["only_in_"+other] {
			t.Fatalf("request %d for %s saw %v", i, slug, tables)
		}
		if st, _ := users[slug].call("GET", "/api/t/"+other+"/users/me", nil, nil); st != 401 {
			t.Fatalf("request %d: %s's user accepted by %s: %d", i, slug, other, st)
		}
		if st, _ := users[slug].call("GET", "/api/t/"+slug+"/users/me", nil, nil); st != 200 {
			t.Fatalf("request %d: %s's user refused by its own tenant: %d", i, slug, st)
		}
	}
}

func TestLoginThrottleCORSAndHeaders(t *testing.T) {
	t.Parallel()
	n := startNode(t, "sqlite://"+t.TempDir()+"/control.db", map[string]string{"STRATA_LOGIN_MAX_FAILURES": "3", "STRATA_LOGIN_WINDOW": "1m"})
	n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	anon := &node{t: t, base: n.base}
	for _, path := range []string{"/api/auth/login", "/api/t/acme/auth/login"} {
		for i := 0; i < 3; i++ {
			if st, _ := anon.call("POST", path, map[string]any{"email": "admin@example.com", "password": "wrong-pass"}, nil); st != 401 {
				t.Fatalf("%s attempt %d: %d", path, i+1, st)
			}
		}
		req, _ := http.NewRequest("POST", n.base+path, strings.NewReader(`{"email":"admin@example.com","password":"`+testPassword+`"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("%s: the 4th attempt got %d (Retry-After %q), want 429 — even with the right password", path, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	// CORS follows the tenant's allowed origins.
	n.mustCall(200, "PATCH", "/api/t/acme/settings", map[string]any{"cors_origins": []string{"https://app.example.com"}})
	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest("OPTIONS", n.base+"/api/t/acme/items/x", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "GET")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := preflight("https://app.example.com"); r.StatusCode != 204 || r.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Errorf("allowed origin: %d %v", r.StatusCode, r.Header)
	}
	if r := preflight("https://evil.example.com"); r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin allowed: %v", r.Header)
	}
	req, _ := http.NewRequest("GET", n.base+"/api/tenants", nil)
	req.Header.Set("Authorization", "Bearer "+n.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Cache-Control": "no-store"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
}
