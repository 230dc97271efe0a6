package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// runCommand runs the strata command line in-process with the given environment.
func runCommand(env map[string]string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = dispatch(args, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestCommandLine: every command is listed by help; a word that is not a command is a
// usage error (exit 2) rather than a server started by accident.
func TestCommandLine(t *testing.T) {
	t.Parallel()
	code, out, _ := runCommand(nil, "help")
	if code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	if code, again, _ := runCommand(nil, "--help"); code != 0 || again != out {
		t.Fatalf("--help: exit %d, %q", code, again)
	}
	for _, cmd := range []string{"serve", "migrate", "admin reset-password", "healthcheck", "help"} {
		if !strings.Contains(out, cmd) {
			t.Errorf("strata help does not list %q:\n%s", cmd, out)
		}
	}
	done := make(chan int, 1)
	go func() {
		code, _, errOut := runCommand(map[string]string{"STRATA_DATA_DIR": t.TempDir()}, "frobnicate")
		if !strings.Contains(errOut, `unknown command "frobnicate"`) || !strings.Contains(errOut, "usage: strata") {
			t.Errorf("unknown command: %s", errOut)
		}
		done <- code
	}()
	select {
	case code := <-done:
		if code != exitUsage {
			t.Fatalf("unknown command: exit %d, want %d", code, exitUsage)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an unknown command started something instead of exiting")
	}
	if code, _, errOut := runCommand(nil, "serve", "extra"); code != exitUsage || !strings.Contains(errOut, "no arguments") {
		t.Fatalf("serve with an argument: exit %d: %s", code, errOut)
	}
	code, out, _ = runCommand(nil, "migrate", "help")
	if code != 0 {
		t.Fatalf("migrate help: exit %d", code)
	}
	for cmd := range migrateCommands {
		if !strings.Contains(migrateUsage, "\n  "+cmd+" ") {
			t.Errorf("strata migrate help does not list %q", cmd)
		}
	}
	if code, _, _ := runCommand(nil, "admin"); code != exitUsage {
		t.Fatalf("admin without a command: exit %d", code)
	}
	if code, _, errOut := runCommand(nil, "admin", "reset-password"); code != exitUsage || !strings.Contains(errOut, "EMAIL is required") {
		t.Fatalf("reset-password without an email: exit %d: %s", code, errOut)
	}
}

// TestReadyLine: a first start says where the UI is and the generated password; any
// other start says where the UI is and how to get back in.
func TestReadyLine(t *testing.T) {
	t.Parallel()
	first := readyLine("0.0.0.0:8080", "ops@example.com", "s3cret-pass")
	for _, want := range []string{"http://127.0.0.1:8080/", "ops@example.com", "s3cret-pass", "strata admin reset-password"} {
		if !strings.Contains(first, want) {
			t.Errorf("first start line lacks %q: %s", want, first)
		}
	}
	later := readyLine("127.0.0.1:9000", "ops@example.com", "")
	if !strings.Contains(later, "http://127.0.0.1:9000/") || strings.Contains(later, "password ") && !strings.Contains(later, "reset-password") {
		t.Errorf("later start line: %s", later)
	}
}

// TestFirstStartGeneratesPassword: without STRATA_ADMIN_PASSWORD the first start makes
// one, which signs in; a second start on the same database makes none.
func TestFirstStartGeneratesPassword(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"STRATA_DATA_DIR": dir, "STRATA_JWT_SECRET": "test-secret-test-secret-test-secret!!"}
	cfg, err := LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	app, err := NewApp(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	generated := app.GeneratedAdminPassword
	app.Close()
	if len(generated) < 12 {
		t.Fatalf("generated password %q", generated)
	}
	app, err = NewApp(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if app.GeneratedAdminPassword != "" {
		t.Fatal("a second start generated a password again")
	}
}

// TestAdminResetPassword: the command sets a new password, the old one and the
// sessions signed in with it stop working.
func TestAdminResetPassword(t *testing.T) {
	t.Parallel()
	control := "sqlite://" + t.TempDir() + "/control.db"
	n := startNode(t, control, nil)
	old := n.token
	env := map[string]string{"STRATA_DATA_DIR": t.TempDir(), "STRATA_DATABASE_URL": control, "STRATA_JWT_SECRET": "test-secret-test-secret-test-secret!!"}

	code, out, errOut := runCommand(env, "admin", "reset-password", "nobody@example.com")
	if code != exitError || !strings.Contains(errOut, "no platform admin") {
		t.Fatalf("unknown admin: exit %d: %s %s", code, out, errOut)
	}
	code, out, errOut = runCommand(env, "admin", "reset-password", "Admin@Example.com", "--json")
	if code != 0 {
		t.Fatalf("reset: exit %d: %s", code, errOut)
	}
	var answer struct {
		Data struct {
			Email    string `json:"email"`
			Password string `json:"password"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &answer); err != nil || answer.Data.Password == "" || answer.Data.Email != "admin@example.com" {
		t.Fatalf("--json answer %q: %v", out, err)
	}
	if st, _ := n.call("POST", "/api/auth/login", map[string]any{"email": "admin@example.com", "password": testPassword}, nil); st != 401 {
		t.Fatalf("the old password still signs in: %d", st)
	}
	if st, _ := n.call("POST", "/api/auth/login", map[string]any{"email": "admin@example.com", "password": answer.Data.Password}, nil); st != 200 {
		t.Fatalf("the new password does not sign in: %d", st)
	}
	// The session signed in before the reset is revoked (within the session cache's TTL).
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, _ := n.call("GET", "/api/tenants", nil, map[string]string{"Authorization": "Bearer " + old})
		if st == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a token from before the reset still works: %d", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	code, out, _ = runCommand(env, "admin", "reset-password", "admin@example.com", "--password", "Chosen-pass-456!")
	if code != 0 || strings.Contains(out, "Chosen-pass-456!") {
		t.Fatalf("reset with --password: exit %d: %s", code, out)
	}
	if st, _ := n.call("POST", "/api/auth/login", map[string]any{"email": "admin@example.com", "password": "Chosen-pass-456!"}, nil); st != 200 {
		t.Fatalf("the chosen password does not sign in: %d", st)
	}
}
