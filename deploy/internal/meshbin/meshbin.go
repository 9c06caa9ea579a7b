// Package meshbin builds the mesh command of the repository around the
// deploy module, as the image does (static: CGO_ENABLED=0), for tests that
// check deployment files against the real binary.
package meshbin

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"
)

// RepoRoot is the main module's directory, relative to a package directory
// of the deploy module (deploy/<pkg>).
const RepoRoot = "../.."

// Build builds ./cmd/mesh into dir/mesh and returns its path.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "mesh")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, GoTool(), "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./cmd/mesh")
	cmd.Dir = RepoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("CGO_ENABLED=0 go build ./cmd/mesh in %s: %v\n%s", RepoRoot, err, out)
	}
	return bin, nil
}

// GoTool is the go command: on PATH, else this toolchain's.
func GoTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}
