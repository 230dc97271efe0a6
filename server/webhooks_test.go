package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// hookTarget is a webhook target the test runs on loopback: it keeps what it was sent
// and answers the status it is told to.
type hookTarget struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []hookRequest
	status int
}

type hookRequest struct {
	header http.Header
	body   []byte
}

func newHookTarget(t *testing.T) *hookTarget {
	h := &hookTarget{status: 200}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.got = append(h.got, hookRequest{r.Header.Clone(), b})
		st := h.status
		h.mu.Unlock()
		w.WriteHeader(st)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookTarget) answer(status int) {
	h.mu.Lock()
	h.status = status
	h.mu.Unlock()
}

func (h *hookTarget) requests() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.got...)
}

// waitFor polls until the target has received n requests.
func (h *hookTarget) waitFor(t *testing.T, n int) []hookRequest {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; {
		if got := h.requests(); len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("the target received %d requests, want %d", len(h.requests()), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWebhooks: a webhook on a server the test runs on loopback (allowed by the node's
// STRATA_WEBHOOKS_PRIVATE and named in webhook_hosts) receives each matching write
// once, signed; an answer of 500 is retried with the same delivery, then the delivery
// is dead and can be queued again; a write that rolls back posts nothing; hosts not
// listed, secrets' tables and reserved headers are refused; and without the node's
// allowance a private address is never reached.
func TestWebhooks(t *testing.T) {
	requireBackends(t)
	t.Parallel() // alone on its databases; mostly waiting for its target's answers
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), map[string]string{"STRATA_WEBHOOKS_PRIVATE": "true"})
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			p := "/api/t/acme"
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "posts", "columns": []any{
				map[string]any{"name": "title", "type": "string"}, map[string]any{"name": "views", "type": "integer"}}})
			target := newHookTarget(t)
			u, _ := url.Parse(target.srv.URL)

			// Nothing is allowed until webhook_hosts says so.
			hook := map[string]any{"name": "ping", "url": target.srv.URL + "/hook", "tables": []string{"posts"}, "events": []string{"create", "update"},
				"headers": map[string]string{"X-Custom": "yes"}}
			if st, r := n.call("POST", p+"/webhooks", hook, nil); st != 403 || r.get("errors.0.extensions.field") != "url" {
				t.Fatalf("a host not listed: %d %s", st, r)
			}
			n.mustCall(200, "PATCH", p+"/settings", map[string]any{"webhook_hosts": []string{u.Host}})
			for _, bad := range []map[string]any{
				{"name": "x", "url": target.srv.URL, "tables": []string{"strata_users"}, "events": []string{"create"}},
				{"name": "x", "url": target.srv.URL, "tables": []string{"posts"}, "events": []string{"upsert"}},
				{"name": "x", "url": target.srv.URL, "tables": []string{"posts"}, "events": []string{"create"}, "headers": map[string]string{"X-Strata-Signature": "forged"}},
				{"name": "x", "url": target.srv.URL, "tables": []string{"posts"}, "events": []string{"create"}, "headers": map[string]string{"X-A": "one\r\nX-B: two"}},
				{"name": "x", "url": "http://user:pw@" + u.Host, "tables": []string{"posts"}, "events": []string{"create"}},
				{"name": "x", "url": target.srv.URL, "tables": []string{"posts"}, "events": []string{"create"}, "secret": "short"},
			} {
				if st, r := n.call("POST", p+"/webhooks", bad, nil); st != 400 {
					t.Errorf("%v: %d %s", bad, st, r)
				}
			}
			created := n.mustCall(201, "POST", p+"/webhooks", hook)
			id, _ := created.get("data.id").(string)
			secret, _ := created.get("data.secret").(string)
			if id == "" || len(secret) != 64 || created.get("data.secret_set") != true {
				t.Fatalf("created: %s", created)
			}
			listed := n.mustCall(200, "GET", p+"/webhooks", nil)
			if listed.get("data.0.name") != "ping" || listed.get("data.0.secret") != nil || listed.get("data.0.headers.X-Custom") != "yes" {
				t.Fatalf("listed: %s", listed)
			}

			// A create is posted once, signed, with what was written.
			row := n.mustCall(200, "POST", p+"/items/posts", map[string]any{"title": "first", "views": 1}).get("data.id").(string)
			first := target.waitFor(t, 1)[0]
			mac := hmac.New(sha256.New, []byte(secret))
			mac.Write(first.body)
			if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); first.header.Get("X-Strata-Signature") != want {
				t.Fatalf("signature %q, want %q", first.header.Get("X-Strata-Signature"), want)
			}
			var body map[string]any
			if err := json.Unmarshal(first.body, &body); err != nil {
				t.Fatal(err)
			}
			if body["event"] != "create" || body["collection"] != "posts" || fmt.Sprint(body["keys"]) != "["+row+"]" || body["webhook"] != "ping" ||
				body["payload"].(map[string]any)["title"] != "first" || body["delivery"] != first.header.Get("X-Strata-Delivery") || body["timestamp"] == nil {
				t.Fatalf("body: %s", first.body)
			}
			if first.header.Get("X-Custom") != "yes" || first.header.Get("X-Strata-Event") != "create" || first.header.Get("X-Strata-Attempt") != "1" ||
				first.header.Get("Content-Type") != "application/json" {
				t.Fatalf("headers: %v", first.header)
			}

			// A write that rolls back, and an event not watched, post nothing.
			if st, r := n.call("POST", p+"/items/posts", map[string]any{"title": "bad", "views": "many"}, nil); st != 400 {
				t.Fatalf("a bad row: %d %s", st, r)
			}
			n.mustCall(204, "DELETE", p+"/items/posts/"+row, nil)
			row = n.mustCall(200, "POST", p+"/items/posts", map[string]any{"title": "second", "views": 1}).get("data.id").(string)
			target.waitFor(t, 2)
			n.app.core.webhooks.Sweep(context.Background())
			time.Sleep(300 * time.Millisecond)
			if got := target.requests(); len(got) != 2 {
				t.Fatalf("after a rolled-back write and a delete: %d requests", len(got))
			}
			log := n.mustCall(200, "GET", p+"/webhooks/"+id+"/deliveries", nil)
			if arr, _ := log.get("data").([]any); len(arr) != 2 || log.get("data.0.status") != "delivered" || log.get("data.0.response_code") != float64(200) ||
				log.get("data.0.attempts") != float64(1) {
				t.Fatalf("log after two deliveries: %s", log)
			}

			// The target fails: the delivery is tried again, the same one, until dead.
			target.answer(500)
			n.mustCall(200, "PATCH", p+"/items/posts/"+row, map[string]any{"views": 2})
			failed := target.waitFor(t, 3)[2]
			db := n.tenantDB("acme")
			d := db.Dialect
			due := func() {
				t.Helper()
				if _, err := db.Exec(d.Rebind("UPDATE "+d.Quote("strata_function_outbox")+" SET "+d.Quote("next_at")+" = ? WHERE "+d.Quote("status")+" = 'pending'"),
					d.TimeValue(time.Now().UTC().Add(-time.Second))); err != nil {
					t.Fatal(err)
				}
				n.app.core.webhooks.Sweep(context.Background())
			}
			for attempt := 2; attempt <= 8; attempt++ {
				deadline := time.Now().Add(15 * time.Second)
				for len(target.requests()) < 2+attempt {
					if time.Now().After(deadline) {
						t.Fatalf("attempt %d never came", attempt)
					}
					// The second attempt comes on its own, 10 s after the first, without
					// a sweep (on one database: the timing is the node's, not the
					// database's); the others are made due at once.
					if attempt > 2 || b.name != "sqlite" {
						due()
					}
					time.Sleep(50 * time.Millisecond)
				}
				again := target.requests()[1+attempt]
				if again.header.Get("X-Strata-Delivery") != failed.header.Get("X-Strata-Delivery") || string(again.body) != string(failed.body) ||
					again.header.Get("X-Strata-Attempt") != fmt.Sprint(attempt) {
					t.Fatalf("attempt %d is not the same delivery: %v %s", attempt, again.header, again.body)
				}
			}
			var dead reply
			for deadline := time.Now().Add(10 * time.Second); ; {
				dead = n.mustCall(200, "GET", p+"/webhooks/"+id+"/deliveries?status=dead", nil)
				if arr, _ := dead.get("data").([]any); len(arr) == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no dead delivery: %s", n.mustCall(200, "GET", p+"/webhooks/"+id+"/deliveries", nil))
				}
				time.Sleep(50 * time.Millisecond)
			}
			if dead.get("data.0.attempts") != float64(8) || dead.get("data.0.response_code") != float64(500) || dead.get("data.0.event") != "update" ||
				!strings.Contains(fmt.Sprint(dead.get("data.0.error")), "500") {
				t.Fatalf("dead delivery: %s", dead)
			}
			due()
			time.Sleep(300 * time.Millisecond)
			if got := len(target.requests()); got != 10 {
				t.Fatalf("a dead delivery was tried again: %d requests", got)
			}
			// Queued again by hand, it is delivered once the target is back.
			target.answer(200)
			n.mustCall(202, "POST", p+"/webhooks/"+id+"/deliveries/"+fmt.Sprint(dead.get("data.0.id"))+"/retry", nil)
			target.waitFor(t, 11)
			n.mustCall(404, "POST", p+"/webhooks/"+id+"/deliveries/"+fmt.Sprint(dead.get("data.0.id"))+"/retry", nil)

			// Disabled, it posts nothing; removed, it is gone.
			n.mustCall(200, "PATCH", p+"/webhooks/"+id, map[string]any{"enabled": false})
			n.mustCall(200, "POST", p+"/items/posts", map[string]any{"title": "third"})
			time.Sleep(300 * time.Millisecond)
			if got := len(target.requests()); got != 11 {
				t.Fatalf("a disabled webhook posted: %d requests", got)
			}
			n.mustCall(204, "DELETE", p+"/webhooks/"+id, nil)
			n.mustCall(404, "GET", p+"/webhooks/"+id, nil)

			// A node without the allowance never reaches a private address, listed or not.
			closed := startNode(t, b.newControlURL(t), nil)
			closed.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			closed.mustCall(200, "POST", p+"/tables", map[string]any{"name": "posts", "columns": []any{map[string]any{"name": "title", "type": "string"}}})
			closed.mustCall(200, "PATCH", p+"/settings", map[string]any{"webhook_hosts": []string{u.Host}})
			hid := closed.mustCall(201, "POST", p+"/webhooks", hook).get("data.id").(string)
			closed.mustCall(200, "POST", p+"/items/posts", map[string]any{"title": "inside"})
			for deadline := time.Now().Add(10 * time.Second); ; {
				r := closed.mustCall(200, "GET", p+"/webhooks/"+hid+"/deliveries", nil)
				if r.get("data.0.status") == "dead" {
					if !strings.Contains(fmt.Sprint(r.get("data.0.error")), "inside this network") {
						t.Fatalf("refusal: %s", r)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the delivery to a private address: %s", r)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if got := len(target.requests()); got != 11 {
				t.Fatalf("a node without the allowance reached loopback: %d requests", got)
			}
		})
	}
}
