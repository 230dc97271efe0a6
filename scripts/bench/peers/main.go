// Command peers installs Strata's peers, PocketBase and Directus, runs them beside Strata
// on SQLite with the same rows, and compares the three under the same load, so anyone can
// repeat the comparison:
//
//	go run ./scripts/bench/peers                      # 10,000 and 100,000 rows, 5 rounds of 10s
//	go run ./scripts/bench/peers -sizes 2000 -rounds 1 -duration 2s   # a quick look
//
// Run it from the repository's root. What it installs, into -cache (by default
// ~/.cache/strata-bench, reused by later runs, nothing of it in the repository):
//
//   - PocketBase v0.36.8, `go install github.com/pocketbase/pocketbase/examples/base@v0.36.8`
//     from the Go module proxy (about two minutes the first time);
//   - Directus 11.3.5, `npm install directus@11.3.5` from the npm registry (about five
//     minutes the first time: the sqlite3 driver is compiled with node-gyp against the
//     headers of the Node that runs it, so Node 18-22, python3, make and g++ are needed;
//     npm_config_nodedir=/usr is set when /usr/include/node has them, for a closed network);
//   - wrk, with `apt-get install -y wrk` when it is missing (-load go uses a Go load
//     generator instead).
//
// Each size gets fresh systems: Strata built from this tree and started with benchkit, a
// PocketBase and a Directus on their own SQLite files. Each makes the table posts (title
// string, body text, views integer with an index, published boolean) through its own API,
// then the same rows are written straight into its SQLite file in one transaction (views
// spread over 0..999, as scripts/bench/items makes them), ANALYZE runs, and each system's
// API must count them all before anything is measured. The scenarios: (a) 20 rows with
// views > 500 sorted by -views, (b) one row by id, a fixed set of ids rotated. Each
// answer is checked once, each target warmed up, then `wrk -t2 -c32 -d10s` measures the
// systems in turns, the order rotated every round. The markdown tables go to stdout, the
// progress to stderr. Everything listens on 127.0.0.1; processes and temporary
// directories are removed on exit and on Ctrl-C (-keep leaves the last systems running
// until Ctrl-C).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"strata/scripts/bench/internal/benchkit"
)

// The pinned peers.
const (
	pocketBaseVersion = benchkit.PocketBaseVersion
	directusVersion   = "11.3.5"
)

type config struct {
	sizes      []int
	rounds     int
	dur        time.Duration
	warmup     time.Duration
	conns      int
	threads    int
	only       map[string]bool
	keep       bool
	cache      string
	load       string // wrk or go
	strataAuth string // admin or public
}

func main() {
	home, _ := os.UserHomeDir()
	sizes := flag.String("sizes", "10000,100000", "row counts to compare, comma-separated; each gets fresh systems")
	rounds := flag.Int("rounds", 5, "rounds per size; each measures every scenario on every system, the order rotated")
	dur := flag.Duration("duration", 10*time.Second, "load time per system, scenario and round")
	warmup := flag.Duration("warmup", 2*time.Second, "warm-up per system and scenario before the first round")
	conns := flag.Int("conns", 32, "concurrent connections of the load generator")
	threads := flag.Int("threads", 2, "wrk threads")
	only := flag.String("only", "strata,pocketbase,directus", "systems to run, comma-separated")
	keep := flag.Bool("keep", false, "after the last size, leave its systems running for inspection until Ctrl-C")
	cache := flag.String("cache", filepath.Join(home, ".cache", "strata-bench"), "where PocketBase and Directus are installed and reused from")
	load := flag.String("load", "wrk", "load generator: wrk (installed with apt-get if missing) or go (built in)")
	strataAuth := flag.String("strata-auth", "admin", "how Strata's requests authenticate: admin (the admin's bearer token, as scripts/bench/items) or public (no token, a read permission for the public role)")
	flag.Parse()

	cfg := config{rounds: max(1, *rounds), dur: *dur, warmup: *warmup, conns: max(1, *conns), threads: max(1, min(*threads, *conns)),
		only: map[string]bool{}, keep: *keep, cache: *cache, load: *load, strataAuth: *strataAuth}
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(strings.ReplaceAll(s, "_", "")))
		if err != nil || n < 1000 {
			// Fewer rows would not give (a) 20 rows with views > 500 and 999 first.
			fatal(fmt.Errorf("-sizes: %q is not a row count of at least 1000", s))
		}
		cfg.sizes = append(cfg.sizes, n)
	}
	for _, s := range strings.Split(*only, ",") {
		s = strings.ToLower(strings.TrimSpace(s))
		switch s {
		case "strata", "pocketbase", "directus":
			cfg.only[s] = true
		case "":
		default:
			fatal(fmt.Errorf("-only: unknown system %q (strata, pocketbase, directus)", s))
		}
	}
	if len(cfg.only) == 0 {
		fatal(errors.New("-only names no system"))
	}
	if cfg.load != "wrk" && cfg.load != "go" {
		fatal(errors.New("-load must be wrk or go"))
	}
	if cfg.strataAuth != "admin" && cfg.strataAuth != "public" {
		fatal(errors.New("-strata-auth must be admin or public"))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C ends the program at once
	}()
	err := run(ctx, cfg)
	if err != nil && ctx.Err() != nil {
		err = errors.New("interrupted")
	}
	stop()
	if err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "peers:", err)
	os.Exit(1)
}

// logf reports progress on stderr, so stdout holds only the results.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, cfg config) error {
	if _, err := os.Stat(filepath.Join("server", "main.go")); cfg.only["strata"] && err != nil {
		return errors.New("run it from the repository's root (go run ./scripts/bench/peers)")
	}
	// Installs first, one at a time: the machine may be small.
	var pbBin, dxDir string
	var err error
	if cfg.only["pocketbase"] {
		if pbBin, err = benchkit.EnsurePocketBase(ctx, cfg.cache, logf); err != nil {
			return fmt.Errorf("install PocketBase: %w", err)
		}
	}
	if cfg.only["directus"] {
		if dxDir, err = ensureDirectus(ctx, cfg.cache); err != nil {
			return fmt.Errorf("install Directus: %w", err)
		}
	}
	if cfg.load == "wrk" {
		if err := ensureWrk(ctx); err != nil {
			logf("wrk: %v; using the Go load generator", err)
			cfg.load = "go"
		}
	}

	for i, n := range cfg.sizes {
		last := i == len(cfg.sizes)-1
		if err := runSize(ctx, cfg, n, pbBin, dxDir, last); err != nil {
			return fmt.Errorf("%d rows: %w", n, err)
		}
	}
	return nil
}

// runSize starts fresh systems with n rows, measures them and prints the tables.
func runSize(ctx context.Context, cfg config, n int, pbBin, dxDir string, last bool) (err error) {
	tmp, err := os.MkdirTemp("", "strata-peers-")
	if err != nil {
		return err
	}
	var cleanups []func()
	defer func() {
		if cfg.keep && last && err == nil {
			fmt.Fprintf(os.Stderr, "\n-keep: the systems are still running (files in %s); Ctrl-C stops them and removes their files.\n", tmp)
			<-ctx.Done()
		}
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
		_ = os.RemoveAll(tmp)
	}()
	rows := makeRows(n)
	var targets []*target
	add := func(t *target, stop func(), err error) error {
		if stop != nil {
			cleanups = append(cleanups, stop)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		targets = append(targets, t)
		if cfg.keep && last {
			logf("%s: %s (%s)", t.name, t.base, t.info)
		}
		return nil
	}
	if cfg.only["strata"] {
		logf("Strata: building and starting the server, %d rows…", n)
		t, stop, err := startStrata(ctx, rows, cfg.strataAuth)
		if err := add(t, stop, err); err != nil {
			return err
		}
	}
	if cfg.only["pocketbase"] {
		logf("PocketBase %s: starting, %d rows…", pocketBaseVersion, n)
		t, stop, err := startPocketBase(ctx, pbBin, filepath.Join(tmp, "pocketbase"), rows)
		if err := add(t, stop, err); err != nil {
			return err
		}
	}
	if cfg.only["directus"] {
		logf("Directus %s: bootstrapping and starting, %d rows…", directusVersion, n)
		t, stop, err := startDirectus(ctx, dxDir, filepath.Join(tmp, "directus"), rows)
		if err := add(t, stop, err); err != nil {
			return err
		}
	}

	scens := scenarios()
	// The same answer in spirit from everyone, or the comparison means nothing.
	for _, t := range targets {
		for _, s := range scens {
			if err := s.check(t); err != nil {
				return fmt.Errorf("%s %s: %w", t.name, s.name, err)
			}
		}
	}
	gen := newLoader(cfg, tmp)
	if cfg.warmup > 0 {
		for _, s := range scens {
			for _, t := range targets {
				logf("warm-up: %s %s", t.name, s.name)
				if _, err := gen.run(ctx, t, s.paths(t), cfg.warmup); err != nil {
					return err
				}
			}
		}
	}
	res := map[string]map[string][]benchkit.Stats{} // scenario, system, round
	var orders []string
	for round := range cfg.rounds {
		order := make([]*target, len(targets))
		for i := range targets {
			order[i] = targets[(i+round)%len(targets)]
		}
		names := make([]string, len(order))
		for i, t := range order {
			names[i] = t.name
		}
		orders = append(orders, strings.Join(names, ", "))
		for _, s := range scens {
			if res[s.name] == nil {
				res[s.name] = map[string][]benchkit.Stats{}
			}
			for _, t := range order {
				st, err := gen.run(ctx, t, s.paths(t), cfg.dur)
				if err != nil {
					return err
				}
				logf("round %d/%d: %s %s: %.0f req/s, p50 %.2f ms, p99 %.2f ms, %d errors", round+1, cfg.rounds, t.name, s.name, st.RPS, st.P50, st.P99, st.Errors)
				res[s.name][t.key] = append(res[s.name][t.key], st)
			}
		}
	}
	report(cfg, n, targets, scens, res, orders)
	return nil
}

// header describes the machine and the versions for the tables.
func header(cfg config, n int, targets []*target) string {
	var b strings.Builder
	gen := fmt.Sprintf("wrk -t%d -c%d -d%s", cfg.threads, cfg.conns, wrkDuration(cfg.dur))
	if cfg.load == "go" {
		gen = fmt.Sprintf("the Go load generator, %d connections, %s", cfg.conns, cfg.dur)
	}
	fmt.Fprintf(&b, "#### %s rows, SQLite\n\n", thousands(n))
	rounds := fmt.Sprintf("%d rounds, the order rotated each round", cfg.rounds)
	if cfg.rounds == 1 {
		rounds = "1 round"
	}
	fmt.Fprintf(&b, "%s per system, scenario and round; %s; median req/s, the ratios are of the medians. %d CPUs, %s/%s.\n\n", gen, rounds, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
	for _, t := range targets {
		fmt.Fprintf(&b, "- %s: %s\n", t.name, t.info)
	}
	b.WriteString("\n")
	return b.String()
}

func report(cfg config, n int, targets []*target, scens []scenario, res map[string]map[string][]benchkit.Stats, orders []string) {
	var b strings.Builder
	b.WriteString("\n" + header(cfg, n, targets))
	var strata *target
	var others []*target
	for _, t := range targets {
		if t.key == "strata" {
			strata = t
		} else {
			others = append(others, t)
		}
	}
	b.WriteString("| scenario |")
	for _, t := range targets {
		fmt.Fprintf(&b, " %s req/s |", t.name)
	}
	if strata != nil {
		for _, o := range others {
			fmt.Fprintf(&b, " Strata ÷ %s |", o.name)
		}
	}
	b.WriteString("\n|---|" + strings.Repeat("---:|", len(targets)))
	if strata != nil {
		b.WriteString(strings.Repeat("---:|", len(others)))
	}
	b.WriteString("\n")
	for _, s := range scens {
		fmt.Fprintf(&b, "| %s |", s.name)
		for _, t := range targets {
			fmt.Fprintf(&b, " %.0f |", benchkit.MedianRun(res[s.name][t.key]).RPS)
		}
		if strata != nil {
			for _, o := range others {
				fmt.Fprintf(&b, " %s |", ratio(benchkit.MedianRun(res[s.name]["strata"]).RPS, benchkit.MedianRun(res[s.name][o.key]).RPS))
			}
		}
		b.WriteString("\n")
	}

	b.WriteString("\nLatency of the median run, p50 / p99 ms (errors):\n\n| scenario |")
	for _, t := range targets {
		fmt.Fprintf(&b, " %s |", t.name)
	}
	b.WriteString("\n|---|" + strings.Repeat("---:|", len(targets)) + "\n")
	for _, s := range scens {
		fmt.Fprintf(&b, "| %s |", s.name)
		for _, t := range targets {
			m := benchkit.MedianRun(res[s.name][t.key])
			fmt.Fprintf(&b, " %.2f / %.2f (%d) |", m.P50, m.P99, m.Errors)
		}
		b.WriteString("\n")
	}

	b.WriteString("\nPer round, req/s")
	if strata != nil && len(others) > 0 {
		b.WriteString(" and ratios")
	}
	b.WriteString(":\n\n| scenario | round | order |")
	for _, t := range targets {
		fmt.Fprintf(&b, " %s |", t.name)
	}
	if strata != nil {
		for _, o := range others {
			fmt.Fprintf(&b, " Strata ÷ %s |", o.name)
		}
	}
	b.WriteString("\n|---|---:|---|" + strings.Repeat("---:|", len(targets)))
	if strata != nil {
		b.WriteString(strings.Repeat("---:|", len(others)))
	}
	b.WriteString("\n")
	for _, s := range scens {
		for r := range cfg.rounds {
			fmt.Fprintf(&b, "| %s | %d | %s |", s.name, r+1, orders[r])
			for _, t := range targets {
				fmt.Fprintf(&b, " %.0f |", res[s.name][t.key][r].RPS)
			}
			if strata != nil {
				for _, o := range others {
					fmt.Fprintf(&b, " %s |", ratio(res[s.name]["strata"][r].RPS, res[s.name][o.key][r].RPS))
				}
			}
			b.WriteString("\n")
		}
	}
	fmt.Print(b.String())
}

func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// commandOutput runs a short command and returns its first line of output, or "".
func commandOutput(ctx context.Context, name string, args ...string) string {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
}
