package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"strata/modules/template"
)

const templateUsage = `usage: strata template <command> [flags]

Works on the databases directly (STRATA_DATABASE_URL, STRATA_DATA_DIR) with the
template in STRATA_TEMPLATE_DIR. Every command takes --json.

  plan [--tenant SLUG]    what the next boot would do to every tenant (or one): the
                          schema steps with their SQL (destructive ones marked), the
                          entries already done, and the data files it would apply
`

var templateCommands = map[string]func(*cli, *migrateFlags) (int, error){
	"plan": (*cli).templatePlan,
}

// runTemplate runs `strata template <command>` and returns the process exit code.
func runTemplate(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runCommands(ctx, "strata template", templateUsage, templateCommands, args, getenv, stdin, stdout, stderr)
}

// templatePlan previews the template on every tenant (or one), changing nothing: exit 0
// when nothing is to do, 3 when a boot would change something, 1 when a tenant cannot
// be brought up to date.
func (c *cli) templatePlan(f *migrateFlags) (int, error) {
	if c.core.template == nil {
		return exitUsage, usagef("no template: set STRATA_TEMPLATE_DIR to the template's folder")
	}
	var plans []*template.Plan
	failed := map[string]string{}
	if f.tenant != "" {
		t, _, err := c.lookup(f.tenant)
		if err != nil {
			return exitError, err
		}
		plan, err := c.core.runTemplate(c.ctx, t, true)
		if err != nil {
			return exitError, err
		}
		plans = append(plans, plan)
	} else {
		errs := c.core.applyTemplate(c.ctx, true, func(slug string, plan *template.Plan, err error) {
			if err != nil {
				failed[slug] = err.Error()
				return
			}
			plans = append(plans, plan)
		})
		if err := errs[""]; err != nil {
			return exitError, err
		}
	}
	slices.SortFunc(plans, func(a, b *template.Plan) int { return strings.Compare(a.Tenant, b.Tenant) })
	pending := false
	for _, p := range plans {
		pending = pending || len(p.Steps) > 0 || len(p.Data) > 0
	}
	c.emit(map[string]any{"data": plans, "failed": failed}, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "TENANT\tSTEP\tFROM\tNOTE")
		for _, p := range plans {
			if len(p.Steps) == 0 && len(p.Data) == 0 {
				fmt.Fprintf(tw, "%s\t-\t\tup to date (%d entries already done)\n", p.Tenant, len(p.Skipped))
			}
			for _, st := range p.Steps {
				note := ""
				if st.Destructive {
					note = "DESTRUCTIVE"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Tenant, st.Name, st.At, note)
			}
			for _, d := range p.Data {
				note := d.Note
				if d.Report != nil {
					note = fmt.Sprintf("%d tables written, %d deletions, %d tables emptied", len(d.Report.Tables), len(d.Report.Deleted), len(d.Report.Emptied))
				}
				fmt.Fprintf(tw, "%s\tdata\t%s\t%s\n", p.Tenant, d.File, note)
			}
		}
		for slug, e := range failed {
			fmt.Fprintf(tw, "%s\tFAILED\t\t%s\n", slug, e)
		}
		tw.Flush()
	})
	switch {
	case len(failed) > 0:
		return exitError, errors.New("some tenants cannot be brought up to date")
	case pending:
		return exitDrift, nil
	}
	return exitOK, nil
}
