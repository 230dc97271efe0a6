// Command replay measures replaying a long migration history into a sandbox: it builds
// a history of n migrations (tables, columns, indexes, renames) on one tenant, then times
// POST /api/tenants/{slug}/sandboxes, which replays it through the one path.
//
//	go run ./scripts/bench/replay -dialect postgres -n 1000
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"

	"strata/scripts/bench/internal/benchkit"
)

func main() {
	dialect := flag.String("dialect", "postgres", "sqlite, postgres or mysql")
	n := flag.Int("n", 1000, "migrations in the history")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	if err := run(ctx, *dialect, *n); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dialect string, n int) error {
	env, err := benchkit.Start(ctx, dialect, "src")
	if err != nil {
		return err
	}
	defer env.Close()
	c := env.Client
	api := env.Base + "/api/t/src"
	t0 := time.Now()
	// 1 in 10 migrations creates a table; the others add a column to the newest one,
	// with an index or a rename now and then.
	table := ""
	for i := 0; i < n; i++ {
		var err error
		switch {
		case i%10 == 0:
			table = fmt.Sprintf("t_%d", i)
			err = c.Do("POST", api+"/tables", map[string]any{"name": table, "columns": []any{map[string]any{"name": "name", "type": "string"}}}, 200, nil)
		case i%10 == 5:
			err = c.Do("POST", api+"/tables/"+table+"/indexes", map[string]any{"columns": []string{"name"}}, 200, nil)
		case i%10 == 7:
			err = c.Do("PATCH", api+"/tables/"+table+"/columns/c_"+fmt.Sprint(i-1), map[string]any{"name": fmt.Sprintf("r_%d", i)}, 200, nil)
		default:
			err = c.Do("POST", api+"/tables/"+table+"/columns", map[string]any{"name": fmt.Sprintf("c_%d", i), "type": "integer"}, 200, nil)
		}
		if err != nil {
			return fmt.Errorf("migration %d: %w", i, err)
		}
	}
	build := time.Since(t0)
	var out struct {
		Data struct {
			Replay struct {
				Applied  int  `json:"applied"`
				Complete bool `json:"complete"`
			} `json:"replay"`
		} `json:"data"`
	}
	t1 := time.Now()
	if err := c.Do("POST", env.Base+"/api/tenants/src/sandboxes", map[string]any{"slug": "sandbox"}, 201, &out); err != nil {
		return err
	}
	replay := time.Since(t1)
	if !out.Data.Replay.Complete || out.Data.Replay.Applied != n {
		return fmt.Errorf("replay applied %d of %d", out.Data.Replay.Applied, n)
	}
	fmt.Printf("%s, %d migrations, %d CPUs, %s, %s\n\n", dialect, n, runtime.NumCPU(), runtime.Version(), time.Now().UTC().Format("2006-01-02"))
	fmt.Printf("| step | time | per migration |\n|---|---:|---:|\n")
	fmt.Printf("| build the history through the HTTP API | %.1f s | %.1f ms |\n", build.Seconds(), float64(build.Milliseconds())/float64(n))
	fmt.Printf("| replay it into a new sandbox (tenant creation included) | %.1f s | %.1f ms |\n", replay.Seconds(), float64(replay.Milliseconds())/float64(n))
	return nil
}
