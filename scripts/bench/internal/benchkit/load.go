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
