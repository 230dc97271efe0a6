package main

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"strata/modules/meta"
	"strata/modules/migration"
	"strata/modules/tenant"
)

// tenantStatus is one tenant's line of `migrate status`.
type tenantStatus struct {
	Slug          string                `json:"slug"`
	Dialect       string                `json:"dialect"`
	SchemaVersion int64                 `json:"schema_version"`
	Counts        map[string]int        `json:"counts"`
	Last          *migration.Migration  `json:"last,omitempty"`
	Unsettled     []migration.Migration `json:"unsettled"`
	Drift         []string              `json:"drift,omitempty"`
	Error         string                `json:"error,omitempty"`
}

func (c *cli) tenantStatus(t *tenant.Tenant, tgt migration.Target, drift bool) tenantStatus {
	st := tenantStatus{Slug: t.Slug, Dialect: t.Dialect, Unsettled: []migration.Migration{}}
	fail := func(err error) tenantStatus {
		st.Error = err.Error()
		return st
	}
	// Counts and the few rows shown, not the whole ledger: `status` of every tenant
	// reads this for each of them.
	var err error
	if st.Counts, err = migration.StatusCounts(c.ctx, tgt.DB, tgt.Dialect); err != nil {
		return fail(err)
	}
	total := 0
	for _, n := range st.Counts {
		total += n
	}
	for _, status := range []string{migration.StatusPending, migration.StatusRunning, migration.StatusFailed} {
		if st.Counts[status] == 0 {
			continue
		}
		list, _, err := migration.List(c.ctx, tgt.DB, tgt.Dialect, migration.ListFilter{Status: status, Limit: 100})
		if err != nil {
			return fail(err)
		}
		st.Unsettled = append(st.Unsettled, list...)
	}
	slices.SortFunc(st.Unsettled, func(a, b migration.Migration) int { return int(a.Seq - b.Seq) })
	if total > 0 {
		last, _, err := migration.List(c.ctx, tgt.DB, tgt.Dialect, migration.ListFilter{Limit: 1, Page: total})
		if err != nil {
			return fail(err)
		}
		if len(last) == 1 {
			st.Last = &last[0]
		}
	}
	for i := range st.Unsettled {
		st.Unsettled[i].Change = nil
	}
	if st.Last != nil {
		st.Last.Change = nil
	}
	if st.SchemaVersion, err = meta.Version(c.ctx, tgt.DB, tgt.Dialect); err != nil {
		return fail(err)
	}
	if drift {
		if st.Drift, err = migration.Drift(c.ctx, tgt.DB, tgt.Dialect); err != nil {
			return fail(err)
		}
	}
	return st
}

func (c *cli) status(f *migrateFlags) (int, error) {
	if f.dir != "" {
		return c.changesetsStatus(f)
	}
	if c.core == nil {
		return exitUsage, usagef("status without --dir reads the databases: run it without --server, or give --dir")
	}
	if f.tenant != "" {
		t, tgt, err := c.tenantTarget(f)
		if err != nil {
			return exitError, err
		}
		st := c.tenantStatus(t, tgt, true)
		c.emit(map[string]any{"data": st}, func(w io.Writer) {
			printStatus(w, []tenantStatus{st})
			if len(st.Unsettled) > 0 {
				fmt.Fprintln(w, "\nunsettled:")
				printMigrations(w, st.Unsettled, c.whoFor(tgt, st.Unsettled...))
			}
			if len(st.Drift) > 0 {
				fmt.Fprintln(w, "\ndrift:")
				for _, d := range st.Drift {
					fmt.Fprintln(w, "  "+d)
				}
			}
		})
		if st.Error != "" {
			return exitError, nil
		}
		return exitOK, nil
	}
	ts, err := c.core.tenants.List(c.ctx)
	if err != nil {
		return exitError, err
	}
	bar := c.progress("status", len(ts))
	out := make([]tenantStatus, 0, len(ts))
	failed := false
	for _, t := range ts {
		_, tgt, err := c.lookup(t.Slug)
		var st tenantStatus
		if err != nil {
			st = tenantStatus{Slug: t.Slug, Dialect: t.Dialect, Error: err.Error()}
		} else {
			st = c.tenantStatus(t, tgt, false)
		}
		failed = failed || st.Error != ""
		out = append(out, st)
		bar.step(t.Slug)
	}
	bar.done()
	c.emit(map[string]any{"data": out}, func(w io.Writer) { printStatus(w, out) })
	if failed {
		return exitError, nil
	}
	return exitOK, nil
}

func printStatus(w io.Writer, list []tenantStatus) {
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tDIALECT\tVERSION\tEXECUTED\tPENDING\tFAILED\tLAST")
	for _, s := range list {
		last := "-"
		if s.Last != nil {
			last = fmt.Sprintf("%d %s (%s)", s.Last.Seq, s.Last.Name, s.Last.Status)
		}
		if s.Error != "" {
			last = "error: " + s.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", s.Slug, s.Dialect, s.SchemaVersion,
			s.Counts[migration.StatusExecuted], s.Counts[migration.StatusPending], s.Counts[migration.StatusFailed], last)
	}
	tw.Flush()
}
