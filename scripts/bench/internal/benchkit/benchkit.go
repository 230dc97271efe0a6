// Package benchkit is what the benchmark programs share: a fresh control database, the
// real server built and started as its own process, and an HTTP client that logs in.
// Everything runs on 127.0.0.1 and is removed when the benchmark ends.
package benchkit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"strata/modules/database"
)

// Env holds one benchmark's server and databases; Close removes them.
type Env struct {
	Dialect    string
	ControlURL string
	DataDir    string
	Base       string // the server's base URL
	PprofAddr  string
	bin        string
	env        []string
	Client     *Client
	// PIDs are the node processes, in the order they started.
	PIDs    []int
	cleanup []func()
	// keep leaves the databases in place at Close (Keep), for a later run to Reuse.
	keep bool
}

// Keep makes Close leave the control database and the tenants' in place (it still stops
// the nodes), so that a later run can Reuse them instead of creating them again.
func (e *Env) Keep() { e.keep = true }

// Close stops the server and drops what the benchmark created.
func (e *Env) Close() {
	for i := len(e.cleanup) - 1; i >= 0; i-- {
		e.cleanup[i]()
	}
}

// EnvOr returns the environment variable k, or def.
func EnvOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// FreeAddr returns a free loopback address.
func FreeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Start makes a fresh control database for dialect (sqlite, postgres, mysql; server URLs
// from STRATA_TEST_POSTGRES_URL / STRATA_TEST_MYSQL_URL), builds ./server, starts it with
// extraEnv, logs in as admin and creates tenant slug.
func Start(ctx context.Context, dialect, slug string, extraEnv ...string) (*Env, error) {
	return start(ctx, dialect, "", slug, extraEnv)
}

// Reuse is Start on the databases an earlier run kept (Keep): it creates nothing, and
// its Close leaves them as it found them.
func Reuse(ctx context.Context, dialect, controlURL string, extraEnv ...string) (*Env, error) {
	return start(ctx, dialect, controlURL, "", extraEnv)
}

func start(ctx context.Context, dialect, reuse, slug string, extraEnv []string) (*Env, error) {
	e := &Env{Dialect: dialect, keep: reuse != ""}
	tmp, err := os.MkdirTemp("", "strata-bench-")
	if err != nil {
		return nil, err
	}
	e.cleanup = append(e.cleanup, func() { os.RemoveAll(tmp) })
	e.DataDir = filepath.Join(tmp, "data")
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	name := "sb_" + hex.EncodeToString(suffix)
	switch {
	case reuse != "":
		e.ControlURL = reuse
	case dialect == "sqlite":
		e.ControlURL = "sqlite://" + filepath.Join(tmp, "control.db")
	case dialect == "postgres" || dialect == "mysql":
		server := EnvOr("STRATA_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
		if dialect == "mysql" {
			server = EnvOr("STRATA_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
		}
		admin, err := database.Open(ctx, server, database.Pool{MaxOpen: 2})
		if err != nil {
			e.Close()
			return nil, err
		}
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
			admin.Close()
			e.Close()
			return nil, err
		}
		e.cleanup = append(e.cleanup, func() {
			defer admin.Close()
			if e.keep {
				return
			}
			if dialect == "postgres" {
				_, _ = admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
				// Tenant roles are cluster-wide: those that own nothing any more go (a role
				// another run's tenant still uses owns its tables and is not even tried).
				for _, r := range Names(admin, database.OrphanTenantRoles) {
					_, _ = admin.ExecContext(context.Background(), `DROP ROLE IF EXISTS "`+r+`"`)
				}
			} else { // tenants are databases named after the control database
				for _, n := range Names(admin, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE ?", name+"%") {
					_, _ = admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS `"+n+"`")
				}
			}
		})
		u, _ := url.Parse(server)
		u.Path = "/" + name
		e.ControlURL = u.String()
	default:
		e.Close()
		return nil, fmt.Errorf("unknown dialect %q", dialect)
	}

	bin := filepath.Join(tmp, "strata")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./server").CombinedOutput(); err != nil {
		e.Close()
		return nil, fmt.Errorf("build: %v\n%s", err, out)
	}
	e.bin, e.env = bin, extraEnv
	e.PprofAddr = FreeAddr()
	if e.Base, err = e.StartNode(ctx, "STRATA_PPROF_ADDR="+e.PprofAddr); err != nil {
		e.Close()
		return nil, err
	}
	e.Client = NewClient(64)
	var login struct {
		Data struct {
			AccessToken string `json:"access_token"`
		} `json:"data"`
	}
	if err := e.Client.Do("POST", e.Base+"/api/auth/login", map[string]any{"email": "admin@example.com", "password": "Bench-pass-123"}, 200, &login); err != nil {
		e.Close()
		return nil, err
	}
	e.Client.Token = login.Data.AccessToken
	if slug == "" {
		return e, nil
	}
	if err := e.Client.Do("POST", e.Base+"/api/tenants", map[string]any{"slug": slug}, 201, nil); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// Names reads one column of strings; a failing query reads as none (for cleanups).
func Names(db *database.DB, q string, args ...any) []string {
	rows, err := db.QueryContext(context.Background(), q, args...)
	if err != nil {
		return nil
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if rows.Scan(&n) == nil {
			out = append(out, n)
		}
	}
	return out
}

// StartNode starts one more node of the cluster on the same databases and returns its
// base URL.
func (e *Env) StartNode(ctx context.Context, extraEnv ...string) (string, error) {
	addr := FreeAddr()
	srv := exec.CommandContext(ctx, e.bin)
	srv.Env = append(os.Environ(), "STRATA_HTTP="+addr, "STRATA_DATA_DIR="+e.DataDir, "STRATA_DATABASE_URL="+e.ControlURL,
		"STRATA_ADMIN_PASSWORD=Bench-pass-123", "STRATA_JWT_SECRET=bench-secret-bench-secret-bench-secret", "STRATA_LOG_LEVEL=error")
	srv.Env = append(append(srv.Env, e.env...), extraEnv...)
	srv.Stdout, srv.Stderr = os.Stderr, os.Stderr
	if err := srv.Start(); err != nil {
		return "", err
	}
	e.PIDs = append(e.PIDs, srv.Process.Pid)
	e.cleanup = append(e.cleanup, func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	base := "http://" + addr
	if err := WaitUp(ctx, base+"/healthz"); err != nil {
		return "", err
	}
	return base, nil
}

// TenantDB opens the tenant's own database directly.
func (e *Env) TenantDB(ctx context.Context, slug string, maxOpen int) (*database.DB, string, error) {
	u, err := database.TenantURL(e.ControlURL, e.DataDir, slug)
	if err != nil {
		return nil, "", err
	}
	db, err := database.Open(ctx, u, database.Pool{MaxOpen: maxOpen, MaxIdle: maxOpen})
	return db, u, err
}

// WaitUp polls u until it answers, for two minutes at most.
func WaitUp(ctx context.Context, u string) error {
	for i := 0; i < 1200; i++ {
		if resp, err := http.Get(u); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not come up", u)
}

// Client is an HTTP client with a bearer token.
type Client struct {
	HTTP  *http.Client
	Token string
}

// NewClient returns a client that keeps up to conns connections per host.
func NewClient(conns int) *Client {
	return &Client{HTTP: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute}}}
}

// Do sends a JSON request, requires status want, and decodes the answer into out.
func (c *Client) Do(method, u string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, u, rd)
	req.Header.Set("Content-Type", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, u, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}
