// Command fleet measures a fleet run: one add-column changeset rolled out to N tenants
// on one database server, with the wall time of the run and the peak connections to
// the server while it runs (sampled every 20 ms), beside the node's connection cap.
//
//	STRATA_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	  go run ./scripts/bench/fleet -tenants 1000 -concurrency 4,8,16
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"strata/modules/database"
	"strata/scripts/bench/internal/benchkit"
)

func main() {
	dialect := flag.String("dialect", "postgres", "postgres or mysql")
	tenants := flag.Int("tenants", 1000, "tenants to roll the changeset out to")
	limit := flag.Int("cap", 40, "STRATA_MAX_DB_CONNECTIONS of the node")
	workers := flag.Int("c", 8, "concurrent requests while creating tenants")
	conc := flag.String("concurrency", "4,8,16", "the runs' concurrency, one run (and changeset) each")
	flag.Parse()
	if err := run(*dialect, *tenants, *limit, *workers, *conc); err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

func run(dialect string, tenants, limit, workers int, conc string) error {
	ctx := context.Background()
	env, err := benchkit.Start(ctx, dialect, "f0000", fmt.Sprintf("STRATA_MAX_DB_CONNECTIONS=%d", limit), "STRATA_ACCESS_TTL=6h")
	if err != nil {
		return err
	}
	defer env.Close()
	probe, err := database.Open(ctx, env.ControlURL, database.Pool{MaxOpen: 1})
	if err != nil {
		return err
	}
	defer probe.Close()
	c, base := env.Client, env.Base
	slug := func(i int) string { return fmt.Sprintf("f%04d", i) }

	// The tenants, each with an accounts table.
	start := time.Now()
	var failed atomic.Int64
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if i > 0 {
					if err := c.Do("POST", base+"/api/tenants", map[string]any{"slug": slug(i)}, 201, nil); err != nil {
						failed.Add(1)
						logf("create %s: %v", slug(i), err)
						continue
					}
				}
				if err := c.Do("POST", base+"/api/t/"+slug(i)+"/tables", map[string]any{"name": "accounts", "columns": []any{map[string]any{"name": "email", "type": "string"}}}, 200, nil); err != nil {
					failed.Add(1)
					logf("table %s: %v", slug(i), err)
				}
				if i > 0 && i%200 == 0 {
					logf("created %d tenants (%s)", i, time.Since(start).Round(time.Second))
				}
			}
		}()
	}
	for i := range tenants {
		next <- i
	}
	close(next)
	wg.Wait()
	logf("created %d tenants in %s", tenants, time.Since(start).Round(time.Second))

	fmt.Printf("### Fleet run: one add-column changeset to %d tenants on one %s, node cap %d connections\n\n", tenants, dialect, limit)
	fmt.Println("| concurrency | run wall time | tenants/s | applied | failed | peak server connections (node cap) |")
	fmt.Println("|---:|---:|---:|---:|---:|---|")
	for k, part := range strings.Split(conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil {
			return fmt.Errorf("concurrency %q: %w", part, err)
		}
		name := fmt.Sprintf("add_col_%d", k)
		cs := map[string]any{"name": name, "changes": []any{map[string]any{"op": "add_column", "table": "accounts",
			"column": map[string]any{"name": fmt.Sprintf("col_%d", k), "type": "string", "length": 32}}}}
		if err := c.Do("POST", base+"/api/changesets", cs, 201, nil); err != nil {
			return err
		}
		peak := benchkit.SamplePeak(func() (int, error) { return benchkit.Connections(ctx, probe, dialect) })
		began := time.Now()
		var started struct {
			Data struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		if err := c.Do("POST", base+"/api/migrate", map[string]any{"changesets": []string{name}, "all_tenants": true, "concurrency": n}, 202, &started); err != nil {
			return err
		}
		type runState struct {
			Data struct {
				Status string         `json:"status"`
				Counts map[string]int `json:"counts"`
			} `json:"data"`
		}
		var ended runState
		for {
			time.Sleep(100 * time.Millisecond)
			ended = runState{} // a map decoded into keeps the keys it had
			if err := c.Do("GET", base+"/api/migrate/runs/"+started.Data.ID, nil, 200, &ended); err != nil {
				return err
			}
			if ended.Data.Status != "running" && ended.Data.Status != "paused" && ended.Data.Counts["running"] == 0 && ended.Data.Counts["queued"] == 0 {
				break
			}
		}
		took := time.Since(began)
		peakConns := peak.Stop()
		fmt.Printf("| %d | %s | %.0f | %d | %d | %d (%d) |\n", n, took.Round(10*time.Millisecond), float64(tenants)/took.Seconds(),
			ended.Data.Counts["applied"], ended.Data.Counts["failed"], peakConns, limit)
	}
	if failed.Load() > 0 {
		return fmt.Errorf("%d setup requests failed", failed.Load())
	}
	return nil
}
