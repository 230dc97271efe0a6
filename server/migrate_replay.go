package main

import (
	"fmt"
	"io"

	"strata/modules/migration"
)

// replay brings --tenant up to date with --from's history (creating it with --create),
// with a progress bar on a terminal.
func (c *cli) replay(f *migrateFlags) (int, error) {
	if f.tenant == "" || f.from == "" || f.tenant == f.from {
		return exitUsage, usagef("--tenant (the target) and --from (the source) must name two tenants")
	}
	if f.upTo < 0 {
		return exitUsage, usagef("--up-to must be a positive seq")
	}
	_, source, err := c.lookup(f.from)
	if err != nil {
		return exitError, err
	}
	switch {
	case f.create:
		if _, err := c.core.tenants.CreateSandbox(c.ctx, source, f.upTo, f.tenant, "", f.databaseURL); err != nil {
			return exitError, err
		}
	case f.databaseURL != "":
		return exitUsage, usagef("--database-url goes with --create")
	default:
		if err := migration.CheckSource(c.ctx, source, f.upTo); err != nil {
			return exitError, err
		}
	}
	_, target, err := c.writable(f)
	if err != nil {
		return exitError, err
	}
	pending, skipped, err := c.core.migration.CheckReplay(c.ctx, source, target, f.upTo)
	if err != nil {
		return exitError, err
	}
	bar := c.progress("replay "+f.from+" → "+f.tenant, pending)
	report, err := c.core.migration.Replay(c.ctx, source, target, migration.ReplayOptions{UpTo: f.upTo, Progress: func(p migration.ReplayProgress) {
		bar.step(fmt.Sprintf("%d %s", p.Step.SourceSeq, p.Step.Name))
	}})
	bar.done()
	if err != nil {
		return exitError, err
	}
	c.emit(map[string]any{"data": report}, func(w io.Writer) {
		fmt.Fprintf(w, "replayed %d migrations from %s into %s (%d already there)\n", report.Applied, f.from, f.tenant, skipped)
		if !report.Complete && len(report.Steps) > 0 {
			last := report.Steps[len(report.Steps)-1]
			fmt.Fprintf(w, "stopped at the source's migration %d (%s): %s\nrun the same command again to resume once it is fixed\n", last.SourceSeq, last.Name, last.Error)
		}
	})
	if !report.Complete {
		return exitError, nil
	}
	return exitOK, nil
}

func (c *cli) drift(f *migrateFlags) (int, error) {
	_, tgt, err := c.tenantTarget(f)
	if err != nil {
		return exitError, err
	}
	diff, err := migration.Drift(c.ctx, tgt.DB, tgt.Dialect)
	if err != nil {
		return exitError, err
	}
	c.emit(map[string]any{"data": map[string]any{"in_sync": len(diff) == 0, "differences": diff}}, func(w io.Writer) {
		if len(diff) == 0 {
			fmt.Fprintln(w, "in sync: the live schema is what the metadata says")
			return
		}
		fmt.Fprintf(w, "%d differences between the live schema and the metadata:\n", len(diff))
		for _, d := range diff {
			fmt.Fprintln(w, "  "+d)
		}
	})
	if len(diff) > 0 {
		return exitDrift, nil
	}
	return exitOK, nil
}
