// Command activity measures what the audit trail costs a write: creating an item in a
// table that keeps activity and revisions (accountability all, the default) against the
// same create in a table that keeps none, and in one that keeps activity only (no
// revisions), side by side in one run, interleaved over several rounds:
//
//	go run ./scripts/bench/activity                         # 5 rounds of 5s, 32 connections, SQLite
//	go run ./scripts/bench/activity -dialect postgres       # Strata on PostgreSQL
//
// Markdown to stdout, progress to stderr.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"strata/scripts/bench/internal/benchkit"
)

func main() {
	rounds := flag.Int("rounds", 5, "rounds; the targets' order rotates every round")
	duration := flag.Duration("duration", 5*time.Second, "load per target per round")
	conns := flag.Int("conns", 32, "concurrent connections")
	dialect := flag.String("dialect", "sqlite", "Strata's database: sqlite, postgres or mysql")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *dialect, *rounds, *duration, *conns); err != nil {
		fmt.Fprintln(os.Stderr, "activity bench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

func run(ctx context.Context, dialect string, rounds int, dur time.Duration, conns int) error {
	logf("starting Strata…")
	env, err := benchkit.Start(ctx, dialect, "bench")
	if err != nil {
		return err
	}
	defer env.Close()
	api := env.Base + "/api/t/bench"
	c := env.Client
	for name, accountability := range map[string]string{"audited": "all", "logged": "activity", "plain": "none"} {
		if err := c.Do("POST", api+"/tables", map[string]any{"name": name, "accountability": accountability, "columns": []any{
			map[string]any{"name": "title", "type": "string"}, map[string]any{"name": "n", "type": "integer"}}}, 200, nil); err != nil {
			return err
		}
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
	creates := []benchkit.Target{{Name: "create, activity and revisions", NewReq: create("audited")},
		{Name: "create, no trail", NewReq: create("plain")}, {Name: "create, activity only", NewReq: create("logged")}}
	hc := benchkit.NewClient(conns).HTTP
	for _, t := range creates {
		resp, err := hc.Do(t.NewReq())
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s: %d %s", t.Name, resp.StatusCode, b)
		}
	}
	results := benchkit.Interleave(ctx, hc, conns, rounds, dur, [][]benchkit.Target{creates}, nil, logf)
	fmt.Printf("### Audit trail: %d rounds of %s per target, %d connections, Go load generator, interleaved; Strata on %s\n\n", rounds, dur, conns, dialect)
	benchkit.Table("Item create with and without activity and revisions", creates, results)
	return nil
}
