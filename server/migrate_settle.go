package main

import (
	"fmt"
	"io"

	"strata/modules/migration"
)

// settle runs retry, approve or reject on the named migration.
func (c *cli) settle(f *migrateFlags, verb string, do func(migration.Target, string) (*migration.Migration, error)) (int, error) {
	_, tgt, err := c.writable(f)
	if err != nil {
		return exitError, err
	}
	m, err := c.migrationArg(f, tgt)
	if err != nil {
		return exitError, err
	}
	done, err := do(tgt, m.ID)
	if err != nil {
		return exitError, err
	}
	c.emit(map[string]any{"data": done}, func(w io.Writer) {
		fmt.Fprintf(w, "%s migration %d (%s): now %s\n", verb, done.Seq, done.Name, done.Status)
	})
	return exitOK, nil
}

func (c *cli) retry(f *migrateFlags) (int, error) {
	return c.settle(f, "retried", func(tgt migration.Target, id string) (*migration.Migration, error) {
		return c.core.migration.Retry(c.ctx, tgt, id, operator())
	})
}

func (c *cli) approve(f *migrateFlags) (int, error) {
	return c.settle(f, "approved", func(tgt migration.Target, id string) (*migration.Migration, error) {
		return c.core.migration.Approve(c.ctx, tgt, id, operator())
	})
}

func (c *cli) reject(f *migrateFlags) (int, error) {
	return c.settle(f, "rejected", func(tgt migration.Target, id string) (*migration.Migration, error) {
		return c.core.migration.Reject(c.ctx, tgt, id)
	})
}

func (c *cli) resolve(f *migrateFlags) (int, error) {
	if f.as == "" || f.reason == "" {
		return exitUsage, usagef("--as executed|rolled_back and --reason are required")
	}
	_, tgt, err := c.writable(f)
	if err != nil {
		return exitError, err
	}
	m, err := c.migrationArg(f, tgt)
	if err != nil {
		return exitError, err
	}
	by := f.by
	if by == "" {
		by = operator()
	}
	done, res, err := c.core.migration.Resolve(c.ctx, tgt, migration.ResolveRequest{ID: m.ID, As: f.as, Reason: f.reason, By: by, Force: f.force})
	if err != nil {
		return exitError, err
	}
	c.emit(map[string]any{"data": map[string]any{"migration": done, "resolution": res}}, func(w io.Writer) {
		fmt.Fprintf(w, "migration %d (%s) resolved as %s by %s\n", done.Seq, done.Name, done.Status, res.ResolvedBy)
	})
	return exitOK, nil
}
