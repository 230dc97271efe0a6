package benchkit

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// PocketBaseVersion is the PocketBase the benchmarks compare with.
const PocketBaseVersion = "v0.36.8"

// EnsurePocketBase installs PocketBase's example program (go install from the module
// proxy, outside this module) into cache once and returns the binary; log tells of the
// install, which takes minutes the first time.
func EnsurePocketBase(ctx context.Context, cache string, log func(format string, args ...any)) (string, error) {
	dir := filepath.Join(cache, "pocketbase-"+PocketBaseVersion)
	bin := filepath.Join(dir, "base")
	if _, err := os.Stat(filepath.Join(dir, ".installed")); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	pkg := "github.com/pocketbase/pocketbase/examples/base@" + PocketBaseVersion
	log("installing PocketBase: go install %s into %s (a few minutes)…", pkg, dir)
	cmd := exec.CommandContext(ctx, "go", "install", pkg)
	// Outside this module, so its go.mod plays no part.
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-mod=mod", "GOWORK=off", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s: %v\n%s", pkg, err, out)
	}
	return bin, os.WriteFile(filepath.Join(dir, ".installed"), []byte(pkg+"\n"), 0o644)
}

// PocketBase is a running PocketBase and a superuser's client of it.
type PocketBase struct {
	Base   string
	Client *Client
	Stop   func()
}

// StartPocketBase serves a fresh PocketBase from dir (hooksDir: its JavaScript hooks,
// "" for none) with the request log off, and signs a superuser in.
func StartPocketBase(ctx context.Context, bin, dir, hooksDir string) (*PocketBase, error) {
	data := filepath.Join(dir, "pb_data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	const email, pass = "admin@example.com", "Bench-pass-123"
	if out, err := exec.CommandContext(ctx, bin, "superuser", "upsert", email, pass, "--dir", data, "--dev=false").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("superuser upsert: %v\n%s", err, out)
	}
	args := []string{"serve", "--http", FreeAddr(), "--dir", data, "--dev=false"}
	if hooksDir != "" {
		args = append(args, "--hooksDir", hooksDir)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	pb := &PocketBase{Base: "http://" + args[2], Client: NewClient(4), Stop: func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }}
	if err := WaitUp(ctx, pb.Base+"/api/health"); err != nil {
		pb.Stop()
		return nil, err
	}
	var auth struct{ Token string }
	if err := pb.Client.Do("POST", pb.Base+"/api/collections/_superusers/auth-with-password", map[string]any{"identity": email, "password": pass}, 200, &auth); err != nil {
		pb.Stop()
		return nil, err
	}
	pb.Client.Token = auth.Token
	if err := pb.Client.Do("PATCH", pb.Base+"/api/settings", map[string]any{"logs": map[string]any{"maxDays": 0}}, 200, nil); err != nil {
		pb.Stop()
		return nil, err
	}
	return pb, nil
}
