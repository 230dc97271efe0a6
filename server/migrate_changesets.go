package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"strata/modules/changeset"
	"strata/modules/controlplane"
	"strata/modules/migration"
	"strata/schema"
)

// The changeset commands of `strata migrate`: a folder of changeset files in a
// repository (./migrations by default) is the source; the control database registers
// them (a changed file under a registered name is refused, naming both checksums) and
// the fleet runs them on the tenants that lack them.

func (f *migrateFlags) changesetDir() string {
	if f.dir == "" {
		return "migrations"
	}
	return f.dir
}

// readChangesets parses every .yaml, .yml and .json file of dir, in name order.
func readChangesets(dir string) ([]*changeset.Changeset, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read the changeset folder: %w", err)
	}
	var out []*changeset.Changeset
	seen := map[string]string{}
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if e.IsDir() || (ext != ".yaml" && ext != ".yml" && ext != ".json") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		body, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		cs, err := changeset.Parse(body, ext != ".json")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if other, dup := seen[cs.Name]; dup {
			return nil, fmt.Errorf("%s and %s both name changeset %s", other, path, cs.Name)
		}
		seen[cs.Name] = path
		out = append(out, cs)
	}
	return out, nil
}

// createChangeset writes a changeset skeleton: its name is the time and NAME (so files
// sort in the order they were made), and it depends on the newest changeset already in
// the folder, so they run in that order unless the file says otherwise.
func (c *cli) createChangeset(f *migrateFlags) (int, error) {
	if len(f.args) != 1 {
		return exitUsage, usagef("create takes one NAME")
	}
	name := time.Now().UTC().Format("20060102150405") + "_" + f.args[0]
	if !changeset.ValidName(name) {
		return exitUsage, usagef("%s: %s", f.args[0], changeset.NameRule)
	}
	dir := f.changesetDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return exitError, err
	}
	existing, err := readChangesets(dir)
	if err != nil {
		return exitError, err
	}
	deps := "[]"
	if len(existing) > 0 {
		names := make([]string, len(existing))
		for i, e := range existing {
			names[i] = e.Name
		}
		slices.Sort(names)
		deps = "[" + names[len(names)-1] + "]"
	}
	var body string
	switch f.typ {
	case "", "changes":
		body = fmt.Sprintf(`name: %s
description: ""
tags: []
depends_on: %s
# Schema-API operations, run in order, each a recorded migration:
# create_table (the POST /tables body), add_column {table, column}, alter_column
# {table, column, changes}, rename_column {table, column, new_name}, drop_column,
# add_relation (the POST /relations body), drop_relation {table, name}, add_index
# {table, columns}, drop_index {table, name}, rename_table {table, new_name}, drop_table.
changes:
  - op: add_column
    table: accounts
    column: {name: plan, type: string, length: 32}
`, name, deps)
	case "sql":
		body = fmt.Sprintf(`name: %s
description: ""
tags: []
depends_on: %s
up_sql: |
  ALTER TABLE accounts ADD COLUMN plan VARCHAR(32);
down_sql: |
  ALTER TABLE accounts DROP COLUMN plan;
`, name, deps)
	default:
		return exitUsage, usagef("--type is changes or sql")
	}
	path := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		return exitError, err
	}
	c.emit(map[string]any{"data": map[string]any{"name": name, "path": path}}, func(w io.Writer) { fmt.Fprintln(w, path) })
	return exitOK, nil
}

// selectTenants turns --tenant and --tags into a fleet selection (every tenant without
// either).
func (f *migrateFlags) selectTenants(req *controlplane.Request) {
	switch {
	case f.tenant != "":
		req.Tenants = []string{f.tenant}
	case f.tags != "":
		req.TenantTags = strings.Split(f.tags, ",")
	default:
		req.AllTenants = true
	}
}

// runChangesets registers the folder's changesets and runs them, with what they depend
// on, on the selected tenants (up to --to NAME), showing progress; with --dry-run, the
// plan. The run is recorded like one started over HTTP: a server node takes it over if
// this process stops.
func (c *cli) runChangesets(f *migrateFlags) (int, error) {
	list, code, err := c.registerFolder(f)
	if err != nil {
		return code, err
	}
	req := controlplane.Request{DryRun: f.dryRun, Concurrency: f.concurrency}
	if f.toName != "" {
		if !slices.ContainsFunc(list, func(cs *changeset.Changeset) bool { return cs.Name == f.toName }) {
			return exitUsage, usagef("--to %s: no such changeset in %s", f.toName, f.changesetDir())
		}
		req.Changesets = []string{f.toName} // and what it depends on
	} else {
		for _, cs := range list {
			req.Changesets = append(req.Changesets, cs.Name)
		}
	}
	f.selectTenants(&req)
	if f.dryRun {
		plan, err := c.door.Plan(c.ctx, req)
		if err != nil {
			return exitError, err
		}
		c.emit(map[string]any{"data": map[string]any{"dry_run": true, "results": plan}}, func(w io.Writer) { printResults(w, plan, true) })
		return exitOK, nil
	}
	run, err := c.door.Start(c.ctx, req)
	if err != nil {
		return exitError, err
	}
	bar := c.progress("run", len(run.Results))
	id := run.ID
	run, err = c.door.Follow(c.ctx, id, func(r controlplane.Result) error {
		if r.Status != controlplane.ResultQueued && r.Status != controlplane.ResultRunning {
			bar.step(r.Tenant + " " + r.Changeset)
		}
		return nil
	})
	if err != nil {
		bar.done()
		if c.ctx.Err() != nil {
			return exitError, fmt.Errorf("interrupted: run %s goes on, taken over by a server node (GET /api/migrate/runs/%s)", id, id)
		}
		return exitError, err
	}
	bar.done()
	c.emit(map[string]any{"data": run}, func(w io.Writer) {
		printResults(w, run.Results, false)
		fmt.Fprintf(w, "\nrun %s: %s", run.ID, run.Status)
		if run.Error != nil {
			fmt.Fprintf(w, " (%s)", *run.Error)
		}
		fmt.Fprintln(w)
	})
	if run.Status != controlplane.RunCompleted {
		return exitError, nil
	}
	return exitOK, nil
}

// registerFolder reads the changeset folder and registers every changeset in it (a
// changed file under a registered name is refused); it returns them, or the exit code
// and error.
func (c *cli) registerFolder(f *migrateFlags) ([]*changeset.Changeset, int, error) {
	list, err := readChangesets(f.changesetDir())
	if err != nil {
		return nil, exitError, err
	}
	if len(list) == 0 {
		return nil, exitUsage, usagef("no changeset files in %s", f.changesetDir())
	}
	for _, cs := range list {
		if err := c.door.Register(c.ctx, cs); err != nil {
			return nil, exitError, fmt.Errorf("register %s: %w", cs.Name, err)
		}
	}
	return list, exitOK, nil
}

func printResults(w io.Writer, results []controlplane.Result, plan bool) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tCHANGESET\tSTATUS\tDETAIL")
	for _, r := range results {
		detail := ""
		if r.Error != nil {
			detail = *r.Error
		}
		if plan && len(r.Plan) > 0 {
			var parts []string
			for _, p := range r.Plan {
				parts = append(parts, p.Name)
			}
			detail = strings.Join(parts, "; ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Tenant, r.Changeset, r.Status, detail)
	}
	tw.Flush()
}

// changesetStatus is one tenant's line of `migrate status --dir`.
type changesetStatus struct {
	Slug    string   `json:"slug"`
	Applied []string `json:"applied"`
	Held    []string `json:"pending_approval"`
	Failed  []string `json:"failed"`
	Pending []string `json:"pending"`
	Error   string   `json:"error,omitempty"`
}

// changesetsStatus shows, per tenant, which of the folder's changesets it holds and
// which it lacks: a dry run of them all (registered first, as a run would), so it says
// what a run would do, and reads the same through a server.
func (c *cli) changesetsStatus(f *migrateFlags) (int, error) {
	list, code, err := c.registerFolder(f)
	if err != nil {
		return code, err
	}
	req := controlplane.Request{}
	for _, cs := range list {
		req.Changesets = append(req.Changesets, cs.Name)
	}
	f.selectTenants(&req)
	plan, err := c.door.Plan(c.ctx, req)
	if err != nil {
		return exitError, err
	}
	out := []changesetStatus{}
	code = exitOK
	for _, r := range plan {
		if len(out) == 0 || out[len(out)-1].Slug != r.Tenant {
			out = append(out, changesetStatus{Slug: r.Tenant, Applied: []string{}, Held: []string{}, Failed: []string{}, Pending: []string{}})
		}
		st := &out[len(out)-1]
		switch r.Status {
		case controlplane.ResultSkipped:
			st.Applied = append(st.Applied, r.Changeset)
		case controlplane.ResultPendingApproval:
			st.Held = append(st.Held, r.Changeset)
		case controlplane.ResultFailed:
			st.Failed = append(st.Failed, r.Changeset)
			if r.Error != nil {
				st.Error = strings.TrimPrefix(st.Error+"; "+r.Changeset+": "+*r.Error, "; ")
			}
			code = exitError
		default: // planned, or not run after a failure
			st.Pending = append(st.Pending, r.Changeset)
		}
	}
	c.emit(map[string]any{"data": out}, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TENANT\tAPPLIED\tPENDING\tDETAIL")
		for _, st := range out {
			detail := st.Error
			if len(st.Held) > 0 {
				detail = strings.TrimPrefix(detail+"; waiting for approval: "+strings.Join(st.Held, ", "), "; ")
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", st.Slug, len(st.Applied), strings.Join(st.Pending, ", "), detail)
		}
		tw.Flush()
	})
	return code, nil
}

// reset rolls a development tenant's schema back to its system tables: every executed
// migration a person or a changeset made is rolled back, newest first (its dependents
// with it), so the changesets can be run again. Refused without --yes, and where
// STRATA_ENV is production.
func (c *cli) reset(f *migrateFlags) (int, error) {
	if c.env == "production" {
		return exitError, errors.New("reset is refused where STRATA_ENV is production")
	}
	if f.tenant == "" {
		return exitUsage, usagef("reset needs --tenant")
	}
	if !f.yes {
		return exitUsage, usagef("reset rolls back every table, column and function of %s; pass --yes", f.tenant)
	}
	all, err := c.door.Executed(c.ctx, f.tenant)
	if err != nil {
		return exitError, err
	}
	var done []*migration.Migration
	gone := map[string]bool{}
	for i := len(all) - 1; i >= 0; i-- {
		m := all[i]
		if gone[m.ID] || m.CreatedBy == "system" || m.Type == string(schema.Rollback) || m.Type == "data" {
			continue // rolled back with a dependent already, or not a schema change to undo
		}
		rolled, err := c.door.RollBack(c.ctx, f.tenant, m.ID)
		if err != nil {
			c.reportMigrations(done)
			return exitError, fmt.Errorf("roll back migration %d (%s): %w", m.Seq, m.Name, err)
		}
		for _, r := range rolled {
			done = append(done, r)
			gone[r.RollbackOf()] = true
		}
	}
	c.reportMigrations(done)
	return exitOK, nil
}
