package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"strata/scripts/bench/internal/benchkit"
)

// --- installs ---

// ensureDirectus installs Directus with npm into the cache once and returns the folder.
func ensureDirectus(ctx context.Context, cache string) (string, error) {
	dir := filepath.Join(cache, "directus-"+directusVersion)
	if _, err := os.Stat(filepath.Join(dir, ".installed")); err == nil {
		return dir, nil
	}
	if _, err := exec.LookPath("npm"); err != nil {
		return "", errors.New("npm is needed (Node 18, 20 or 22 with npm)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"name": "strata-bench-directus", "private": true}`+"\n"), 0o644); err != nil {
		return "", err
	}
	logf("installing Directus: npm install directus@%s in %s (several minutes: sqlite3 and isolated-vm compile)…", directusVersion, dir)
	cmd := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--no-update-notifier", "--loglevel=error", "directus@"+directusVersion)
	cmd.Dir = dir
	cmd.Env = os.Environ()
	// The native modules that ship no binary for this Node are compiled by node-gyp,
	// which would download Node's headers; the headers of a packaged Node serve as well.
	if os.Getenv("npm_config_nodedir") == "" {
		if _, err := os.Stat("/usr/include/node/node.h"); err == nil {
			cmd.Env = append(cmd.Env, "npm_config_nodedir=/usr")
		}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("npm install directus@%s: %v\n%s", directusVersion, err, out)
	}
	check := exec.CommandContext(ctx, "node", "-e", "require('sqlite3'); require('isolated-vm')")
	check.Dir = dir
	if out, err := check.CombinedOutput(); err != nil {
		return "", fmt.Errorf("the native modules did not build (python3, make and g++ are needed): %v\n%s", err, out)
	}
	return dir, os.WriteFile(filepath.Join(dir, ".installed"), []byte("directus@"+directusVersion+"\n"), 0o644)
}

// ensureWrk installs wrk with apt-get when it is missing.
func ensureWrk(ctx context.Context) error {
	if _, err := exec.LookPath("wrk"); err == nil {
		return nil
	}
	if _, err := exec.LookPath("apt-get"); err != nil || os.Geteuid() != 0 {
		return errors.New("missing, and apt-get as root is not at hand to install it")
	}
	logf("installing wrk: apt-get install -y wrk…")
	out, err := exec.CommandContext(ctx, "apt-get", "install", "-y", "wrk").CombinedOutput()
	if err != nil {
		// The package lists may be missing or old.
		if out2, err2 := exec.CommandContext(ctx, "apt-get", "update").CombinedOutput(); err2 != nil {
			return fmt.Errorf("apt-get update: %v\n%s", err2, out2)
		}
		if out, err = exec.CommandContext(ctx, "apt-get", "install", "-y", "wrk").CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get install wrk: %v\n%s", err, out)
		}
	}
	return nil
}

// --- load ---

type loader struct {
	cfg  config
	tmp  string
	http *http.Client
	n    int
}

func newLoader(cfg config, tmp string) *loader {
	return &loader{cfg: cfg, tmp: tmp, http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: cfg.conns * 2, MaxIdleConnsPerHost: cfg.conns * 2, IdleConnTimeout: time.Minute}}}
}

// run loads t with the paths in turn for dur: a closed loop of cfg.conns connections.
func (l *loader) run(ctx context.Context, t *target, paths []string, dur time.Duration) (benchkit.Stats, error) {
	if l.cfg.load == "go" {
		return l.runGo(ctx, t, paths, dur), ctx.Err()
	}
	return l.runWrk(ctx, t, paths, dur)
}

func wrkDuration(d time.Duration) string {
	return strconv.Itoa(max(1, int(d.Round(time.Second).Seconds()))) + "s"
}

// wrkScript sends the paths in turn, each thread from its own place in the list, and
// prints a line the program reads.
const wrkScript = `local paths = {%s}
local n = #paths
local reqs = {}
local i = 0
local threads = 0
function setup(thread)
  thread:set("first", threads * 997)
  threads = threads + 1
end
function init(args)
  i = first or 0
  for k = 1, n do reqs[k] = wrk.format(nil, paths[k]) end
end
function request()
  i = i + 1
  return reqs[(i %% n) + 1]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%d %%d %%d %%d %%d %%.0f %%.0f\n", summary.requests, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(99)))
end
`

func (l *loader) runWrk(ctx context.Context, t *target, paths []string, dur time.Duration) (benchkit.Stats, error) {
	quoted := make([]string, len(paths))
	for i, p := range paths {
		quoted[i] = strconv.Quote(p)
	}
	l.n++
	script := filepath.Join(l.tmp, fmt.Sprintf("wrk-%d.lua", l.n))
	if err := os.WriteFile(script, []byte(fmt.Sprintf(wrkScript, strings.Join(quoted, ",\n"))), 0o644); err != nil {
		return benchkit.Stats{}, err
	}
	defer os.Remove(script)
	args := []string{"-t" + strconv.Itoa(l.cfg.threads), "-c" + strconv.Itoa(l.cfg.conns), "-d" + wrkDuration(dur), "--timeout", "10s", "-s", script}
	if t.header != "" {
		args = append(args, "-H", t.header)
	}
	args = append(args, t.base)
	out, err := exec.CommandContext(ctx, "wrk", args...).CombinedOutput()
	if err != nil {
		if ctx.Err() != nil {
			return benchkit.Stats{}, ctx.Err()
		}
		return benchkit.Stats{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 10 || f[0] != "RESULT" {
			continue
		}
		var v [9]float64
		for i := range v {
			if v[i], err = strconv.ParseFloat(f[i+1], 64); err != nil {
				return benchkit.Stats{}, fmt.Errorf("wrk: %q: %v", line, err)
			}
		}
		requests, micros, status := v[0], v[1], v[5]
		socket := v[2] + v[3] + v[4] + v[6]
		if micros <= 0 {
			return benchkit.Stats{}, fmt.Errorf("wrk ran for no time:\n%s", out)
		}
		return benchkit.Stats{RPS: (requests - status) / (micros / 1e6), P50: v[7] / 1000, P99: v[8] / 1000, Errors: int64(status + socket)}, nil
	}
	return benchkit.Stats{}, fmt.Errorf("wrk printed no result:\n%s", out)
}

// runGo is the built-in closed loop, for machines without wrk.
func (l *loader) runGo(ctx context.Context, t *target, paths []string, dur time.Duration) benchkit.Stats {
	var next atomic.Int64
	name, value, _ := strings.Cut(t.header, ": ")
	return benchkit.ClosedLoop(ctx, l.http, l.cfg.conns, dur, func() *http.Request {
		req, _ := http.NewRequest("GET", t.base+paths[int(next.Add(1))%len(paths)], nil)
		if name != "" {
			req.Header.Set(name, value)
		}
		return req
	})
}
