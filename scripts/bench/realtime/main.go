// Command realtime measures how fast row changes reach websocket subscribers.
//
//	go run ./scripts/bench/realtime -dialect postgres -subs 1000 -rate 100 -duration 10s
//
// It starts a node (and, for the split run, a second node on the same PostgreSQL
// database, so events cross the cluster bus), connects -subs subscribers to the posts
// table, then writes -rate rows a second through the REST API for -duration. Each row
// carries the time its request was sent (µs), and the server stamps created_at as it
// inserts it: latencies are given from the commit (created_at) and from the request
// to the moment a subscriber has the event. It
// prints p50/p99/max over every delivery, lost deliveries, and the server's memory per
// socket (resident set growth while connecting, from /metrics).
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"strata/scripts/bench/internal/benchkit"
)

func main() {
	dialect := flag.String("dialect", "postgres", "postgres (two nodes need its bus), or sqlite for one node")
	subs := flag.Int("subs", 1000, "subscribers")
	rate := flag.Int("rate", 100, "writes per second")
	dur := flag.Duration("duration", 10*time.Second, "write time per run")
	profile := flag.String("profile", "", "save a CPU profile of the first node during the first run to this file")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	if err := run(ctx, *dialect, *subs, *rate, *dur, *profile); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dialect string, subs, rate int, dur time.Duration, profile string) error {
	fmt.Println("building and starting the server…")
	env, err := benchkit.Start(ctx, dialect, "bench", "STRATA_WS_MAX_CONNECTIONS=100000")
	if err != nil {
		return err
	}
	defer env.Close()
	c := env.Client
	if err := c.Do("POST", env.Base+"/api/t/bench/tables", map[string]any{"name": "posts", "columns": []any{
		map[string]any{"name": "title", "type": "string"}, map[string]any{"name": "sent", "type": "bigint"},
	}}, 200, nil); err != nil {
		return err
	}
	bases := []string{env.Base}
	if dialect == "postgres" {
		second, err := env.StartNode(ctx)
		if err != nil {
			return err
		}
		bases = append(bases, second)
	}
	fmt.Printf("\n%s, %d subscribers, %d writes/s for %s, %d CPUs, %s\n\n", dialect, subs, rate, dur, runtime.NumCPU(), runtime.Version())
	fmt.Printf("| nodes | deliveries | lost | from commit p50 / p99 ms | from request p50 / p99 / max ms | server memory per socket |\n|---|---:|---:|---:|---:|---:|\n")
	for nodes := 1; nodes <= len(bases); nodes++ {
		var prof string
		if nodes == 1 {
			prof = profile
		}
		r, err := measure(ctx, env, bases[:nodes], subs, rate, dur, prof)
		if err != nil {
			return err
		}
		fmt.Printf("| %d | %d | %d | %.1f / %.1f | %.1f / %.1f / %.1f | %s |\n", nodes, r.deliveries, r.lost, r.c50, r.c99, r.p50, r.p99, r.max, r.perSocket)
	}
	return nil
}

// collector holds one subscriber's latencies.
type collector struct {
	mu          sync.Mutex
	lat, commit []float64
}

type result struct {
	deliveries, lost int
	p50, p99, max    float64
	c50, c99         float64 // from the insert (created_at) instead of the request
	perSocket        string
}

func measure(ctx context.Context, env *benchkit.Env, bases []string, subs, rate int, dur time.Duration, profile string) (*result, error) {
	before := residentBytes(bases)
	var collectors []*collector
	var received atomic.Int64
	conns := make([]*websocket.Conn, 0, subs)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	ready := make(chan struct{}, subs)
	for i := 0; i < subs; i++ {
		base := bases[i%len(bases)]
		u := "ws" + strings.TrimPrefix(base, "http") + "/api/t/bench/websocket?access_token=" + env.Client.Token
		conn, _, err := dialer.DialContext(ctx, u, nil)
		if err != nil {
			return nil, fmt.Errorf("subscriber %d: %w", i, err)
		}
		conns = append(conns, conn)
		if err := conn.WriteJSON(map[string]any{"type": "subscribe", "collection": "posts", "uid": "s", "query": map[string]any{"fields": []string{"sent", "created_at"}, "limit": 0}}); err != nil {
			return nil, err
		}
		col := &collector{}
		collectors = append(collectors, col)
		go func() {
			// The load generator shares the machine with the server: each connection
			// keeps its own figures and reuses its buffer, and looks for the few bytes
			// it needs instead of decoding every message.
			var buf bytes.Buffer
			for {
				_, r, err := conn.NextReader()
				if err != nil {
					return
				}
				buf.Reset()
				if _, err := buf.ReadFrom(r); err != nil {
					return
				}
				raw := buf.Bytes()
				now := time.Now().UnixMicro()
				switch {
				case bytes.Contains(raw, []byte(`"type":"ping"`)):
					_ = conn.WriteJSON(map[string]any{"type": "pong"})
				case bytes.Contains(raw, []byte(`"event":"init"`)):
					ready <- struct{}{}
				case bytes.Contains(raw, []byte(`"event":"create"`)):
					col.mu.Lock()
					n := 0
					for _, v := range valuesOf(raw, `"sent":`, ",}") {
						if sent, err := strconv.ParseInt(string(v), 10, 64); err == nil {
							col.lat = append(col.lat, float64(now-sent)/1e3)
							n++
						}
					}
					// created_at is stamped by the server as it inserts, just before the
					// commit: the latency from commit, within the same clock.
					for _, v := range valuesOf(raw, `"created_at":"`, `"`) {
						if at, err := time.Parse(time.RFC3339Nano, string(v)); err == nil {
							col.commit = append(col.commit, float64(now-at.UnixMicro())/1e3)
						}
					}
					col.mu.Unlock()
					received.Add(int64(n))
				}
			}
		}()
	}
	for range subs {
		select {
		case <-ready:
		case <-time.After(30 * time.Second):
			return nil, fmt.Errorf("subscribers did not all get their init")
		}
	}
	after := residentBytes(bases)
	profiled := make(chan struct{})
	if profile != "" {
		go func() { defer close(profiled); saveProfile(env.PprofAddr, dur, profile) }()
	} else {
		close(profiled)
	}
	// Write at the rate, each write on its own goroutine so a slow one does not hold
	// the schedule back.
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	stop := time.After(dur)
	var writes sync.WaitGroup
	var writeErrors atomic.Int64
	sent := 0
loop:
	for {
		select {
		case <-tick.C:
			sent++
			writes.Add(1)
			go func(i int) {
				defer writes.Done()
				body := map[string]any{"title": "p" + strconv.Itoa(i), "sent": time.Now().UnixMicro()}
				if err := env.Client.Do("POST", bases[0]+"/api/t/bench/items/posts", body, 200, nil); err != nil {
					writeErrors.Add(1)
				}
			}(sent)
		case <-stop:
			break loop
		}
	}
	writes.Wait()
	<-profiled
	if n := writeErrors.Load(); n > 0 {
		return nil, fmt.Errorf("%d of %d writes failed", n, sent)
	}
	want := int64(sent * subs)
	deadline := time.Now().Add(10 * time.Second)
	for received.Load() < want && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	var lat, commitLat []float64
	for _, c := range collectors {
		c.mu.Lock()
		lat = append(lat, c.lat...)
		commitLat = append(commitLat, c.commit...)
		c.mu.Unlock()
	}
	slices.Sort(lat)
	slices.Sort(commitLat)
	r := &result{deliveries: len(lat), lost: int(want) - len(lat)}
	if len(lat) > 0 {
		r.p50, r.p99, r.max = lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	}
	if len(commitLat) > 0 {
		r.c50, r.c99 = commitLat[len(commitLat)/2], commitLat[len(commitLat)*99/100]
	}
	if before > 0 && after > before {
		r.perSocket = fmt.Sprintf("%.1f KB", float64(after-before)/float64(subs)/1024)
	} else {
		r.perSocket = "n/a"
	}
	return r, nil
}

// valuesOf finds every value that follows key in raw, up to one of the bytes of end:
// the few bytes a delivery needs, without decoding the message.
func valuesOf(raw []byte, key, end string) [][]byte {
	var out [][]byte
	for rest := raw; ; {
		i := bytes.Index(rest, []byte(key))
		if i < 0 {
			return out
		}
		rest = rest[i+len(key):]
		j := bytes.IndexAny(rest, end)
		if j < 0 {
			return out
		}
		out = append(out, rest[:j])
	}
}

// residentBytes sums the nodes' resident memory from their /metrics.
func residentBytes(bases []string) int64 {
	var total int64
	for _, b := range bases {
		resp, err := http.Get(b + "/metrics")
		if err != nil {
			return 0
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "process_resident_memory_bytes "); ok {
				f, _ := strconv.ParseFloat(v, 64)
				total += int64(f)
			}
		}
		resp.Body.Close()
	}
	return total
}

// saveProfile records the server's CPU profile while the writes run (it starts with
// them).
func saveProfile(addr string, dur time.Duration, file string) {
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, max(1, int(dur.Seconds())-1)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, resp.Body)
}
