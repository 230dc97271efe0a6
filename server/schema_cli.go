package main

import (
	"context"
	"encoding/json"
	"errors"
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

Works on the databases directly (STRATA_DATABASE_URL, STRATA_DATA_DIR), or asks a
running server with --server URL (or STRATA_SERVER) and STRATA_TOKEN (a platform API
key); live:SLUG needs the databases.

  diff --from SOURCE --to SOURCE [--name NAME] [--output FILE] [--json]
        write a changeset (YAML; JSON with --json) whose operations turn the schema of
        --from into the schema of --to. A SOURCE is tenant:SLUG (its schema) or
        file:PATH (a snapshot.json, as GET /schema/snapshot answers) or live:SLUG (what
        the tenant's database holds, read from it). From live:SLUG the changeset is SQL
        in that database's dialect, which repairs drift: --from live:acme --to
        tenant:acme brings acme's database back to its metadata. Exit 0 with the
        changeset, or 0 with "no differences" and no file when there are none.
  sync --tenant SLUG --from SOURCE [--dry-run] [--yes]
        development only: give the tenant the schema of SOURCE (tenant:SLUG or
        file:PATH) now, without a changeset. Each change is recorded in the tenant's
        history; what it removes goes to the trash and needs --yes (or an answer on a
        terminal). --dry-run shows the SQL and changes nothing.
  drop --tenant SLUG [--dry-run] [--yes]
        development only: drop every table and relation of the tenant (into the
        trash, recorded; strata migrate reset rolls the history back instead).

The package schema workflow (docs/formats.md): packages declare entities in
packages/NAME/seed/schema/entities.yaml, named by packages/NAME/seed/metadata.json
({"packageId", "schema": {"entities": [...], "path": "schema/entities.yaml"}}).

  scan DIR --tenant SLUG
        send DIR/packages/*'s entities to the tenant: each entity's structural
        checksum is recorded per package, an entity two packages define differently
        is refused (exit 1, naming both; packages scanned earlier count), and what the
        tenant's schema lacks is queued as pending migrations, whatever its
        require_approval. Scanning the same packages again queues nothing new; a
        changed package replaces (rejects) what an earlier scan queued.
  list --tenant SLUG                 the package migrations that wait for approval
  approve all|ID… --tenant SLUG      run them (all, or by id or seq), in order, then
                                     give the entities their acl; exit 1 if one fails
  preview PACKAGE --tenant SLUG [--dialect postgres|mysql|sqlite]
                                     the SQL the package's entities would run now
  status --tenant SLUG               packages, entities, versions, checksums, and
                                     whether each is applied, pending or differs

Every command takes --json; exit 0 on success, 1 on an error, 2 on a usage error.
sync and drop are refused where STRATA_ENV is production.
`

var schemaCommands = map[string]func(*cli, *migrateFlags) (int, error){
	"diff": (*cli).schemaDiff,
	"sync": (*cli).schemaSync,
	"drop": (*cli).schemaDrop,
	// The package schema workflow (schema_packages.go).
	"scan":    (*cli).schemaScan,
	"list":    (*cli).schemaList,
	"approve": (*cli).schemaApprove,
	"preview": (*cli).schemaPreview,
	"status":  (*cli).schemaStatus,
}

// runSchema runs `strata schema <command>` and returns the process exit code.
func runSchema(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runCommands(ctx, "strata schema", schemaUsage, schemaCommands, args, getenv, stdin, stdout, stderr)
}

// diffSide is one side of a diff: the model, its snapshot, and for a live schema the
// dialect its repair SQL is written in.
type diffSide struct {
	model *schema.Model
	snap  formats.Snapshot
	live  schema.Dialect
}

// schemaSource reads a diff's side.
func (c *cli) schemaSource(src string) (diffSide, error) {
	kind, arg, ok := strings.Cut(src, ":")
	if !ok || arg == "" {
		return diffSide{}, usagef("%q: a source is tenant:SLUG, live:SLUG or file:PATH", src)
	}
	var snap formats.Snapshot
	switch kind {
	case "tenant":
		var err error
		if snap, err = c.door.Snapshot(c.ctx, arg); err != nil {
			return diffSide{}, err
		}
	case "file":
		body, err := os.ReadFile(arg)
		if err != nil {
			return diffSide{}, err
		}
		if err := formats.Decode(body, &snap); err != nil {
			return diffSide{}, fmt.Errorf("%s: %w", arg, err)
		}
	case "live":
		if c.core == nil {
			return diffSide{}, usagef("live:SLUG reads the tenant's database: run without --server, where the databases are")
		}
		tgt, m, err := c.core.model(c.ctx, arg, false)
		if err != nil {
			return diffSide{}, err
		}
		live, err := tgt.Dialect.Inspect(c.ctx, tgt.DB)
		if err != nil {
			return diffSide{}, fmt.Errorf("inspect the live schema of %s: %w", arg, err)
		}
		lm, err := schema.LiveModel(tgt.Dialect, m, live, newID)
		if err != nil {
			return diffSide{}, fmt.Errorf("%s: %w", src, err)
		}
		return diffSide{model: lm, snap: formats.Take(lm), live: tgt.Dialect}, nil
	default:
		return diffSide{}, usagef("%q: a source is tenant:SLUG, live:SLUG or file:PATH", src)
	}
	m, err := changeset.ModelOf(snap)
	if err != nil {
		return diffSide{}, fmt.Errorf("%s: %w", src, err)
	}
	return diffSide{model: m, snap: snap}, nil
}

func (c *cli) schemaDiff(f *migrateFlags) (int, error) {
	if f.from == "" || f.toName == "" {
		return exitUsage, usagef("diff needs --from and --to")
	}
	from, err := c.schemaSource(f.from)
	if err != nil {
		return exitError, err
	}
	to, err := c.schemaSource(f.toName)
	if err != nil {
		return exitError, err
	}
	name := f.name
	if name == "" {
		name = time.Now().UTC().Format("20060102150405") + "_diff"
	}
	// From a live schema the difference is made in the database, so it is SQL; from
	// metadata it is operations, which change both.
	var cs *changeset.Changeset
	if from.live != nil {
		cs, err = changeset.Repair(name, from.live, from.model, to.snap)
	} else {
		cs, err = changeset.Diff(name, from.model, to.snap)
	}
	if err != nil {
		return exitError, err
	}
	if len(cs.Changes) == 0 && cs.UpSQL == "" {
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
		what := fmt.Sprintf("%d operations", len(cs.Changes))
		if cs.UpSQL != "" {
			what = fmt.Sprintf("%s SQL", from.live.Name())
		}
		fmt.Fprintf(c.errOut, "wrote %s (%s)\n", f.output, what)
		return exitOK, nil
	}
	_, err = c.out.Write(out)
	return exitOK, err
}

// changesetYAML writes a changeset as a file in the repository would hold it (no
// checksum: the server computes it).
func changesetYAML(cs *changeset.Changeset) ([]byte, error) {
	doc := map[string]any{"name": cs.Name, "description": cs.Description, "tags": cs.Tags, "depends_on": cs.DependsOn}
	if cs.UpSQL != "" {
		doc["up_sql"] = cs.UpSQL
		if cs.DownSQL != "" {
			doc["down_sql"] = cs.DownSQL
		}
		return yaml.Marshal(doc)
	}
	changes := make([]any, len(cs.Changes))
	for i, raw := range cs.Changes {
		if err := yaml.Unmarshal(raw, &changes[i]); err != nil { // JSON is YAML
			return nil, err
		}
	}
	doc["changes"] = changes
	return yaml.Marshal(doc)
}

// schemaSync gives a tenant the schema of --from, recorded change by change.
func (c *cli) schemaSync(f *migrateFlags) (int, error) {
	if f.from == "" {
		return exitUsage, usagef("sync needs --tenant and --from")
	}
	if strings.HasPrefix(f.from, "live:") {
		return exitUsage, usagef("sync takes a schema (tenant:SLUG or file:PATH); to repair drift, run a diff --from live:SLUG")
	}
	return c.syncTo(f, "sync", func() (formats.Snapshot, error) {
		src, err := c.schemaSource(f.from)
		return src.snap, err
	})
}

// schemaDrop drops every table and relation of a tenant, recorded.
func (c *cli) schemaDrop(f *migrateFlags) (int, error) {
	return c.syncTo(f, "drop", func() (formats.Snapshot, error) { return formats.Snapshot{}, nil })
}

// syncTo gives --tenant the schema want returns, as POST /schema/apply does: each
// change a recorded migration, run in one batch that refuses them all when one is
// refused; what they remove (into the trash) confirmed first.
func (c *cli) syncTo(f *migrateFlags, what string, want func() (formats.Snapshot, error)) (int, error) {
	if c.env == "production" {
		return exitError, fmt.Errorf("%s is refused where STRATA_ENV is production", what)
	}
	if f.tenant == "" {
		return exitUsage, usagef("%s needs --tenant", what)
	}
	snap, err := want()
	if err != nil {
		return exitError, err
	}
	confirm := func(removes string) bool {
		return c.confirm(fmt.Sprintf("%s of %s removes (into the trash): %s", what, f.tenant, removes), f.yes)
	}
	res, err := c.door.Apply(c.ctx, f.tenant, snap, f.dryRun, confirm)
	if errors.Is(err, errNotConfirmed) {
		return exitError, fmt.Errorf("%s %w", what, err)
	}
	if err != nil {
		return exitError, err
	}
	if f.dryRun {
		c.emit(map[string]any{"data": map[string]any{"dry_run": true, "changes": res.Planned}}, func(w io.Writer) {
			if len(res.Planned) == 0 {
				fmt.Fprintln(w, "in sync: nothing to change")
			}
			for _, p := range res.Planned {
				fmt.Fprintf(w, "-- would run: %s\n%s\n\n", p.Name, strings.TrimSpace(p.UpSQL))
			}
		})
		return exitOK, nil
	}
	if len(res.Migrations) == 0 {
		c.emit(map[string]any{"data": map[string]any{"migrations": []any{}}}, func(w io.Writer) { fmt.Fprintln(w, "in sync: nothing to change") })
		return exitOK, nil
	}
	c.reportMigrations(res.Migrations)
	return exitOK, nil
}
