package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"strata/modules/migration"
	"strata/schema"
)

func (c *cli) export(f *migrateFlags) (int, error) {
	t, tgt, err := c.tenantTarget(f)
	if err != nil {
		return exitError, err
	}
	var body []byte
	switch f.format {
	case "sql":
		target := tgt.Dialect
		if f.dialect != "" {
			if target, err = schema.DialectByName(f.dialect); err != nil {
				return exitUsage, usagef("--dialect must be postgres, mysql or sqlite")
			}
		}
		script, err := migration.ExportSQL(c.ctx, tgt.DB, tgt.Dialect, target, t.Slug, time.Now())
		if err != nil {
			return exitError, err
		}
		body = []byte(script)
	case "json":
		b, err := migration.ExportBundle(c.ctx, tgt.DB, tgt.Dialect, t.Slug, time.Now())
		if err != nil {
			return exitError, err
		}
		if body, err = json.MarshalIndent(b, "", "  "); err != nil {
			return exitError, fmt.Errorf("encode the bundle: %w", err)
		}
		body = append(body, '\n')
	default:
		return exitUsage, usagef("--format must be sql or json")
	}
	if f.output == "" {
		if c.json && f.format == "sql" {
			// --json asks for JSON on stdout: the script goes inside it.
			c.emit(map[string]any{"data": map[string]any{"tenant": t.Slug, "format": "sql", "script": string(body)}}, nil)
			return exitOK, nil
		}
		_, err = c.out.Write(body)
		return exitOK, err
	}
	if err := os.WriteFile(f.output, body, 0o644); err != nil {
		return exitError, fmt.Errorf("write %s: %w", f.output, err)
	}
	c.emit(map[string]any{"data": map[string]any{"tenant": t.Slug, "format": f.format, "output": f.output, "bytes": len(body)}}, func(io.Writer) {
		fmt.Fprintf(c.errOut, "wrote %s (%d bytes)\n", f.output, len(body))
	})
	return exitOK, nil
}
