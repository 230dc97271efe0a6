package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

const tenantUsage = `usage: strata tenant <command> [flags]

Works on the databases directly (STRATA_DATABASE_URL, STRATA_DATA_DIR), or asks a
running server with --server URL (or STRATA_SERVER) and STRATA_TOKEN (a platform API
key). Every command takes --json.

  list                                        every tenant with its tags
  create SLUG [--name NAME] [--database-url URL]
  tag    SLUG key=value …                     replace the tenant's tags (none: clear them)
  delete SLUG --yes                           drop the tenant, its database and its files
`

var tenantCommands = map[string]func(*cli, *migrateFlags) (int, error){
	"list":   (*cli).tenantList,
	"create": (*cli).tenantCreate,
	"tag":    (*cli).tenantTag,
	"delete": (*cli).tenantDelete,
}

// runTenant runs `strata tenant <command>` and returns the process exit code.
func runTenant(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runCommands(ctx, "strata tenant", tenantUsage, tenantCommands, args, getenv, stdin, stdout, stderr)
}

func (c *cli) tenantList(*migrateFlags) (int, error) {
	ts, err := c.door.Tenants(c.ctx)
	if err != nil {
		return exitError, err
	}
	c.emit(map[string]any{"data": ts}, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SLUG\tDIALECT\tCREATED\tTAGS")
		for _, t := range ts {
			var tags []string
			for k, v := range t.Tags {
				tags = append(tags, k+"="+v)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Slug, t.Dialect, t.CreatedAt.Format("2006-01-02 15:04"), strings.Join(tags, ","))
		}
		tw.Flush()
	})
	return exitOK, nil
}

func (c *cli) tenantCreate(f *migrateFlags) (int, error) {
	if len(f.args) != 1 {
		return exitUsage, usagef("create takes one SLUG")
	}
	t, err := c.door.CreateTenant(c.ctx, f.args[0], f.name, f.databaseURL)
	if err != nil {
		return exitError, err
	}
	c.emit(map[string]any{"data": t}, func(w io.Writer) { fmt.Fprintf(w, "tenant %s created (%s)\n", t.Slug, t.Dialect) })
	return exitOK, nil
}

func (c *cli) tenantTag(f *migrateFlags) (int, error) {
	if len(f.args) < 1 {
		return exitUsage, usagef("tag takes a SLUG and key=value tags")
	}
	tags := map[string]string{}
	for _, kv := range f.args[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return exitUsage, usagef("%q is not key=value", kv)
		}
		tags[k] = v
	}
	t, err := c.door.TagTenant(c.ctx, f.args[0], tags)
	if err != nil {
		return exitError, err
	}
	c.emit(map[string]any{"data": t}, func(w io.Writer) { fmt.Fprintf(w, "tenant %s tagged %v\n", t.Slug, t.Tags) })
	return exitOK, nil
}

func (c *cli) tenantDelete(f *migrateFlags) (int, error) {
	if len(f.args) != 1 {
		return exitUsage, usagef("delete takes one SLUG")
	}
	if !f.yes {
		return exitUsage, usagef("deleting %s drops its database and files for good; pass --yes", f.args[0])
	}
	if err := c.door.DeleteTenant(c.ctx, f.args[0]); err != nil {
		return exitError, err
	}
	c.emit(map[string]any{"data": map[string]any{"deleted": f.args[0]}}, func(w io.Writer) { fmt.Fprintf(w, "tenant %s deleted\n", f.args[0]) })
	return exitOK, nil
}
