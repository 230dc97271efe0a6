package benchkit

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Stats is one load run: requests a second that answered 200, latency quantiles in
// milliseconds, and the requests that failed or answered otherwise.
type Stats struct {
	RPS, P50, P99 float64
	Errors        int64
}

// ClosedLoop drives a server with conns workers for dur, each sending the request
// newReq makes as soon as its last one was answered.
func ClosedLoop(ctx context.Context, hc *http.Client, conns int, dur time.Duration, newReq func() *http.Request) Stats {
	var ok, bad atomic.Int64
	var mu sync.Mutex
	var lat []float64
	start := time.Now()
	deadline := start.Add(dur)
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			var mine []float64
			for time.Now().Before(deadline) && ctx.Err() == nil {
				req := newReq().WithContext(ctx)
				t0 := time.Now()
				resp, err := hc.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != 200 {
					bad.Add(1)
					continue
				}
				mine = append(mine, float64(time.Since(t0).Microseconds())/1000)
				ok.Add(1)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(lat)
	q := func(p float64) float64 {
		if len(lat) == 0 {
			return math.NaN()
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	return Stats{RPS: float64(ok.Load()) / time.Since(start).Seconds(), P50: q(0.50), P99: q(0.99), Errors: bad.Load()}
}

// MedianRun is the run of median throughput (the zero Stats for none).
func MedianRun(runs []Stats) Stats {
	if len(runs) == 0 {
		return Stats{}
	}
	sorted := slices.Clone(runs)
	slices.SortFunc(sorted, func(a, b Stats) int { return cmp.Compare(a.RPS, b.RPS) })
	return sorted[len(sorted)/2]
}

// SaveProfile writes a CPU profile of the node serving pprof on addr, taken over most
// of dur, to path.
func SaveProfile(addr string, dur time.Duration, path string, logf func(format string, args ...any)) {
	secs := max(1, int(dur.Seconds())-1)
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs))
	if err != nil {
		logf("profile: %v", err)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		logf("profile: %v", err)
	}
}

// Target is one thing a benchmark loads: a name and the request it sends.
type Target struct {
	Name   string
	NewReq func() *http.Request
}

// Get is a target sending GET u.
func Get(name, u string) Target {
	return Target{Name: name, NewReq: func() *http.Request { r, _ := http.NewRequest("GET", u, nil); return r }}
}

// Interleave loads every target of every set for dur per round, rotating each set's
// order every round so that no target always runs first; onStart (may be nil) hears of
// each target's run before it starts. It returns each target's rounds by name.
func Interleave(ctx context.Context, hc *http.Client, conns, rounds int, dur time.Duration, sets [][]Target, onStart func(round int, t Target), logf func(format string, args ...any)) map[string][]Stats {
	results := map[string][]Stats{}
	for round := 0; round < rounds; round++ {
		for _, set := range sets {
			for i := range set {
				t := set[(i+round)%len(set)]
				if onStart != nil {
					onStart(round, t)
				}
				s := ClosedLoop(ctx, hc, conns, dur, t.NewReq)
				results[t.Name] = append(results[t.Name], s)
				logf("round %d %-38s %8.0f req/s  p50 %.2f ms  p99 %.2f ms  errors %d", round+1, t.Name, s.RPS, s.P50, s.P99, s.Errors)
			}
		}
	}
	return results
}

// Table prints a set's results as Markdown, with the ratio of each of its other
// targets to its second (the baseline) per round and over the median rounds.
func Table(title string, set []Target, results map[string][]Stats) {
	fmt.Printf("%s\n\n| target | req/s (median round) | p50 ms | p99 ms | errors | rounds (req/s) |\n|---|---:|---:|---:|---:|---|\n", title)
	for _, t := range set {
		m := MedianRun(results[t.Name])
		var each []string
		errs := int64(0)
		for _, s := range results[t.Name] {
			each = append(each, strconv.Itoa(int(s.RPS)))
			errs += s.Errors
		}
		fmt.Printf("| %s | %.0f | %.2f | %.2f | %d | %s |\n", t.Name, m.RPS, m.P50, m.P99, errs, strings.Join(each, ", "))
	}
	base := set[1].Name
	fmt.Println()
	for i, t := range set {
		if i == 1 {
			continue
		}
		var ratios []string
		for r := range results[t.Name] {
			ratios = append(ratios, fmt.Sprintf("%.2f", results[t.Name][r].RPS/results[base][r].RPS))
		}
		fmt.Printf("%s ÷ %s: **%.2f×** (per round: %s)\n", t.Name, base, MedianRun(results[t.Name]).RPS/MedianRun(results[base]).RPS, strings.Join(ratios, ", "))
	}
	fmt.Println()
}
