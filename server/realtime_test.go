package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// wsClient is a realtime test client on a real websocket. A goroutine reads, so a
// wait can time out without breaking the connection (gorilla's read deadlines do).
type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
	msgs chan reply
	// closed receives the close code (or -1) when the socket ends.
	closed chan int
}

// dial opens a tenant's websocket, with ?access_token= when token is set.
func (n *node) dial(tenant, token string) *wsClient {
	n.t.Helper()
	c := n.dialNoRead(tenant, token)
	go c.read()
	return c
}

// dialNoRead opens a socket whose messages nobody reads (a slow consumer).
func (n *node) dialNoRead(tenant, token string) *wsClient {
	n.t.Helper()
	url := "ws" + strings.TrimPrefix(n.base, "http") + "/api/t/" + tenant + "/websocket"
	if token != "" {
		url += "?access_token=" + token
	}
	dialer := *websocket.DefaultDialer
	// A small receive buffer, so a client that does not read fills up fast.
	dialer.NetDial = func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(16 << 10)
		}
		return c, err
	}
	conn, resp, err := dialer.Dial(url, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		n.t.Fatalf("dial %s: %v (HTTP %d)", url, err, status)
	}
	n.t.Cleanup(func() { conn.Close() })
	return &wsClient{t: n.t, conn: conn, msgs: make(chan reply, 1024), closed: make(chan int, 1)}
}

func (c *wsClient) read() {
	for {
		_, raw, err := c.conn.ReadMessage()
		if err != nil {
			code := -1
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				code = ce.Code
			}
			c.closed <- code
			close(c.msgs)
			return
		}
		r := reply{}
		if err := json.Unmarshal(raw, &r); err != nil {
			r = reply{"raw": string(raw)}
		}
		if r.get("type") != "ping" {
			c.msgs <- r
		}
	}
}

func (c *wsClient) send(v any) {
	c.t.Helper()
	if err := c.conn.WriteJSON(v); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// next returns the next message that is not a ping, within the timeout.
func (c *wsClient) next(timeout time.Duration) (reply, error) {
	select {
	case r, ok := <-c.msgs:
		if !ok {
			return nil, errors.New("socket closed")
		}
		return r, nil
	case <-time.After(timeout):
		return nil, errors.New("timed out")
	}
}

// expect reads the next message and checks its type, uid and event.
//
// A schema message is skipped unless it is what the test waits for: the hub pushes a
// schema change to the tenant's sockets from the bus, after the request that made it
// has answered, so a socket opened just after a table was created may get the news of
// it first (TestRealtimeBadInput once saw one instead of a pong).
func (c *wsClient) expect(typ, uid, event string) reply {
	c.t.Helper()
	r, err := c.next(5 * time.Second)
	for err == nil && typ != "schema" && r.get("type") == "schema" {
		r, err = c.next(5 * time.Second)
	}
	if err != nil {
		c.t.Fatalf("waiting for %s %s %s: %v", typ, uid, event, err)
	}
	if r.get("type") != typ || (uid != "" && r.get("uid") != uid) || (event != "" && r.get("event") != event) {
		c.t.Fatalf("want %s %s %s, got %s", typ, uid, event, r)
	}
	return r
}

// quiet checks that nothing but pings arrives for a moment.
func (c *wsClient) quiet() {
	c.t.Helper()
	r, err := c.next(300 * time.Millisecond)
	for err == nil && r.get("type") == "schema" { // see expect
		r, err = c.next(300 * time.Millisecond)
	}
	if err == nil {
		c.t.Fatalf("unexpected message: %s", r)
	}
}

// closeCode waits for the socket to close and returns the close code.
func (c *wsClient) closeCode() int {
	c.t.Helper()
	if c.msgs != nil && cap(c.closed) == 1 {
		// Drain what is left, so the reader reaches the close.
		go func() {
			for range c.msgs {
			}
		}()
	}
	select {
	case code := <-c.closed:
		return code
	case <-time.After(20 * time.Second):
		c.t.Fatal("the socket did not close")
		return 0
	}
}

func titlesOf(r reply) []string {
	var out []string
	rows, _ := r.get("data").([]any)
	for _, row := range rows {
		if m, ok := row.(map[string]any); ok {
			out = append(out, fmt.Sprint(m["title"]))
		} else {
			out = append(out, fmt.Sprint(row))
		}
	}
	return out
}

// TestRealtimeProtocol: subscribe, init, create/update/delete, the update that moves
// a row out of the filter, field lists, unsubscribe, ping/pong, auth.
func TestRealtimeProtocol(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			p := "/api/t/acme"
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "posts", "columns": []any{
				map[string]any{"name": "title", "type": "string"}, map[string]any{"name": "views", "type": "integer"}}})
			n.mustCall(200, "POST", p+"/items/posts", map[string]any{"title": "old", "views": 50})

			ws := n.dial("acme", n.token)
			ws.send(map[string]any{"type": "subscribe", "collection": "posts", "uid": "p1",
				"query": map[string]any{"fields": []string{"title"}, "filter": map[string]any{"views": map[string]any{"_gt": 10}}}})
			init := ws.expect("subscription", "p1", "init")
			if got := titlesOf(init); len(got) != 1 || got[0] != "old" || init.get("data.0.id") != nil {
				t.Fatalf("init: %s", init)
			}
			hot := n.mustCall(200, "POST", p+"/items/posts", map[string]any{"title": "hot", "views": 20}).get("data.id").(string)
			if r := ws.expect("subscription", "p1", "create"); strings.Join(titlesOf(r), ",") != "hot" || r.get("data.0.views") != nil {
				t.Fatalf("create: %s", r)
			}
			cold := n.mustCall(200, "POST", p+"/items/posts", map[string]any{"title": "cold", "views": 5}).get("data.id").(string)
			ws.quiet() // does not match the filter
			n.mustCall(200, "PATCH", p+"/items/posts/"+hot, map[string]any{"views": 1})
			if r := ws.expect("subscription", "p1", "delete"); r.get("data.0") != hot {
				t.Fatalf("update out of the filter: %s", r)
			}
			n.mustCall(200, "PATCH", p+"/items/posts/"+cold, map[string]any{"views": 99, "title": "warm"})
			if r := ws.expect("subscription", "p1", "update"); strings.Join(titlesOf(r), ",") != "warm" {
				t.Fatalf("update into the filter: %s", r)
			}
			n.mustCall(204, "DELETE", p+"/items/posts/"+hot, nil)
			ws.quiet() // it had left the filter already
			n.mustCall(204, "DELETE", p+"/items/posts/"+cold, nil)
			if r := ws.expect("subscription", "p1", "delete"); r.get("data.0") != cold {
				t.Fatalf("delete: %s", r)
			}
			// Bulk writes are one event per kind.
			n.mustCall(200, "POST", p+"/items/posts", []any{map[string]any{"title": "b1", "views": 11}, map[string]any{"title": "b2", "views": 12}})
			if r := ws.expect("subscription", "p1", "create"); strings.Join(titlesOf(r), ",") != "b1,b2" {
				t.Fatalf("bulk create: %s", r)
			}
			// Writes through GraphQL publish too.
			n.mustGQL("acme", `mutation { create_posts_item(data: {title: "gql", views: 77}) { id } }`, nil)
			if r := ws.expect("subscription", "p1", "create"); strings.Join(titlesOf(r), ",") != "gql" {
				t.Fatalf("GraphQL create: %s", r)
			}
			// Only one event kind.
			ws.send(map[string]any{"type": "subscribe", "collection": "posts", "uid": "only-deletes", "event": "delete"})
			ws.expect("subscription", "only-deletes", "init")
			x := n.mustCall(200, "POST", p+"/items/posts", map[string]any{"title": "x", "views": 1}).get("data.id").(string)
			ws.quiet()
			n.mustCall(204, "DELETE", p+"/items/posts/"+x, nil)
			if r := ws.expect("subscription", "only-deletes", "delete"); r.get("data.0") != x {
				t.Fatalf("event filter: %s", r)
			}
			// Unsubscribe; ping/pong.
			ws.send(map[string]any{"type": "unsubscribe", "uid": "p1"})
			ws.send(map[string]any{"type": "unsubscribe", "uid": "only-deletes"})
			ws.send(map[string]any{"type": "ping"}) // the answer says the unsubscribes were read
			ws.expect("pong", "", "")
			n.mustCall(200, "POST", p+"/items/posts", map[string]any{"title": "after", "views": 100})
			ws.quiet()
		})
	}
}

// TestRealtimeAuthAndPermissions: the auth handshake (ok, failed, expired), and two
// users whose "self" rule lets each see only their own rows' events.
func TestRealtimeAuthAndPermissions(t *testing.T) {
	t.Parallel()
	n := startNode(t, "sqlite://"+t.TempDir()+"/control.db", nil)
	p := "/api/t/acme"
	n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	n.mustCall(200, "PATCH", p+"/settings", map[string]any{"allow_signup": true})
	n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "notes", "columns": []any{map[string]any{"name": "text", "type": "string"}},
		"permissions": map[string]any{"create": []string{"user"}, "read": []string{"self"}, "update": []string{"self"}, "delete": []string{"self"}}})
	n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "secrets", "columns": []any{map[string]any{"name": "text", "type": "string"}}})
	alice := tenantUser(t, n, "acme", "alice@example.com")
	bob := tenantUser(t, n, "acme", "bob@example.com")

	// Public sockets may not read notes; an auth message upgrades the socket.
	wa := n.dial("acme", "")
	wa.send(map[string]any{"type": "subscribe", "collection": "notes", "uid": "n"})
	if r := wa.expect("subscribe", "n", ""); r.get("status") != "error" || r.get("error.code") != "FORBIDDEN" {
		t.Fatalf("public subscribe: %s", r)
	}
	wa.send(map[string]any{"type": "auth", "access_token": "not-a-token"})
	if r := wa.expect("auth", "", ""); r.get("status") != "error" || r.get("error.code") != "AUTH_FAILED" {
		t.Fatalf("bad auth: %s", r)
	}
	wa.send(map[string]any{"type": "auth", "access_token": alice.token})
	if r := wa.expect("auth", "", ""); r.get("status") != "ok" {
		t.Fatalf("auth: %s", r)
	}
	wa.send(map[string]any{"type": "subscribe", "collection": "notes", "uid": "n", "query": map[string]any{"fields": "text"}})
	wa.expect("subscription", "n", "init")
	wb := n.dial("acme", bob.token)
	wb.send(map[string]any{"type": "subscribe", "collection": "notes", "uid": "n", "query": map[string]any{"fields": "text"}})
	wb.expect("subscription", "n", "init")

	alice.mustCall(200, "POST", p+"/items/notes", map[string]any{"text": "alice's"})
	if r := wa.expect("subscription", "n", "create"); r.get("data.0.text") != "alice's" {
		t.Fatalf("alice's event: %s", r)
	}
	wb.quiet()
	bob.mustCall(200, "POST", p+"/items/notes", map[string]any{"text": "bob's"})
	if r := wb.expect("subscription", "n", "create"); r.get("data.0.text") != "bob's" {
		t.Fatalf("bob's event: %s", r)
	}
	wa.quiet()
	// A table the caller may not read, one that does not exist, a bad filter.
	for _, c := range []struct {
		sub  map[string]any
		code string
	}{
		{map[string]any{"collection": "secrets"}, "FORBIDDEN"},
		{map[string]any{"collection": "nope"}, "ROUTE_NOT_FOUND"},
		{map[string]any{"collection": "notes", "query": map[string]any{"filter": map[string]any{"text": map[string]any{"_bogus": 1}}}}, "INVALID_QUERY"},
		{map[string]any{"collection": "notes", "query": map[string]any{"filter": `{"text":`}}, "INVALID_QUERY"},
		{map[string]any{"collection": "strata_users"}, "FORBIDDEN"},
		{map[string]any{"collection": "custom_migrations"}, "FORBIDDEN"},
	} {
		c.sub["type"], c.sub["uid"] = "subscribe", "bad"
		wa.send(c.sub)
		if r := wa.expect("subscribe", "bad", ""); r.get("status") != "error" || r.get("error.code") != c.code {
			t.Errorf("subscribe %v: %s, want %s", c.sub, r, c.code)
		}
	}
}

// TestRealtimeTokenExpiry: a socket whose token expires is told why and closed; an
// expired token cannot open one.
func TestRealtimeTokenExpiry(t *testing.T) {
	t.Parallel()
	n := startNode(t, "sqlite://"+t.TempDir()+"/control.db", map[string]string{"STRATA_ACCESS_TTL": "2s"})
	n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	n.mustCall(200, "PATCH", "/api/t/acme/settings", map[string]any{"allow_signup": true})
	alice := tenantUser(t, n, "acme", "alice@example.com")
	ws := n.dial("acme", "")
	ws.send(map[string]any{"type": "auth", "access_token": alice.token})
	ws.expect("auth", "", "")
	if r := ws.expect("auth", "", ""); r.get("error.code") != "TOKEN_EXPIRED" {
		t.Fatalf("expiry: %s", r)
	}
	if code := ws.closeCode(); code != 1008 {
		t.Fatalf("close code after expiry: %d", code)
	}
	url := "ws" + strings.TrimPrefix(n.base, "http") + "/api/t/acme/websocket?access_token=" + alice.token
	if _, resp, err := websocket.DefaultDialer.Dial(url, nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("expired token dial: %v", err)
	}
}

// TestRealtimeBadInput: non-JSON, unknown types, oversized frames, floods and too many
// subscriptions get errors or a close, and the server stays healthy.
func TestRealtimeBadInput(t *testing.T) {
	t.Parallel()
	n := startNode(t, "sqlite://"+t.TempDir()+"/control.db", map[string]string{"STRATA_WS_MAX_SUBSCRIPTIONS": "3", "STRATA_WS_MAX_MESSAGE_BYTES": "4096"})
	n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	n.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "posts", "columns": []any{map[string]any{"name": "title", "type": "string"}}})
	ws := n.dial("acme", n.token)
	if err := ws.conn.WriteMessage(websocket.TextMessage, []byte("not json")); err != nil {
		t.Fatal(err)
	}
	if r := ws.expect("unknown", "", ""); r.get("error.code") != "INVALID_PAYLOAD" {
		t.Fatalf("non-JSON: %s", r)
	}
	ws.send(map[string]any{"type": "dance"})
	if r := ws.expect("dance", "", ""); r.get("status") != "error" {
		t.Fatalf("unknown type: %s", r)
	}
	for i := 0; i < 3; i++ {
		ws.send(map[string]any{"type": "subscribe", "collection": "posts", "uid": fmt.Sprint(i)})
		ws.expect("subscription", fmt.Sprint(i), "init")
	}
	ws.send(map[string]any{"type": "subscribe", "collection": "posts", "uid": "4"})
	if r := ws.expect("subscribe", "4", ""); r.get("status") != "error" {
		t.Fatalf("subscription over the limit: %s", r)
	}
	ws.send(map[string]any{"type": "ping"})
	ws.expect("pong", "", "")

	big := n.dial("acme", n.token)
	if err := big.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping","x":"`+strings.Repeat("a", 8000)+`"}`)); err != nil {
		t.Fatal(err)
	}
	if code := big.closeCode(); code != 1009 {
		t.Fatalf("oversized frame: close %d", code)
	}
	flood := n.dial("acme", n.token)
	for i := 0; i < 200; i++ {
		if err := flood.conn.WriteJSON(map[string]any{"type": "unsubscribe", "uid": "x"}); err != nil {
			break
		}
	}
	if code := flood.closeCode(); code != 1008 {
		t.Fatalf("flood: close %d", code)
	}
	// The server is fine, and so is the first socket.
	n.mustCall(200, "GET", "/api/t/acme/items/posts", nil)
	ws.send(map[string]any{"type": "ping"})
	ws.expect("pong", "", "")
	// Not a websocket request at all.
	if st, _ := n.call("GET", "/api/t/acme/websocket", nil, nil); st != http.StatusUpgradeRequired {
		t.Fatalf("plain GET: %d", st)
	}
}

// TestRealtimeMigrationStatus: an admin socket sees a schema change go from running to
// executed, a failing one from running to failed with the error, and a schema event.
func TestRealtimeMigrationStatus(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			p := "/api/t/acme"
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "posts", "columns": []any{map[string]any{"name": "title", "type": "string"}}})
			n.mustCall(200, "POST", p+"/items/posts", map[string]any{"title": "a row"})
			ws := n.dial("acme", n.token)
			ws.send(map[string]any{"type": "subscribe", "collection": "custom_migrations", "uid": "m", "query": map[string]any{"fields": []string{"seq", "name", "status", "error"}, "limit": 0}})
			ws.expect("subscription", "m", "init")

			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "tags", "columns": []any{}})
			statuses := func(want ...string) []reply {
				var got []string
				var msgs []reply
				for len(got) < len(want) {
					r, err := ws.next(5 * time.Second)
					if err != nil {
						t.Fatalf("waiting for %v, got %v: %v", want, got, err)
					}
					if r.get("type") == "schema" {
						continue
					}
					got = append(got, fmt.Sprintf("%s:%s", r.get("event"), r.get("data.0.status")))
					msgs = append(msgs, r)
				}
				if strings.Join(got, " ") != strings.Join(want, " ") {
					t.Fatalf("migration events %v, want %v", got, want)
				}
				return msgs
			}
			statuses("create:running", "update:executed")
			st, _ := n.call("POST", p+"/tables/posts/columns", map[string]any{"name": "must", "type": "string", "nullable": false}, nil)
			if st != 409 {
				t.Fatalf("the failing change: %d", st)
			}
			msgs := statuses("create:running", "update:failed")
			if e, _ := msgs[1].get("data.0.error").(string); e == "" {
				t.Fatalf("failed without its error: %s", msgs[1])
			}
			// A schema event reaches every socket of the tenant.
			plain := n.dial("acme", "")
			// The upgrade can complete before the server has registered the socket: a
			// pong says it has.
			plain.send(map[string]any{"type": "ping"})
			plain.expect("pong", "", "")
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "more", "columns": []any{}})
			if r := plain.expect("schema", "", ""); r.get("data.version") == nil {
				t.Fatalf("schema event: %s", r)
			}
		})
	}
}

// TestRealtimeSlowConsumer: a client that never reads is cut off; the others keep
// receiving every event.
func TestRealtimeSlowConsumer(t *testing.T) {
	t.Parallel()
	n := startNode(t, "sqlite://"+t.TempDir()+"/control.db", map[string]string{"STRATA_WS_SEND_QUEUE": "4"})
	p := "/api/t/acme"
	n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "posts", "columns": []any{map[string]any{"name": "body", "type": "text"}}})
	slow := n.dialNoRead("acme", n.token)
	slow.send(map[string]any{"type": "subscribe", "collection": "posts", "uid": "s"})
	fast := n.dial("acme", n.token)
	fast.send(map[string]any{"type": "subscribe", "collection": "posts", "uid": "f", "query": map[string]any{"fields": "id"}})
	fast.expect("subscription", "f", "init")

	body := strings.Repeat("x", 60_000)
	const writes = 200 // ~12 MB to the slow one: more than the socket buffers hold
	received := make(chan int)
	go func() {
		got := 0
		for got < writes {
			r, err := fast.next(20 * time.Second)
			if err != nil {
				break
			}
			if r.get("event") == "create" {
				got += len(r.get("data").([]any))
			}
		}
		received <- got
	}()
	for i := 0; i < writes; i++ {
		n.mustCall(200, "POST", p+"/items/posts", map[string]any{"body": body})
	}
	if got := <-received; got != writes {
		t.Fatalf("the fast client got %d of %d events", got, writes)
	}
	go slow.read() // now read: what was sent, then the close
	// 1008 when the close frame fit in the socket's buffers; when a client has not read
	// for long enough they are full, and it can only see the connection end (1006).
	if code := slow.closeCode(); code != 1008 && code != 1006 {
		t.Fatalf("slow consumer: close %d, want 1008 (or 1006)", code)
	}
	// The server reads on for up to a second after its close frame, for the answer.
	deadline := time.Now().Add(3 * time.Second)
	for n.app.Realtime.Sessions() != 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := n.app.Realtime.Sessions(); got != 1 {
		t.Fatalf("%d sockets open, want the fast one only", got)
	}
}

// TestRealtimeShutdown: closing the node closes its sockets with "going away".
func TestRealtimeShutdown(t *testing.T) {
	t.Parallel()
	n := startNode(t, "sqlite://"+t.TempDir()+"/control.db", nil)
	n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	ws := n.dial("acme", "")
	ws.send(map[string]any{"type": "ping"})
	ws.expect("pong", "", "")
	n.app.Realtime.Close()
	if code := ws.closeCode(); code != 1001 {
		t.Fatalf("shutdown: close %d, want 1001", code)
	}
}

// TestRealtimeCluster: a write on node a reaches a subscriber on node b, over
// PostgreSQL NOTIFY and, separately, over Redis; so do migration statuses.
func TestRealtimeCluster(t *testing.T) {
	t.Parallel()
	pg, rd := os.Getenv("STRATA_TEST_POSTGRES_URL"), os.Getenv("STRATA_TEST_REDIS_URL")
	type leg struct {
		name    string
		control func(t *testing.T) string
		env     map[string]string
	}
	var legs []leg
	if pg != "" {
		legs = append(legs, leg{name: "postgres notify", control: func(t *testing.T) string { return pgDatabase(t, pg) }})
	}
	if rd != "" {
		legs = append(legs, leg{name: "redis", control: func(t *testing.T) string { return "sqlite://" + t.TempDir() + "/control.db" },
			env: map[string]string{"STRATA_REDIS_URL": rd + "?channel=strata_test_" + randomSuffix()}})
	}
	if len(legs) == 0 {
		needURL(t, "STRATA_TEST_POSTGRES_URL")
	}
	for _, l := range legs {
		t.Run(l.name, func(t *testing.T) {
			env := map[string]string{"STRATA_DATA_DIR": t.TempDir()}
			for k, v := range l.env {
				env[k] = v
			}
			control := l.control(t)
			a, b := startNode(t, control, env), startNode(t, control, env)
			a.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			a.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "posts", "columns": []any{map[string]any{"name": "title", "type": "string"}}})
			ws := b.dial("acme", b.token)
			ws.send(map[string]any{"type": "subscribe", "collection": "posts", "uid": "p", "query": map[string]any{"fields": "title"}})
			ws.expect("subscription", "p", "init")
			ws.send(map[string]any{"type": "subscribe", "collection": "custom_migrations", "uid": "m", "query": map[string]any{"fields": "status", "limit": 0}})
			ws.expect("subscription", "m", "init")

			a.mustCall(200, "POST", "/api/t/acme/items/posts", map[string]any{"title": "from a"})
			if r := ws.expect("subscription", "p", "create"); r.get("data.0.title") != "from a" {
				t.Fatalf("event on b: %s", r)
			}
			a.mustGQL("acme", `mutation { create_posts_item(data: {title: "graphql on a"}) { id } }`, nil)
			if r := ws.expect("subscription", "p", "create"); r.get("data.0.title") != "graphql on a" {
				t.Fatalf("GraphQL event on b: %s", r)
			}
			a.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "tags", "columns": []any{}})
			var got []string
			for len(got) < 2 {
				r, err := ws.next(5 * time.Second)
				if err != nil {
					t.Fatalf("migration events on b: %v after %v", err, got)
				}
				if r.get("uid") == "m" {
					got = append(got, fmt.Sprint(r.get("data.0.status")))
				}
			}
			if strings.Join(got, ",") != "running,executed" {
				t.Fatalf("migration events on b: %v", got)
			}
		})
	}
}

// TestRealtimeAuthModes: in handshake mode a socket must authenticate first, within the
// timeout; in strict mode the upgrade needs credentials.
func TestRealtimeAuthModes(t *testing.T) {
	t.Parallel()
	n := startNode(t, "sqlite://"+t.TempDir()+"/control.db", map[string]string{"STRATA_WS_AUTH": "handshake", "STRATA_WS_AUTH_TIMEOUT": "1s"})
	n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	n.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "posts", "columns": []any{}, "permissions": map[string]any{"read": []string{"public"}}})
	ws := n.dial("acme", "")
	ws.send(map[string]any{"type": "subscribe", "collection": "posts", "uid": "p"})
	if r := ws.expect("subscribe", "p", ""); r.get("error.code") != "INVALID_CREDENTIALS" {
		t.Fatalf("subscribe before auth: %s", r)
	}
	ws.send(map[string]any{"type": "auth", "access_token": n.token})
	ws.expect("auth", "", "")
	ws.send(map[string]any{"type": "subscribe", "collection": "posts", "uid": "p"})
	ws.expect("subscription", "p", "init")
	late := n.dial("acme", "")
	if r := late.expect("auth", "", ""); r.get("error.code") != "AUTH_TIMEOUT" {
		t.Fatalf("auth timeout: %s", r)
	}
	if code := late.closeCode(); code != 1008 {
		t.Fatalf("close after the auth timeout: %d", code)
	}
	ws.send(map[string]any{"type": "ping"}) // the authenticated socket stays
	ws.expect("pong", "", "")

	strict := startNode(t, "sqlite://"+t.TempDir()+"/control.db", map[string]string{"STRATA_WS_AUTH": "strict"})
	strict.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	url := "ws" + strings.TrimPrefix(strict.base, "http") + "/api/t/acme/websocket"
	if _, resp, err := websocket.DefaultDialer.Dial(url, nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("strict mode without a token: %v", err)
	}
	strict.dial("acme", strict.token).send(map[string]any{"type": "ping"})
}
