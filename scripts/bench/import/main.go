// Command import measures POST /utils/import/{table}: a CSV of n generated rows of about
// 200 bytes streamed to the server (chunked, made as it is sent), all or nothing and
// partial, into a table that keeps activity and revisions and one that keeps none. It
// reports rows a second and how much the server process's resident memory grew while
// it ran (VmRSS of the server's own process, sampled every 10 ms):
//
//	go run ./scripts/bench/import                       # 100 000 rows, SQLite
//	go run ./scripts/bench/import -dialect postgres -n 200000
//
// Markdown to stdout, progress to stderr.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"strata/scripts/bench/internal/benchkit"
)

func main() {
	n := flag.Int("n", 100_000, "rows per import")
	dialect := flag.String("dialect", "sqlite", "Strata's database: sqlite, postgres or mysql")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *dialect, *n); err != nil {
		fmt.Fprintln(os.Stderr, "import bench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

// rows is a CSV file of n rows, made as it is read.
type rows struct {
	n, i int
	buf  []byte
	size int64
}

func (r *rows) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		switch {
		case r.i == 0 && r.size == 0:
			r.buf = []byte("title,body,n,amount,flag\n")
		case r.i < r.n:
			r.buf = fmt.Appendf(nil, "title %07d,%s,%d,%d.5,%t\n", r.i, strings.Repeat(string(rune('a'+r.i%26)), 150), r.i, r.i, r.i%2 == 0)
			r.i++
		default:
			return 0, io.EOF
		}
	}
	k := copy(p, r.buf)
	r.buf = r.buf[k:]
	r.size += int64(k)
	return k, nil
}

// resident is a process's resident memory in bytes.
func resident(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func run(ctx context.Context, dialect string, n int) error {
	logf("starting Strata…")
	env, err := benchkit.Start(ctx, dialect, "bench")
	if err != nil {
		return err
	}
	defer env.Close()
	api := env.Base + "/api/t/bench"
	c := env.Client
	pid := env.PIDs[0]
	fmt.Printf("### Import of %d CSV rows (about 200 bytes each), streamed; Strata on %s\n\n", n, dialect)
	fmt.Println("| table keeps | mode | rows/s | seconds | file MB | server resident before MB | growth MB |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|")
	for i, tc := range []struct{ accountability, mode string }{{"all", "all or nothing"}, {"all", "partial"}, {"none", "all or nothing"}, {"none", "partial"}} {
		table := fmt.Sprintf("t%d", i)
		if err := c.Do("POST", api+"/tables", map[string]any{"name": table, "accountability": tc.accountability, "columns": []any{
			map[string]any{"name": "title", "type": "string"}, map[string]any{"name": "body", "type": "text"},
			map[string]any{"name": "n", "type": "integer"}, map[string]any{"name": "amount", "type": "float"},
			map[string]any{"name": "flag", "type": "boolean"}}}, 200, nil); err != nil {
			return err
		}
		u := api + "/utils/import/" + table
		if tc.mode == "partial" {
			u += "?partial=true"
		}
		file := &rows{n: n}
		req, _ := http.NewRequestWithContext(ctx, "POST", u, file)
		req.Header.Set("Content-Type", "text/csv")
		req.Header.Set("Authorization", "Bearer "+c.Token)
		before := resident(pid)
		peak := before
		done := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			for {
				peak = max(peak, resident(pid))
				select {
				case <-done:
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}()
		logf("%s, %s…", tc.accountability, tc.mode)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			close(done)
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		close(done)
		<-sampled
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte(fmt.Sprintf(`"imported":%d`, n))) {
			return fmt.Errorf("import into %s: %d %s", table, resp.StatusCode, body)
		}
		fmt.Printf("| %s | %s | %.0f | %.2f | %.1f | %.1f | %.1f |\n", tc.accountability, tc.mode, float64(n)/took.Seconds(), took.Seconds(),
			float64(file.size)/1e6, float64(before)/1e6, float64(peak-before)/1e6)
	}
	fmt.Println()
	return nil
}
