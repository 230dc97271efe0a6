// Command migrations measures schema changes end to end — an HTTP schema write through
// Strata's one path (lock, model load, plan, ledger row, DDL with the metadata writes,
// executed mark) — next to the bare DDL of the same change on the same database.
//
//	go run ./scripts/bench/migrations -dialects sqlite,postgres,mysql -n 50
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"strata/schema"
	"strata/scripts/bench/internal/benchkit"
)

func main() {
	dialects := flag.String("dialects", "sqlite,postgres,mysql", "comma-separated dialects")
	n := flag.Int("n", 50, "iterations of each operation")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	fmt.Printf("%d iterations, %d CPUs, %s, %s\n", *n, runtime.NumCPU(), runtime.Version(), time.Now().UTC().Format("2006-01-02"))
	for _, d := range strings.Split(*dialects, ",") {
		if err := bench(ctx, strings.TrimSpace(d), *n); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", d+":", err)
			os.Exit(1)
		}
	}
}

type timings []time.Duration

func (t timings) row(name string) string {
	s := slices.Clone(t)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000) }
	return fmt.Sprintf("| %s | %d | %s | %s | %s | %s |", name, len(s), ms(sum/time.Duration(len(s))), ms(s[len(s)/2]), ms(s[len(s)*95/100]), ms(s[len(s)-1]))
}

func (t timings) mean() float64 {
	var sum time.Duration
	for _, d := range t {
		sum += d
	}
	return float64(sum) / float64(len(t))
}

func bench(ctx context.Context, dialect string, n int) error {
	env, err := benchkit.Start(ctx, dialect, "bench")
	if err != nil {
		return err
	}
	defer env.Close()
	db, _, err := env.TenantDB(ctx, "bench", 2)
	if err != nil {
		return err
	}
	defer db.Close()
	d := db.Dialect
	api := env.Base + "/api/t/bench"
	timed := func(f func() error) (time.Duration, error) {
		t0 := time.Now()
		err := f()
		return time.Since(t0), err
	}
	var createAPI, addAPI, createRaw, addRaw timings
	cols := func(i int) []any {
		return []any{
			map[string]any{"name": "title", "type": "string"},
			map[string]any{"name": "views", "type": "integer"},
			map[string]any{"name": "published", "type": "boolean"},
		}
	}
	for i := 0; i < n; i++ {
		dt, err := timed(func() error {
			return env.Client.Do("POST", api+"/tables", map[string]any{"name": fmt.Sprintf("t_%d", i), "columns": cols(i)}, 200, nil)
		})
		if err != nil {
			return err
		}
		createAPI = append(createAPI, dt)
	}
	for i := 0; i < n; i++ {
		dt, err := timed(func() error {
			return env.Client.Do("POST", api+"/tables/t_0/columns", map[string]any{"name": fmt.Sprintf("c_%d", i), "type": "integer"}, 200, nil)
		})
		if err != nil {
			return err
		}
		addAPI = append(addAPI, dt)
	}
	// The bare DDL of the same changes: the table Strata makes (system columns included).
	typ := func(t schema.Type, length int) string { return d.ColumnType(&schema.Column{Type: t, Length: length}) }
	q := d.Quote
	for i := 0; i < n; i++ {
		ddl := "CREATE TABLE " + q(fmt.Sprintf("raw_%d", i)) + " (" + strings.Join([]string{
			q("id") + " " + typ(schema.TypeUUID, 0) + " NOT NULL", q("owner_id") + " " + typ(schema.TypeUUID, 0),
			q("created_at") + " " + typ(schema.TypeDatetime, 0) + " NOT NULL", q("updated_at") + " " + typ(schema.TypeDatetime, 0) + " NOT NULL",
			q("title") + " " + typ(schema.TypeString, 255), q("views") + " " + typ(schema.TypeInteger, 0), q("published") + " " + typ(schema.TypeBoolean, 0),
			"PRIMARY KEY (" + q("id") + ")"}, ", ") + ")"
		dt, err := timed(func() error { _, err := db.ExecContext(ctx, ddl); return err })
		if err != nil {
			return fmt.Errorf("%s: %w", ddl, err)
		}
		createRaw = append(createRaw, dt)
	}
	for i := 0; i < n; i++ {
		ddl := "ALTER TABLE " + q("raw_0") + " ADD COLUMN " + q(fmt.Sprintf("c_%d", i)) + " " + typ(schema.TypeInteger, 0)
		dt, err := timed(func() error { _, err := db.ExecContext(ctx, ddl); return err })
		if err != nil {
			return fmt.Errorf("%s: %w", ddl, err)
		}
		addRaw = append(addRaw, dt)
	}
	fmt.Printf("\n### %s\n\n| operation | n | mean ms | p50 ms | p95 ms | max ms |\n|---|---:|---:|---:|---:|---:|\n", dialect)
	fmt.Println(createAPI.row("create table through Strata (HTTP)"))
	fmt.Println(createRaw.row("bare CREATE TABLE"))
	fmt.Println(addAPI.row("add column through Strata (HTTP)"))
	fmt.Println(addRaw.row("bare ALTER TABLE ADD COLUMN"))
	fmt.Printf("\nStrata / bare (mean): create table %.1fx, add column %.1fx\n", createAPI.mean()/createRaw.mean(), addAPI.mean()/addRaw.mean())
	return nil
}
