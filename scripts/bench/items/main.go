// Command items benchmarks Strata's generated items API against a minimal hand-written
// Fiber endpoint (pgx on PostgreSQL, database/sql on SQLite) running the same SQL on the
// same table, under the same closed-loop load.
//
//	go run ./scripts/bench/items -dialect postgres -rows 100000 -conns 32 -duration 10s
//
// Scenarios: (a) GET /items/posts?filter={"views":{"_gt":500}}&sort=-views&limit=20 with
// an index on views, (b) GET /items/posts/{id}, (c) POST /items/posts. It prints
// requests/s and latency per scenario and the ratio Strata / hand-written. Everything
// runs on 127.0.0.1 and stops by itself.
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"strata/modules/database"
	"strata/scripts/bench/internal/benchkit"
)

func main() {
	dialect := flag.String("dialect", "postgres", "postgres or sqlite")
	rows := flag.Int("rows", 100000, "rows in the posts table")
	conns := flag.Int("conns", 32, "concurrent connections of the load generator")
	dur := flag.Duration("duration", 10*time.Second, "load time per scenario, target and round")
	rounds := flag.Int("rounds", 3, "rounds per scenario, Strata and the hand-written endpoint taking turns")
	profile := flag.String("profile", "", "directory to save a CPU profile of Strata during each scenario")
	rule := flag.Bool("rule", false, "also run Strata as a signed-in user whose reads go through a row rule, to measure permission evaluation")
	gqlOnly := flag.Bool("graphql", false, "compare scenario (a) as a GraphQL query with the same REST request instead of the three scenarios")
	serveHand := flag.String("serve-hand", "", "internal: serve the hand-written endpoint on this address for -tenant-url")
	tenantURLFlag := flag.String("tenant-url", "", "internal: the tenant database for -serve-hand")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	if *serveHand != "" {
		// The baseline runs in a process of its own, like Strata, so neither shares a
		// scheduler with the load generator.
		if err := serveHandWritten(ctx, *dialect, *tenantURLFlag, *serveHand); err != nil {
			fmt.Fprintln(os.Stderr, "hand-written:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, *dialect, *rows, *conns, *dur, max(1, *rounds), *profile, *rule, *gqlOnly); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dialect string, rows, conns int, dur time.Duration, rounds int, profile string, rule, gqlOnly bool) error {
	fmt.Printf("building and starting the server…\n")
	env, err := benchkit.Start(ctx, dialect, "bench", "STRATA_TENANT_POOL_MAX=32")
	if err != nil {
		return err
	}
	defer env.Close()
	base, pprofAddr := env.Base, env.PprofAddr
	c := benchkit.NewClient(conns * 2)
	c.Token = env.Client.Token
	if err := c.Do("POST", base+"/api/t/bench/tables", map[string]any{"name": "posts", "columns": []any{
		map[string]any{"name": "title", "type": "string", "nullable": false},
		map[string]any{"name": "body", "type": "text"},
		map[string]any{"name": "views", "type": "integer", "index": true},
		map[string]any{"name": "published", "type": "boolean"},
	}}, 200, nil); err != nil {
		return err
	}

	tdb, tenantURL, err := env.TenantDB(ctx, "bench", 32)
	if err != nil {
		return err
	}
	defer tdb.Close()
	fmt.Printf("loading %d rows…\n", rows)
	ids, err := load(ctx, tdb, rows)
	if err != nil {
		return err
	}

	// The hand-written endpoint on the same database, in its own process.
	hand := benchkit.FreeAddr()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	hw := exec.CommandContext(ctx, self, "-dialect", dialect, "-serve-hand", hand, "-tenant-url", tenantURL)
	hw.Stdout, hw.Stderr = os.Stderr, os.Stderr
	if err := hw.Start(); err != nil {
		return err
	}
	defer func() { _ = hw.Process.Kill(); _ = hw.Wait() }()
	if err := benchkit.WaitUp(ctx, "http://"+hand+"/healthz"); err != nil {
		return err
	}

	var user *benchkit.Client
	if rule {
		if user, err = ruleUser(c, base, conns); err != nil {
			return err
		}
	}
	pick := func() string { return ids[mrand.IntN(len(ids))] }
	filter := url.Values{"filter": {`{"views":{"_gt":500}}`}, "sort": {"-views"}, "limit": {"20"}}.Encode()
	scenarios := []struct {
		name          string
		strata, handw func() (string, string, []byte)
	}{
		{"(a) filter+sort+limit", func() (string, string, []byte) { return "GET", base + "/api/t/bench/items/posts?" + filter, nil },
			func() (string, string, []byte) { return "GET", "http://" + hand + "/posts?min=500", nil }},
		{"(b) get by id", func() (string, string, []byte) { return "GET", base + "/api/t/bench/items/posts/" + pick(), nil },
			func() (string, string, []byte) { return "GET", "http://" + hand + "/posts/" + pick(), nil }},
		{"(c) create", func() (string, string, []byte) {
			return "POST", base + "/api/t/bench/items/posts", []byte(fmt.Sprintf(`{"title":"new","views":%d,"published":true}`, mrand.IntN(1000)))
		}, func() (string, string, []byte) {
			return "POST", "http://" + hand + "/posts", []byte(fmt.Sprintf(`{"title":"new","views":%d,"published":true}`, mrand.IntN(1000)))
		}},
	}
	if gqlOnly {
		return compareGraphQL(ctx, c, base, filter, dialect, rows, conns, dur)
	}
	fmt.Printf("\n%s, %d rows, %d connections, %s per run, %d rounds, %d CPUs, %s\n\n", dialect, rows, conns, dur, rounds, runtime.NumCPU(), runtime.Version())
	fmt.Printf("| scenario | target | req/s (median) | p50 ms | p99 ms | errors | Strata / hand-written per round | median |\n|---|---|---:|---:|---:|---:|---|---:|\n")
	for _, s := range scenarios {
		// Warm both up, then measure them in turns, the order flipped every round, so a
		// noisy moment of the shared machine falls on both alike.
		_ = load1(ctx, c, s.strata, conns, time.Second)
		_ = load1(ctx, c, s.handw, conns, time.Second)
		var rs, rh, ru []benchkit.Stats
		var ratios []float64
		for round := range rounds {
			strata := func() {
				done := make(chan struct{})
				go func() {
					defer close(done)
					if profile != "" && round == 0 {
						saveProfile(pprofAddr, dur, filepath.Join(profile, strings.Fields(s.name)[0]+".pprof"))
					}
				}()
				rs = append(rs, load1(ctx, c, s.strata, conns, dur))
				<-done
			}
			hand := func() { rh = append(rh, load1(ctx, c, s.handw, conns, dur)) }
			if round%2 == 0 {
				strata()
				hand()
			} else {
				hand()
				strata()
			}
			ratios = append(ratios, rs[round].RPS/rh[round].RPS)
			if user != nil {
				ru = append(ru, load1(ctx, user, s.strata, conns, dur))
			}
		}
		per := make([]string, len(ratios))
		for i, r := range ratios {
			per[i] = fmt.Sprintf("%.0f%%", 100*r)
		}
		ms, mh := benchkit.MedianRun(rs), benchkit.MedianRun(rh)
		fmt.Printf("| %s | Strata | %.0f | %.2f | %.2f | %d | %s | %.0f%% |\n", s.name, ms.RPS, ms.P50, ms.P99, ms.Errors, strings.Join(per, ", "), 100*medianOf(ratios))
		fmt.Printf("| %s | hand-written | %.0f | %.2f | %.2f | %d | | |\n", s.name, mh.RPS, mh.P50, mh.P99, mh.Errors)
		if user != nil {
			mu := benchkit.MedianRun(ru)
			fmt.Printf("| %s | Strata, user with row rule | %.0f | %.2f | %.2f | %d | | %.0f%% (rule cost %.1f%%) |\n", s.name, mu.RPS, mu.P50, mu.P99, mu.Errors,
				100*mu.RPS/mh.RPS, 100*(1-mu.RPS/ms.RPS))
		}
	}
	return nil
}

// ruleUser signs up a user whose role reads and creates posts under a row rule that
// every row satisfies, so the answers match the admin's and only the evaluation costs.
func ruleUser(c *benchkit.Client, base string, conns int) (*benchkit.Client, error) {
	api := base + "/api/t/bench"
	if err := c.Do("PATCH", api+"/settings", map[string]any{"allow_signup": true}, 200, nil); err != nil {
		return nil, err
	}
	var roles struct {
		Data []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"data"`
	}
	if err := c.Do("GET", api+"/roles", nil, 200, &roles); err != nil {
		return nil, err
	}
	role := ""
	for _, r := range roles.Data {
		if r.Name == "authenticated" {
			role = r.ID
		}
	}
	for _, p := range []map[string]any{
		{"role": role, "collection": "posts", "action": "read", "permissions": map[string]any{"views": map[string]any{"_gte": 0}}},
		{"role": role, "collection": "posts", "action": "create"},
	} {
		if err := c.Do("POST", api+"/permissions", p, 200, nil); err != nil {
			return nil, err
		}
	}
	anon := &benchkit.Client{HTTP: c.HTTP}
	if err := anon.Do("POST", api+"/users/register", map[string]any{"email": "bench@example.com", "password": "bench-pass-123"}, 204, nil); err != nil {
		return nil, err
	}
	var login struct {
		Data struct {
			AccessToken string `json:"access_token"`
		} `json:"data"`
	}
	if err := anon.Do("POST", api+"/auth/login", map[string]any{"email": "bench@example.com", "password": "bench-pass-123"}, 200, &login); err != nil {
		return nil, err
	}
	u := benchkit.NewClient(conns * 2)
	u.Token = login.Data.AccessToken
	return u, nil
}

// load inserts rows with views spread over 0..999 so the filter selects about half.
func load(ctx context.Context, db *database.DB, n int) ([]string, error) {
	d := db.Dialect
	var ids []string
	now := d.TimeValue(time.Now())
	const batch = 500
	cols := "(" + strings.Join([]string{d.Quote("id"), d.Quote("created_at"), d.Quote("updated_at"), d.Quote("title"), d.Quote("body"), d.Quote("views"), d.Quote("published")}, ", ") + ")"
	for start := 0; start < n; start += batch {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return nil, err
		}
		var ph []string
		var args []any
		for i := start; i < min(start+batch, n); i++ {
			id := uuid.Must(uuid.NewV7()).String()
			if len(ids) < 5000 {
				ids = append(ids, id)
			}
			ph = append(ph, "(?, ?, ?, ?, ?, ?, ?)")
			args = append(args, id, now, now, fmt.Sprintf("post %d", i), "lorem ipsum dolor sit amet", i%1000, d.BoolValue(i%2 == 0))
		}
		if _, err := tx.ExecContext(ctx, d.Rebind("INSERT INTO "+d.Quote("posts")+" "+cols+" VALUES "+strings.Join(ph, ", ")), args...); err != nil {
			tx.Rollback()
			return nil, err
		}
		if err := tx.Commit(); err != nil {
			return nil, err
		}
	}
	if _, err := db.ExecContext(ctx, "ANALYZE"); err != nil && d.Name() != "mysql" {
		return nil, err
	}
	return ids, nil
}

// serveHandWritten serves the three scenarios with the same SQL Strata runs, written by
// hand: no metadata, no query parsing, no auth. It is the ceiling Strata is measured
// against. It serves until ctx ends.
func serveHandWritten(ctx context.Context, dialect, tenantURL, addr string) error {
	sqlDB, err := database.Open(ctx, tenantURL, database.Pool{MaxOpen: 32, MaxIdle: 32})
	if err != nil {
		return err
	}
	defer sqlDB.Close()
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.SendString("ok") })
	cols := `t0."id", t0."owner_id", t0."created_at", t0."updated_at", t0."title", t0."body", t0."views", t0."published"`
	listSQL := `SELECT ` + cols + ` FROM "posts" t0 WHERE t0."views" > $1 ORDER BY t0."views" DESC, t0."id" DESC LIMIT $2 OFFSET $3`
	oneSQL := `SELECT ` + cols + ` FROM "posts" t0 WHERE t0."id" IN ($1) ORDER BY t0."id" ASC LIMIT $2 OFFSET $3`
	insertSQL := `INSERT INTO "posts" ("id", "owner_id", "created_at", "updated_at", "published", "title", "views") VALUES ($1, $2, $3, $4, $5, $6, $7)`
	type post struct {
		ID        string    `json:"id"`
		OwnerID   *string   `json:"owner_id"`
		CreatedAt time.Time `json:"created_at"`
		UpdatedAt time.Time `json:"updated_at"`
		Title     string    `json:"title"`
		Body      *string   `json:"body"`
		Views     *int64    `json:"views"`
		Published *bool     `json:"published"`
	}
	var query func(ctx context.Context, q string, args ...any) ([]post, error)
	var exec func(ctx context.Context, q string, args ...any) error
	switch dialect {
	case "postgres":
		cfg, err := pgxpool.ParseConfig(tenantURL)
		if err != nil {
			return err
		}
		cfg.MaxConns = 32
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return err
		}
		query = func(ctx context.Context, q string, args ...any) ([]post, error) {
			rows, err := pool.Query(ctx, q, args...)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			var out []post
			for rows.Next() {
				var p post
				var id uuid.UUID
				var owner *uuid.UUID
				if err := rows.Scan(&id, &owner, &p.CreatedAt, &p.UpdatedAt, &p.Title, &p.Body, &p.Views, &p.Published); err != nil {
					return nil, err
				}
				p.ID = id.String()
				if owner != nil {
					s := owner.String()
					p.OwnerID = &s
				}
				out = append(out, p)
			}
			return out, rows.Err()
		}
		exec = func(ctx context.Context, q string, args ...any) error {
			_, err := pool.Exec(ctx, q, args...)
			return err
		}
	default:
		db := sqlDB.DB
		query = func(ctx context.Context, q string, args ...any) ([]post, error) {
			rows, err := db.QueryContext(ctx, strings.NewReplacer("$1", "?", "$2", "?", "$3", "?").Replace(q), args...)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			var out []post
			for rows.Next() {
				var p post
				var created, updated any
				var owner sql.NullString
				if err := rows.Scan(&p.ID, &owner, &created, &updated, &p.Title, &p.Body, &p.Views, &p.Published); err != nil {
					return nil, err
				}
				// Decode the timestamps as Strata does: the baseline must do the same work.
				if p.CreatedAt, err = sqliteTime(created); err != nil {
					return nil, err
				}
				if p.UpdatedAt, err = sqliteTime(updated); err != nil {
					return nil, err
				}
				if owner.Valid {
					p.OwnerID = &owner.String
				}
				out = append(out, p)
			}
			return out, rows.Err()
		}
		exec = func(ctx context.Context, q string, args ...any) error {
			_, err := db.ExecContext(ctx, strings.NewReplacer("$1", "?", "$2", "?", "$3", "?", "$4", "?", "$5", "?", "$6", "?", "$7", "?").Replace(q), args...)
			return err
		}
	}
	app.Get("/posts", func(c *fiber.Ctx) error {
		ps, err := query(c.UserContext(), listSQL, c.QueryInt("min"), 20, 0)
		if err != nil {
			return err
		}
		return c.JSON(fiber.Map{"data": ps})
	})
	app.Get("/posts/:id", func(c *fiber.Ctx) error {
		ps, err := query(c.UserContext(), oneSQL, c.Params("id"), 1, 0)
		if err != nil {
			return err
		}
		if len(ps) == 0 {
			return c.SendStatus(404)
		}
		return c.JSON(fiber.Map{"data": ps[0]})
	})
	app.Post("/posts", func(c *fiber.Ctx) error {
		var in struct {
			Title     string `json:"title"`
			Views     int    `json:"views"`
			Published bool   `json:"published"`
		}
		if err := json.Unmarshal(c.Body(), &in); err != nil {
			return c.SendStatus(400)
		}
		id := uuid.Must(uuid.NewV7()).String()
		now := time.Now().UTC()
		var ts any = now
		if dialect == "sqlite" {
			ts = now.Format("2006-01-02T15:04:05.000000Z")
		}
		if err := exec(c.UserContext(), insertSQL, id, nil, ts, ts, in.Published, in.Title, in.Views); err != nil {
			return err
		}
		// Read it back, as Strata does, so both answer with the stored row.
		ps, err := query(c.UserContext(), oneSQL, id, 1, 0)
		if err != nil || len(ps) == 0 {
			return errors.Join(err, errors.New("inserted row not found"))
		}
		return c.JSON(fiber.Map{"data": ps[0]})
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	go func() { <-ctx.Done(); _ = app.Shutdown() }()
	return app.Listener(ln)
}

// sqliteTime decodes a timestamp SQLite returns as text (or a time the driver made).
func sqliteTime(v any) (time.Time, error) {
	var text string
	switch t := v.(type) {
	case time.Time:
		return t.UTC(), nil
	case string:
		text = t
	case []byte:
		text = string(t)
	default:
		return time.Time{}, fmt.Errorf("timestamp of type %T", v)
	}
	t, err := time.Parse(time.RFC3339Nano, text)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q: %w", text, err)
	}
	return t, nil
}

// saveProfile records Strata's CPU profile for most of a run.
func saveProfile(addr string, dur time.Duration, path string) {
	secs := max(1, int(dur.Seconds())-1)
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs))
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	defer resp.Body.Close()
	_ = os.MkdirAll(filepath.Dir(path), 0o755)
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, resp.Body)
}

func medianOf(xs []float64) float64 {
	sorted := slices.Clone(xs)
	slices.Sort(sorted)
	return sorted[len(sorted)/2]
}

// load1 runs a closed loop of conns workers for dur, each sending next's request with
// the client's token.
func load1(ctx context.Context, c *benchkit.Client, next func() (string, string, []byte), conns int, dur time.Duration) benchkit.Stats {
	return benchkit.ClosedLoop(ctx, c.HTTP, conns, dur, func() *http.Request {
		method, u, body := next()
		req, _ := http.NewRequest(method, u, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+c.Token)
		return req
	})
}

func compareGraphQL(ctx context.Context, c *benchkit.Client, base, filter, dialect string, rows, conns int, dur time.Duration) error {
	query := `{ posts(filter: {views: {_gt: 500}}, sort: ["-views"], limit: 20) { id owner_id created_at updated_at title body views published } }`
	body, _ := json.Marshal(map[string]any{"query": query})
	rest := func() (string, string, []byte) { return "GET", base + "/api/t/bench/items/posts?" + filter, nil }
	gql := func() (string, string, []byte) { return "POST", base + "/api/t/bench/graphql", body }
	// The same answer, or the comparison means nothing.
	var a struct{ Data []map[string]any }
	var g struct {
		Data struct{ Posts []map[string]any }
	}
	if err := c.Do("GET", base+"/api/t/bench/items/posts?"+filter, nil, 200, &a); err != nil {
		return err
	}
	if err := c.Do("POST", base+"/api/t/bench/graphql", map[string]any{"query": query}, 200, &g); err != nil {
		return err
	}
	ra, _ := json.Marshal(a.Data)
	rg, _ := json.Marshal(g.Data.Posts)
	if !bytes.Equal(ra, rg) {
		return fmt.Errorf("REST and GraphQL answers differ:\n%s\n%s", ra, rg)
	}
	_ = load1(ctx, c, rest, conns, time.Second)
	_ = load1(ctx, c, gql, conns, time.Second)
	var bestR, bestG benchkit.Stats
	for range 2 {
		if r := load1(ctx, c, rest, conns, dur); r.RPS > bestR.RPS {
			bestR = r
		}
		if r := load1(ctx, c, gql, conns, dur); r.RPS > bestG.RPS {
			bestG = r
		}
	}
	fmt.Printf("\n%s, %d rows, %d connections, %s per run (best of 2), %d CPUs, %s\n\n", dialect, rows, conns, dur, runtime.NumCPU(), runtime.Version())
	fmt.Printf("| request | req/s | p50 ms | p99 ms | errors | GraphQL / REST |\n|---|---:|---:|---:|---:|---:|\n")
	fmt.Printf("| REST (a) filter+sort+limit | %.0f | %.2f | %.2f | %d | |\n", bestR.RPS, bestR.P50, bestR.P99, bestR.Errors)
	fmt.Printf("| GraphQL, the same rows and fields | %.0f | %.2f | %.2f | %d | %.0f%% |\n", bestG.RPS, bestG.P50, bestG.P99, bestG.Errors, 100*bestG.RPS/bestR.RPS)
	return nil
}
