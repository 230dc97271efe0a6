package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"strata/modules/apierr"
	"strata/modules/auth"
)

const adminUsage = `usage: strata admin <command>

Works on the control database directly (STRATA_DATABASE_URL, STRATA_DATA_DIR, as the
server reads them); no server needs to run.

  reset-password EMAIL [--password P] [--tfa-off] [--json]
      set the platform admin's password (a generated one, printed, without --password)
      and sign out every session it has; --tfa-off also turns its two-factor sign-in
      off (a lost authenticator and lost recovery codes)
`

// runAdmin runs `strata admin`.
func runAdmin(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, adminUsage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	if args[0] != "reset-password" {
		fmt.Fprintf(stderr, "strata admin: unknown command %q\n\n%s", args[0], adminUsage)
		return exitUsage
	}
	fs := flag.NewFlagSet("strata admin reset-password", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	password := fs.String("password", "", "the new password (generated when empty)")
	asJSON := fs.Bool("json", false, "answer in JSON")
	tfaOff := fs.Bool("tfa-off", false, "turn two-factor sign-in off too")
	// The email may come before or after the flags.
	var email string
	rest := args[1:]
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		email, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		fmt.Fprintf(stderr, "strata admin reset-password: %v\n\n%s", err, adminUsage)
		return exitUsage
	}
	if email == "" && fs.NArg() == 1 {
		email = fs.Arg(0)
	} else if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "strata admin reset-password: unexpected %q\n\n%s", fs.Args(), adminUsage)
		return exitUsage
	}
	if email == "" {
		fmt.Fprintf(stderr, "strata admin reset-password: the admin's EMAIL is required\n\n%s", adminUsage)
		return exitUsage
	}
	fail := func(code, msg string) int {
		if *asJSON {
			b, _ := json.Marshal(apierr.Body(apierr.New(0, code, "%s", msg)))
			fmt.Fprintln(stderr, string(b))
		} else {
			fmt.Fprintf(stderr, "strata admin reset-password: %s\n", msg)
		}
		return exitError
	}
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return fail("INVALID_CONFIG", err.Error())
	}
	co, err := openCore(ctx, cfg, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return fail("INTERNAL", err.Error())
	}
	defer co.close()
	generated, err := co.auth.ResetAdminPassword(ctx, email, *password)
	if errors.Is(err, auth.ErrNoSuchAdmin) {
		return fail("NOT_FOUND", fmt.Sprintf("no platform admin has the email %q", email))
	}
	if err != nil {
		return fail("INTERNAL", err.Error())
	}
	if *tfaOff {
		if err := co.auth.ResetAdminTFA(ctx, email); err != nil {
			return fail("INTERNAL", err.Error())
		}
	}
	if *asJSON {
		out := map[string]any{"email": strings.ToLower(email), "sessions_revoked": true, "tfa_off": *tfaOff}
		if generated != "" {
			out["password"] = generated
		}
		b, _ := json.Marshal(map[string]any{"data": out})
		fmt.Fprintln(stdout, string(b))
		return exitOK
	}
	if generated != "" {
		fmt.Fprintf(stdout, "The password of %s is now: %s\n(shown this once; its sessions are signed out)\n", strings.ToLower(email), generated)
	} else {
		fmt.Fprintf(stdout, "The password of %s is changed; its sessions are signed out.\n", strings.ToLower(email))
	}
	return exitOK
}
