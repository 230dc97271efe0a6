package main

import (
	"database/sql"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"strata/modules/migration"
	"strata/schema"
)

// whoFor reads the emails of the users and platform admins who made migrations, so
// people are shown as they sign in, not by id; anything else (an operator name from
// this CLI, an id no longer known) is shown as it is.
func (c *cli) whoFor(tgt migration.Target, list ...migration.Migration) func(string) string {
	emails := map[string]string{}
	var ids []any
	for _, m := range list {
		if _, seen := emails[m.CreatedBy]; !seen && m.CreatedBy != "" {
			emails[m.CreatedBy] = ""
			ids = append(ids, m.CreatedBy)
		}
	}
	read := func(db *sql.DB, d schema.Dialect, table string) {
		if len(ids) == 0 {
			return
		}
		marks := schema.Placeholders(len(ids))
		rows, err := db.QueryContext(c.ctx, d.Rebind("SELECT "+d.Quote("id")+", "+d.Quote("email")+" FROM "+d.Quote(table)+" WHERE "+d.Quote("id")+" IN ("+marks+")"), ids...)
		if err != nil {
			return // an older tenant without users: ids it is
		}
		defer rows.Close()
		for rows.Next() {
			var id, email string
			if rows.Scan(&id, &email) == nil {
				emails[id] = email
			}
		}
	}
	read(tgt.DB, tgt.Dialect, "strata_users")
	read(c.core.control.DB, c.core.control.Dialect, "strata_admins")
	return func(id string) string {
		if e := emails[id]; e != "" {
			return e
		}
		return id
	}
}

func printMigrations(w io.Writer, list []migration.Migration, who func(string) string) {
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tSTATUS\tTYPE\tNAME\tBY\tEXECUTED")
	for _, m := range list {
		at := "-"
		if m.ExecutedAt != nil {
			at = m.ExecutedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", m.Seq, m.Status, m.Type, oneLine(m.Name, 60), who(m.CreatedBy), at)
	}
	tw.Flush()
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}

func (c *cli) list(f *migrateFlags) (int, error) {
	_, tgt, err := c.tenantTarget(f)
	if err != nil {
		return exitError, err
	}
	if f.status != "" && !slices.Contains(migration.Statuses, f.status) {
		return exitUsage, usagef("--status must be one of %s", strings.Join(migration.Statuses, ", "))
	}
	if f.typ != "" && !slices.Contains(migration.Types, f.typ) {
		return exitUsage, usagef("--type must be one of %s", strings.Join(migration.Types, ", "))
	}
	if f.limit < 1 || f.page < 1 {
		return exitUsage, usagef("--limit and --page must be 1 or more")
	}
	list, total, err := migration.List(c.ctx, tgt.DB, tgt.Dialect, migration.ListFilter{Status: f.status, Type: f.typ, Limit: f.limit, Page: f.page})
	if err != nil {
		return exitError, err
	}
	c.emit(map[string]any{"data": list, "meta": map[string]any{"total_count": total}}, func(w io.Writer) {
		printMigrations(w, list, c.whoFor(tgt, list...))
		if total > len(list) {
			fmt.Fprintf(w, "(%d of %d; --page and --limit for more)\n", len(list), total)
		}
	})
	return exitOK, nil
}

func (c *cli) show(f *migrateFlags) (int, error) {
	_, tgt, err := c.tenantTarget(f)
	if err != nil {
		return exitError, err
	}
	m, err := c.migrationArg(f, tgt)
	if err != nil {
		return exitError, err
	}
	c.emit(map[string]any{"data": m}, func(w io.Writer) { printMigration(w, m, c.whoFor(tgt, *m)) })
	return exitOK, nil
}

func printMigration(w io.Writer, m *migration.Migration, who func(string) string) {
	fmt.Fprintf(w, "migration %d  %s\n", m.Seq, m.Name)
	fmt.Fprintf(w, "  id:          %s\n  type:        %s\n  status:      %s\n  created by:  %s at %s\n",
		m.ID, m.Type, m.Status, who(m.CreatedBy), m.CreatedAt.UTC().Format(time.RFC3339))
	if m.ExecutedAt != nil {
		fmt.Fprintf(w, "  executed at: %s (%d ms)\n", m.ExecutedAt.UTC().Format(time.RFC3339), valueOr(m.DurationMs))
	}
	if m.Description != "" {
		fmt.Fprintf(w, "  description: %s\n", m.Description)
	}
	fmt.Fprintf(w, "  checksum:    %s\n", m.Checksum)
	if m.Error != nil {
		fmt.Fprintf(w, "  error:       %s\n", *m.Error)
	}
	fmt.Fprintf(w, "\n-- up\n%s\n", strings.TrimSpace(m.UpSQL))
	if strings.TrimSpace(m.DownSQL) != "" {
		fmt.Fprintf(w, "\n-- down\n%s\n", strings.TrimSpace(m.DownSQL))
	}
}

func valueOr(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}
