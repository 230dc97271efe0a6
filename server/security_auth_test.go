package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"strata/modules/bus"
	"strata/modules/database"
)

// busLeg is a cluster bus a security test runs over: PostgreSQL NOTIFY on a PostgreSQL
// control database, or Redis pub/sub (on a MySQL control database where one is set up,
// else SQLite), as in TestCluster. forge writes raw payloads on the leg's channel the
// way an outsider can: pg_notify as plain SQL on the control database, PUBLISH on Redis.
type busLeg struct {
	name    string
	control func(t *testing.T) string
	env     map[string]string
	forge   func(t *testing.T, control string, payloads []string)
}

func busLegs(t *testing.T) []busLeg {
	pg, my, rd := os.Getenv("STRATA_TEST_POSTGRES_URL"), os.Getenv("STRATA_TEST_MYSQL_URL"), os.Getenv("STRATA_TEST_REDIS_URL")
	for _, v := range []string{"STRATA_TEST_POSTGRES_URL", "STRATA_TEST_REDIS_URL"} {
		if os.Getenv(v) == "" {
			if os.Getenv("CI") == "true" {
				t.Errorf("%s is not set: the bus leg on it must run in CI", v)
			} else {
				t.Logf("%s not set: skipping the bus leg on it", v)
			}
		}
	}
	var legs []busLeg
	if pg != "" {
		legs = append(legs, busLeg{name: "postgres notify", control: func(t *testing.T) string { return pgDatabase(t, pg) },
			forge: func(t *testing.T, control string, payloads []string) {
				db, err := database.Open(context.Background(), control, database.Pool{MaxOpen: 1})
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				for _, p := range payloads {
					// What a tenant's custom SQL could run: plain SQL, no Strata code.
					if _, err := db.Exec("SELECT pg_notify('strata_bus', '" + strings.ReplaceAll(p, "'", "''") + "')"); err != nil {
						t.Fatal(err)
					}
				}
			}})
	}
	if rd != "" {
		control := func(t *testing.T) string { return "sqlite://" + t.TempDir() + "/control.db" }
		if my != "" {
			control = func(t *testing.T) string { return mysqlDatabase(t, my) }
		}
		channel := "strata_test_" + randomSuffix()
		legs = append(legs, busLeg{name: "redis", control: control,
			env: map[string]string{"STRATA_REDIS_URL": rd + "?channel=" + channel},
			forge: func(t *testing.T, _ string, payloads []string) {
				opt, err := redis.ParseURL(rd)
				if err != nil {
					t.Fatal(err)
				}
				c := redis.NewClient(opt)
				defer c.Close()
				for _, p := range payloads {
					if err := c.Publish(context.Background(), channel, p).Err(); err != nil {
						t.Fatal(err)
					}
				}
			}})
	}
	return legs
}

// metric reads one unlabelled sample from the node's /metrics (-1 when absent).
func (n *node) metric(name string) float64 {
	n.t.Helper()
	st, r := n.call("GET", "/metrics", nil, nil)
	if st != 200 {
		n.t.Fatalf("GET /metrics: %d %s", st, r)
	}
	raw, _ := r["raw"].(string)
	sc := bufio.NewScanner(strings.NewReader(raw))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				n.t.Fatalf("%s: %v", sc.Text(), err)
			}
			return f
		}
	}
	return -1
}

// TestSecurityForgedBusMessages (issue 13, finding 3): a tenant's custom SQL could
// pg_notify on the cluster bus's channel (and anyone reaching Redis could PUBLISH):
// forged sign-in failures for the platform admin's account locked the admin out with
// 429. Now a payload not sealed with the cluster key is dropped and counted in
// strata_bus_rejected_messages_total, and the admin signs in.
func TestSecurityForgedBusMessages(t *testing.T) {
	t.Parallel()
	for _, l := range busLegs(t) {
		t.Run(l.name, func(t *testing.T) {
			control := l.control(t)
			env := map[string]string{"STRATA_LOGIN_MAX_FAILURES": "3"}
			for k, v := range l.env {
				env[k] = v
			}
			n := startNode(t, control, env)
			before := n.metric("strata_bus_rejected_messages_total")

			// The throttle's key for the platform admin's account (auth.accountKey), and a
			// batch of failures for it, as the nodes' own messages look on the wire.
			sum := sha256.Sum256([]byte("platform\x00admin@example.com"))
			key := "a" + hex.EncodeToString(sum[:16])
			fail, _ := json.Marshal(map[string]any{"t": "throttle", "o": "forger", "d": map[string]any{"failed": true, "keys": []string{key}}})
			batch := "[" + strings.Repeat(string(fail)+",", 9) + string(fail) + "]"
			payloads := []string{string(fail), batch, batch}
			l.forge(t, control, payloads)

			// Dropped, not merely slow: the node counts each payload it refused.
			deadline := time.Now().Add(5 * time.Second)
			for n.metric("strata_bus_rejected_messages_total") < before+float64(len(payloads)) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if got := n.metric("strata_bus_rejected_messages_total"); got < before+float64(len(payloads)) {
				t.Errorf("strata_bus_rejected_messages_total = %v, want at least %v", got, before+float64(len(payloads)))
			}
			anon := &node{t: t, base: n.base}
			if st, r := anon.call("POST", "/api/auth/login", map[string]any{"email": "admin@example.com", "password": testPassword}, nil); st != 200 {
				t.Fatalf("the platform admin after forged throttle messages: %d %s", st, r)
			}
		})
	}
}

// getMetrics asks url for metrics with the bearer token (none when empty).
func getMetrics(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestSecurityMetricsToken (issue 13, finding 12): with STRATA_METRICS_TOKEN set,
// /metrics answers only "Authorization: Bearer <token>"; anyone else, a platform admin's
// access token included, gets 401. Metrics do not depend on the database: SQLite only.
func TestSecurityMetricsToken(t *testing.T) {
	t.Parallel()
	const token = "metrics-token-0123456789abcdef"
	n := startNode(t, "sqlite://"+t.TempDir()+"/control.db", map[string]string{"STRATA_METRICS_TOKEN": token})
	for _, c := range []struct {
		name, token string
		want        int
	}{
		{"no token", "", 401},
		{"a wrong token", "metrics-token-0123456789abcdeX", 401},
		{"a prefix of the token", token[:10], 401},
		{"the platform admin's access token", n.token, 401},
		{"the token", token, 200},
	} {
		st, body := getMetrics(t, n.base+"/metrics", c.token)
		if st != c.want {
			t.Errorf("%s: %d, want %d", c.name, st, c.want)
		}
		if has := strings.Contains(body, "strata_http_requests_total"); has != (c.want == 200) {
			t.Errorf("%s: metrics in the body = %v", c.name, has)
		}
	}
}

// TestSecurityMetricsAddr (issue 13, finding 12): with STRATA_METRICS_ADDR set,
// /metrics is served on that listener (ServeMetrics, as run starts it) and no longer on
// the API's port.
func TestSecurityMetricsAddr(t *testing.T) {
	t.Parallel()
	n := startNode(t, "sqlite://"+t.TempDir()+"/control.db", map[string]string{"STRATA_METRICS_ADDR": "127.0.0.1:0"})
	if st, body := getMetrics(t, n.base+"/metrics", ""); st == 200 || strings.Contains(body, "strata_http_requests_total") {
		t.Fatalf("the API's port still serves /metrics: %d", st)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = n.app.ServeMetrics(ln) }()
	if st, body := getMetrics(t, "http://"+ln.Addr().String()+"/metrics", ""); st != 200 || !strings.Contains(body, "strata_http_requests_total") {
		t.Fatalf("the metrics listener: %d %.200s", st, body)
	}
	if st, _ := getMetrics(t, "http://"+ln.Addr().String()+"/api/tenants", n.token); st != 404 {
		t.Fatalf("the metrics listener serves the API: %d", st)
	}
}

// realmCase is where a security test signs in: the platform, or a tenant's users.
type realmCase struct {
	name   string
	prefix string // of the auth routes: /api or /api/t/acme
	whoami string // a route any signed-in caller of the realm may read
}

// signIn makes a signed-in caller of the realm on n and returns their tokens: the
// platform admin (whatever email says), or a new tenant user (acme must exist and
// allow sign-up).
func signIn(t *testing.T, n *node, rc realmCase, email string) (access, refresh string) {
	t.Helper()
	anon := &node{t: t, base: n.base}
	password := testPassword
	if rc.name == "platform" {
		email = "admin@example.com"
	} else {
		password = "user-pass-123"
		anon.mustCall(204, "POST", rc.prefix+"/users/register", map[string]any{"email": email, "password": password})
	}
	r := anon.mustCall(200, "POST", rc.prefix+"/auth/login", map[string]any{"email": email, "password": password})
	return r.get("data.access_token").(string), r.get("data.refresh_token").(string)
}

func realms() []realmCase {
	return []realmCase{
		{name: "platform", prefix: "/api", whoami: "/api/tenants"},
		{name: "tenant", prefix: "/api/t/acme", whoami: "/api/t/acme/users/me"},
	}
}

// TestSecurityRefreshReuseInterval (issue 13, finding 11): two tabs refreshing with the
// same token at once both get the same new refresh token and a working access token
// for the same session, where the second used to revoke the session; a reuse after
// STRATA_REFRESH_REUSE_INTERVAL still revokes the whole family. Platform admins and
// tenant users, on every dialect.
func TestSecurityRefreshReuseInterval(t *testing.T) {
	requireBackends(t)
	t.Parallel() // alone on its databases; mostly waiting out the interval
	const interval = 2 * time.Second
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), map[string]string{"STRATA_REFRESH_REUSE_INTERVAL": interval.String()})
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			n.mustCall(200, "PATCH", "/api/t/acme/settings", map[string]any{"allow_signup": true})
			for _, rc := range realms() {
				t.Run(rc.name, func(t *testing.T) {
					anon := &node{t: t, base: n.base}
					_, r0 := signIn(t, n, rc, "tabs@example.com")
					refresh := func(tok string) (int, reply) {
						return anon.call("POST", rc.prefix+"/auth/refresh", map[string]any{"refresh_token": tok}, nil)
					}

					// Two tabs at once.
					type answer struct {
						st int
						r  reply
					}
					answers := make(chan answer, 2)
					for range 2 {
						go func() { st, r := refresh(r0); answers <- answer{st, r} }()
					}
					var pairs []answer
					for range 2 {
						a := <-answers
						if a.st != 200 {
							t.Fatalf("a tab refreshing at the same time: %d %s", a.st, a.r)
						}
						pairs = append(pairs, a)
					}
					r1 := pairs[0].r.get("data.refresh_token")
					if pairs[1].r.get("data.refresh_token") != r1 {
						t.Fatalf("the tabs got different refresh tokens: %v and %v", r1, pairs[1].r.get("data.refresh_token"))
					}
					for i, p := range pairs {
						tab := &node{t: t, base: n.base, token: p.r.get("data.access_token").(string)}
						if st, r := tab.call("GET", rc.whoami, nil, nil); st != 200 {
							t.Fatalf("tab %d's access token: %d %s", i, st, r)
						}
					}
					// The same token once more, still within the interval, sequentially.
					if st, r := refresh(r0); st != 200 || r.get("data.refresh_token") != r1 {
						t.Fatalf("a reuse within the interval: %d %s", st, r)
					}

					// The session goes on with the new token; then the old one, too late.
					st, r := refresh(r1.(string))
					if st != 200 {
						t.Fatalf("refresh with the new token: %d %s", st, r)
					}
					r2 := r.get("data.refresh_token").(string)
					time.Sleep(interval + 200*time.Millisecond)
					if st, r := refresh(r1.(string)); st != 401 {
						t.Fatalf("a reuse after the interval: %d %s, want 401", st, r)
					}
					if st, r := refresh(r2); st != 401 {
						t.Fatalf("the session's newest token after a late reuse: %d %s, want 401 (family revoked)", st, r)
					}
				})
			}
		})
	}
}

// TestSecurityRevocationIsImmediate (issue 13, finding 6): an access token used to
// outlive its session for up to its 15 minutes: a demoted tenant admin still ran
// admin routes. Now demotion, suspension, deletion, a password change and sign-out
// refuse the old token on its next request, on the node that made the change and on
// another node whose caches are trusted for an hour (STRATA_CACHE_TTL), so only the
// bus can tell it. Legs: one SQLite node; two nodes over PostgreSQL NOTIFY; two nodes
// over Redis on MySQL.
func TestSecurityRevocationIsImmediate(t *testing.T) {
	t.Parallel()
	type leg struct {
		name    string
		control func(t *testing.T) string
		env     map[string]string
		two     bool
	}
	legs := []leg{{name: "sqlite", control: func(t *testing.T) string { return "sqlite://" + t.TempDir() + "/control.db" }}}
	for _, l := range busLegs(t) {
		legs = append(legs, leg{name: l.name, control: l.control, env: l.env, two: true})
	}
	for _, l := range legs {
		t.Run(l.name, func(t *testing.T) {
			env := map[string]string{"STRATA_DATA_DIR": t.TempDir(), "STRATA_CACHE_TTL": "1h"}
			for k, v := range l.env {
				env[k] = v
			}
			control := l.control(t)
			a := startNode(t, control, env)
			b := a
			if l.two {
				b = startNode(t, control, env)
			}
			a.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			id := mustTenant(t, a, "acme").ID
			admin, authd := roleID(t, a, "acme", "admin"), roleID(t, a, "acme", "authenticated")

			for i, c := range []struct {
				name   string
				change func(user, refresh string)
			}{
				{"demoted", func(user, _ string) {
					a.mustCall(200, "PATCH", "/api/t/acme/users/"+user, map[string]any{"role": authd})
				}},
				{"suspended", func(user, _ string) {
					a.mustCall(200, "PATCH", "/api/t/acme/users/"+user, map[string]any{"status": "suspended"})
				}},
				{"password changed", func(user, _ string) {
					a.mustCall(200, "PATCH", "/api/t/acme/users/"+user, map[string]any{"password": "another-pass-123"})
				}},
				{"deleted", func(user, _ string) { a.mustCall(204, "DELETE", "/api/t/acme/users/"+user, nil) }},
				{"signed out", func(_, refresh string) {
					(&node{t: t, base: a.base}).mustCall(204, "POST", "/api/t/acme/auth/logout", map[string]any{"refresh_token": refresh})
				}},
			} {
				t.Run(c.name, func(t *testing.T) {
					email := fmt.Sprintf("boss%d@example.com", i)
					user := a.mustCall(200, "POST", "/api/t/acme/users", map[string]any{"email": email, "password": "boss-pass-123", "role": admin}).get("data.id").(string)
					login := (&node{t: t, base: a.base}).mustCall(200, "POST", "/api/t/acme/auth/login", map[string]any{"email": email, "password": "boss-pass-123"})
					boss := func(n *node) *node {
						return &node{t: t, base: n.base, app: n.app, token: login.get("data.access_token").(string)}
					}
					// Both nodes have checked the token (and cached what they read).
					boss(a).mustCall(200, "GET", "/api/t/acme/tables", nil)
					boss(b).mustCall(200, "GET", "/api/t/acme/tables", nil)
					// A socket signed in with the token, on the other node.
					ws := b.dial("acme", login.get("data.access_token").(string))
					ws.send(map[string]any{"type": "ping"})
					ws.expect("pong", "", "")
					wait := b.heard(bus.TopicInvalidate, id, bus.InvalidateSessions)
					c.change(user, login.get("data.refresh_token").(string))
					wait()
					if code := ws.closeCode(); code != 1008 {
						t.Fatalf("the socket signed in with the old token after %s: close code %d, want 1008", c.name, code)
					}
					for _, n := range []*node{b, a} {
						if st, r := boss(n).call("GET", "/api/t/acme/tables", nil, nil); st != 401 {
							t.Fatalf("node %s: the old access token after %s: %d %.300s, want 401", n.base, c.name, st, r)
						}
					}
				})
			}

			// A platform admin's sign-out.
			t.Run("platform admin signed out", func(t *testing.T) {
				login := (&node{t: t, base: a.base}).mustCall(200, "POST", "/api/auth/login", map[string]any{"email": "admin@example.com", "password": testPassword})
				old := func(n *node) *node { return &node{t: t, base: n.base, token: login.get("data.access_token").(string)} }
				old(a).mustCall(200, "GET", "/api/tenants", nil)
				old(b).mustCall(200, "GET", "/api/t/acme/tables", nil)
				wait := b.heard(bus.TopicInvalidate, "", bus.InvalidateSessions)
				(&node{t: t, base: a.base}).mustCall(204, "POST", "/api/auth/logout", map[string]any{"refresh_token": login.get("data.refresh_token")})
				wait()
				for _, n := range []*node{b, a} {
					for _, path := range []string{"/api/tenants", "/api/t/acme/tables"} {
						if st, r := old(n).call("GET", path, nil, nil); st != 401 {
							t.Fatalf("node %s: %s with the signed-out admin's token: %d %s, want 401", n.base, path, st, r)
						}
					}
				}
				// The admin's other session is not affected.
				b.mustCall(200, "GET", "/api/tenants", nil)
			})
		})
	}
}
