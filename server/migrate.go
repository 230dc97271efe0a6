package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"strconv"
	"strings"

	"strata/modules/apierr"
	"strata/modules/migration"
	"strata/modules/rest"
	"strata/modules/tenant"
	"strata/schema"
)

// Exit codes of `strata migrate`.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
	// exitDrift tells a script that `migrate drift` found differences.
	exitDrift = 3
)

const migrateUsage = `usage: strata migrate <command> [flags]

Works on the databases directly (STRATA_DATABASE_URL, STRATA_DATA_DIR, as the
server reads them); no server needs to run. Every command takes --json.

  status   [--tenant X]                    schema version and unsettled migrations (all tenants without --tenant)
  status   --dir DIR [--tenant X]          which changesets of DIR each tenant holds, and which are pending
  create   NAME [--type changes|sql] [--dir DIR]   write a changeset skeleton into DIR (./migrations)
  run      [--dir DIR] [--tenant X | --tags k=v,…] [--to NAME] [--dry-run] [--concurrency N]
                                            register DIR's changesets and run what each tenant lacks (exit 1 if any fails)
  reset    --tenant X --yes                 development only: roll the tenant's schema back to its system tables
  list     --tenant X [--status S] [--type T] [--limit N] [--page N]
  show     --tenant X <seq|id>              one migration with its plan
  retry    --tenant X <seq|id>              run a failed migration again
  approve  --tenant X <seq|id>              run a pending migration
  reject   --tenant X <seq|id>              close a pending migration without running it
  rollback --tenant X <seq|id> [--cascade] | --steps N | --to SEQ   [--dry-run] [--yes]
  export   --tenant X [--format sql|json] [--dialect postgres|mysql|sqlite] [--output FILE]
  replay   --tenant X --from Y [--up-to SEQ] [--create [--database-url URL]]
  drift    --tenant X                       live schema against the metadata (exit 3 when they differ)
  resolve  --tenant X <seq|id> --as executed|rolled_back --reason TEXT [--by NAME] [--force]
  system                                    bring every tenant's system tables up to date
`

// cli is one run of `strata migrate`.
type cli struct {
	ctx  context.Context
	prog string // "strata migrate", for messages
	// core is the databases, opened; nil when the command asks a server (door).
	core *core
	// door is what the tenant, changeset and schema commands go through.
	door   door
	out    io.Writer
	errOut io.Writer
	in     *bufio.Reader
	json   bool
	// tty is set when errOut is a terminal: progress bars and questions go there.
	tty bool
	// env is STRATA_ENV ("production" refuses development-only commands).
	env string
}

// runMigrate runs `strata migrate <command>` and returns the process exit code.
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runCommands(ctx, "strata migrate", migrateUsage, migrateCommands, args, getenv, stdin, stdout, stderr)
}

// runCommands runs one of commands (a `strata migrate` or `strata tenant` command line)
// on the databases directly and returns the process exit code.
func runCommands(ctx context.Context, prog, usage string, commands map[string]func(*cli, *migrateFlags) (int, error), args []string,
	getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, args := args[0], args[1:]
	f := newMigrateFlags(cmd)
	if err := f.parse(args); err != nil {
		fmt.Fprintf(stderr, "%s %s: %v\n\n%s", prog, cmd, err, usage)
		return exitUsage
	}
	run, ok := commands[cmd]
	if !ok {
		fmt.Fprintf(stderr, "%s: unknown command %q\n\n%s", prog, cmd, usage)
		return exitUsage
	}
	c := &cli{ctx: ctx, prog: prog, out: stdout, errOut: stderr, in: bufio.NewReader(stdin), json: f.json, tty: isTerminal(stderr), env: getenv("STRATA_ENV")}
	if server := cmp.Or(f.server, getenv("STRATA_SERVER")); server != "" {
		// A running server is asked over its API; only the commands written against
		// the door (door.go) can be.
		if !remoteCommands[prog+" "+cmd] {
			fmt.Fprintf(stderr, "%s %s works on the databases directly: run it without --server or STRATA_SERVER\n", prog, cmd)
			return exitUsage
		}
		rd, err := newRemoteDoor(server, getenv("STRATA_TOKEN"))
		if err != nil {
			c.fail(err)
			return exitUsage
		}
		c.door = rd
		return c.finish(run(c, f))
	}
	cfg, err := LoadConfig(getenv)
	if err != nil {
		fmt.Fprintln(stderr, prog+":", err)
		return exitError
	}
	// Logs go to stderr, quietly: stdout carries the answer, for people and scripts.
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	co, err := openCore(ctx, cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, prog+":", err)
		return exitError
	}
	defer co.close()
	c.core, c.door = co, localDoor{co}
	return c.finish(run(c, f))
}

// remoteCommands can ask a running server (--server) instead of the databases.
var remoteCommands = map[string]bool{
	"strata migrate create": true, "strata migrate run": true, "strata migrate status": true, "strata migrate reset": true,
	"strata tenant list": true, "strata tenant create": true, "strata tenant tag": true, "strata tenant delete": true,
	"strata schema diff": true, "strata schema sync": true, "strata schema drop": true,
	"strata schema scan": true, "strata schema list": true, "strata schema approve": true, "strata schema preview": true, "strata schema status": true,
}

// finish reports a command's error and gives its exit code.
func (c *cli) finish(code int, err error) int {
	if err != nil {
		c.fail(err)
		if errors.As(err, new(*usageError)) {
			return exitUsage
		}
		return exitError
	}
	return code
}

// migrateFlags are the flags of every command; each command reads the ones it takes.
type migrateFlags struct {
	fs          *flag.FlagSet
	tenant      string
	json        bool
	verbose     bool
	status      string
	typ         string
	limit       int
	page        int
	cascade     bool
	dryRun      bool
	yes         bool
	steps       int
	to          int64
	toName      string
	dir         string
	tags        string
	concurrency int
	format      string
	dialect     string
	output      string
	from        string
	upTo        int64
	create      bool
	databaseURL string
	name        string
	as          string
	reason      string
	by          string
	force       bool
	server      string
	args        []string
}

func newMigrateFlags(cmd string) *migrateFlags {
	f := &migrateFlags{fs: flag.NewFlagSet("strata migrate "+cmd, flag.ContinueOnError)}
	fs := f.fs
	fs.SetOutput(io.Discard) // the caller prints the error with the usage
	fs.StringVar(&f.tenant, "tenant", "", "tenant slug")
	fs.BoolVar(&f.json, "json", false, "answer in JSON")
	fs.BoolVar(&f.verbose, "verbose", false, "log what happens")
	fs.StringVar(&f.status, "status", "", "only migrations with this status")
	fs.StringVar(&f.typ, "type", "", "only migrations of this type")
	fs.IntVar(&f.limit, "limit", 100, "migrations per page")
	fs.IntVar(&f.page, "page", 1, "page")
	fs.BoolVar(&f.cascade, "cascade", false, "roll back the dependents first, newest first")
	fs.BoolVar(&f.dryRun, "dry-run", false, "show what would happen")
	fs.BoolVar(&f.yes, "yes", false, "answer yes to the confirmation of a removal")
	fs.IntVar(&f.steps, "steps", 0, "roll back the last N migrations")
	fs.Func("to", "rollback: every migration after this seq; run: the changesets up to this one", func(v string) error {
		f.toName = v
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			f.to = n
		}
		return nil
	})
	fs.StringVar(&f.dir, "dir", "", "the folder of changeset files (create, run, status: default ./migrations)")
	fs.StringVar(&f.tags, "tags", "", "run: the tenants with these tags, k=v[,k=v] (AND)")
	fs.IntVar(&f.concurrency, "concurrency", 0, "run: tenants at once (default 4)")
	fs.StringVar(&f.format, "format", "sql", "sql or json")
	fs.StringVar(&f.dialect, "dialect", "", "dialect of the exported SQL (default: the tenant's)")
	fs.StringVar(&f.output, "output", "", "write to this file instead of stdout")
	fs.StringVar(&f.from, "from", "", "tenant whose history is replayed")
	fs.Int64Var(&f.upTo, "up-to", 0, "replay up to this seq of the source")
	fs.BoolVar(&f.create, "create", false, "create the target tenant (a sandbox)")
	fs.StringVar(&f.databaseURL, "database-url", "", "with --create: the server the new tenant lives on")
	fs.StringVar(&f.name, "name", "", "tenant create: its display name")
	fs.StringVar(&f.as, "as", "", "executed or rolled_back")
	fs.StringVar(&f.reason, "reason", "", "why, for the record")
	fs.StringVar(&f.by, "by", "", "who resolves (default: the OS user and host)")
	fs.BoolVar(&f.force, "force", false, "record the resolution even when the live schema disagrees")
	fs.StringVar(&f.server, "server", "", "ask this running server (base URL; STRATA_TOKEN authenticates) instead of the databases")
	return f
}

// parse reads flags and positional arguments in any order (`show 12 --tenant acme`).
func (f *migrateFlags) parse(args []string) error {
	rest, err := parseInterleaved(f.fs, args)
	f.args = append(f.args, rest...)
	return err
}

// parseInterleaved parses the flags of args into fs wherever they stand, and returns
// the positional arguments in order.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var flags, positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		fl := fs.Lookup(name)
		if fl == nil {
			continue // Parse names it
		}
		if b, ok := fl.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return positional, fs.Parse(flags)
}

var migrateCommands = map[string]func(*cli, *migrateFlags) (int, error){
	"status":   (*cli).status,
	"list":     (*cli).list,
	"show":     (*cli).show,
	"retry":    (*cli).retry,
	"approve":  (*cli).approve,
	"reject":   (*cli).reject,
	"rollback": (*cli).rollback,
	"export":   (*cli).export,
	"replay":   (*cli).replay,
	"drift":    (*cli).drift,
	"resolve":  (*cli).resolve,
	"system":   (*cli).system,
	"create":   (*cli).createChangeset,
	"run":      (*cli).runChangesets,
	"reset":    (*cli).reset,
}

// usageError is a command line the command cannot run.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{msg: fmt.Sprintf(format, args...)} }

// fail reports an error the way the API would: its code and message (as the contract's
// error envelope with --json).
func (c *cli) fail(err error) {
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(c.errOut, "%s: %s\n", c.prog, ue.msg)
		return
	}
	e, ok := rest.Translate(err).(*apierr.Error)
	if !ok {
		// The operator is at the console of the databases: the whole error helps,
		// unlike over HTTP where its text could leak.
		e = apierr.New(500, "INTERNAL", "%s", err.Error())
	}
	if c.json {
		b, _ := json.Marshal(apierr.Body(e))
		fmt.Fprintln(c.errOut, string(b))
		return
	}
	if !ok {
		fmt.Fprintf(c.errOut, "%s: %s\n", c.prog, e.Message)
		return
	}
	fmt.Fprintf(c.errOut, "%s: %s: %s\n", c.prog, e.Code, e.Message)
	for i, more := range e.More { // an import's other bad rows
		if i == 20 {
			fmt.Fprintf(c.errOut, "  … and %d more\n", len(e.More)-i)
			break
		}
		fmt.Fprintf(c.errOut, "  %s: %s\n", more.Code, more.Message)
	}
	if deps, ok := e.Details["dependents"].([]migration.Dependent); ok {
		for _, d := range deps {
			fmt.Fprintf(c.errOut, "  depends on it: %d %s (%s)\n", d.Seq, d.Name, d.Type)
		}
	}
}

// emit writes v as JSON with --json, or runs human otherwise.
func (c *cli) emit(v any, human func(w io.Writer)) {
	if c.json {
		enc := json.NewEncoder(c.out)
		enc.SetIndent("", "  ")
		_ = enc.Encode(v)
		return
	}
	human(c.out)
}

// tenantTarget resolves --tenant to its registry row and migration target.
func (c *cli) tenantTarget(f *migrateFlags) (*tenant.Tenant, migration.Target, error) {
	if f.tenant == "" {
		return nil, migration.Target{}, usagef("--tenant is required")
	}
	return c.lookup(f.tenant)
}

func (c *cli) lookup(slug string) (*tenant.Tenant, migration.Target, error) {
	return c.core.tenants.Open(c.ctx, slug)
}

// writable prepares --tenant for a command that changes it (core.settled).
func (c *cli) writable(f *migrateFlags) (*tenant.Tenant, migration.Target, error) {
	if f.tenant == "" {
		return nil, migration.Target{}, usagef("--tenant is required")
	}
	return c.core.settled(c.ctx, f.tenant)
}

// settled opens a tenant for a command that changes it, as a booting node would:
// migrations a crash left running are settled, missing system tables created.
func (co *core) settled(ctx context.Context, slug string) (*tenant.Tenant, migration.Target, error) {
	t, tgt, err := co.tenants.Open(ctx, slug)
	if err != nil {
		return nil, tgt, err
	}
	if _, err := co.migration.Recover(ctx, tgt); err != nil {
		return nil, tgt, err
	}
	if _, err := co.tenants.UpgradeTenant(ctx, t); err != nil {
		return nil, tgt, err
	}
	return t, tgt, nil
}

// migrationArg resolves the one positional argument, a seq or an id.
func (c *cli) migrationArg(f *migrateFlags, tgt migration.Target) (*migration.Migration, error) {
	if len(f.args) != 1 {
		return nil, usagef("name one migration by its seq or id")
	}
	ref := f.args[0]
	var m *migration.Migration
	var err error
	if seq, perr := strconv.ParseInt(ref, 10, 64); perr == nil {
		m, err = migration.GetBySeq(c.ctx, tgt.DB, tgt.Dialect, seq)
	} else {
		m, err = migration.Get(c.ctx, tgt.DB, tgt.Dialect, ref)
	}
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, &schema.NotFoundError{What: "migration", Name: ref}
	}
	return m, nil
}

// operator names who runs the CLI, for the record.
func operator() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		name += "@" + h
	}
	return "cli:" + name
}
