// Command tenants measures how nodes grow with the number of tenants they serve. It
// starts the real server on a fresh PostgreSQL (or MySQL) control database with a
// connection cap, and creates N tenants with one small table and row each. A second
// node then boots on the same databases (it must open no tenant pool), serves a paced
// load of -rate different tenants a minute (each read twice: the first request is cold,
// with no pool and no model on that node, the second warm), reads every tenant once,
// and is left idle until it has let every tenant go. Throughout, the connections to the
// node's databases are sampled. It prints the peaks beside the caps, the failed
// requests, the second node's pools, models, resident memory and Go heap at each
// moment (per tenant, over its boot), and the cold and warm latencies.
//
//	STRATA_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	  go run ./scripts/bench/tenants -tenants 10000 -cap 40 -rate 1000 -paced 2m -idle 30s
//
// Creating 10,000 tenants takes most of an hour: -keep leaves them in place and prints
// how to measure them again with -reuse, which creates only what is missing (a run cut
// short can be carried on).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"strata/modules/database"
	"strata/scripts/bench/internal/benchkit"
)

// heapDir is where heap profiles go (-heap), if anywhere.
var heapDir string

func main() {
	dialect := flag.String("dialect", "postgres", "postgres or mysql")
	tenants := flag.Int("tenants", 1000, "tenants to create")
	limit := flag.Int("cap", 40, "STRATA_MAX_DB_CONNECTIONS of each node")
	workers := flag.Int("c", 8, "concurrent requests while creating and touching")
	rate := flag.Int("rate", 1000, "different tenants per minute in the paced phase")
	paced := flag.Duration("paced", 2*time.Minute, "length of the paced phase")
	idle := flag.Duration("idle", 30*time.Second, "STRATA_TENANT_IDLE_TIMEOUT of the nodes")
	flag.StringVar(&heapDir, "heap", "", "directory to save the second node's heap profiles in (boot, busy, idle)")
	keep := flag.Bool("keep", false, "leave the control database and the tenants in place for -reuse")
	reuse := flag.String("reuse", "", "control database URL a -keep run left: measure its -tenants tenants, creating only those missing")
	flag.Parse()
	if err := run(*dialect, *tenants, *limit, *workers, *rate, *paced, *idle, *keep, *reuse); err != nil {
		fmt.Fprintln(os.Stderr, "tenants:", err)
		os.Exit(1)
	}
}

func run(dialect string, tenants, limit, workers, rate int, paced, idle time.Duration, keep bool, reuse string) error {
	ctx := context.Background()
	// Creating 10,000 tenants outlasts an access token's default 15 minutes.
	nodeEnv := []string{fmt.Sprintf("STRATA_MAX_DB_CONNECTIONS=%d", limit), "STRATA_CONTROL_POOL_MAX=8", "STRATA_TENANT_IDLE_TIMEOUT=" + idle.String(), "STRATA_ACCESS_TTL=6h"}
	var env *benchkit.Env
	var err error
	if reuse != "" {
		env, err = benchkit.Reuse(ctx, dialect, reuse, nodeEnv...)
	} else {
		env, err = benchkit.Start(ctx, dialect, "t00000", nodeEnv...)
	}
	if err != nil {
		return err
	}
	defer env.Close()
	if keep {
		env.Keep()
		fmt.Fprintf(os.Stderr, "the tenants stay: measure them again with -dialect %s -tenants %d -reuse '%s'\n", dialect, tenants, env.ControlURL)
	}
	probe, err := database.Open(ctx, env.ControlURL, database.Pool{MaxOpen: 1})
	if err != nil {
		return err
	}
	defer probe.Close()
	if dialect == "postgres" {
		var maxConns string
		if err := probe.QueryRowContext(ctx, "SHOW max_connections").Scan(&maxConns); err == nil {
			fmt.Fprintf(os.Stderr, "PostgreSQL max_connections = %s\n", maxConns)
		}
	}
	peak := benchkit.SamplePeak(func() (int, error) { return connections(ctx, probe, dialect) })
	var failed atomic.Int64
	fail := func(err error) {
		if failed.Add(1) <= 5 {
			fmt.Fprintln(os.Stderr, "request failed:", err)
		}
	}
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
						fail(err)
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
	slug := func(i int) string { return fmt.Sprintf("t%05d", i) }
	c, base := env.Client, env.Base

	// 1. Create the tenants on the first node, each with a table and a row. Reusing an
	// earlier run's, it makes only what that run did not finish (it may have been cut
	// short): a tenant, its table or its row.
	existing := map[string]bool{"t00000": true} // Start makes the first
	if reuse != "" {
		for _, s := range benchkit.Names(probe, "SELECT slug FROM strata_tenants WHERE status = 'active'") {
			existing[s] = true
		}
	}
	var done atomic.Int64
	created := each(tenants, func(i int) error {
		needTable, needRow := true, true
		if existing[slug(i)] {
			var list struct {
				Data []any `json:"data"`
			}
			if err := c.Do("GET", base+"/api/t/"+slug(i)+"/items/notes", nil, 200, &list); err == nil {
				needTable, needRow = false, len(list.Data) == 0
			}
		} else if err := c.Do("POST", base+"/api/tenants", map[string]any{"slug": slug(i)}, 201, nil); err != nil {
			return err
		}
		if needTable {
			if err := c.Do("POST", base+"/api/t/"+slug(i)+"/tables", map[string]any{"name": "notes", "columns": []any{map[string]any{"name": "body", "type": "string"}}}, 200, nil); err != nil {
				return err
			}
		}
		if n := done.Add(1); n%1000 == 0 {
			fmt.Fprintf(os.Stderr, "created %d tenants\n", n)
		}
		if !needRow {
			return nil
		}
		return c.Do("POST", base+"/api/t/"+slug(i)+"/items/notes", map[string]any{"body": "hello"}, 200, nil)
	})
	createdPeak := peak.Now()
	createFailed := failed.Load()

	// 2. A second node boots on the same databases: it must open no tenant pool.
	pprof2 := benchkit.FreeAddr()
	base2, err := env.StartNode(ctx, "STRATA_PPROF_ADDR="+pprof2)
	if err != nil {
		return err
	}
	pid2 := env.PIDs[len(env.PIDs)-1]
	readNode := func(profile string) (nodeState, error) { return nodeRead(base2, pprof2, pid2, heapDir, profile) }
	time.Sleep(2 * time.Second) // let boot's allocations settle
	boot, err := readNode("boot")
	if err != nil {
		return err
	}

	// 3. The paced phase: rate different tenants a minute on the second node, each
	// read twice (its first request on that node is cold: no pool, no model).
	order := mrand.Perm(tenants)
	var mu sync.Mutex
	var cold, warm []time.Duration
	var touchedPaced int
	tick := time.NewTicker(time.Minute / time.Duration(rate))
	end := time.Now().Add(paced)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := 0; time.Now().Before(end) && i < len(order); i++ {
		<-tick.C
		sem <- struct{}{}
		wg.Add(1)
		touchedPaced++
		go func(s string) {
			defer func() { <-sem; wg.Done() }()
			var d [2]time.Duration
			for k := range d {
				start := time.Now()
				if err := c.Do("GET", base2+"/api/t/"+s+"/items/notes", nil, 200, nil); err != nil {
					fail(err)
					return
				}
				d[k] = time.Since(start)
			}
			mu.Lock()
			cold, warm = append(cold, d[0]), append(warm, d[1])
			mu.Unlock()
		}(slug(order[i]))
	}
	tick.Stop()
	wg.Wait()
	pacedPeak := peak.Now()
	pacedFailed := failed.Load() - createFailed

	// 4. Every tenant once on the second node, then idle until it lets them all go.
	touched := each(tenants, func(i int) error {
		return c.Do("GET", base2+"/api/t/"+slug(i)+"/items/notes", nil, 200, nil)
	})
	busy, err := readNode("busy")
	if err != nil {
		return err
	}
	var idled nodeState
	wait := time.Now().Add(3*idle + time.Minute)
	for {
		time.Sleep(time.Second)
		if idled, err = readNode(""); err != nil {
			return err
		}
		if idled.pools == 0 && idled.models == 0 {
			if idled, err = readNode("idle"); err != nil {
				return err
			}
			break
		}
		if time.Now().After(wait) {
			return fmt.Errorf("the second node still holds %v pools and %v models after %s idle", idled.pools, idled.models, 3*idle)
		}
	}
	peak.Stop()

	bus := 0
	if dialect == "postgres" {
		bus = 5 // the NOTIFY bus: one listener, up to four publishers, outside the cap
	}
	fmt.Printf("| dialect | tenants | cap per node | creating: peak connections | failed | took | paced: %d tenants/min for %s, peak connections (2 nodes) | failed | caps + buses |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n", rate, paced)
	fmt.Printf("| %s | %d | %d | %d | %d | %s | %d | %d | %d |\n", dialect, tenants, limit, createdPeak, createFailed, created.Round(time.Second),
		pacedPeak, pacedFailed, 2*(limit+bus))
	perTenant := func(a, b int64) string { return fmt.Sprintf("%.1f KB", float64(a-b)/1024/float64(tenants)) }
	fmt.Printf("\nSecond node (%d tenants; idle timeout %s):\n\n| moment | tenant pools | cached models | RSS | Go heap in use | RSS per tenant over boot | heap per tenant over boot |\n|---|---:|---:|---:|---:|---:|---:|\n", tenants, idle)
	for _, m := range []struct {
		name string
		s    nodeState
	}{{"after boot", boot}, {fmt.Sprintf("after touching all (%s)", touched.Round(time.Second)), busy}, {"after they went idle", idled}} {
		fmt.Printf("| %s | %d | %d | %.1f MB | %.1f MB | %s | %s |\n", m.name, m.s.pools, m.s.models, float64(m.s.rss)/1e6, float64(m.s.heap)/1e6,
			perTenant(m.s.rss, boot.rss), perTenant(m.s.heap, boot.heap))
	}
	fmt.Printf("\nPaced phase on the second node, first request to a tenant (cold) and the next (warm), %d tenants:\n\n| request | p50 | p95 | p99 | max |\n|---|---:|---:|---:|---:|\n", len(cold))
	for _, r := range []struct {
		name string
		d    []time.Duration
	}{{"cold (first)", cold}, {"warm (second)", warm}} {
		if len(r.d) == 0 {
			continue
		}
		slices.Sort(r.d)
		fmt.Printf("| %s | %s | %s | %s | %s |\n", r.name, pct(r.d, 50), pct(r.d, 95), pct(r.d, 99), r.d[len(r.d)-1].Round(10*time.Microsecond))
	}
	if boot.pools != 0 {
		return fmt.Errorf("the second node opened %d tenant pools at boot", boot.pools)
	}
	if f := failed.Load(); f > 0 {
		return fmt.Errorf("%d requests failed", f)
	}
	if peak.Now() > int64(2*(limit+bus)) {
		return fmt.Errorf("the nodes held %d connections, over their caps of %d (+%d for the buses)", peak.Now(), 2*limit, 2*bus)
	}
	return nil
}

// nodeState is what a node holds: its tenant pools and models (from /metrics), its
// resident memory and its Go heap in use.
type nodeState struct {
	pools, models int
	rss, heap     int64
}

// nodeRead reads a node's state after a garbage collection (through its pprof
// listener), so the heap is what the node holds rather than garbage not yet collected;
// with dir set it also saves the heap profile as dir/name.pprof.
func nodeRead(base, pprofAddr string, pid int, dir, name string) (nodeState, error) {
	var s nodeState
	heap, err := http.Get("http://" + pprofAddr + "/debug/pprof/heap?gc=1")
	if err != nil {
		return s, err
	}
	prof, err := io.ReadAll(heap.Body)
	heap.Body.Close()
	if err != nil {
		return s, err
	}
	if dir != "" && name != "" {
		if err := os.WriteFile(filepath.Join(dir, name+".pprof"), prof, 0o644); err != nil {
			return s, err
		}
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		switch name {
		case "strata_tenant_pools_open":
			s.pools = int(v)
		case "strata_tenant_models_cached":
			s.models = int(v)
		case "go_memstats_heap_inuse_bytes":
			s.heap = int64(v)
		}
	}
	s.rss, err = rss(pid)
	return s, err
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
