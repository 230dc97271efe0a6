package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	_ "modernc.org/sqlite"

	"strata/scripts/bench/internal/benchkit"
)

// target is one running system with the rows loaded.
type target struct {
	key, name string
	base      string
	info      string // version, authentication, settings: printed under the tables
	header    string // "Name: value" sent with every measured request, or ""
	ids       []string
	// listPath and onePath are the scenarios' requests; decodeList and decodeOne read
	// their answers.
	listPath   string
	onePath    func(id string) string
	decodeList func([]byte) ([]row, error)
	decodeOne  func([]byte) (row, error)
}

type row struct {
	ID    any     `json:"id"`
	Views float64 `json:"views"`
}

func (r row) id() string { return fmt.Sprint(r.ID) }

// rows is what every system stores: row i has views i%1000, as scripts/bench/items
// makes them; ids holds the positions of the rows the get-by-id scenario asks for.
type rows struct {
	n   int
	ids []int
}

func makeRows(n int) rows {
	r := rows{n: n}
	k := min(n, 1000)
	for i := range k {
		r.ids = append(r.ids, i*n/k)
	}
	return r
}

func (rows) title(i int) string   { return fmt.Sprintf("post %d", i) }
func (rows) body(int) string      { return "lorem ipsum dolor sit amet" }
func (rows) views(i int) int      { return i % 1000 }
func (rows) published(i int) bool { return i%2 == 0 }

// insertRows writes n rows into table in one transaction, 500 to a statement, then runs
// ANALYZE, and returns the ids of the rows at positions want.
func insertRows(ctx context.Context, db *sql.DB, table string, cols []string, rs rows, values func(i int) (id string, vals []any)) ([]string, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	want := map[int]bool{}
	for _, i := range rs.ids {
		want[i] = true
	}
	var ids []string
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	head := "INSERT INTO " + quote(table) + " (" + quoteAll(cols) + ") VALUES "
	const batch = 500
	for start := 0; start < rs.n; start += batch {
		var ph []string
		var args []any
		for i := start; i < min(start+batch, rs.n); i++ {
			id, vals := values(i)
			if want[i] {
				ids = append(ids, id)
			}
			ph = append(ph, one)
			args = append(args, vals...)
		}
		if _, err := tx.ExecContext(ctx, head+strings.Join(ph, ", "), args...); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	if _, err := db.ExecContext(ctx, "ANALYZE"); err != nil {
		return nil, err
	}
	return ids, nil
}

func quote(s string) string { return `"` + s + `"` }

func quoteAll(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = quote(c)
	}
	return strings.Join(q, ", ")
}

// openSQLite opens a peer's database file beside the peer that has it open.
func openSQLite(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(20000)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// viewsIndex names the index on posts(views), or fails.
func viewsIndex(ctx context.Context, db *sql.DB) (string, error) {
	var name string
	err := db.QueryRowContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'posts' AND sql LIKE '%views%'`).Scan(&name)
	if err != nil {
		return "", fmt.Errorf("no index on posts(views): %w", err)
	}
	return name, nil
}

// templateRow reads the stored form of cols in the row id, which the system made through
// its API, so the loaded rows store timestamps exactly as the system itself does.
func templateRow(ctx context.Context, db *sql.DB, cols []string, id string) ([]any, error) {
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	err := db.QueryRowContext(ctx, "SELECT "+quoteAll(cols)+` FROM "posts" WHERE "id" = ?`, id).Scan(ptrs...)
	return vals, err
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// --- Strata ---

func startStrata(ctx context.Context, rs rows, auth string) (*target, func(), error) {
	t := &target{key: "strata", name: "Strata"}
	env, err := benchkit.Start(ctx, "sqlite", "bench", "STRATA_TENANT_POOL_MAX=32", "STRATA_ACCESS_TTL=24h")
	if err != nil {
		return t, nil, err
	}
	stop := env.Close
	c := env.Client
	api := env.Base + "/api/t/bench"
	if err := c.Do("POST", api+"/tables", map[string]any{"name": "posts", "columns": []any{
		map[string]any{"name": "title", "type": "string", "nullable": false},
		map[string]any{"name": "body", "type": "text"},
		map[string]any{"name": "views", "type": "integer", "index": true},
		map[string]any{"name": "published", "type": "boolean"},
	}}, 200, nil); err != nil {
		return t, stop, err
	}
	tdb, _, err := env.TenantDB(ctx, "bench", 2)
	if err != nil {
		return t, stop, err
	}
	defer tdb.Close()
	d := tdb.Dialect
	now := d.TimeValue(time.Now())
	cols := []string{"id", "created_at", "updated_at", "title", "body", "views", "published"}
	if t.ids, err = insertRows(ctx, tdb.DB, "posts", cols, rs, func(i int) (string, []any) {
		id := uuid.Must(uuid.NewV7()).String()
		return id, []any{id, now, now, rs.title(i), rs.body(i), rs.views(i), d.BoolValue(rs.published(i))}
	}); err != nil {
		return t, stop, err
	}
	idx, err := viewsIndex(ctx, tdb.DB)
	if err != nil {
		return t, stop, err
	}
	authInfo := "the admin's bearer token (as scripts/bench/items)"
	if auth == "public" {
		if err := strataPublicRead(c, api); err != nil {
			return t, stop, err
		}
		authInfo = "no token, a read permission on posts for the public role"
	} else {
		t.header = "Authorization: Bearer " + c.Token
	}
	commit := commandOutput(ctx, "git", "describe", "--always", "--dirty")
	if commit == "" {
		commit = "no git"
	}
	t.info = fmt.Sprintf("this tree (%s, %s), benchkit defaults, STRATA_TENANT_POOL_MAX=32, STRATA_LOG_LEVEL=error; index %s; auth: %s", commit, strings.TrimPrefix(commandOutput(ctx, "go", "env", "GOVERSION"), "go version "), idx, authInfo)
	t.base = env.Base
	t.listPath = "/api/t/bench/items/posts?" + url.Values{"filter": {`{"views":{"_gt":500}}`}, "sort": {"-views"}, "limit": {"20"}}.Encode()
	t.onePath = func(id string) string { return "/api/t/bench/items/posts/" + id }
	t.decodeList = decodeData[[]row]
	t.decodeOne = decodeData[row]
	var count struct {
		Meta struct {
			TotalCount int `json:"total_count"`
		} `json:"meta"`
	}
	anon := &benchkit.Client{HTTP: c.HTTP}
	if t.header != "" {
		anon.Token = c.Token
	}
	if err := anon.Do("GET", api+"/items/posts?limit=1&meta=total_count", nil, 200, &count); err != nil {
		return t, stop, err
	}
	if count.Meta.TotalCount != rs.n {
		return t, stop, fmt.Errorf("the API counts %d rows, not %d", count.Meta.TotalCount, rs.n)
	}
	return t, stop, nil
}

// strataPublicRead lets the public role read posts.
func strataPublicRead(c *benchkit.Client, api string) error {
	var roles struct {
		Data []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"data"`
	}
	if err := c.Do("GET", api+"/roles", nil, 200, &roles); err != nil {
		return err
	}
	for _, r := range roles.Data {
		if r.Name == "public" {
			return c.Do("POST", api+"/permissions", map[string]any{"role": r.ID, "collection": "posts", "action": "read"}, 200, nil)
		}
	}
	return errors.New("no public role")
}

func decodeData[T any](b []byte) (T, error) {
	var v struct{ Data T }
	err := json.Unmarshal(b, &v)
	return v.Data, err
}

// --- PocketBase ---

func startPocketBase(ctx context.Context, bin, dir string, rs rows) (*target, func(), error) {
	t := &target{key: "pocketbase", name: "PocketBase"}
	data := filepath.Join(dir, "pb_data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return t, nil, err
	}
	const email, pass = "admin@example.com", "Bench-pass-123"
	// --dev=false: PocketBase takes a binary under ~/.cache for `go run` and would print
	// every SQL statement.
	if out, err := exec.CommandContext(ctx, bin, "superuser", "upsert", email, pass, "--dir", data, "--dev=false").CombinedOutput(); err != nil {
		return t, nil, fmt.Errorf("superuser upsert: %v\n%s", err, out)
	}
	addr := benchkit.FreeAddr()
	p, err := startProcess(ctx, dir, "pocketbase", nil, bin, "serve", "--http", addr, "--dir", data, "--dev=false")
	if err != nil {
		return t, nil, err
	}
	stop := p.stop
	t.base = "http://" + addr
	if err := p.waitUp(ctx, t.base+"/api/health"); err != nil {
		return t, stop, err
	}
	c := benchkit.NewClient(8)
	var auth struct{ Token string }
	if err := c.Do("POST", t.base+"/api/collections/_superusers/auth-with-password", map[string]any{"identity": email, "password": pass}, 200, &auth); err != nil {
		return t, stop, err
	}
	c.Token = auth.Token
	// No request log: logs.maxDays 0 turns it off.
	if err := c.Do("PATCH", t.base+"/api/settings", map[string]any{"logs": map[string]any{"maxDays": 0}}, 200, nil); err != nil {
		return t, stop, err
	}
	if err := c.Do("POST", t.base+"/api/collections", map[string]any{
		"name": "posts", "type": "base", "listRule": "", "viewRule": "",
		"fields": []any{
			map[string]any{"name": "title", "type": "text", "required": true},
			map[string]any{"name": "body", "type": "text"},
			map[string]any{"name": "views", "type": "number", "onlyInt": true},
			map[string]any{"name": "published", "type": "bool"},
			map[string]any{"name": "created", "type": "autodate", "onCreate": true},
			map[string]any{"name": "updated", "type": "autodate", "onCreate": true, "onUpdate": true},
		},
		"indexes": []string{"CREATE INDEX idx_views ON posts (views)"},
	}, 200, nil); err != nil {
		return t, stop, err
	}
	// One record through the API shows how PocketBase stores its timestamps.
	var tmpl struct{ ID string }
	if err := c.Do("POST", t.base+"/api/collections/posts/records", map[string]any{"title": "template", "views": 0}, 200, &tmpl); err != nil {
		return t, stop, err
	}
	db, err := openSQLite(filepath.Join(data, "data.db"))
	if err != nil {
		return t, stop, err
	}
	defer db.Close()
	stamps, err := templateRow(ctx, db, []string{"created", "updated"}, tmpl.ID)
	if err != nil {
		return t, stop, err
	}
	if err := c.Do("DELETE", t.base+"/api/collections/posts/records/"+tmpl.ID, nil, 204, nil); err != nil {
		return t, stop, err
	}
	cols := []string{"id", "created", "updated", "title", "body", "views", "published"}
	if t.ids, err = insertRows(ctx, db, "posts", cols, rs, func(i int) (string, []any) {
		id := pocketBaseID()
		return id, []any{id, stamps[0], stamps[1], rs.title(i), rs.body(i), rs.views(i), rs.published(i)}
	}); err != nil {
		return t, stop, err
	}
	idx, err := viewsIndex(ctx, db)
	if err != nil {
		return t, stop, err
	}
	t.info = fmt.Sprintf("%s (examples/base, %s), `serve --dev=false`, request log off (logs.maxDays 0); index %s; auth: none, public list and view rules", pocketBaseVersion, goVersionOf(ctx, bin), idx)
	t.listPath = "/api/collections/posts/records?" + url.Values{"filter": {"views>500"}, "sort": {"-views"}, "perPage": {"20"}, "skipTotal": {"1"}}.Encode()
	t.onePath = func(id string) string { return "/api/collections/posts/records/" + id }
	t.decodeList = func(b []byte) ([]row, error) {
		var v struct{ Items []row }
		err := json.Unmarshal(b, &v)
		return v.Items, err
	}
	t.decodeOne = func(b []byte) (row, error) {
		var r row
		err := json.Unmarshal(b, &r)
		return r, err
	}
	var count struct{ TotalItems int }
	if err := (&benchkit.Client{HTTP: c.HTTP}).Do("GET", t.base+"/api/collections/posts/records?perPage=1&fields=id", nil, 200, &count); err != nil {
		return t, stop, err
	}
	if count.TotalItems != rs.n {
		return t, stop, fmt.Errorf("the API counts %d rows, not %d", count.TotalItems, rs.n)
	}
	return t, stop, nil
}

// pocketBaseID makes an id of PocketBase's own form, 15 of [a-z0-9].
func pocketBaseID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 15)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func goVersionOf(ctx context.Context, bin string) string {
	s := commandOutput(ctx, "go", "version", bin)
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

// --- Directus ---

func startDirectus(ctx context.Context, install, dir string, rs rows) (*target, func(), error) {
	t := &target{key: "directus", name: "Directus"}
	for _, d := range []string{"uploads", "extensions"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return t, nil, err
		}
	}
	// Directus looks for extensions in the package.json of its working directory.
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"name": "directus-bench", "private": true}`+"\n"), 0o644); err != nil {
		return t, nil, err
	}
	addr := benchkit.FreeAddr()
	host, port, _ := net.SplitHostPort(addr)
	dbFile := filepath.Join(dir, "data.db")
	token := randomHex(16)
	env := []string{
		"DB_CLIENT=sqlite3", "DB_FILENAME=" + dbFile,
		"KEY=" + randomHex(16), "SECRET=" + randomHex(32),
		"ADMIN_EMAIL=admin@example.com", "ADMIN_PASSWORD=Bench-pass-123", "ADMIN_TOKEN=" + token,
		"HOST=" + host, "PORT=" + port, "PUBLIC_URL=http://" + addr,
		"NODE_ENV=production", "CACHE_ENABLED=false", "RATE_LIMITER_ENABLED=false", "RATE_LIMITER_GLOBAL_ENABLED=false",
		"LOG_LEVEL=warn", "LOG_STYLE=raw", "TELEMETRY=false", "WEBSOCKETS_ENABLED=false",
		"STORAGE_LOCAL_ROOT=" + filepath.Join(dir, "uploads"), "EXTENSIONS_PATH=" + filepath.Join(dir, "extensions"),
	}
	// The API's own command line, not node_modules/.bin/directus, which first asks the
	// registry for a newer version.
	cli := filepath.Join(install, "node_modules", "@directus", "api", "dist", "cli", "run.js")
	boot := exec.CommandContext(ctx, "node", cli, "bootstrap")
	boot.Dir, boot.Env = dir, append(os.Environ(), env...)
	if out, err := boot.CombinedOutput(); err != nil {
		return t, nil, fmt.Errorf("bootstrap: %v\n%s", err, out)
	}
	p, err := startProcess(ctx, dir, "directus", env, "node", cli, "start")
	if err != nil {
		return t, nil, err
	}
	stop := p.stop
	t.base = "http://" + addr
	if err := p.waitUp(ctx, t.base+"/server/ping"); err != nil {
		return t, stop, err
	}
	c := benchkit.NewClient(8)
	c.Token = token
	if err := c.Do("POST", t.base+"/collections", map[string]any{
		"collection": "posts", "schema": map[string]any{}, "meta": map[string]any{},
		"fields": []any{
			map[string]any{"field": "id", "type": "uuid", "meta": map[string]any{"hidden": true, "readonly": true, "special": []string{"uuid"}}, "schema": map[string]any{"is_primary_key": true}},
			map[string]any{"field": "date_created", "type": "timestamp", "meta": map[string]any{"special": []string{"date-created"}}},
			map[string]any{"field": "date_updated", "type": "timestamp", "meta": map[string]any{"special": []string{"date-updated"}}},
			map[string]any{"field": "title", "type": "string", "schema": map[string]any{"is_nullable": false}},
			map[string]any{"field": "body", "type": "text"},
			map[string]any{"field": "views", "type": "integer", "schema": map[string]any{"is_indexed": true}},
			map[string]any{"field": "published", "type": "boolean"},
		},
	}, 200, nil); err != nil {
		return t, stop, err
	}
	// The public policy reads posts.
	var policies struct {
		Data []struct{ ID, Name string }
	}
	if err := c.Do("GET", t.base+"/policies?fields=id,name", nil, 200, &policies); err != nil {
		return t, stop, err
	}
	public := ""
	for _, p := range policies.Data {
		if p.Name == "$t:public_label" {
			public = p.ID
		}
	}
	if public == "" {
		return t, stop, errors.New("no public policy")
	}
	if err := c.Do("POST", t.base+"/permissions", map[string]any{"policy": public, "collection": "posts", "action": "read", "fields": []string{"*"}, "permissions": map[string]any{}}, 200, nil); err != nil {
		return t, stop, err
	}
	var tmpl struct{ Data struct{ ID string } }
	if err := c.Do("POST", t.base+"/items/posts", map[string]any{"title": "template", "views": 0}, 200, &tmpl); err != nil {
		return t, stop, err
	}
	db, err := openSQLite(dbFile)
	if err != nil {
		return t, stop, err
	}
	defer db.Close()
	stamps, err := templateRow(ctx, db, []string{"date_created", "date_updated"}, tmpl.Data.ID)
	if err != nil {
		return t, stop, err
	}
	if err := c.Do("DELETE", t.base+"/items/posts/"+tmpl.Data.ID, nil, 204, nil); err != nil {
		return t, stop, err
	}
	cols := []string{"id", "date_created", "date_updated", "title", "body", "views", "published"}
	if t.ids, err = insertRows(ctx, db, "posts", cols, rs, func(i int) (string, []any) {
		id := uuid.NewString()
		return id, []any{id, stamps[0], stamps[1], rs.title(i), rs.body(i), rs.views(i), rs.published(i)}
	}); err != nil {
		return t, stop, err
	}
	idx, err := viewsIndex(ctx, db)
	if err != nil {
		return t, stop, err
	}
	t.info = fmt.Sprintf("%s (Node %s, one process), NODE_ENV=production, CACHE_ENABLED=false, rate limiters off, LOG_LEVEL=warn, uuid ids; index %s; auth: none, the public policy reads posts", directusVersion, commandOutput(ctx, "node", "--version"), idx)
	t.listPath = "/items/posts?" + url.Values{"filter[views][_gt]": {"500"}, "sort": {"-views"}, "limit": {"20"}}.Encode()
	t.onePath = func(id string) string { return "/items/posts/" + id }
	t.decodeList = decodeData[[]row]
	t.decodeOne = decodeData[row]
	var count struct {
		Meta struct {
			TotalCount int `json:"total_count"`
		} `json:"meta"`
	}
	if err := (&benchkit.Client{HTTP: c.HTTP}).Do("GET", t.base+"/items/posts?limit=1&meta=total_count", nil, 200, &count); err != nil {
		return t, stop, err
	}
	if count.Meta.TotalCount != rs.n {
		return t, stop, fmt.Errorf("the API counts %d rows, not %d", count.Meta.TotalCount, rs.n)
	}
	return t, stop, nil
}

// --- processes ---

// process is a peer running in a process group of its own, its output in a log file.
type process struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func startProcess(ctx context.Context, dir, name string, env []string, bin string, args ...string) (*process, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	// Its own group, so Ctrl-C reaches only this program, which then stops the whole
	// group (node may have children).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	p := &process{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// stop ends the process group: SIGTERM, then SIGKILL after five seconds.
func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// waitUp polls u until it answers 200, for two minutes at most, and fails early with the
// log's tail if the process ends.
func (p *process) waitUp(ctx context.Context, u string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.done:
			return fmt.Errorf("%s exited: %s\n%s", filepath.Base(p.cmd.Path), p.cmd.ProcessState, tail(p.log))
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not come up\n%s", u, tail(p.log))
}

// tail returns the last lines of a log file.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-30):], "\n")
}

// --- scenarios ---

type scenario struct {
	name  string
	paths func(t *target) []string
	check func(t *target) error
}

func scenarios() []scenario {
	return []scenario{
		{
			name:  "(a) list 20, views > 500, sort -views",
			paths: func(t *target) []string { return []string{t.listPath} },
			check: func(t *target) error {
				body, err := get(t, t.listPath)
				if err != nil {
					return err
				}
				rs, err := t.decodeList(body)
				if err != nil {
					return err
				}
				if len(rs) != 20 {
					return fmt.Errorf("%d rows, not 20: %.300s", len(rs), body)
				}
				for i, r := range rs {
					if r.Views <= 500 || (i > 0 && r.Views > rs[i-1].Views) {
						return fmt.Errorf("row %d has views %v: not > 500 and sorted by -views: %.300s", i, r.Views, body)
					}
				}
				if rs[0].Views != 999 {
					return fmt.Errorf("the first row has views %v, not 999", rs[0].Views)
				}
				return nil
			},
		},
		{
			name: "(b) get by id",
			paths: func(t *target) []string {
				ps := make([]string, len(t.ids))
				for i, id := range t.ids {
					ps[i] = t.onePath(id)
				}
				return ps
			},
			check: func(t *target) error {
				for _, id := range []string{t.ids[0], t.ids[len(t.ids)/2], t.ids[len(t.ids)-1]} {
					body, err := get(t, t.onePath(id))
					if err != nil {
						return err
					}
					r, err := t.decodeOne(body)
					if err != nil {
						return err
					}
					if r.id() != id {
						return fmt.Errorf("asked for %s, got %q: %.300s", id, r.id(), body)
					}
				}
				return nil
			},
		},
	}
}

// get sends one request as the load generator does and returns the body of a 200.
func get(t *target, path string) ([]byte, error) {
	req, _ := http.NewRequest("GET", t.base+path, nil)
	if name, value, ok := strings.Cut(t.header, ": "); ok {
		req.Header.Set(name, value)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, bytes.TrimSpace(body))
	}
	return body, nil
}
