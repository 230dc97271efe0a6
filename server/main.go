// Command strata is a Strata node: `go run ./server` serves the API on
// 127.0.0.1:8080 with an embedded SQLite database under ./strata_data.
// Configuration comes from STRATA_* environment variables (see README.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

const usage = `usage: strata [command]

  serve [--http ADDR]          run a node: the API and the UI (the command when none is given)
  migrate <command>            read and act on schema histories from the command line
                               (strata migrate help lists its commands), and run
                               changeset folders across tenants (migrate create, run)
  tenant <command>             list, create, tag and delete tenants (strata tenant help)
  schema diff --from … --to …  a changeset of the difference between two schemas
  schema scan DIR --tenant S   the package schema workflow: queue packages' entities
                               for approval (schema list, approve, preview, status;
                               strata schema help)
  items import|export          a table's rows from or to a CSV or JSON file, through a
                               running server (strata items help)
  template plan [--tenant S]   what the tenant template (STRATA_TEMPLATE_DIR) would do at
                               the next boot (strata template help)
  admin reset-password EMAIL [--password P] [--json]
                               set a platform admin's password (generated and printed
                               when --password is not given) and sign out its sessions
  healthcheck                  exit 0 when the node on STRATA_HTTP is ready (for containers)
  help                         this text

Configuration comes from STRATA_* environment variables (README.md lists them).
`

func main() {
	os.Exit(dispatch(os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

// dispatch runs the command args name and returns the process's exit code. A word
// that names no command is a usage error, never a server started by accident.
func dispatch(args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && (!strings.HasPrefix(args[0], "-") || args[0] == "-h" || args[0] == "--help") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		if err := run(args, getenv, stderr); err != nil {
			fmt.Fprintln(stderr, "strata:", err)
			if errors.Is(err, flag.ErrHelp) || errors.As(err, new(*usageError)) {
				return exitUsage
			}
			return exitError
		}
		return exitOK
	case "migrate":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runMigrate(ctx, args, getenv, stdin, stdout, stderr)
	case "schema":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runSchema(ctx, args, getenv, stdin, stdout, stderr)
	case "tenant":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runTenant(ctx, args, getenv, stdin, stdout, stderr)
	case "items":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runItems(ctx, args, getenv, stdin, stdout, stderr)
	case "template":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runTemplate(ctx, args, getenv, stdin, stdout, stderr)
	case "admin":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runAdmin(ctx, args, getenv, stdout, stderr)
	case "healthcheck":
		return healthcheck(getenv)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "strata: unknown command %q\n\n%s", cmd, usage)
	return exitUsage
}

func run(args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("strata serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	httpAddr := fs.String("http", "", "listen address (overrides STRATA_HTTP)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("serve takes no arguments, got %q", fs.Args())
	}
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return err
	}
	if *httpAddr != "" {
		cfg.HTTP = *httpAddr
	}
	log := newLogger(cfg)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app, err := NewApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer app.Close()
	ln, err := net.Listen("tcp", cfg.HTTP)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTP, err)
	}
	log.Info("strata listening", "addr", ln.Addr().String(), "data_dir", cfg.DataDir, "dialect", app.Control.Dialect.Name())
	fmt.Fprintln(stderr, readyLine(ln.Addr().String(), cfg.AdminEmail, app.GeneratedAdminPassword))
	errc := make(chan error, 1)
	go func() { errc <- app.Fiber.Listener(ln) }()
	go app.PurgeTrashEvery(ctx, time.Hour)
	go app.PurgeStorage(ctx)
	go app.RunFunctions(ctx)
	go app.RunFleet(ctx)
	go app.RunMail(ctx)
	go app.RunWebhooks(ctx)
	if cfg.PprofAddr != "" {
		go servePprof(cfg.PprofAddr, log)
	}
	if cfg.GRPC != "" {
		gln, err := net.Listen("tcp", cfg.GRPC)
		if err != nil {
			return fmt.Errorf("listen on STRATA_GRPC %s: %w", cfg.GRPC, err)
		}
		log.Info("grpc listening", "addr", gln.Addr().String())
		go func() {
			if err := app.ServeGRPC(ctx, gln); err != nil {
				log.Error("grpc", "err", err)
			}
		}()
	}
	if cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("listen on STRATA_METRICS_ADDR %s: %w", cfg.MetricsAddr, err)
		}
		log.Info("metrics listening", "addr", mln.Addr().String())
		go func() {
			if err := app.ServeMetrics(mln); err != nil {
				log.Error("metrics", "err", err)
			}
		}()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "grace", cfg.ShutdownGrace.String())
	// Websockets are hijacked connections Fiber does not wait for: close them first,
	// with "going away", so clients reconnect elsewhere.
	app.Realtime.Close()
	if err := app.Fiber.ShutdownWithTimeout(cfg.ShutdownGrace); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// readyLine is what a start prints whatever the log level: where the UI is and how to
// sign in, with the first admin's generated password the one time it exists.
func readyLine(addr, email, generated string) string {
	if host, port, err := net.SplitHostPort(addr); err == nil && (host == "0.0.0.0" || host == "::") {
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	if email == "" {
		email = "admin@example.com"
	}
	if generated != "" {
		return fmt.Sprintf("Strata is ready: open http://%s/ and sign in as %s with the password %s (generated for this first start and shown only now; strata admin reset-password %s sets another)", addr, email, generated, email)
	}
	return fmt.Sprintf("Strata is ready: open http://%s/ and sign in as a platform admin (strata admin reset-password EMAIL if the password is lost)", addr)
}

func newLogger(cfg Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToUpper(cfg.LogLevel)))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// healthcheck asks the node on STRATA_HTTP whether it is ready; its exit code is what
// a container health check reads (the image has no shell or curl).
func healthcheck(getenv func(string) string) int {
	addr := getenv("STRATA_HTTP")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		return 1
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://" + net.JoinHostPort(host, port) + "/readyz")
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "healthcheck: /readyz answered", resp.Status)
		return 1
	}
	return 0
}
