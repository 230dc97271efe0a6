package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"strata/modules/tenant"
)

// system upgrades every tenant's system tables, reporting each tenant.
func (c *cli) system(f *migrateFlags) (int, error) {
	ts, err := c.core.tenants.List(c.ctx)
	if err != nil {
		return exitError, err
	}
	bar := c.progress("system upgrade", len(ts))
	var results []map[string]any
	failed := c.core.tenants.UpgradeSystem(c.ctx, func(r tenant.UpgradeResult) {
		row := map[string]any{"slug": r.Slug, "created": nonNilStrings(r.Created), "status": "up to date"}
		if len(r.Created) > 0 {
			row["status"] = "upgraded"
		}
		if r.Err != nil {
			row["status"], row["error"] = "failed", r.Err.Error()
		}
		results = append(results, row)
		bar.step(r.Slug)
	})
	bar.done()
	if err := failed[""]; err != nil {
		return exitError, err
	}
	slices.SortFunc(results, func(a, b map[string]any) int { return strings.Compare(a["slug"].(string), b["slug"].(string)) })
	c.emit(map[string]any{"data": results}, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "TENANT\tSTATUS\tDETAIL")
		for _, r := range results {
			detail := strings.Join(r["created"].([]string), ", ")
			if e, ok := r["error"].(string); ok {
				detail = e
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", r["slug"], r["status"], detail)
		}
		tw.Flush()
		fmt.Fprintf(w, "%d tenants, %d failed\n", len(results), len(failed))
	})
	if len(failed) > 0 {
		return exitError, nil
	}
	return exitOK, nil
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
