package main

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary run as a real Strata server process, so crash tests
// can SIGKILL a node without building a separate binary.
func TestMain(m *testing.M) {
	if os.Getenv("STRATA_TEST_AS_SERVER") == "1" {
		os.Exit(dispatch([]string{"serve"}, os.Getenv, os.Stdin, os.Stdout, os.Stderr))
	}
	// The parallel tests spend most of their time waiting for PostgreSQL's and MariaDB's
	// DDL and for timers (a test process uses about half a core), so more of them run at
	// once than the cores Go's default allows: on 2 cores that kept the whole package
	// near go test's default 10-minute timeout. -parallel, when given, still decides.
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		_ = flag.Set("test.parallel", strconv.Itoa(max(4, runtime.GOMAXPROCS(0))))
	}
	os.Exit(m.Run())
}

// proc is a Strata server running as a child process.
type proc struct {
	cmd  *exec.Cmd
	base string
	out  *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startProc starts a server process with env and waits until it answers.
func startProc(t *testing.T, env map[string]string) *proc {
	t.Helper()
	addr := freePort(t)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "STRATA_TEST_AS_SERVER=1", "STRATA_HTTP="+addr)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &proc{cmd: cmd, base: "http://" + addr, out: &lockedBuffer{}}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start server process: %v", err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(p.base + "/healthz"); err == nil {
			resp.Body.Close()
			return p
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("server process did not start:\n%s", p.out.String())
	return nil
}

func (p *proc) node(t *testing.T) *node {
	n := &node{t: t, base: p.base}
	st, r := n.call("POST", "/api/auth/login", map[string]any{"email": "admin@example.com", "password": testPassword}, nil)
	if st != 200 {
		t.Fatalf("login: %d %s", st, r)
	}
	n.token = r.get("data.access_token").(string)
	return n
}

func (p *proc) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	_ = p.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Fatalf("server process did not stop on %v:\n%s", sig, p.out.String())
	}
}

// TestKilledMidMigrationIsReconciled kills a node (SIGKILL) while a migration is
// between statements and checks that the next boot settles it against the live schema.
func TestKilledMidMigrationIsReconciled(t *testing.T) {
	requireBackends(t)
	t.Parallel() // alone on its databases and processes; mostly waiting out the step delay
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			cases := []struct {
				name       string
				waitSteps  int    // kill once this many steps are recorded as applied (MySQL only)
				wantStatus string // what recovery must make of it
			}{
				{name: "killed mid-way", waitSteps: 1, wantStatus: "failed"},
			}
			if b.name == "mysql" {
				// MySQL commits each statement: a kill after the last one must be
				// finished (metadata written), not undone.
				cases = append(cases, struct {
					name       string
					waitSteps  int
					wantStatus string
				}{"killed after the last statement", 3, "executed"})
			}
			for _, c := range cases {
				t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
					control, dataDir := b.newControlURL(t), t.TempDir()
					env := map[string]string{"STRATA_DATABASE_URL": control, "STRATA_DATA_DIR": dataDir, "STRATA_ADMIN_PASSWORD": testPassword,
						"STRATA_JWT_SECRET": "test-secret-test-secret-test-secret!!", "STRATA_LOG_LEVEL": "warn"}
					p := startProc(t, env)
					n := p.node(t)
					n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
					n.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "authors", "columns": []any{map[string]any{"name": "name", "type": "string"}}})
					n.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "posts", "columns": []any{map[string]any{"name": "title", "type": "string"}}})
					p.stop(t, syscall.SIGTERM)

					slow := map[string]string{"STRATA_TEST_STEP_DELAY": "3s"}
					for k, v := range env {
						slow[k] = v
					}
					p = startProc(t, slow)
					n = p.node(t)
					go func() { // this request dies with the process
						_, _ = n.callQuiet("POST", "/api/t/acme/relations", map[string]any{"table": "posts", "name": "author", "type": "many_to_one", "target": "authors"})
					}()
					db := openStore(t, control, dataDir, "acme", 2)
					d := db.Dialect
					deadline := time.Now().Add(20 * time.Second)
					for {
						var steps int
						err := db.QueryRow("SELECT " + d.Quote("applied_steps") + " FROM " + d.Quote("custom_migrations") + " WHERE " + d.Quote("status") + " = 'running'").Scan(&steps)
						// Transactional dialects record no progress; being running is enough.
						if err == nil && (d.TransactionalDDL() || steps >= c.waitSteps) {
							break
						}
						if time.Now().After(deadline) {
							t.Fatalf("the migration never reached step %d:\n%s", c.waitSteps, p.out.String())
						}
						time.Sleep(20 * time.Millisecond)
					}
					p.stop(t, syscall.SIGKILL)

					p = startProc(t, env)
					n = p.node(t)
					// A node visits no tenant at boot: the tenant's first request (here, reading
					// its history) settles what the crash left running before it is answered.
					hist := n.mustCall(200, "GET", "/api/t/acme/migrations?limit=100", nil)
					if got := fmt.Sprint(hist.get("data")); strings.Contains(got, "status:running") {
						t.Errorf("the history read after the restart still shows a running migration: %s", got)
					}
					rows := ledger(t, db)
					last := rows[len(rows)-1]
					if last.Type != "add_relation" || last.Status != c.wantStatus {
						t.Fatalf("after restart: %+v, want add_relation %s\n%s", last, c.wantStatus, p.out.String())
					}
					if c.wantStatus == "failed" && !strings.Contains(last.Error.String, "interrupted") {
						t.Errorf("error %q does not say the migration was interrupted", last.Error.String)
					}
					if d := liveDrift(t, db); len(d) > 0 {
						t.Fatalf("after recovery the live schema differs from the metadata:\n%s", strings.Join(d, "\n"))
					}
					rels := n.mustCall(200, "GET", "/api/t/acme/tables/posts", nil).fieldNames("data.relations")
					if got := rels["author"]; got != (c.wantStatus == "executed") {
						t.Errorf("relation present = %v after recovery to %s", got, c.wantStatus)
					}
					// The tenant keeps migrating, with the next seq.
					n.mustCall(200, "POST", "/api/t/acme/tables/posts/columns", map[string]any{"name": "after_crash", "type": "integer"})
					rows = ledger(t, db)
					if rows[len(rows)-1].Seq != int64(len(rows)) {
						t.Fatalf("seq gap after recovery")
					}
				})
			}
		})
	}
}

// callQuiet is call without failing the test when the connection drops.
func (n *node) callQuiet(method, path string, body any) (int, error) {
	req, _ := http.NewRequest(method, n.base+path, strings.NewReader(mustJSONString(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+n.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
