// Command functions measures Strata's functions side by side with their references, in
// one run, the targets interleaved over several rounds:
//
//	go run ./scripts/bench/functions                        # 5 rounds of 5s, 32 connections
//	go run ./scripts/bench/functions -rounds 1 -duration 2s # a quick look
//
// (a) a trivial endpoint function (GET /fn/hello answering a constant JSON object)
// against PocketBase's JavaScript route doing the same (routerAdd in pb_hooks, goja,
// installed into -cache as scripts/bench/peers does); (b) creating an item in a table
// with a no-op before hook against the same create in a table without hooks. On
// 127.0.0.1, on SQLite (-dialect puts Strata on PostgreSQL or MariaDB). Markdown to
// stdout, progress to stderr.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"strata/scripts/bench/internal/benchkit"
)

func main() {
	rounds := flag.Int("rounds", 5, "rounds; the targets' order rotates every round")
	duration := flag.Duration("duration", 5*time.Second, "load per target per round")
	conns := flag.Int("conns", 32, "concurrent connections")
	home, _ := os.UserHomeDir()
	cache := flag.String("cache", filepath.Join(home, ".cache", "strata-bench"), "where PocketBase is installed")
	dialect := flag.String("dialect", "sqlite", "Strata's database: sqlite, postgres or mysql (PocketBase is always SQLite)")
	profile := flag.String("profile", "", "write CPU profiles of the Strata node during its first round of each Strata target to this file (.0, .1, …)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *dialect, *rounds, *duration, *conns, *cache, *profile); err != nil {
		fmt.Fprintln(os.Stderr, "functions bench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

const helloJS = `{message: "hello", ok: true}`

func run(ctx context.Context, dialect string, rounds int, dur time.Duration, conns int, cache, profile string) error {
	tmp, err := os.MkdirTemp("", "strata-functions-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	logf("starting Strata…")
	env, err := benchkit.Start(ctx, dialect, "bench", "STRATA_FUNCTIONS_CONCURRENT="+strconv.Itoa(conns), "STRATA_FUNCTIONS_WORKERS="+benchkit.EnvOr("WORKERS", "4"))
	if err != nil {
		return err
	}
	defer env.Close()
	api := env.Base + "/api/t/bench"
	c := env.Client
	for _, name := range []string{"plain", "hooked"} {
		if err := c.Do("POST", api+"/tables", map[string]any{"name": name, "columns": []any{
			map[string]any{"name": "title", "type": "string"}, map[string]any{"name": "n", "type": "integer"}}}, 200, nil); err != nil {
			return err
		}
	}
	for _, fn := range []map[string]any{
		{"name": "hello", "kind": "endpoint", "method": "GET", "path": "hello", "source": "export default async () => (" + helloJS + ")"},
		{"name": "noop", "kind": "hook", "table": "hooked", "event": "create", "phase": "before", "source": "export default async function (ctx) {}"},
	} {
		if err := c.Do("POST", api+"/functions", fn, 200, nil); err != nil {
			return err
		}
	}

	logf("starting PocketBase…")
	pbBin, err := benchkit.EnsurePocketBase(ctx, cache, logf)
	if err != nil {
		return err
	}
	pbHello, stopPB, err := startPocketBase(ctx, pbBin, filepath.Join(tmp, "pb"))
	if stopPB != nil {
		defer stopPB()
	}
	if err != nil {
		return err
	}

	create := func(table string) func() *http.Request {
		u := api + "/items/" + table
		return func() *http.Request {
			r, _ := http.NewRequest("POST", u, strings.NewReader(`{"title":"bench","n":7}`))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Authorization", "Bearer "+c.Token)
			return r
		}
	}
	endpoints := []benchkit.Target{benchkit.Get("Strata GET /fn/hello", api+"/fn/hello"), benchkit.Get("PocketBase JS route GET /hello", pbHello)}
	creates := []benchkit.Target{{Name: "Strata create, no-op before hook", NewReq: create("hooked")}, {Name: "Strata create, no hook", NewReq: create("plain")}}
	hc := benchkit.NewClient(conns).HTTP
	for _, set := range [][]benchkit.Target{endpoints, creates} {
		for _, t := range set {
			if err := check(hc, t); err != nil {
				return err
			}
		}
	}
	profiles := 0
	results := benchkit.Interleave(ctx, hc, conns, rounds, dur, [][]benchkit.Target{endpoints, creates}, func(round int, t benchkit.Target) {
		if profile != "" && round == 0 && strings.HasPrefix(t.Name, "Strata") {
			go benchkit.SaveProfile(env.PprofAddr, dur, profile+"."+strconv.Itoa(profiles), logf)
			profiles++
		}
	}, logf)
	fmt.Printf("### Functions: %d rounds of %s per target, %d connections, Go load generator, interleaved; Strata on %s\n\n", rounds, dur, conns, dialect)
	benchkit.Table("A trivial endpoint", endpoints, results)
	benchkit.Table("Item create with and without a no-op before hook", creates, results)
	return nil
}

func check(hc *http.Client, t benchkit.Target) error {
	resp, err := hc.Do(t.NewReq())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), "hello") && !strings.Contains(string(b), "bench") {
		return fmt.Errorf("%s: %d %s", t.Name, resp.StatusCode, b)
	}
	return nil
}

// startPocketBase serves a JavaScript route answering what /fn/hello answers, with the
// request log off.
func startPocketBase(ctx context.Context, bin, dir string) (string, func(), error) {
	hooks := filepath.Join(dir, "pb_hooks")
	if err := os.MkdirAll(hooks, 0o755); err != nil {
		return "", nil, err
	}
	route := "routerAdd(\"GET\", \"/hello\", (e) => {\n  return e.json(200, " + helloJS + ")\n})\n"
	if err := os.WriteFile(filepath.Join(hooks, "main.pb.js"), []byte(route), 0o644); err != nil {
		return "", nil, err
	}
	pb, err := benchkit.StartPocketBase(ctx, bin, dir, hooks)
	if err != nil {
		return "", nil, err
	}
	return pb.Base + "/hello", pb.Stop, nil
}
