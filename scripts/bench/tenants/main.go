// Command tenants measures how a node grows with the number of tenants it serves. It
// starts the real server on a fresh PostgreSQL (or MySQL) control database with a
// connection cap, creates N tenants with one small table each, touches each tenant once
// (a write and a read), and samples the server's connections to the node's databases
// throughout. It prints the peak beside the cap, the requests that failed, how long
// creating and touching took, and the node's resident memory per tenant. Then it starts
// a second node on the same databases and times, for a sample of tenants, the first
// request (a cold tenant: no pool, no model on that node) and the second (warm).
//
//	STRATA_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	  go run ./scripts/bench/tenants -tenants 1000 -cap 40
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
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
	tenants := flag.Int("tenants", 1000, "tenants to create and touch")
	limit := flag.Int("cap", 40, "STRATA_MAX_DB_CONNECTIONS of the node")
	workers := flag.Int("c", 8, "concurrent requests")
	flag.Parse()
	if err := run(*dialect, *tenants, *limit, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "tenants:", err)
		os.Exit(1)
	}
}

func run(dialect string, tenants, limit, workers int) error {
	ctx := context.Background()
	env, err := benchkit.Start(ctx, dialect, "t0000", fmt.Sprintf("STRATA_MAX_DB_CONNECTIONS=%d", limit), "STRATA_CONTROL_POOL_MAX=8")
	if err != nil {
		return err
	}
	defer env.Close()
	rssBefore, err := rss(env.PIDs[0])
	if err != nil {
		return err
	}
	probe, err := database.Open(ctx, env.ControlURL, database.Pool{MaxOpen: 1})
	if err != nil {
		return err
	}
	defer probe.Close()
	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			if n, err := connections(ctx, probe, dialect); err == nil && int64(n) > peak.Load() {
				peak.Store(int64(n))
			}
		}
	}()
	var failed atomic.Int64
	each := func(n int, f func(i int) error) time.Duration {
		start := time.Now()
		next := make(chan int)
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					if err := f(i); err != nil {
						if failed.Add(1) <= 5 {
							fmt.Fprintln(os.Stderr, "request failed:", err)
						}
					}
				}
			}()
		}
		for i := range n {
			next <- i
		}
		close(next)
		wg.Wait()
		return time.Since(start)
	}
	slug := func(i int) string { return fmt.Sprintf("t%04d", i) }
	c, base := env.Client, env.Base
	created := each(tenants, func(i int) error {
		if i > 0 {
			if err := c.Do("POST", base+"/api/tenants", map[string]any{"slug": slug(i)}, 201, nil); err != nil {
				return err
			}
		}
		return c.Do("POST", base+"/api/t/"+slug(i)+"/tables", map[string]any{"name": "notes", "columns": []any{map[string]any{"name": "body", "type": "string"}}}, 200, nil)
	})
	createdPeak := peak.Load()
	touched := each(tenants, func(i int) error {
		if err := c.Do("POST", base+"/api/t/"+slug(i)+"/items/notes", map[string]any{"body": "hello"}, 200, nil); err != nil {
			return err
		}
		return c.Do("GET", base+"/api/t/"+slug(i)+"/items/notes", nil, 200, nil)
	})
	close(stop)
	<-sampled
	rssAfter, err := rss(env.PIDs[0])
	if err != nil {
		return err
	}
	cold, warm, err := coldAndWarm(ctx, env, c, tenants, slug)
	if err != nil {
		return err
	}
	bus := 0
	if dialect == "postgres" {
		bus = 5 // the NOTIFY bus: one listener, up to four publishers, outside the cap
	}
	fmt.Printf("| dialect | tenants | cap | peak connections (creating) | peak connections (all) | cap + bus | failed requests | create all | touch all | node RSS per tenant |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	fmt.Printf("| %s | %d | %d | %d | %d | %d | %d | %s | %s | %.1f KB |\n", dialect, tenants, limit, createdPeak, peak.Load(), limit+bus, failed.Load(),
		created.Round(time.Second), touched.Round(time.Millisecond), float64(rssAfter-rssBefore)/1024/float64(tenants))
	fmt.Printf("\nOn a second node, first request to a tenant (cold) and the next (warm), %d tenants:\n\n| request | p50 | p95 | max |\n|---|---:|---:|---:|\n", len(cold))
	for _, r := range []struct {
		name string
		d    []time.Duration
	}{{"cold (first)", cold}, {"warm (second)", warm}} {
		slices.Sort(r.d)
		fmt.Printf("| %s | %s | %s | %s |\n", r.name, pct(r.d, 50), pct(r.d, 95), r.d[len(r.d)-1].Round(10*time.Microsecond))
	}
	if peak.Load() > int64(limit+bus) {
		return fmt.Errorf("the node held %d connections, over its cap of %d (+%d for the bus)", peak.Load(), limit, bus)
	}
	return nil
}

// connections counts the server's client connections to the node's databases: the
// control database and (on MySQL) the tenant databases named after it.
func connections(ctx context.Context, db *database.DB, dialect string) (int, error) {
	var n int
	q := "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
	if dialect == "mysql" {
		q = "SELECT COUNT(*) FROM information_schema.processlist WHERE (db = DATABASE() OR db LIKE CONCAT(DATABASE(), '\\_%')) AND id <> CONNECTION_ID()"
	}
	err := db.QueryRowContext(ctx, q).Scan(&n)
	return n, err
}

// coldAndWarm starts a second node and times a GET to each of up to 200 tenants twice:
// the first finds no pool and no model on that node, the second finds both.
func coldAndWarm(ctx context.Context, env *benchkit.Env, c *benchkit.Client, tenants int, slug func(int) string) (cold, warm []time.Duration, err error) {
	base, err := env.StartNode(ctx)
	if err != nil {
		return nil, nil, err
	}
	step := max(1, tenants/200)
	for i := 0; i < tenants; i += step {
		for _, out := range []*[]time.Duration{&cold, &warm} {
			start := time.Now()
			if err := c.Do("GET", base+"/api/t/"+slug(i)+"/items/notes", nil, 200, nil); err != nil {
				return nil, nil, err
			}
			*out = append(*out, time.Since(start))
		}
	}
	return cold, warm, nil
}

func pct(d []time.Duration, p int) time.Duration {
	return d[(len(d)-1)*p/100].Round(10 * time.Microsecond)
}

// rss is a process's resident memory in bytes (Linux).
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read memory of the node: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for process %d", pid)
}
