package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"strata/modules/changeset"
	"strata/modules/formats"
	"strata/schema"
)

const schemaUsage = `usage: strata schema <command> [flags]

Works on the databases directly (STRATA_DATABASE_URL, STRATA_DATA_DIR); no server
needs to run.

  diff --from SOURCE --to SOURCE [--name NAME] [--output FILE] [--json]
        write a changeset (YAML; JSON with --json) whose operations turn the schema of
        --from into the schema of --to. A SOURCE is tenant:SLUG (its schema) or
        file:PATH (a snapshot.json, as GET /schema/snapshot answers). Exit 0 with the
        changeset, or 0 with "no differences" and no file when there are none.
`

var schemaCommands = map[string]func(*cli, *migrateFlags) (int, error){
	"diff": (*cli).schemaDiff,
}

// runSchema runs `strata schema <command>` and returns the process exit code.
func runSchema(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runCommands(ctx, "strata schema", schemaUsage, schemaCommands, args, getenv, stdin, stdout, stderr)
}

// schemaSource reads a diff's side: the model and its snapshot.
func (c *cli) schemaSource(src string) (*schema.Model, formats.Snapshot, error) {
	kind, arg, ok := strings.Cut(src, ":")
	switch {
	case !ok || arg == "":
		return nil, formats.Snapshot{}, usagef("%q: a source is tenant:SLUG or file:PATH", src)
	case kind == "tenant":
		t, tgt, err := c.core.tenants.Open(c.ctx, arg)
		if err != nil {
			return nil, formats.Snapshot{}, err
		}
		m, _, err := c.core.tenants.FreshModelVersion(c.ctx, t, tgt.Store)
		if err != nil {
			return nil, formats.Snapshot{}, err
		}
		return m, formats.Take(m), nil
	case kind == "file":
		body, err := os.ReadFile(arg)
		if err != nil {
			return nil, formats.Snapshot{}, err
		}
		var snap formats.Snapshot
		if err := formats.Decode(body, &snap); err != nil {
			return nil, formats.Snapshot{}, fmt.Errorf("%s: %w", arg, err)
		}
		m, err := changeset.ModelOf(snap)
		if err != nil {
			return nil, formats.Snapshot{}, fmt.Errorf("%s: %w", arg, err)
		}
		return m, snap, nil
	case kind == "live":
		return nil, formats.Snapshot{}, usagef("%q: live schemas are not diffed yet; strata migrate drift --tenant %s shows how the live schema differs", src, arg)
	}
	return nil, formats.Snapshot{}, usagef("%q: a source is tenant:SLUG or file:PATH", src)
}

func (c *cli) schemaDiff(f *migrateFlags) (int, error) {
	if f.from == "" || f.toName == "" {
		return exitUsage, usagef("diff needs --from and --to")
	}
	from, _, err := c.schemaSource(f.from)
	if err != nil {
		return exitError, err
	}
	_, want, err := c.schemaSource(f.toName)
	if err != nil {
		return exitError, err
	}
	name := f.name
	if name == "" {
		name = time.Now().UTC().Format("20060102150405") + "_diff"
	}
	cs, err := changeset.Diff(name, from, want)
	if err != nil {
		return exitError, err
	}
	if len(cs.Changes) == 0 {
		c.emit(map[string]any{"data": nil}, func(w io.Writer) { fmt.Fprintln(w, "no differences") })
		return exitOK, nil
	}
	var out []byte
	if c.json {
		cs.Checksum = "" // a file holds none
		out, err = json.MarshalIndent(cs, "", "  ")
		out = append(out, '\n')
	} else {
		out, err = changesetYAML(cs)
	}
	if err != nil {
		return exitError, err
	}
	if f.output != "" {
		if err := os.WriteFile(f.output, out, 0o644); err != nil {
			return exitError, err
		}
		fmt.Fprintf(c.errOut, "wrote %s (%d operations)\n", f.output, len(cs.Changes))
		return exitOK, nil
	}
	_, err = c.out.Write(out)
	return exitOK, err
}

// changesetYAML writes a changeset as a file in the repository would hold it (no
// checksum: the server computes it).
func changesetYAML(cs *changeset.Changeset) ([]byte, error) {
	changes := make([]any, len(cs.Changes))
	for i, raw := range cs.Changes {
		var v any
		if err := yaml.Unmarshal(raw, &v); err != nil { // JSON is YAML
			return nil, err
		}
		changes[i] = v
	}
	doc := map[string]any{"name": cs.Name, "description": cs.Description, "tags": cs.Tags, "depends_on": cs.DependsOn, "changes": changes}
	return yaml.Marshal(doc)
}
