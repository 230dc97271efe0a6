package main

import (
	"encoding/json"
	"net/http"
	"os"
	"testing"
	"time"

	"strata/modules/bus"
)

// heard waits for node n's bus to deliver a message of topic about tenantID (and, for
// an invalidation, about what). Subscribers run in the order they subscribed, so when
// the test hears it, the node's own caches have already dropped what it invalidates:
// the node's next request is the proof, with no retry.
func (n *node) heard(topic, tenantID, what string) func() {
	n.t.Helper()
	got := make(chan struct{}, 1)
	unsubscribe := n.app.Bus.Subscribe(func(m bus.Message) {
		if m.Topic != topic || m.Tenant != tenantID {
			return
		}
		if what != "" {
			var inv bus.Invalidation
			if json.Unmarshal(m.Data, &inv) != nil || inv.What != what {
				return
			}
		}
		select {
		case got <- struct{}{}:
		default:
		}
	})
	return func() {
		n.t.Helper()
		defer unsubscribe()
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			n.t.Fatalf("node %s: no %s message for tenant %s within 10s", n.base, topic, tenantID)
		}
	}
}

// allowedOrigin sends a preflight from origin and returns the origin the answer allows.
func (n *node) allowedOrigin(slug, origin string) string {
	n.t.Helper()
	req, _ := http.NewRequest("OPTIONS", n.base+"/api/t/"+slug+"/items/x", nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "GET")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("Access-Control-Allow-Origin")
}

// TestCluster: two nodes share a control database and a bus; with every cache trusted
// for an hour (STRATA_CACHE_TTL), only the bus can make node b see what node a changed.
// A schema change on a is in b's REST and GraphQL, a permission change and a settings
// change apply on b, and a deleted tenant is gone from b, each on b's next request
// after the message arrived. Legs: PostgreSQL NOTIFY on a PostgreSQL control database,
// and Redis pub/sub (STRATA_REDIS_URL) on a MySQL control database (SQLite where
// MySQL is not set up), which has no bus of its own.
func TestCluster(t *testing.T) {
	t.Parallel()
	pg, my, rd := os.Getenv("STRATA_TEST_POSTGRES_URL"), os.Getenv("STRATA_TEST_MYSQL_URL"), os.Getenv("STRATA_TEST_REDIS_URL")
	for _, v := range []string{"STRATA_TEST_POSTGRES_URL", "STRATA_TEST_REDIS_URL"} {
		if os.Getenv(v) == "" {
			if os.Getenv("CI") == "true" {
				t.Errorf("%s is not set: the cluster leg on it must run in CI", v)
			} else {
				t.Logf("%s not set: skipping the cluster leg on it", v)
			}
		}
	}
	type leg struct {
		name    string
		control func(t *testing.T) string
		env     map[string]string
		want    func(b bus.Bus) bool
	}
	var legs []leg
	if pg != "" {
		legs = append(legs, leg{name: "postgres notify", control: func(t *testing.T) string { return pgDatabase(t, pg) },
			want: func(b bus.Bus) bool { _, ok := b.(*bus.Postgres); return ok }})
	}
	if rd != "" {
		control := func(t *testing.T) string { return "sqlite://" + t.TempDir() + "/control.db" }
		if my != "" {
			control = func(t *testing.T) string { return mysqlDatabase(t, my) }
		}
		legs = append(legs, leg{name: "redis", control: control,
			// A channel of this test's own: other tests on the same Redis do not hear it.
			env:  map[string]string{"STRATA_REDIS_URL": rd + "?channel=" + "strata_test_" + randomSuffix()},
			want: func(b bus.Bus) bool { _, ok := b.(*bus.Redis); return ok }})
	}
	for _, l := range legs {
		t.Run(l.name, func(t *testing.T) {
			control, dir := l.control(t), t.TempDir()
			env := map[string]string{"STRATA_DATA_DIR": dir, "STRATA_CACHE_TTL": "1h", "STRATA_LOGIN_MAX_FAILURES": "3"}
			for k, v := range l.env {
				env[k] = v
			}
			a, b := startNode(t, control, env), startNode(t, control, env)
			for _, n := range []*node{a, b} {
				if !l.want(n.app.Bus.(*bus.Node).Bus) {
					t.Fatalf("node %s runs bus %T", n.base, n.app.Bus.(*bus.Node).Bus)
				}
			}
			anonB := *b
			anonB.token = ""

			// Schema: b caches the model, a adds a table.
			a.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			id := mustTenant(t, a, "acme").ID
			a.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "first", "columns": []any{map[string]any{"name": "x", "type": "string"}}})
			b.mustCall(200, "GET", "/api/t/acme/items/first", nil)
			b.mustGQL("acme", "{ first { id } }", nil)
			b.mustCall(404, "GET", "/api/t/acme/items/newtable", nil)
			wait := b.heard(bus.TopicSchema, id, "")
			a.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "newtable", "columns": []any{map[string]any{"name": "y", "type": "string"}}})
			wait()
			b.mustCall(200, "GET", "/api/t/acme/items/newtable", nil)
			b.mustGQL("acme", "{ newtable { id } }", nil)

			// Permissions: b caches the public policy, a lets the public read.
			anonB.mustCall(403, "GET", "/api/t/acme/items/newtable", nil)
			wait = b.heard(bus.TopicInvalidate, id, bus.InvalidateAccess)
			a.mustCall(200, "POST", "/api/t/acme/permissions", map[string]any{"role": roleID(t, a, "acme", "public"), "collection": "newtable", "action": "read"})
			wait()
			anonB.mustCall(200, "GET", "/api/t/acme/items/newtable", nil)

			// Settings: b caches the tenant's CORS origins, a allows one more.
			const app = "https://app.example.com"
			if got := b.allowedOrigin("acme", app); got != "" {
				t.Fatalf("origin allowed before the settings allow it: %q", got)
			}
			wait = b.heard(bus.TopicInvalidate, id, bus.InvalidateSettings)
			a.mustCall(200, "PATCH", "/api/t/acme/settings", map[string]any{"cors_origins": []string{app}})
			wait()
			if got := b.allowedOrigin("acme", app); got != app {
				t.Fatalf("node b allows %q after the settings change on node a", got)
			}

			// Sign-in failures count for the cluster: three on a, and b refuses the next.
			anonA := *a
			anonA.token = ""
			guess := map[string]any{"email": "admin@example.com", "password": "wrong-guess"}
			for range 3 {
				wait = b.heard(bus.TopicThrottle, "", "")
				anonA.mustCall(401, "POST", "/api/auth/login", guess)
				wait()
			}
			anonB.mustCall(429, "POST", "/api/auth/login", guess)

			// The tenant: b caches it by slug, a deletes it.
			wait = b.heard(bus.TopicInvalidate, id, bus.InvalidateTenant)
			_, challenge := a.call("DELETE", "/api/tenants/acme", nil, nil)
			if st, r := a.call("DELETE", "/api/tenants/acme", nil, confirmHeaders(t, challenge)); st != 204 {
				t.Fatalf("delete the tenant: %d %s", st, r)
			}
			wait()
			b.mustCall(404, "GET", "/api/t/acme/items/newtable", nil)
		})
	}
}

// TestClusterWithoutBusKeepsCaches is the control of TestCluster: two nodes that share
// an SQLite control database but no bus (each has its own in-process one) do not see
// each other's changes while the TTL lasts, so what TestCluster sees came by the bus.
func TestClusterWithoutBusKeepsCaches(t *testing.T) {
	t.Parallel()
	control, dir := "sqlite://"+t.TempDir()+"/control.db", t.TempDir()
	env := map[string]string{"STRATA_DATA_DIR": dir, "STRATA_CACHE_TTL": "1h"}
	a, b := startNode(t, control, env), startNode(t, control, env)
	a.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	b.mustCall(404, "GET", "/api/t/acme/items/newtable", nil)
	a.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "newtable", "columns": []any{map[string]any{"name": "y", "type": "string"}}})
	a.mustCall(200, "GET", "/api/t/acme/items/newtable", nil)
	time.Sleep(200 * time.Millisecond)
	b.mustCall(404, "GET", "/api/t/acme/items/newtable", nil)
}
