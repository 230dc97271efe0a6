package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// matrixCallers are the kinds of caller every tenant route is checked against.
var matrixCallers = []string{"anonymous", "alice", "bob", "tenant_admin", "other_admin", "platform", "api_key"}

// matrixCase is one route and the status each caller must get. "read" checks run on
// the body of a 200.
type matrixCase struct {
	name   string
	method string
	path   string // below /api/t/acme; {A} and {B} are alice's and bob's notes
	body   any
	// headers, when set, go with the request (a multipart body's content type).
	headers map[string]string
	want    map[string]int
	read    func(t *testing.T, caller string, r reply)
}

func every(status int) map[string]int {
	m := map[string]int{}
	for _, c := range matrixCallers {
		m[c] = status
	}
	return m
}

// adminOnly: tenant and platform admins in; anonymous 401; signed-in non-admins 403;
// another tenant's admin 401 (their token names another tenant).
func adminOnly(ok int) map[string]int {
	return map[string]int{"anonymous": 401, "alice": 403, "bob": 403, "tenant_admin": ok, "other_admin": 401, "platform": ok, "api_key": 403}
}

func with(m map[string]int, kv ...any) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1].(int)
	}
	return out
}

// texts collects one field of the rows of a list answer.
func texts(r reply, field string) []string {
	var out []string
	rows, _ := r.get("data").([]any)
	for _, row := range rows {
		out = append(out, fmt.Sprint(row.(map[string]any)[field]))
	}
	return out
}

func TestAuthorizationMatrix(t *testing.T) {
	requireBackends(t)
	t.Parallel() // alone on its databases; mostly waiting for them
	for _, b := range backends(t) {
		if b.name == "mysql" {
			continue // SQLite and PostgreSQL cover the permission engine, which is dialect-free SQL
		}
		t.Run(b.name, func(t *testing.T) {
			platform := startNode(t, b.newControlURL(t), nil)
			for _, slug := range []string{"acme", "beta"} {
				platform.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": slug})
				platform.mustCall(200, "PATCH", "/api/t/"+slug+"/settings", map[string]any{"allow_signup": true})
			}
			p := "/api/t/acme"
			platform.mustCall(200, "POST", p+"/tables", map[string]any{"name": "authors", "columns": []any{map[string]any{"name": "name", "type": "string"}}})
			platform.mustCall(200, "POST", p+"/tables", map[string]any{"name": "posts", "columns": []any{map[string]any{"name": "title", "type": "string"}},
				"relations":   []any{map[string]any{"name": "author", "type": "many_to_one", "target": "authors"}},
				"permissions": map[string]any{"read": []string{"public"}, "create": []string{"user"}, "update": []string{"self"}, "delete": []string{"self", "admin"}}})
			platform.mustCall(200, "POST", p+"/tables", map[string]any{"name": "notes", "columns": []any{map[string]any{"name": "text", "type": "string"}},
				"permissions": map[string]any{"create": []string{"user"}, "read": []string{"self"}, "update": []string{"self"}, "delete": []string{"self"}}})
			author := platform.mustCall(200, "POST", p+"/items/authors", map[string]any{"name": "secret author"}).get("data.id").(string)
			platform.mustCall(200, "POST", p+"/items/posts", map[string]any{"title": "hello", "author": author})
			platform.mustCall(201, "POST", p+"/settings/providers", map[string]any{"name": "corp", "issuer": "https://idp.example.com", "client_id": "c", "client_secret": "matrix-secret"})

			callers := map[string]*node{"anonymous": {t: t, base: platform.base}, "platform": platform}
			callers["alice"] = tenantUser(t, platform, "acme", "alice@example.com")
			callers["bob"] = tenantUser(t, platform, "acme", "bob@example.com")
			adminRole := roleID(t, platform, "acme", "admin")
			platform.mustCall(200, "POST", p+"/users", map[string]any{"email": "boss@example.com", "password": "boss-pass-123", "role": adminRole})
			tok := callers["anonymous"].mustCall(200, "POST", p+"/auth/login", map[string]any{"email": "boss@example.com", "password": "boss-pass-123"})
			callers["tenant_admin"] = &node{t: t, base: platform.base, token: tok.get("data.access_token").(string)}
			betaAdmin := roleID(t, platform, "beta", "admin")
			platform.mustCall(200, "POST", "/api/t/beta/users", map[string]any{"email": "boss@example.com", "password": "boss-pass-123", "role": betaAdmin})
			tok = callers["anonymous"].mustCall(200, "POST", "/api/t/beta/auth/login", map[string]any{"email": "boss@example.com", "password": "boss-pass-123"})
			callers["other_admin"] = &node{t: t, base: platform.base, token: tok.get("data.access_token").(string)}
			key := platform.mustCall(200, "POST", p+"/api-keys", map[string]any{"name": "svc", "role": roleID(t, platform, "acme", "authenticated")})
			callers["api_key"] = &node{t: t, base: platform.base, token: key.get("data.token").(string)}

			noteA := callers["alice"].mustCall(200, "POST", p+"/items/notes", map[string]any{"text": "alice's"}).get("data.id").(string)
			noteB := callers["bob"].mustCall(200, "POST", p+"/items/notes", map[string]any{"text": "bob's"}).get("data.id").(string)
			someUser := callers["alice"].mustCall(200, "GET", p+"/users/me", nil).get("data.id").(string)
			_, up := platform.upload("POST", p+"/files", file("admin.txt", []byte("the admin's file")))
			fileID := up.get("data.id").(string)
			form, formType := multipartBody(t, map[string]string{"upload.txt": "uploaded"})

			ownNotes := map[string][]string{"alice": {"alice's"}, "bob": {"bob's"}, "tenant_admin": {"alice's", "bob's"}, "platform": {"alice's", "bob's"}, "api_key": nil}
			cases := []matrixCase{
				// Everyone reads the schema as far as their role may use it: the data app of a
				// non-admin is built from it, and it must say nothing of the rest.
				{name: "list tables", method: "GET", path: "/tables", want: with(every(200), "other_admin", 401),
					read: func(t *testing.T, caller string, r reply) {
						want := map[string]string{"anonymous": "posts", "alice": "notes,posts", "bob": "notes,posts", "api_key": "notes,posts"}[caller]
						got := texts(r, "name")
						if want == "" {
							if !slices.Contains(got, "authors") || !slices.Contains(got, "table_definition") {
								t.Errorf("%s: an admin misses tables: %v", caller, got)
							}
							return
						}
						if slices.Sort(got); strings.Join(got, ",") != want {
							t.Errorf("%s: tables %v, want %s", caller, got, want)
						}
						if rels := fmt.Sprint(r.get("data")); strings.Contains(rels, "authors") || strings.Contains(rels, "_idx") {
							t.Errorf("%s: a hidden table or an index leaked: %s", caller, rels)
						}
					}},
				{name: "read a table", method: "GET", path: "/tables/notes", want: with(every(200), "anonymous", 404, "other_admin", 401)},
				{name: "read a hidden table", method: "GET", path: "/tables/authors", want: with(adminOnly(200), "anonymous", 404, "alice", 404, "bob", 404, "api_key", 404)},
				{name: "my permissions", method: "GET", path: "/permissions/me", want: with(every(200), "other_admin", 401),
					read: func(t *testing.T, caller string, r reply) {
						want := map[string]string{
							"anonymous":    "posts:full/none/none/none",
							"alice":        "notes:partial/full/partial/partial posts:full/full/partial/partial",
							"tenant_admin": "authors:full/full/full/full notes:full/full/full/full posts:full/full/full/full",
						}
						want["bob"], want["api_key"], want["platform"] = want["alice"], want["alice"], want["tenant_admin"]
						var got []string
						for table, acts := range r.get("data").(map[string]any) {
							a := acts.(map[string]any)
							pick := func(action string) string { return a[action].(map[string]any)["access"].(string) }
							got = append(got, table+":"+pick("read")+"/"+pick("create")+"/"+pick("update")+"/"+pick("delete"))
						}
						if slices.Sort(got); strings.Join(got, " ") != want[caller] {
							t.Errorf("%s: permissions/me %v, want %s", caller, got, want[caller])
						}
					}},
				{name: "dry-run a table", method: "POST", path: "/tables?dry_run=true", body: map[string]any{"name": "t_new", "columns": []any{}}, want: adminOnly(200)},
				{name: "add a column (dry run)", method: "POST", path: "/tables/notes/columns?dry_run=true", body: map[string]any{"name": "c_new", "type": "integer"}, want: adminOnly(200)},
				{name: "indexes", method: "GET", path: "/tables/notes/indexes", want: adminOnly(200)},
				{name: "relations", method: "GET", path: "/relations", want: adminOnly(200)},
				{name: "migrations", method: "GET", path: "/migrations", want: adminOnly(200)},
				{name: "trash", method: "GET", path: "/trash", want: adminOnly(200)},
				{name: "openapi", method: "GET", path: "/openapi.json", want: adminOnly(200)},
				{name: "users", method: "GET", path: "/users", want: adminOnly(200)},
				// Files: no rule on strata_files, so only admins.
				// Reads answer an anonymous caller 403, as item reads do (Directus's answer).
				{name: "list files", method: "GET", path: "/files", want: with(adminOnly(200), "anonymous", 403)},
				{name: "read a file", method: "GET", path: "/files/{F}", want: with(adminOnly(200), "anonymous", 403)},
				{name: "read an asset", method: "GET", path: "/assets/{F}", want: with(adminOnly(200), "anonymous", 403)},
				{name: "upload a file", method: "POST", path: "/files", body: form, headers: map[string]string{"Content-Type": formType}, want: adminOnly(200)},
				{name: "edit a file", method: "PATCH", path: "/files/{F}", body: map[string]any{"title": "renamed"}, want: adminOnly(200)},
				{name: "list folders", method: "GET", path: "/folders", want: with(adminOnly(200), "anonymous", 403)},
				{name: "one user", method: "GET", path: "/users/" + someUser, want: adminOnly(200)},
				{name: "roles", method: "GET", path: "/roles", want: adminOnly(200)},
				{name: "permissions", method: "GET", path: "/permissions", want: adminOnly(200)},
				{name: "api keys", method: "GET", path: "/api-keys", want: adminOnly(200)},
				{name: "settings", method: "GET", path: "/settings", want: adminOnly(200)},
				{name: "metadata as items", method: "GET", path: "/items/table_definition", want: with(adminOnly(200), "anonymous", 403)},
				{name: "ledger as items", method: "GET", path: "/items/custom_migrations", want: with(adminOnly(200), "anonymous", 403)},
				{name: "identities as items", method: "GET", path: "/items/strata_users", want: with(every(403), "other_admin", 401)},
				{name: "me", method: "GET", path: "/users/me", want: with(every(200), "anonymous", 401, "other_admin", 401)},
				{name: "my sessions", method: "GET", path: "/users/me/sessions", want: with(every(200), "anonymous", 401, "other_admin", 401, "platform", 403, "api_key", 403)},
				{name: "a user's sessions", method: "GET", path: "/users/" + someUser + "/sessions", want: adminOnly(200)},
				{name: "public posts", method: "GET", path: "/items/posts?meta=total_count", want: with(every(200), "other_admin", 401),
					read: func(t *testing.T, caller string, r reply) {
						if got := texts(r, "title"); len(got) != 1 || r.get("meta.total_count") != float64(1) {
							t.Errorf("%s: posts %v %v", caller, got, r.get("meta"))
						}
					}},
				{name: "posts with hidden authors", method: "GET", path: "/items/posts?fields=title,author.name",
					want: map[string]int{"anonymous": 403, "alice": 403, "bob": 403, "tenant_admin": 200, "other_admin": 401, "platform": 200, "api_key": 403}},
				{name: "filter through hidden authors", method: "GET", path: "/items/posts?" + qs("filter", `{"author":{"name":{"_eq":"secret author"}}}`),
					want: map[string]int{"anonymous": 403, "alice": 403, "bob": 403, "tenant_admin": 200, "other_admin": 401, "platform": 200, "api_key": 403}},
				{name: "hidden authors directly", method: "GET", path: "/items/authors", want: with(adminOnly(200), "anonymous", 403)},
				{name: "notes", method: "GET", path: "/items/notes?sort=text&meta=*", want: with(every(200), "anonymous", 403, "other_admin", 401),
					read: func(t *testing.T, caller string, r reply) {
						got := texts(r, "text")
						if strings.Join(got, "|") != strings.Join(ownNotes[caller], "|") || r.get("meta.total_count") != float64(len(ownNotes[caller])) {
							t.Errorf("%s: notes %v, meta %v; want %v", caller, got, r.get("meta"), ownNotes[caller])
						}
					}},
				{name: "notes aggregate", method: "GET", path: "/items/notes?" + qs("aggregate", `{"count":"*"}`), want: with(every(200), "anonymous", 403, "other_admin", 401),
					read: func(t *testing.T, caller string, r reply) {
						if r.get("data.0.count") != float64(len(ownNotes[caller])) {
							t.Errorf("%s: count %v", caller, r.get("data.0.count"))
						}
					}},
				// GraphQL: the same engine, so the same answers (a GraphQL error's code
				// stands for the status REST gives; see graphqlStatus).
				{name: "graphql public posts", method: "POST", path: "/graphql", body: gq(`{ posts { title } }`), want: with(every(200), "other_admin", 401),
					read: func(t *testing.T, caller string, r reply) {
						if rows, _ := r.get("data.posts").([]any); len(rows) != 1 {
							t.Errorf("%s: posts %v", caller, r)
						}
					}},
				{name: "graphql posts with hidden authors", method: "POST", path: "/graphql", body: gq(`{ posts { title author { name } } }`),
					want: map[string]int{"anonymous": 403, "alice": 403, "bob": 403, "tenant_admin": 200, "other_admin": 401, "platform": 200, "api_key": 403}},
				{name: "graphql filter through hidden authors", method: "POST", path: "/graphql", body: gq(`{ posts(filter: {author: {name: {_eq: "secret author"}}}) { title } }`),
					want: map[string]int{"anonymous": 403, "alice": 403, "bob": 403, "tenant_admin": 200, "other_admin": 401, "platform": 200, "api_key": 403}},
				{name: "graphql hidden authors directly", method: "POST", path: "/graphql", body: gq(`{ authors { name } }`), want: with(adminOnly(200), "anonymous", 403)},
				{name: "graphql notes", method: "POST", path: "/graphql", body: gq(`{ notes(sort: ["text"]) { text } }`), want: with(every(200), "anonymous", 403, "other_admin", 401),
					read: func(t *testing.T, caller string, r reply) {
						var got []string
						rows, _ := r.get("data.notes").([]any)
						for _, row := range rows {
							got = append(got, fmt.Sprint(row.(map[string]any)["text"]))
						}
						if strings.Join(got, "|") != strings.Join(ownNotes[caller], "|") {
							t.Errorf("%s: notes %v; want %v", caller, got, ownNotes[caller])
						}
					}},
				{name: "graphql notes aggregate", method: "POST", path: "/graphql", body: gq(`{ notes_aggregated { countAll } }`), want: with(every(200), "anonymous", 403, "other_admin", 401),
					read: func(t *testing.T, caller string, r reply) {
						if r.get("data.notes_aggregated.0.countAll") != float64(len(ownNotes[caller])) {
							t.Errorf("%s: count %v", caller, r)
						}
					}},
				{name: "graphql bob's note by id", method: "POST", path: "/graphql", body: gq(`{ notes_by_id(id: "{B}") { text } }`), want: with(every(200), "anonymous", 403, "other_admin", 401),
					read: func(t *testing.T, caller string, r reply) {
						sees := caller == "bob" || caller == "tenant_admin" || caller == "platform"
						if (r.get("data.notes_by_id") != nil) != sees {
							t.Errorf("%s: %v", caller, r)
						}
					}},
				{name: "export notes", method: "GET", path: "/utils/export/notes?format=csv&sort=text", want: with(every(200), "anonymous", 403, "other_admin", 401)},
				{name: "bob's note by id", method: "GET", path: "/items/notes/{B}", want: map[string]int{"anonymous": 403, "alice": 404, "bob": 200, "tenant_admin": 200, "other_admin": 401, "platform": 200, "api_key": 404}},
				{name: "update bob's note", method: "PATCH", path: "/items/notes/{B}", body: map[string]any{"text": "bob's"},
					want: map[string]int{"anonymous": 401, "alice": 403, "bob": 200, "tenant_admin": 200, "other_admin": 401, "platform": 200, "api_key": 403}},
				{name: "update by keys across owners", method: "PATCH", path: "/items/notes", body: map[string]any{"keys": []string{"{A}", "{B}"}, "data": map[string]any{"text": "x"}},
					want: map[string]int{"anonymous": 401, "alice": 403, "bob": 403, "tenant_admin": 200, "other_admin": 401, "platform": 200, "api_key": 403}},
				{name: "delete by keys across owners", method: "DELETE", path: "/items/notes", body: map[string]any{"keys": []string{"{A}", "{B}"}},
					want: map[string]int{"anonymous": 401, "alice": 403, "bob": 403, "tenant_admin": 0, "other_admin": 401, "platform": 0, "api_key": 403}},
				{name: "create a note", method: "POST", path: "/items/notes", body: map[string]any{"text": "new"},
					want: map[string]int{"anonymous": 401, "alice": 200, "bob": 200, "tenant_admin": 200, "other_admin": 401, "platform": 200, "api_key": 204}},
				{name: "create a post", method: "POST", path: "/items/posts", body: map[string]any{"title": "t"},
					want: map[string]int{"anonymous": 401, "alice": 200, "bob": 200, "tenant_admin": 200, "other_admin": 401, "platform": 200, "api_key": 200}},
				{name: "write metadata", method: "POST", path: "/items/table_definition?dry_run=true", body: map[string]any{"name": "t_x", "columns": []any{}}, want: adminOnly(200)},
				// Anonymous callers see what beta's public role may use: nothing here.
				{name: "another tenant's tables", method: "GET", path: "../beta/tables",
					read: func(t *testing.T, caller string, r reply) {
						if n := len(r.get("data").([]any)); caller == "anonymous" && n != 0 {
							t.Errorf("anonymous sees %d of beta's tables", n)
						}
					},
					want: map[string]int{"anonymous": 200, "alice": 401, "bob": 401, "tenant_admin": 401, "other_admin": 200, "platform": 200, "api_key": 401}},
				{name: "another tenant's items", method: "GET", path: "../beta/items/table_definition",
					want: map[string]int{"anonymous": 403, "alice": 401, "bob": 401, "tenant_admin": 401, "other_admin": 200, "platform": 200, "api_key": 401}},
				{name: "rename a table", method: "PATCH", path: "/tables/notes?dry_run=true", body: map[string]any{"name": "notes2"}, want: adminOnly(200)},
				{name: "drop a table", method: "DELETE", path: "/tables/notes", want: adminOnly(0)},
				{name: "alter a column", method: "PATCH", path: "/tables/notes/columns/text?dry_run=true", body: map[string]any{"length": 300}, want: adminOnly(200)},
				{name: "drop a column", method: "DELETE", path: "/tables/notes/columns/text", want: adminOnly(0)},
				{name: "add an index", method: "POST", path: "/tables/notes/indexes?dry_run=true", body: map[string]any{"columns": []string{"text"}}, want: adminOnly(200)},
				{name: "drop an index", method: "DELETE", path: "/tables/notes/indexes/nope", want: adminOnly(0)},
				{name: "add a relation", method: "POST", path: "/relations?dry_run=true", body: map[string]any{"table": "notes", "name": "post", "type": "many_to_one", "target": "posts"}, want: adminOnly(200)},
				{name: "drop a relation", method: "DELETE", path: "/relations/00000000-0000-7000-8000-000000000000", want: adminOnly(0)},
				{name: "purge trash", method: "DELETE", path: "/trash/00000000-0000-7000-8000-000000000000", want: adminOnly(0)},
				{name: "read a migration", method: "GET", path: "/migrations/00000000-0000-7000-8000-000000000000", want: adminOnly(404)},
				{name: "roll back a migration", method: "POST", path: "/migrations/00000000-0000-7000-8000-000000000000/rollback", want: adminOnly(404)},
				{name: "resolve a failed migration", method: "POST", path: "/migrations/00000000-0000-7000-8000-000000000000/resolve", body: map[string]any{"as": "executed", "reason": "fixed by hand"}, want: adminOnly(404)},
				{name: "custom SQL", method: "POST", path: "/migrations", body: map[string]any{"up_sql": ""}, want: adminOnly(400)},
				{name: "create a user", method: "POST", path: "/users", body: map[string]any{"email": "x@example.com", "password": "short"}, want: adminOnly(400)},
				{name: "update a user", method: "PATCH", path: "/users/" + "00000000-0000-7000-8000-000000000000", body: map[string]any{"first_name": "x"}, want: adminOnly(404)},
				{name: "delete a user", method: "DELETE", path: "/users/00000000-0000-7000-8000-000000000000", want: adminOnly(404)},
				{name: "two-factor secret", method: "POST", path: "/users/me/tfa/generate", want: with(every(200), "anonymous", 401, "other_admin", 401, "platform", 403, "api_key", 403)},
				{name: "two-factor on with a wrong code", method: "POST", path: "/users/me/tfa/enable", body: map[string]any{"secret": "JBSWY3DPEHPK3PXPJBSWY3DP", "otp": "000000"}, want: with(every(401), "platform", 403, "api_key", 403)},
				{name: "two-factor off while off", method: "POST", path: "/users/me/tfa/disable", body: map[string]any{"otp": "000000"}, want: with(every(409), "anonymous", 401, "other_admin", 401, "platform", 403, "api_key", 403)},
				{name: "end my session", method: "DELETE", path: "/users/me/sessions/00000000-0000-7000-8000-000000000000", want: with(every(404), "anonymous", 401, "other_admin", 401, "platform", 403, "api_key", 403)},
				{name: "end a user's session", method: "DELETE", path: "/users/" + someUser + "/sessions/00000000-0000-7000-8000-000000000000", want: adminOnly(404)},
				// The audit trail: users read their own activity, admins all; revisions and
				// restores of unknown revisions.
				{name: "the activity log", method: "GET", path: "/activity", want: with(every(200), "anonymous", 401, "other_admin", 401, "api_key", 403)},
				{name: "revisions", method: "GET", path: "/revisions", want: adminOnly(200)},
				{name: "restore an unknown revision", method: "POST", path: "/revisions/00000000-0000-7000-8000-000000000000/restore", want: with(every(404), "anonymous", 401, "other_admin", 401)},
				// Mailed-link flows: public, answering the same to everyone (the other tenant's
				// admin presents a token of another tenant: 401); invitations and mail settings
				// are for admins.
				{name: "ask for a password reset", method: "POST", path: "/auth/password/request", body: map[string]any{"email": "nobody@example.com"}, want: with(every(204), "other_admin", 401)},
				{name: "reset with a wrong token", method: "POST", path: "/auth/password/reset", body: map[string]any{"token": "wrong", "password": "long-enough-1"}, want: every(401)},
				{name: "accept with a wrong token", method: "POST", path: "/users/invite/accept", body: map[string]any{"token": "wrong", "password": "long-enough-1"}, want: every(401)},
				{name: "verify with a wrong token", method: "POST", path: "/users/register/verify-email?token=wrong", want: every(401)},
				{name: "invite a user", method: "POST", path: "/users/invite", body: map[string]any{"email": "not an address"}, want: adminOnly(400)},
				{name: "the mail log", method: "GET", path: "/settings/mail", want: adminOnly(200)},
				{name: "a test mail", method: "POST", path: "/settings/mail/test", body: map[string]any{"to": "not an address"}, want: adminOnly(400)},
				{name: "create a role", method: "POST", path: "/roles", body: map[string]any{"name": ""}, want: adminOnly(400)},
				{name: "update a role", method: "PATCH", path: "/roles/00000000-0000-7000-8000-000000000000", body: map[string]any{"description": "x"}, want: adminOnly(404)},
				{name: "delete a role", method: "DELETE", path: "/roles/00000000-0000-7000-8000-000000000000", want: adminOnly(404)},
				{name: "create a permission", method: "POST", path: "/permissions", body: map[string]any{"role": "nope", "collection": "notes", "action": "read"}, want: adminOnly(400)},
				{name: "update a permission", method: "PATCH", path: "/permissions/00000000-0000-7000-8000-000000000000", body: map[string]any{}, want: adminOnly(404)},
				{name: "delete a permission", method: "DELETE", path: "/permissions/00000000-0000-7000-8000-000000000000", want: adminOnly(404)},
				{name: "create an api key", method: "POST", path: "/api-keys", body: map[string]any{"name": "", "role": "x"}, want: adminOnly(400)},
				{name: "delete an api key", method: "DELETE", path: "/api-keys/00000000-0000-7000-8000-000000000000", want: adminOnly(404)},
				{name: "change settings", method: "PATCH", path: "/settings", body: map[string]any{"require_approval": "sometimes"}, want: adminOnly(400)},
				// Sign-in providers: configured by admins (the secret never answered); their list
				// and the flow are public. A redirect not allowed, an unknown state and an
				// unknown ticket are refused alike to everyone.
				{name: "provider settings", method: "GET", path: "/settings/providers", want: adminOnly(200),
					read: func(t *testing.T, caller string, r reply) {
						if strings.Contains(r.String(), "matrix-secret") || r.get("data.0.client_secret_set") != true {
							t.Errorf("%s: providers %s", caller, r)
						}
					}},
				{name: "add a provider", method: "POST", path: "/settings/providers", body: map[string]any{"name": "Bad Name"}, want: adminOnly(400)},
				{name: "change a provider", method: "PATCH", path: "/settings/providers/corp", body: map[string]any{"label": "Corp"}, want: adminOnly(200)},
				{name: "change an unknown provider", method: "PATCH", path: "/settings/providers/nope", body: map[string]any{"label": "x"}, want: adminOnly(404)},
				{name: "delete an unknown provider", method: "DELETE", path: "/settings/providers/nope", want: adminOnly(404)},
				{name: "sign-in providers", method: "GET", path: "/auth/providers", want: with(every(200), "other_admin", 401),
					read: func(t *testing.T, caller string, r reply) {
						if mustJSONString(r.get("data")) != `[{"label":"Corp","name":"corp"}]` {
							t.Errorf("%s: sign-in providers %s", caller, r)
						}
					}},
				{name: "provider sign-in to a redirect not allowed", method: "GET", path: "/auth/login/corp?redirect=https%3A%2F%2Fevil.example.com%2F", want: with(every(400), "other_admin", 401)},
				{name: "unknown provider sign-in", method: "GET", path: "/auth/login/nope?redirect=https%3A%2F%2Fevil.example.com%2F", want: with(every(404), "other_admin", 401)},
				{name: "provider callback with an unknown state", method: "GET", path: "/auth/login/corp/callback?state=forged&code=x", want: with(every(400), "other_admin", 401)},
				{name: "provider two-factor with an unknown ticket", method: "POST", path: "/auth/login/corp/otp", body: map[string]any{"ticket": "forged", "otp": "000000"}, want: with(every(401), "other_admin", 401)},
				{name: "graphql update bob's note", method: "POST", path: "/graphql", body: gq(`mutation { update_notes_item(id: "{B}", data: {text: "bob's"}) { text } }`),
					want: map[string]int{"anonymous": 401, "alice": 403, "bob": 200, "tenant_admin": 200, "other_admin": 401, "platform": 200, "api_key": 403}},
				{name: "graphql update across owners", method: "POST", path: "/graphql", body: gq(`mutation { update_notes_items(ids: ["{A}", "{B}"], data: {text: "x"}) { text } }`),
					want: map[string]int{"anonymous": 401, "alice": 403, "bob": 403, "tenant_admin": 0, "other_admin": 401, "platform": 0, "api_key": 403}},
				{name: "graphql delete across owners", method: "POST", path: "/graphql", body: gq(`mutation { delete_notes_items(ids: ["{A}", "{B}"]) { ids } }`),
					want: map[string]int{"anonymous": 401, "alice": 403, "bob": 403, "tenant_admin": 0, "other_admin": 401, "platform": 0, "api_key": 403}},
				{name: "graphql create a note", method: "POST", path: "/graphql", body: gq(`mutation { create_notes_item(data: {text: "new"}) { text } }`),
					want: map[string]int{"anonymous": 401, "alice": 200, "bob": 200, "tenant_admin": 200, "other_admin": 401, "platform": 200, "api_key": 200}},
				{name: "graphql another tenant's posts", method: "POST", path: "../beta/graphql", body: gq(`{ __typename }`),
					want: map[string]int{"anonymous": 200, "alice": 401, "bob": 401, "tenant_admin": 401, "other_admin": 200, "platform": 200, "api_key": 401}},
				{name: "the platform", method: "GET", path: "../../tenants",
					want: map[string]int{"anonymous": 401, "alice": 403, "bob": 403, "tenant_admin": 403, "other_admin": 403, "platform": 200, "api_key": 401}},
			}
			for _, c := range cases {
				for _, who := range matrixCallers {
					want, ok := c.want[who]
					if !ok || want == 0 {
						continue // a destructive cell whose outcome the later cases rely on
					}
					path := strings.NewReplacer("{A}", noteA, "{B}", noteB, "{F}", fileID).Replace(c.path)
					body := c.body
					if s, ok := body.(string); ok && c.headers != nil {
						body = s // sent as it is
					} else if body != nil {
						raw := strings.NewReplacer("{A}", noteA, "{B}", noteB).Replace(mustJSONString(body))
						body = raw
					}
					full := p + path
					switch {
					case strings.HasPrefix(path, "../../"):
						full = "/api/" + strings.TrimPrefix(path, "../../")
					case strings.HasPrefix(path, "../"):
						full = "/api/t/" + strings.TrimPrefix(path, "../")
					}
					st, r := callers[who].call(c.method, full, body, c.headers)
					if strings.HasSuffix(path, "/graphql") {
						st = graphqlStatus(st, r)
					}
					if st != want {
						t.Errorf("%s as %s: %d, want %d: %s", c.name, who, st, want, r)
						continue
					}
					if st == 200 && c.read != nil {
						c.read(t, who, r)
					}
					for _, leak := range []string{"password_hash", "token_hash", "secret author"} {
						if st == 200 && who != "tenant_admin" && who != "platform" && who != "other_admin" && strings.Contains(r.String(), leak) {
							t.Errorf("%s as %s: the answer contains %q", c.name, who, leak)
						}
					}
				}
			}
		})
	}
}

// gq is a GraphQL request body.
func gq(query string) map[string]any { return map[string]any{"query": query} }

// graphqlStatus is the status REST would give for a GraphQL answer: GraphQL reports
// refusals as errors with the contract's codes in a 200.
func graphqlStatus(st int, r reply) int {
	if st != 200 {
		return st
	}
	switch r.get("errors.0.extensions.code") {
	case nil:
		return 200
	case "FORBIDDEN":
		return 403
	case "INVALID_CREDENTIALS", "INVALID_TOKEN", "TOKEN_EXPIRED":
		return 401
	case "ROUTE_NOT_FOUND":
		return 404
	case "INVALID_QUERY", "INVALID_PAYLOAD":
		return 400
	}
	return 500
}
