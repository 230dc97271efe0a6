package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"strata/modules/apierr"
	"strata/modules/meta"
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
	ctx    context.Context
	core   *core
	out    io.Writer
	errOut io.Writer
	in     *bufio.Reader
	json   bool
	// tty is set when errOut is a terminal: progress bars and questions go there.
	tty bool
}

// runMigrate runs `strata migrate <command>` and returns the process exit code.
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stderr, migrateUsage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, args := args[0], args[1:]
	f := newMigrateFlags(cmd)
	if err := f.parse(args); err != nil {
		fmt.Fprintf(stderr, "strata migrate %s: %v\n\n%s", cmd, err, migrateUsage)
		return exitUsage
	}
	run, ok := migrateCommands[cmd]
	if !ok {
		fmt.Fprintf(stderr, "strata migrate: unknown command %q\n\n%s", cmd, migrateUsage)
		return exitUsage
	}
	cfg, err := LoadConfig(getenv)
	if err != nil {
		fmt.Fprintln(stderr, "strata migrate:", err)
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
		fmt.Fprintln(stderr, "strata migrate:", err)
		return exitError
	}
	defer co.close()
	c := &cli{ctx: ctx, core: co, out: stdout, errOut: stderr, in: bufio.NewReader(stdin), json: f.json, tty: isTerminal(stderr)}
	code, err := run(c, f)
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
	format      string
	dialect     string
	output      string
	from        string
	upTo        int64
	create      bool
	databaseURL string
	as          string
	reason      string
	by          string
	force       bool
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
	fs.Int64Var(&f.to, "to", 0, "roll back every migration after this seq")
	fs.StringVar(&f.format, "format", "sql", "sql or json")
	fs.StringVar(&f.dialect, "dialect", "", "dialect of the exported SQL (default: the tenant's)")
	fs.StringVar(&f.output, "output", "", "write to this file instead of stdout")
	fs.StringVar(&f.from, "from", "", "tenant whose history is replayed")
	fs.Int64Var(&f.upTo, "up-to", 0, "replay up to this seq of the source")
	fs.BoolVar(&f.create, "create", false, "create the target tenant (a sandbox)")
	fs.StringVar(&f.databaseURL, "database-url", "", "with --create: the server the new tenant lives on")
	fs.StringVar(&f.as, "as", "", "executed or rolled_back")
	fs.StringVar(&f.reason, "reason", "", "why, for the record")
	fs.StringVar(&f.by, "by", "", "who resolves (default: the OS user and host)")
	fs.BoolVar(&f.force, "force", false, "record the resolution even when the live schema disagrees")
	return f
}

// parse reads flags and positional arguments in any order (`show 12 --tenant acme`).
func (f *migrateFlags) parse(args []string) error {
	var flags []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			f.args = append(f.args, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			f.args = append(f.args, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		fl := f.fs.Lookup(name)
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
	return f.fs.Parse(flags)
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
		fmt.Fprintf(c.errOut, "strata migrate: %s\n", ue.msg)
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
		fmt.Fprintf(c.errOut, "strata migrate: %s\n", e.Message)
		return
	}
	fmt.Fprintf(c.errOut, "strata migrate: %s: %s\n", e.Code, e.Message)
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
	t, err := c.core.tenants.Get(c.ctx, slug)
	if err != nil {
		return nil, migration.Target{}, err
	}
	db, err := c.core.tenants.DB(c.ctx, t)
	if err != nil {
		return nil, migration.Target{}, err
	}
	return t, c.core.tenants.Target(t, db), nil
}

// writable prepares a tenant for a command that changes it, as a booting node would:
// migrations a crash left running are settled, missing system tables created.
func (c *cli) writable(f *migrateFlags) (*tenant.Tenant, migration.Target, error) {
	t, tgt, err := c.tenantTarget(f)
	if err != nil {
		return nil, tgt, err
	}
	if _, err := c.core.migration.Recover(c.ctx, tgt); err != nil {
		return nil, tgt, err
	}
	if _, err := c.core.tenants.UpgradeTenant(c.ctx, t); err != nil {
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

// tenantStatus is one tenant's line of `migrate status`.
type tenantStatus struct {
	Slug          string                `json:"slug"`
	Dialect       string                `json:"dialect"`
	SchemaVersion int64                 `json:"schema_version"`
	Counts        map[string]int        `json:"counts"`
	Last          *migration.Migration  `json:"last,omitempty"`
	Unsettled     []migration.Migration `json:"unsettled"`
	Drift         []string              `json:"drift,omitempty"`
	Error         string                `json:"error,omitempty"`
}

func (c *cli) tenantStatus(t *tenant.Tenant, tgt migration.Target, drift bool) tenantStatus {
	st := tenantStatus{Slug: t.Slug, Dialect: t.Dialect, Unsettled: []migration.Migration{}}
	fail := func(err error) tenantStatus {
		st.Error = err.Error()
		return st
	}
	// Counts and the few rows shown, not the whole ledger: `status` of every tenant
	// reads this for each of them.
	var err error
	if st.Counts, err = migration.StatusCounts(c.ctx, tgt.DB, tgt.Dialect); err != nil {
		return fail(err)
	}
	total := 0
	for _, n := range st.Counts {
		total += n
	}
	for _, status := range []string{migration.StatusPending, migration.StatusRunning, migration.StatusFailed} {
		if st.Counts[status] == 0 {
			continue
		}
		list, _, err := migration.List(c.ctx, tgt.DB, tgt.Dialect, migration.ListFilter{Status: status, Limit: 100})
		if err != nil {
			return fail(err)
		}
		st.Unsettled = append(st.Unsettled, list...)
	}
	slices.SortFunc(st.Unsettled, func(a, b migration.Migration) int { return int(a.Seq - b.Seq) })
	if total > 0 {
		last, _, err := migration.List(c.ctx, tgt.DB, tgt.Dialect, migration.ListFilter{Limit: 1, Page: total})
		if err != nil {
			return fail(err)
		}
		if len(last) == 1 {
			st.Last = &last[0]
		}
	}
	for i := range st.Unsettled {
		st.Unsettled[i].Change = nil
	}
	if st.Last != nil {
		st.Last.Change = nil
	}
	if st.SchemaVersion, err = meta.Version(c.ctx, tgt.DB, tgt.Dialect); err != nil {
		return fail(err)
	}
	if drift {
		if st.Drift, err = migration.Drift(c.ctx, tgt.DB, tgt.Dialect); err != nil {
			return fail(err)
		}
	}
	return st
}

func (c *cli) status(f *migrateFlags) (int, error) {
	if f.tenant != "" {
		t, tgt, err := c.tenantTarget(f)
		if err != nil {
			return exitError, err
		}
		st := c.tenantStatus(t, tgt, true)
		c.emit(map[string]any{"data": st}, func(w io.Writer) {
			printStatus(w, []tenantStatus{st})
			if len(st.Unsettled) > 0 {
				fmt.Fprintln(w, "\nunsettled:")
				printMigrations(w, st.Unsettled, c.whoFor(tgt, st.Unsettled...))
			}
			if len(st.Drift) > 0 {
				fmt.Fprintln(w, "\ndrift:")
				for _, d := range st.Drift {
					fmt.Fprintln(w, "  "+d)
				}
			}
		})
		if st.Error != "" {
			return exitError, nil
		}
		return exitOK, nil
	}
	ts, err := c.core.tenants.List(c.ctx)
	if err != nil {
		return exitError, err
	}
	bar := c.progress("status", len(ts))
	out := make([]tenantStatus, 0, len(ts))
	failed := false
	for _, t := range ts {
		_, tgt, err := c.lookup(t.Slug)
		var st tenantStatus
		if err != nil {
			st = tenantStatus{Slug: t.Slug, Dialect: t.Dialect, Error: err.Error()}
		} else {
			st = c.tenantStatus(t, tgt, false)
		}
		failed = failed || st.Error != ""
		out = append(out, st)
		bar.step(t.Slug)
	}
	bar.done()
	c.emit(map[string]any{"data": out}, func(w io.Writer) { printStatus(w, out) })
	if failed {
		return exitError, nil
	}
	return exitOK, nil
}

func printStatus(w io.Writer, list []tenantStatus) {
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tDIALECT\tVERSION\tEXECUTED\tPENDING\tFAILED\tLAST")
	for _, s := range list {
		last := "-"
		if s.Last != nil {
			last = fmt.Sprintf("%d %s (%s)", s.Last.Seq, s.Last.Name, s.Last.Status)
		}
		if s.Error != "" {
			last = "error: " + s.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", s.Slug, s.Dialect, s.SchemaVersion,
			s.Counts[migration.StatusExecuted], s.Counts[migration.StatusPending], s.Counts[migration.StatusFailed], last)
	}
	tw.Flush()
}

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
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")
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
			c.reportRolledBack(done)
			return exitError, err
		}
		for _, r := range results {
			done = append(done, r.Migration)
		}
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
	c.reportRolledBack(done)
	return exitOK, nil
}

func (c *cli) reportRolledBack(done []*migration.Migration) {
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
	if err := migration.CheckSource(c.ctx, source, f.upTo); err != nil {
		return exitError, err
	}
	if f.create {
		sb, err := c.core.tenants.Create(c.ctx, f.tenant, "", f.databaseURL)
		if err != nil {
			return exitError, err
		}
		if err := c.core.tenants.MarkSandbox(c.ctx, sb, f.from); err != nil {
			return exitError, err
		}
	} else if f.databaseURL != "" {
		return exitUsage, usagef("--database-url goes with --create")
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

// system upgrades every tenant's system tables, reporting each tenant.
func (c *cli) system(f *migrateFlags) (int, error) {
	ts, err := c.core.tenants.List(c.ctx)
	if err != nil {
		return exitError, err
	}
	bar := c.progress("system upgrade", len(ts))
	var results []map[string]any
	failed := c.core.tenants.UpgradeSystem(c.ctx, func(r tenant.UpgradeResult) {
		row := map[string]any{"slug": r.Slug, "created": nonNilStrings(r.Created), "status": "up to date"}
		if len(r.Created) > 0 {
			row["status"] = "upgraded"
		}
		if r.Err != nil {
			row["status"], row["error"] = "failed", r.Err.Error()
		}
		results = append(results, row)
		bar.step(r.Slug)
	})
	bar.done()
	if err := failed[""]; err != nil {
		return exitError, err
	}
	slices.SortFunc(results, func(a, b map[string]any) int { return strings.Compare(a["slug"].(string), b["slug"].(string)) })
	c.emit(map[string]any{"data": results}, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "TENANT\tSTATUS\tDETAIL")
		for _, r := range results {
			detail := strings.Join(r["created"].([]string), ", ")
			if e, ok := r["error"].(string); ok {
				detail = e
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", r["slug"], r["status"], detail)
		}
		tw.Flush()
		fmt.Fprintf(w, "%d tenants, %d failed\n", len(results), len(failed))
	})
	if len(failed) > 0 {
		return exitError, nil
	}
	return exitOK, nil
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
