package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"strata/internal/testkit"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const testSecret = "test-secret-test-secret-test-secret!!"

// roleID finds a tenant role by name through the admin API.
func roleID(t *testing.T, n *node, slug, name string) string {
	t.Helper()
	roles, _ := n.mustCall(200, "GET", "/api/t/"+slug+"/roles", nil).get("data").([]any)
	for _, r := range roles {
		if m := r.(map[string]any); m["name"] == name {
			return m["id"].(string)
		}
	}
	t.Fatalf("no role %s", name)
	return ""
}

// tenantUser signs up (or is created) and logs in, returning a node acting as them.
func tenantUser(t *testing.T, n *node, slug, email string) *node {
	t.Helper()
	anon := &node{t: t, base: n.base}
	anon.mustCall(204, "POST", "/api/t/"+slug+"/users/register", map[string]any{"email": email, "password": "user-pass-123"})
	r := anon.mustCall(200, "POST", "/api/t/"+slug+"/auth/login", map[string]any{"email": email, "password": "user-pass-123"})
	return &node{t: t, base: n.base, token: r.get("data.access_token").(string), app: n.app}
}

// TestRowRuleSelf: with a rule owner_id = $CURRENT_USER, users see and change only
// their own rows — through list, get, filter, counts, aggregates, and writes by keys.
func TestRowRuleSelf(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			admin := startNode(t, b.newControlURL(t), nil)
			admin.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			admin.mustCall(200, "PATCH", "/api/t/acme/settings", map[string]any{"allow_signup": true})
			admin.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "notes", "columns": []any{
				map[string]any{"name": "text", "type": "string"}, map[string]any{"name": "secret", "type": "string"}}})
			authd := roleID(t, admin, "acme", "authenticated")
			self := map[string]any{"owner_id": map[string]any{"_eq": "$CURRENT_USER"}}
			for _, action := range []string{"create", "read", "update", "delete"} {
				p := map[string]any{"role": authd, "collection": "notes", "action": action, "permissions": self}
				if action == "read" {
					p["fields"] = []string{"id", "text", "owner_id"}
				}
				if action == "create" {
					p["permissions"] = nil
				}
				admin.mustCall(200, "POST", "/api/t/acme/permissions", p)
			}
			alice, bob := tenantUser(t, admin, "acme", "alice@example.com"), tenantUser(t, admin, "acme", "bob@example.com")
			a1 := alice.mustCall(200, "POST", "/api/t/acme/items/notes", map[string]any{"text": "a1", "secret": "s1"}).get("data.id").(string)
			a2 := alice.mustCall(200, "POST", "/api/t/acme/items/notes", map[string]any{"text": "a2"}).get("data.id").(string)
			b1 := bob.mustCall(200, "POST", "/api/t/acme/items/notes", map[string]any{"text": "b1"}).get("data.id").(string)

			list := alice.mustCall(200, "GET", "/api/t/acme/items/notes?meta=*&sort=text", nil)
			if rows, _ := list.get("data").([]any); len(rows) != 2 || list.get("meta.total_count") != float64(2) || list.get("meta.filter_count") != float64(2) {
				t.Fatalf("alice's list: %s", list)
			}
			for _, row := range list.get("data").([]any) {
				r := row.(map[string]any)
				if _, has := r["secret"]; has || r["text"] == "b1" {
					t.Fatalf("a hidden row or field leaked: %s", list)
				}
			}
			if r := alice.mustCall(200, "GET", "/api/t/acme/items/notes?"+qs("filter", `{"text":{"_eq":"b1"}}`), nil); len(r.get("data").([]any)) != 0 {
				t.Errorf("filter found bob's row: %s", r)
			}
			if r := alice.mustCall(200, "GET", "/api/t/acme/items/notes?"+qs("aggregate", `{"count":"*"}`), nil); r.get("data.0.count") != float64(2) {
				t.Errorf("aggregate counts hidden rows: %s", r)
			}
			if st, _ := alice.call("GET", "/api/t/acme/items/notes/"+b1, nil, nil); st != 404 {
				t.Errorf("alice reads bob's row by id: %d", st)
			}
			for _, q := range []string{"fields=secret", "sort=secret", qs("filter", `{"secret":{"_nnull":true}}`), qs("aggregate", `{"count":["secret"]}`)} {
				if st, r := alice.call("GET", "/api/t/acme/items/notes?"+q, nil, nil); st != 403 || r.get("errors.0.extensions.code") != "FORBIDDEN" {
					t.Errorf("%s: %d %s", q, st, r)
				}
			}
			// Writes: only own rows, all or nothing.
			if st, _ := alice.call("PATCH", "/api/t/acme/items/notes/"+b1, map[string]any{"text": "mine"}, nil); st != 403 {
				t.Errorf("alice updates bob's row: %d", st)
			}
			if st, _ := alice.call("PATCH", "/api/t/acme/items/notes", map[string]any{"keys": []string{a1, b1}, "data": map[string]any{"text": "x"}}, nil); st != 403 {
				t.Errorf("update by keys including bob's: %d", st)
			}
			alice.mustCall(200, "PATCH", "/api/t/acme/items/notes/"+a1, map[string]any{"text": "a1b"})
			if st, _ := alice.call("DELETE", "/api/t/acme/items/notes", map[string]any{"keys": []string{a2, b1}}, nil); st != 403 {
				t.Errorf("delete by keys including bob's: %d", st)
			}
			if st, _ := alice.call("DELETE", "/api/t/acme/items/notes/"+b1, nil, nil); st != 403 {
				t.Errorf("alice deletes bob's row: %d", st)
			}
			alice.mustCall(204, "DELETE", "/api/t/acme/items/notes/"+a2, nil)
			all := admin.mustCall(200, "GET", "/api/t/acme/items/notes?fields=text&sort=text", nil)
			got := []string{}
			for _, r := range all.get("data").([]any) {
				got = append(got, r.(map[string]any)["text"].(string))
			}
			if strings.Join(got, ",") != "a1b,b1" {
				t.Errorf("rows after the writes: %v", got)
			}
			if bob.mustCall(200, "GET", "/api/t/acme/items/notes", nil).get("data.0.text") != "b1" {
				t.Errorf("bob lost his row")
			}
			// End users have no schema, migration or identity routes.
			for _, p := range []string{"/migrations", "/users", "/permissions", "/openapi.json", "/settings", "/relations", "/tables/notes/indexes"} {
				if st, _ := alice.call("GET", "/api/t/acme"+p, nil, nil); st != 403 {
					t.Errorf("end user on %s: %d", p, st)
				}
			}
			if st, _ := alice.call("POST", "/api/t/acme/items/table_definition", map[string]any{"name": "x", "columns": []any{}}, nil); st != 403 {
				t.Errorf("end user creates a table through items: %d", st)
			}
			// The public role has no permissions: anonymous reads are refused.
			anon := &node{t: t, base: admin.base}
			if st, _ := anon.call("GET", "/api/t/acme/items/notes", nil, nil); st != 403 && st != 401 {
				t.Errorf("anonymous read: %d", st)
			}
		})
	}
}

// forge signs claims with the test secret (or makes an unsigned token for alg none).
func forge(t *testing.T, claims jwt.MapClaims, method jwt.SigningMethod) string {
	t.Helper()
	if method == jwt.SigningMethodNone {
		s, err := jwt.NewWithClaims(method, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s, err := jwt.NewWithClaims(method, claims).SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTenantTokens(t *testing.T) {
	t.Parallel()
	// No grace for a reused refresh token here: a reuse revokes at once
	// (TestSecurityRefreshReuseInterval tests the grace).
	admin := startNode(t, "sqlite://"+t.TempDir()+"/control.db", map[string]string{"STRATA_REFRESH_REUSE_INTERVAL": "0s"})
	for _, slug := range []string{"acme", "beta"} {
		admin.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": slug})
		admin.mustCall(200, "PATCH", "/api/t/"+slug+"/settings", map[string]any{"allow_signup": true})
	}
	alice := tenantUser(t, admin, "acme", "alice@example.com")
	tenantAdminRole := roleID(t, admin, "acme", "admin")
	boss := admin.mustCall(200, "POST", "/api/t/acme/users", map[string]any{"email": "boss@example.com", "password": "boss-pass-123", "role": tenantAdminRole})
	anon := &node{t: t, base: admin.base}
	bossTok := anon.mustCall(200, "POST", "/api/t/acme/auth/login", map[string]any{"email": "boss@example.com", "password": "boss-pass-123"})
	bossNode := &node{t: t, base: admin.base, token: bossTok.get("data.access_token").(string)}

	// A tenant admin runs its own tenant's schema, not another tenant's, nor the platform.
	bossNode.mustCall(200, "GET", "/api/t/acme/tables", nil)
	if st, r := bossNode.call("GET", "/api/t/beta/tables", nil, nil); st != 401 || r.get("errors.0.extensions.code") != "INVALID_TOKEN" {
		t.Errorf("acme's admin on beta: %d %s", st, r)
	}
	if st, _ := bossNode.call("GET", "/api/tenants", nil, nil); st != 403 {
		t.Errorf("tenant admin on the platform: %d", st)
	}
	if st, _ := alice.call("GET", "/api/t/beta/items/posts", nil, nil); st != 401 {
		t.Errorf("acme's user on beta: %d", st)
	}
	// Attacks on the token.
	claims := func() jwt.MapClaims {
		var c jwt.MapClaims
		parts := strings.Split(alice.token, ".")
		raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
		_ = json.Unmarshal(raw, &c)
		return c
	}
	elevated := claims()
	elevated["role"] = tenantAdminRole
	parts := strings.Split(alice.token, ".")
	payload, _ := json.Marshal(elevated)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2]
	expired := claims()
	expired["exp"] = time.Now().Add(-time.Minute).Unix()
	attacks := []struct {
		name, token, code string
	}{
		{"alg none", forge(t, claims(), jwt.SigningMethodNone), "INVALID_TOKEN"},
		{"another HMAC algorithm", forge(t, claims(), jwt.SigningMethodHS512), "INVALID_TOKEN"},
		{"RS256 header over an HMAC signature", strings.Replace(forge(t, claims(), jwt.SigningMethodHS256), parts[0], base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`)), 1), "INVALID_TOKEN"},
		{"tampered role", tampered, "INVALID_TOKEN"},
		{"expired", forge(t, expired, jwt.SigningMethodHS256), "TOKEN_EXPIRED"},
		{"garbage", "a.b.c", "INVALID_TOKEN"},
		{"unknown api key", "sk_nope", "INVALID_TOKEN"},
	}
	for _, a := range attacks {
		bad := &node{t: t, base: admin.base, token: a.token}
		if st, r := bad.call("GET", "/api/t/acme/tables", nil, nil); st != 401 || r.get("errors.0.extensions.code") != a.code {
			t.Errorf("%s: %d %s, want 401 %s", a.name, st, r, a.code)
		}
	}
	// Refresh rotates; reuse revokes; a deleted user cannot refresh.
	login := anon.mustCall(200, "POST", "/api/t/acme/auth/login", map[string]any{"email": "alice@example.com", "password": "user-pass-123"})
	first := login.get("data.refresh_token").(string)
	second := anon.mustCall(200, "POST", "/api/t/acme/auth/refresh", map[string]any{"refresh_token": first}).get("data.refresh_token").(string)
	if st, _ := anon.call("POST", "/api/t/acme/auth/refresh", map[string]any{"refresh_token": first}, nil); st != 401 {
		t.Errorf("reused refresh token: %d", st)
	}
	if st, _ := anon.call("POST", "/api/t/acme/auth/refresh", map[string]any{"refresh_token": second}, nil); st != 401 {
		t.Errorf("family survived reuse: %d", st)
	}
	if st, _ := anon.call("POST", "/api/t/beta/auth/refresh", map[string]any{"refresh_token": second}, nil); st != 401 {
		t.Errorf("refresh token used on another tenant: %d", st)
	}
	again := anon.mustCall(200, "POST", "/api/t/acme/auth/login", map[string]any{"email": "alice@example.com", "password": "user-pass-123"}).get("data.refresh_token").(string)
	me := alice.mustCall(200, "GET", "/api/t/acme/users/me", nil)
	admin.mustCall(204, "DELETE", "/api/t/acme/users/"+me.get("data.id").(string), nil)
	if st, _ := anon.call("POST", "/api/t/acme/auth/refresh", map[string]any{"refresh_token": again}, nil); st != 401 {
		t.Errorf("deleted user refreshed: %d", st)
	}
	// Login answers the same for unknown and wrong; sign-up does not reveal accounts.
	for _, body := range []map[string]any{{"email": "nobody@example.com", "password": "x-pass-123"}, {"email": "boss@example.com", "password": "wrong-pass"}} {
		if st, r := anon.call("POST", "/api/t/acme/auth/login", body, nil); st != 401 || r.get("errors.0.extensions.code") != "INVALID_CREDENTIALS" {
			t.Errorf("login %v: %d %s", body["email"], st, r)
		}
	}
	anon.mustCall(204, "POST", "/api/t/acme/users/register", map[string]any{"email": "boss@example.com", "password": "other-pass-123"})
	if st, _ := anon.call("POST", "/api/t/acme/auth/login", map[string]any{"email": "boss@example.com", "password": "other-pass-123"}, nil); st != 401 {
		t.Errorf("registering an existing email took the account over")
	}
	_ = boss

	// API keys act with their role; the secret is shown once and stored hashed.
	key := admin.mustCall(200, "POST", "/api/t/acme/api-keys", map[string]any{"name": "ci", "role": tenantAdminRole})
	secret := key.get("data.token").(string)
	keyNode := &node{t: t, base: admin.base, token: secret}
	keyNode.mustCall(200, "GET", "/api/t/acme/tables", nil)
	if list := admin.mustCall(200, "GET", "/api/t/acme/api-keys", nil).String(); strings.Contains(list, secret) {
		t.Errorf("the key's secret is listed")
	}
	if st, _ := keyNode.call("GET", "/api/t/beta/tables", nil, nil); st != 401 {
		t.Errorf("acme's key on beta: %d", st)
	}
	admin.mustCall(204, "DELETE", "/api/t/acme/api-keys/"+key.get("data.id").(string), nil)
	if st, _ := keyNode.call("GET", "/api/t/acme/tables", nil, nil); st != 401 {
		t.Errorf("deleted key still works: %d", st)
	}
	// Identity tables are not reachable as items, even for admins.
	if st, _ := admin.call("GET", "/api/t/acme/items/strata_users", nil, nil); st != 403 {
		t.Errorf("/items/strata_users: %d", st)
	}
	// A rule on a field that does not exist is refused when saved.
	admin.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "notes", "columns": []any{map[string]any{"name": "text", "type": "string"}}})
	authd := roleID(t, admin, "acme", "authenticated")
	for _, p := range []map[string]any{
		{"role": authd, "collection": "notes", "action": "read", "permissions": map[string]any{"txet": map[string]any{"_eq": "x"}}},
		{"role": authd, "collection": "notes", "action": "read", "fields": []string{"text", "nope"}},
		{"role": authd, "collection": "nope", "action": "read"},
		{"role": authd, "collection": "notes", "action": "peek"},
	} {
		if st, r := admin.call("POST", "/api/t/acme/permissions", p, nil); st != 400 {
			t.Errorf("permission %v saved: %d %s", p, st, r)
		}
	}
	_ = fmt.Sprint()
}

// TestWriteRules: presets fill what a writer leaves out; a create must satisfy the
// create rule; an update may neither touch rows outside the update rule nor move a
// row out of it; a refused write changes nothing.
func TestWriteRules(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		if b.name == "mysql" {
			continue
		}
		t.Run(b.name, func(t *testing.T) {
			admin := startNode(t, b.newControlURL(t), nil)
			admin.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			admin.mustCall(200, "PATCH", "/api/t/acme/settings", map[string]any{"allow_signup": true})
			admin.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "docs", "columns": []any{
				map[string]any{"name": "title", "type": "string"},
				map[string]any{"name": "status", "type": "enum", "values": []string{"draft", "published"}}}})
			role := roleID(t, admin, "acme", "authenticated")
			draft := map[string]any{"status": map[string]any{"_eq": "draft"}}
			admin.mustCall(200, "POST", "/api/t/acme/permissions", map[string]any{"role": role, "collection": "docs", "action": "create",
				"permissions": draft, "presets": map[string]any{"status": "draft"}, "fields": []string{"title", "status"}})
			admin.mustCall(200, "POST", "/api/t/acme/permissions", map[string]any{"role": role, "collection": "docs", "action": "read"})
			admin.mustCall(200, "POST", "/api/t/acme/permissions", map[string]any{"role": role, "collection": "docs", "action": "update", "permissions": draft, "fields": []string{"title", "status"}})
			pub := admin.mustCall(200, "POST", "/api/t/acme/items/docs", map[string]any{"title": "live", "status": "published"}).get("data.id").(string)
			u := tenantUser(t, admin, "acme", "writer@example.com")

			r := u.mustCall(200, "POST", "/api/t/acme/items/docs", map[string]any{"title": "mine"})
			if r.get("data.status") != "draft" {
				t.Fatalf("preset not applied: %s", r)
			}
			mine := r.get("data.id").(string)
			if st, _ := u.call("POST", "/api/t/acme/items/docs", map[string]any{"title": "sneaky", "status": "published"}, nil); st != 403 {
				t.Errorf("create outside the create rule: %d", st)
			}
			if st, _ := u.call("PATCH", "/api/t/acme/items/docs/"+pub, map[string]any{"title": "changed"}, nil); st != 403 {
				t.Errorf("update of a row outside the rule: %d", st)
			}
			if st, _ := u.call("PATCH", "/api/t/acme/items/docs/"+mine, map[string]any{"status": "published"}, nil); st != 403 {
				t.Errorf("update moving a row out of the rule: %d", st)
			}
			u.mustCall(200, "PATCH", "/api/t/acme/items/docs/"+mine, map[string]any{"title": "renamed"})
			all := admin.mustCall(200, "GET", "/api/t/acme/items/docs?fields=title,status&sort=title", nil)
			if got := fmt.Sprint(all.get("data")); got != "[map[status:published title:live] map[status:draft title:renamed]]" {
				t.Errorf("rows after the writes: %s", got)
			}
			if st, _ := u.call("DELETE", "/api/t/acme/items/docs/"+mine, nil, nil); st != 403 {
				t.Errorf("delete without a delete permission: %d", st)
			}
		})
	}
}

// TestDeleteRoleMovesUsers: deleting a role moves its users to the default role
// (they kept a role that no longer existed).
func TestDeleteRoleMovesUsers(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			p := "/api/t/acme"
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			role := n.mustCall(200, "POST", p+"/roles", map[string]any{"name": "editor"}).get("data.id").(string)
			user := n.mustCall(200, "POST", p+"/users", map[string]any{"email": "ed@example.com", "password": "long-enough-1", "role": role}).get("data.id").(string)
			if st, _ := n.call("DELETE", p+"/roles/"+roleID(t, n, "acme", "authenticated"), nil, nil); st != 403 {
				t.Fatalf("deleting a built-in role: %d", st)
			}
			n.mustCall(204, "DELETE", p+"/roles/"+role, nil)
			if r := n.mustCall(200, "GET", p+"/users/"+user, nil); r.get("data.role_id") != nil {
				t.Fatalf("the user keeps the deleted role: %s", r)
			}
			anon := &node{t: t, base: n.base}
			anon.mustCall(200, "POST", p+"/auth/login", map[string]any{"email": "ed@example.com", "password": "long-enough-1"})
		})
	}
}

// TestSortThroughHiddenRows: sorting through a relation sorts a related row the caller
// may not read as if there were none, so the order reveals nothing of it.
func TestSortThroughHiddenRows(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			admin := startNode(t, b.newControlURL(t), nil)
			p := "/api/t/acme"
			admin.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			admin.mustCall(200, "PATCH", p+"/settings", map[string]any{"allow_signup": true})
			admin.mustCall(200, "POST", p+"/tables", map[string]any{"name": "authors", "columns": []any{map[string]any{"name": "name", "type": "string"}}})
			admin.mustCall(200, "POST", p+"/tables", map[string]any{"name": "posts", "columns": []any{map[string]any{"name": "title", "type": "string"}}})
			admin.mustCall(200, "POST", p+"/relations", map[string]any{"table": "posts", "name": "author", "type": "many_to_one", "target": "authors"})
			authd := roleID(t, admin, "acme", "authenticated")
			admin.mustCall(200, "POST", p+"/permissions", map[string]any{"role": authd, "collection": "posts", "action": "read"})
			admin.mustCall(200, "POST", p+"/permissions", map[string]any{"role": authd, "collection": "authors", "action": "read",
				"permissions": map[string]any{"owner_id": map[string]any{"_eq": "$CURRENT_USER"}}})
			admin.mustCall(200, "POST", p+"/permissions", map[string]any{"role": authd, "collection": "authors", "action": "create"})
			alice := tenantUser(t, admin, "acme", "alice@example.com")
			hidden := admin.mustCall(200, "POST", p+"/items/authors", map[string]any{"name": "aaa"}).get("data.id").(string)
			hers := alice.mustCall(200, "POST", p+"/items/authors", map[string]any{"name": "zzz"}).get("data.id").(string)
			admin.mustCall(200, "POST", p+"/items/posts", map[string]any{"title": "by the hidden one", "author": hidden})
			admin.mustCall(200, "POST", p+"/items/posts", map[string]any{"title": "by alice", "author": hers})

			// The admin sees both authors: "aaa" first.
			r := admin.mustCall(200, "GET", p+"/items/posts?sort=author.name&fields=title", nil)
			if got := titlesOf(r); len(got) != 2 || got[0] != "by the hidden one" {
				t.Fatalf("the admin's order: %v", got)
			}
			// Alice cannot read "aaa": it sorts as empty, whatever its name — after hers
			// ascending, before it descending (NULLs last ascending).
			for sort, first := range map[string]string{"author.name": "by alice", "-author.name": "by the hidden one"} {
				r = alice.mustCall(200, "GET", p+"/items/posts?fields=title&sort="+sort, nil)
				if got := titlesOf(r); len(got) != 2 || got[0] != first {
					t.Fatalf("alice's order by %s: %v", sort, got)
				}
			}
		})
	}
}

// TestWildcardFieldsFollowPermissions: fields=*.* expands every relation one level, and
// shows a user only the fields and relations its role may read, on both levels.
func TestWildcardFieldsFollowPermissions(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			admin := startNode(t, b.newControlURL(t), nil)
			p := "/api/t/acme"
			str := func(name string) map[string]any { return map[string]any{"name": name, "type": "string"} }
			admin.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			admin.mustCall(200, "PATCH", p+"/settings", map[string]any{"allow_signup": true})
			admin.mustCall(200, "POST", p+"/tables", map[string]any{"name": "authors", "columns": []any{str("name"), str("secret")}})
			admin.mustCall(200, "POST", p+"/tables", map[string]any{"name": "posts", "columns": []any{str("title"), str("note")}})
			admin.mustCall(200, "POST", p+"/tables", map[string]any{"name": "audits", "columns": []any{str("what")}})
			admin.mustCall(200, "POST", p+"/relations", map[string]any{"table": "posts", "name": "author", "type": "many_to_one", "target": "authors"})
			admin.mustCall(200, "POST", p+"/relations", map[string]any{"table": "posts", "name": "audits", "type": "one_to_many", "target": "audits", "inverse": "post"})
			authd := roleID(t, admin, "acme", "authenticated")
			admin.mustCall(200, "POST", p+"/permissions", map[string]any{"role": authd, "collection": "posts", "action": "read", "fields": []string{"id", "title", "author", "audits"}})
			admin.mustCall(200, "POST", p+"/permissions", map[string]any{"role": authd, "collection": "authors", "action": "read", "fields": []string{"name"}})
			ann := admin.mustCall(200, "POST", p+"/items/authors", map[string]any{"name": "ann", "secret": "s3cret"}).get("data.id").(string)
			post := admin.mustCall(200, "POST", p+"/items/posts", map[string]any{"title": "t", "note": "private", "author": ann}).get("data.id").(string)
			admin.mustCall(200, "POST", p+"/items/audits", map[string]any{"what": "x", "post": post})

			r := admin.mustCall(200, "GET", p+"/items/posts?fields=*.*", nil)
			if r.get("data.0.author.secret") != "s3cret" || r.get("data.0.note") != "private" || r.get("data.0.audits.0.what") != "x" {
				t.Fatalf("the admin's *.*: %s", r)
			}
			alice := tenantUser(t, admin, "acme", "alice@example.com")
			r = alice.mustCall(200, "GET", p+"/items/posts?fields=*.*", nil)
			row, _ := r.get("data.0").(map[string]any)
			want := map[string]any{"id": post, "title": "t", "author": map[string]any{"name": "ann"}}
			if !reflect.DeepEqual(row, want) {
				t.Fatalf("alice's *.* = %v, want %v (no note, no author secret, no audits she may not read)", row, want)
			}
		})
	}
}

// TestNonAdminSchemaView: a signed-in user's /tables and /permissions/me show the
// tables and columns their role may use and nothing else, so the data app built from
// them offers no screen or field the API would refuse.
func TestNonAdminSchemaView(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			admin := startNode(t, b.newControlURL(t), nil)
			admin.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			admin.mustCall(200, "PATCH", "/api/t/acme/settings", map[string]any{"allow_signup": true})
			admin.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "docs", "columns": []any{
				map[string]any{"name": "title", "type": "string"}, map[string]any{"name": "secret", "type": "string"}}})
			admin.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "hidden", "columns": []any{map[string]any{"name": "x", "type": "string"}}})
			authd := roleID(t, admin, "acme", "authenticated")
			admin.mustCall(200, "POST", "/api/t/acme/permissions", map[string]any{"role": authd, "collection": "docs", "action": "read", "fields": []string{"title"}})
			admin.mustCall(200, "POST", "/api/t/acme/permissions", map[string]any{"role": authd, "collection": "docs", "action": "update",
				"fields": []string{"title"}, "presets": map[string]any{"secret": "set by rule"}, "permissions": map[string]any{"owner_id": map[string]any{"_eq": "$CURRENT_USER"}}})
			alice := tenantUser(t, admin, "acme", "alice@example.com")

			tables := alice.mustCall(200, "GET", "/api/t/acme/tables", nil)
			if got := texts(tables, "name"); strings.Join(got, ",") != "docs" {
				t.Fatalf("alice's tables: %v", got)
			}
			var cols []string
			for _, c := range tables.get("data.0.columns").([]any) {
				cols = append(cols, c.(map[string]any)["name"].(string))
			}
			if strings.Join(cols, ",") != "id,title" {
				t.Errorf("alice's columns of docs: %v", cols)
			}
			if st, _ := alice.call("GET", "/api/t/acme/tables/hidden", nil, nil); st != 404 {
				t.Errorf("a table alice may not use: %d", st)
			}
			me := alice.mustCall(200, "GET", "/api/t/acme/permissions/me", nil)
			want := map[string]any{
				"read":   map[string]any{"access": "full", "fields": []any{"title"}},
				"create": map[string]any{"access": "none"},
				"update": map[string]any{"access": "partial", "fields": []any{"title"}, "presets": map[string]any{"secret": "set by rule"}},
				"delete": map[string]any{"access": "none"},
				"share":  map[string]any{"access": "none"},
			}
			if got := me.get("data.docs"); !reflect.DeepEqual(got, want) {
				t.Errorf("permissions/me docs = %v, want %v", got, want)
			}
			if len(me.get("data").(map[string]any)) != 1 {
				t.Errorf("permissions/me names tables alice may not use: %s", me)
			}
			if alice.mustCall(200, "GET", "/api/t/acme/users/me", nil).get("data.admin_access") != false ||
				admin.mustCall(200, "GET", "/api/t/acme/users/me", nil).get("data.admin_access") != true {
				t.Errorf("users/me does not tell an admin from a user")
			}
			if admin.mustCall(200, "GET", "/api/t/acme/permissions/me", nil).get("data.hidden.delete.access") != "full" {
				t.Errorf("an admin's permissions/me is not full everywhere")
			}
			// An anonymous caller (the public role, granted nothing here) sees no table.
			(&testkit.Client{T: t, Base: admin.base}).Run(t, []testkit.Scenario{
				{Name: "anonymous tables", Method: "GET", Path: "/api/t/acme/tables", Status: 200, Contains: []string{`"data":[]`}},
				{Name: "anonymous permissions", Method: "GET", Path: "/api/t/acme/permissions/me", Status: 200, Contains: []string{`"data":{}`}},
				{Name: "anonymous hidden table", Method: "GET", Path: "/api/t/acme/tables/docs", Status: 404, NotContains: []string{"secret"}},
				{Name: "anonymous migrations", Method: "GET", Path: "/api/t/acme/migrations", Status: 401, Contains: []string{"INVALID_CREDENTIALS"}},
			})
		})
	}
}
