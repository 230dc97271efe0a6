package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"strata/modules/migration"
	"strata/schema"
)

// rollback undoes one migration (with --cascade, its dependents first), the last N
// (--steps) or every one after a seq (--to), newest first. What a rollback removes is
// confirmed: by --yes, or by answering the question on a terminal.
func (c *cli) rollback(f *migrateFlags) (int, error) {
	chosen := 0
	if len(f.args) > 0 {
		chosen++
	}
	if f.steps != 0 {
		chosen++
	}
	if f.to != 0 {
		chosen++
	}
	if chosen != 1 || f.steps < 0 || f.to < 0 {
		return exitUsage, usagef("name one migration, or --steps N, or --to SEQ")
	}
	_, tgt, err := c.writable(f)
	if err != nil {
		return exitError, err
	}
	var targets []migration.Migration
	if len(f.args) > 0 {
		m, err := c.migrationArg(f, tgt)
		if err != nil {
			return exitError, err
		}
		targets = []migration.Migration{*m}
	} else if targets, err = migration.RollbackTargets(c.ctx, tgt.DB, tgt.Dialect, f.steps, f.to); err != nil {
		return exitError, err
	}
	if len(targets) == 0 {
		c.emit(map[string]any{"data": map[string]any{"migrations": []any{}}}, func(w io.Writer) { fmt.Fprintln(w, "nothing to roll back") })
		return exitOK, nil
	}
	if f.dryRun && len(targets) > 1 {
		// Each rollback is planned against the schema the ones before it leave, so only
		// the list can be shown without running them.
		c.emit(map[string]any{"data": map[string]any{"dry_run": true, "targets": targets}}, func(w io.Writer) {
			fmt.Fprintln(w, "would roll back, newest first:")
			printMigrations(w, targets, c.whoFor(tgt, targets...))
		})
		return exitOK, nil
	}
	var done []*migration.Migration
	bar := c.progress("rollback", len(targets))
	for _, m := range targets {
		req := migration.RollbackRequest{ID: m.ID, Cascade: f.cascade, DryRun: f.dryRun, CreatedBy: operator()}
		results, err := c.core.migration.Rollback(c.ctx, tgt, req)
		var cr *migration.ConfirmRequiredError
		if errors.As(err, &cr) {
			bar.pause()
			if !c.confirm(fmt.Sprintf("rolling back migration %d (%s) removes: %s", m.Seq, m.Name, describeRemoval(cr.Removal)), f.yes) {
				return exitError, fmt.Errorf("rollback of migration %d not confirmed; nothing more was changed (pass --yes to confirm)", m.Seq)
			}
			req.ConfirmHash, req.ConfirmToken = cr.Hash, cr.Token
			results, err = c.core.migration.Rollback(c.ctx, tgt, req)
		}
		if err != nil {
			bar.done()
			c.reportMigrations(done)
			return exitError, err
		}
		done = append(done, migration.Migrations(results)...)
		bar.step(fmt.Sprintf("%d %s", m.Seq, m.Name))
	}
	bar.done()
	if f.dryRun {
		c.emit(map[string]any{"data": map[string]any{"dry_run": true, "migrations": done}}, func(w io.Writer) {
			for _, m := range done {
				fmt.Fprintf(w, "-- would run: %s\n%s\n\n", m.Name, strings.TrimSpace(m.UpSQL))
			}
		})
		return exitOK, nil
	}
	c.reportMigrations(done)
	return exitOK, nil
}

func (c *cli) reportMigrations(done []*migration.Migration) {
	c.emit(map[string]any{"data": map[string]any{"migrations": done}}, func(w io.Writer) {
		for _, m := range done {
			fmt.Fprintf(w, "migration %d: %s (%s)\n", m.Seq, m.Name, m.Status)
		}
	})
}

func describeRemoval(r schema.Removal) string {
	var parts []string
	if len(r.DroppedTables) > 0 {
		parts = append(parts, "tables "+strings.Join(r.DroppedTables, ", "))
	}
	if len(r.RemovedColumns) > 0 {
		parts = append(parts, "columns "+strings.Join(r.RemovedColumns, ", "))
	}
	if r.RemovedRelations > 0 {
		parts = append(parts, fmt.Sprintf("%d relations", r.RemovedRelations))
	}
	if len(r.Narrowing) > 0 {
		parts = append(parts, fmt.Sprintf("%d narrowed columns", len(r.Narrowing)))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, "; ") + " (dropped data stays in the trash until purged)"
}

// confirm asks a yes/no question on a terminal; without one, only --yes says yes.
func (c *cli) confirm(question string, yes bool) bool {
	if yes {
		return true
	}
	if !c.tty || c.json {
		fmt.Fprintln(c.errOut, question)
		return false
	}
	fmt.Fprintf(c.errOut, "%s\nproceed? [y/N] ", question)
	line, _ := c.in.ReadString('\n')
	answer := strings.ToLower(strings.TrimSpace(line))
	return answer == "y" || answer == "yes"
}
