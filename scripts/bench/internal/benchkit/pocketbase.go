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
